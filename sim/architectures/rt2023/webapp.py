"""The rt2023 web app: ``chat.postMessage`` persists first, then answers and
hands the message to an admin server (which of the two goes first is the
``respond_first`` setting; Slack's posts do not pin it).

The send path, with its named steps::

    received → (auth, membership) → deduped → persisted → responded ┐ (respond_first)
                                                      └→ handed → responded (admin first)

1. Auth and membership: ``not_authed`` / ``channel_not_found`` /
   ``not_in_channel`` (definite).
2. Dedupe: look the ``client_msg_id`` up on the channel's shard primary.
   Found → answer ``ok`` with the stored ts (an idempotent replay: nothing
   written, nothing routed). Shard unreachable or read-only →
   ``service_unavailable`` (definite: nothing written).
3. Persist: INSERT on the shard primary, which assigns ts. Refused before
   any effect → ``service_unavailable``; no answer → ``internal_error``
   (unknown: the row may exist).
4. Enqueue the deferred jobs (indexing, unfurls) on Kafkagate: fire and
   forget, a failed enqueue never fails a send.
5. ``respond_first``: answer ``{ok: true, ts}``, then (``handed``) call an
   admin server, fire and forget. Otherwise call an admin server first
   (``handed``), wait for its answer — trying a second admin server if the
   first fails — then answer. Either way the message is already durable: a
   routing failure costs only its live delivery.
"""

from __future__ import annotations

from ...nodes.protocol import api_error
from ...nodes.webapp import WebApp
from ..new.webapp import NewWebApp
from .shard import ShardView


class Rt2023WebApp(ShardView, WebApp):
    def __init__(self, sim, name, region, *, orchestrator: str, admins: list[str], kafkagate: str | None,
                 settings, **kw):
        super().__init__(sim, name, region, **kw)
        self.orchestrator = orchestrator
        self.admins = list(admins)
        self.kafkagate = kafkagate
        self.s = settings
        self.rng = sim.rng(f"node/{name}/lb")

    def reset_volatile(self):
        super().reset_volatile()
        self.reset_shards()

    def start(self):
        self.spawn(self.shard_loop())

    def shard_call(self, kind: str, channel: str, payload, size: int, trace: str):
        """One request to the channel's shard primary; after a definite refusal
        (read-only, refused, unreachable) the view is refreshed and it is tried once more."""
        reply = None
        for _ in range(2):
            primary = yield from self.find_primary(channel)
            if primary is None:
                return None
            reply = yield self.sim.network.request(self, primary, kind, payload, size=size, timeout=5.0,
                                                   trace=trace)
            if reply.status in ("refused", "unreachable") or (reply.status == "error"
                                                              and reply.payload.get("error") == "READONLY"):
                yield from self.refresh_shards()
                continue
            return reply
        return reply

    def post_message(self, req):
        post = req.payload
        self.step("received", msg=post.msg)
        refusal = self.refuse(post)
        if refusal is not None:
            return refusal
        found = yield from self.shard_call("shard.lookup", post.channel, {"channel": post.channel, "msg": post.msg},
                                           80, post.msg)
        if found is None or found.status != "ok":
            return api_error("service_unavailable")  # a read: nothing was written, whatever happened
        if found.payload["chat"] is not None:
            return "ok", {"ok": True, "ts": found.payload["chat"].ts, "replayed": True}, 80
        self.step("deduped", msg=post.msg)
        ins = yield from self.shard_call("shard.insert", post.channel, post, post.size, post.msg)
        if ins is None or ins.status in ("refused", "unreachable", "error"):
            return api_error("service_unavailable")  # refused before any effect
        if ins.status != "ok":
            return api_error("internal_error")  # timeout, reset: the row may exist
        chat = ins.payload["chat"]
        self.step("persisted", msg=post.msg)
        if self.kafkagate is not None and self.s.jobs:
            self.sim.network.request(self, self.kafkagate, "jobs.enqueue", chat, size=chat.size, timeout=2.0)
        if not self.s.respond_first:
            yield from self.hand_off(chat, wait=True)
        self.step("responded", msg=post.msg)
        if self.s.respond_first:
            # runs once this answer is on its way; a crash at ``responded`` means it never runs
            self.spawn(self.hand_off(chat, wait=False))
        return "ok", {"ok": True, "ts": chat.ts}, 80

    def hand_off(self, chat, wait: bool):
        """Call an admin server to route ``chat`` (step ``handed``). Fire and forget,
        or (``wait``) wait for its answer and try one other admin server on failure."""
        first = self.rng.randrange(len(self.admins))
        self.step("handed", msg=chat.msg)
        for i in range(2 if wait else 1):
            admin = self.admins[(first + i) % len(self.admins)]
            call = self.sim.network.request(self, admin, "admin.route", chat, size=chat.size,
                                            timeout=self.s.admin_timeout, trace=chat.msg)
            if not wait:
                return
            reply = yield call
            if reply.status == "ok":
                return

    def history(self, req):
        """conversations.history from the shard primary; ``rows`` asks for whole messages (gap fill)."""
        ch = req.payload["channel"]
        if req.payload["user"] not in self.members.get(ch, ()):
            return api_error("not_in_channel")
        rows = yield from self.channel_rows(ch)
        if rows is None:
            return api_error("internal_error")
        if req.payload.get("rows"):
            return "ok", {"ok": True, "rows": rows}, 60 + sum(r.size for r in rows)
        return "ok", {"ok": True, "msgs": [r.msg for r in rows]}, 60 + 30 * len(rows)

    HANDLERS = {**WebApp.HANDLERS, "chat.postMessage": post_message, "conversations.history": history,
                "flannel.team": NewWebApp.flannel_team}  # a cold gateway's cache load
