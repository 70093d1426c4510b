"""The new architecture's stateless web app: ``chat.postMessage``.

The send path, with its named steps::

    received → (auth, membership) → deduped → (ts) → appended [→ replicated at the broker]
             → responded ; the broadcast request goes to the channel server in parallel

1. Auth and membership: ``not_authed`` / ``not_in_channel`` (definite).
2. Rate limit (optional): ``ratelimited`` with ``retry_after`` (HTTP 429).
3. Dedupe on ``client_msg_id``: Redis ``SETNX dedupe:<channel>:<msg> pending``
   with a TTL. Already ``done:<ts>`` → answer ``ok`` with the first ts (an
   idempotent replay: nothing appended, nothing broadcast). Still
   ``pending`` → ``internal_error`` (the first attempt may yet land).
   Redis unreachable → ``service_unavailable`` (definite: nothing done).
4. ts: assigned here from the local (possibly skewed) clock when
   ``ts_source = "webapp"``, else by the Kafka leader at append.
5. Append to the channel's partition. A definite refusal (no leader,
   ``NOT_ENOUGH_REPLICAS``) deletes the dedupe key and answers
   ``service_unavailable``; a timeout answers ``internal_error`` (unknown).
6. Mark the key ``done:<ts>``, ask the ring's channel server to broadcast
   (fire and forget: the message is already durable), answer
   ``{ok: true, ts}``.

Errors follow Slack's Web API: ``internal_error`` means the outcome is unknown.
"""

from __future__ import annotations

from functools import partial

from ...nodes.discovery import ClusterView, ring_owner
from ...nodes.kafka import PRODUCE_ERRORS
from ...nodes.protocol import api_error
from ...nodes.webapp import WebApp
from ...kernel import stable_hash, start_soon

class NewWebApp(ClusterView, WebApp):
    def __init__(self, sim, name, region, *, controller: str, discovery: str, settings: dict, **kw):
        super().__init__(sim, name, region, **kw)
        self.controller = controller
        self.discovery = discovery
        self.s = settings
        self.k = settings.kafka

    def reset_volatile(self):
        super().reset_volatile()
        self.reset_view()
        self.rate: dict[str, list[float]] = {}

    def start(self):
        self.spawn(self.view_loop())

    def partition_of(self, channel: str) -> int:
        return stable_hash(channel) % self.k.partitions

    # -- Redis ---------------------------------------------------------------------
    def redis_cmd(self, op: str, key: str, value=None, ttl=None, trace: str | None = None):
        if self.redis is None:
            return None
        reply = yield self.sim.network.request(self, self.redis, "redis.cmd",
                                               {"op": op, "key": key, "value": value, "ttl": ttl},
                                               size=80, timeout=1.0, trace=trace)
        return reply

    def mark_done(self, key: str, value: str, ttl, trace: str) -> None:
        """``SET key value`` with the dedupe TTL, answer unread: what spawning
        ``redis_cmd("SET", ...)`` did, without its process. ``start_soon``
        runs it where that process took its first step (which read
        ``self.redis`` and sent the request); the process then only waited
        for an answer nobody read."""
        if self.redis is not None:
            self.sim.network.request(self, self.redis, "redis.cmd",
                                     {"op": "SET", "key": key, "value": value, "ttl": ttl},
                                     size=80, timeout=1.0, trace=trace)

    # -- chat.postMessage ----------------------------------------------------------------
    def post_message(self, req):
        post = req.payload
        self.step("received", msg=post.msg)
        if post.sender not in self.users:
            return api_error("not_authed")
        if post.channel not in self.members:
            return api_error("channel_not_found")
        if post.sender not in self.members[post.channel]:
            return api_error("not_in_channel")
        if self.s.rate_limit:
            window = [t for t in self.rate.get(post.sender, []) if t > self.env.now - 1.0]
            if len(window) >= self.s.rate_limit:
                self.rate[post.sender] = window
                return api_error("ratelimited", retry_after=1.0)
            self.rate[post.sender] = window + [self.env.now]
        key = f"dedupe:{post.channel}:{post.msg}"
        if self.s.dedupe:
            reply = yield from self.redis_cmd("SETNX", key, "pending", self.s.redis.ttl, post.msg)
            if reply is None or reply.status != "ok":
                if reply is not None and reply.status == "error":
                    yield from self.refresh_view()  # READONLY: a failover happened
                return api_error("service_unavailable")
            if not reply.payload["set"]:
                value = reply.payload["value"]
                if value.startswith("done:"):
                    return "ok", {"ok": True, "ts": value[5:], "replayed": True}, 80
                return api_error("internal_error")
        self.step("deduped", msg=post.msg)
        ts = None
        if self.s.ts_source == "webapp":
            ts = f"{self.clock():.6f}"
        part = self.partition_of(post.channel)
        result = None
        for _ in range(3):
            leader = self.leaders.get(part)
            if leader is None:
                yield from self.refresh_view()
                leader = self.leaders.get(part)
                if leader is None:
                    break
            reply = yield self.sim.network.request(self, leader, "kafka.produce",
                                                   {"partition": part, "post": post, "ts": ts},
                                                   size=post.size, timeout=self.k.request_timeout,
                                                   trace=post.msg)
            if reply.status == "ok":
                result = reply.payload
                break
            if reply.status == "error" and reply.payload["error"] == "NOT_LEADER":
                yield from self.refresh_view()  # definitely not appended: try the new leader
                continue
            if reply.status == "error" and PRODUCE_ERRORS.get(reply.payload["error"]):
                break  # NOT_ENOUGH_REPLICAS: refused, nothing appended (definite)
            if reply.status in ("refused", "unreachable"):
                yield from self.refresh_view()
                continue
            # timeout, reset, NOT_LEADER_OR_FOLLOWER after append: may or may not be in the log
            return api_error("internal_error")
        if result is None:
            if self.s.dedupe:
                yield from self.redis_cmd("DEL", key, trace=post.msg)
            return api_error("service_unavailable")
        self.step("appended", msg=post.msg)
        chat = result["chat"]
        if self.s.dedupe:
            start_soon(self, partial(NewWebApp.mark_done, key=key, value=f"done:{chat.ts}",
                                       ttl=self.s.redis.ttl, trace=post.msg))
        server = ring_owner(self.ring, chat.channel)
        if server is not None:
            self.sim.network.request(self, server, "broadcast", chat, size=chat.size, timeout=2.0,
                                     trace=chat.msg)
        self.step("responded", msg=post.msg)
        return "ok", {"ok": True, "ts": chat.ts}, 80

    def flannel_team(self, req):
        """A Flannel cache miss: the named team's full data, built here in the main region."""
        size = self.teams.size(req.payload.get("team")).rtm_start_bytes()
        snap = yield from self.build_snapshot(size)
        if snap is None:
            return api_error("internal_error")
        return "ok", {"ok": True, "snapshot": snap}, size

    def history(self, req):
        """conversations.history; ``rows`` asks for whole messages (gap fill)."""
        if not req.payload.get("rows"):
            return (yield from super().history(req))
        ch = req.payload["channel"]
        if req.payload["user"] not in self.members.get(ch, ()):
            return api_error("not_in_channel")
        reply = yield self.sim.network.request(self, self.db, "db.history", {"channel": ch, "rows": True},
                                               size=80, timeout=5.0)
        if reply.status != "ok":
            return api_error("internal_error")
        return "ok", {"ok": True, "rows": reply.payload["rows"]}, 60

    HANDLERS = {**WebApp.HANDLERS, "chat.postMessage": post_message, "conversations.history": history,
                "flannel.team": flannel_team}
