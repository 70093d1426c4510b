"""The web app (Slack's PHP/Hack tier): boot, persistence API, history, auth.

``WebApp`` serves the old architecture: ``rtm.start`` (the full team
snapshot), ``persist`` (the channel server's hand-off), ``history`` (final
and gap reads). Its request handling queues on a pool of workers, so a boot
storm shows up as queueing. The new architecture's stateless instances
(``chat.postMessage`` → dedupe → ts → Kafka → broadcast) live in
``sim/nodes/webapp_new.py`` and reuse the same boot, history and auth.
"""

from __future__ import annotations

import simpy

from ..kernel import Node

# rtm.start payload model: users·profile + channels·(info + members·id)
PROFILE_BYTES = 1000
CHANNEL_INFO_BYTES = 300
MEMBER_ID_BYTES = 12


def rtm_start_bytes(users: int, channels: int, members_per_channel: int) -> int:
    return users * PROFILE_BYTES + channels * (CHANNEL_INFO_BYTES + members_per_channel * MEMBER_ID_BYTES)


class WebApp(Node):
    role = "webapp"

    def __init__(self, sim, name: str, region: str, *, db: str, members: dict[str, list[str]],
                 team: dict, workers: int = 32):
        super().__init__(sim, name, region)
        self.db = db
        self.members = {ch: frozenset(ms) for ch, ms in members.items()}
        self.users = frozenset(u for ms in members.values() for u in ms)
        self.team = team
        self.n_workers = workers

    def reset_volatile(self):
        self.workers = simpy.Resource(self.env, self.n_workers)
        self.busy_samples = 0

    def boot_bytes(self) -> int:
        t = self.team
        return rtm_start_bytes(t["users"], t["channels"], t["members_per_channel"])

    def on_request(self, req):
        with self.workers.request() as slot:
            yield slot
            return (yield from self.serve(req))

    def serve(self, req):
        """Dispatch on the request kind (override adds the new flow's methods)."""
        handler = self.HANDLERS.get(req.kind)
        if handler is None:
            return "error", {"ok": False, "error": "unknown_method"}, 60
        return (yield from handler(self, req))

    # -- methods -------------------------------------------------------------
    def rtm_start(self, req):
        if req.payload["user"] not in self.users:
            return "error", {"ok": False, "error": "not_authed"}, 60
        size = self.boot_bytes()
        # building and serialising the snapshot costs CPU in proportion to its size
        yield self.env.timeout(0.005 + size / 200e6)
        return "ok", {"ok": True, "bytes": size}, size

    def history(self, req):
        ch = req.payload["channel"]
        if req.payload["user"] not in self.members.get(ch, ()):
            return "error", {"ok": False, "error": "not_in_channel"}, 60
        reply = yield self.sim.network.request(self, self.db, "db.history", {"channel": ch},
                                               size=80, timeout=5.0, trace=None)
        if reply.status != "ok" or reply.payload is None or "msgs" not in reply.payload:
            return "error", {"ok": False, "error": "internal_error"}, 60
        msgs = reply.payload["msgs"]
        return "ok", {"ok": True, "msgs": msgs}, 60 + 30 * len(msgs)

    def persist(self, req):
        rows = req.payload["rows"]
        reply = yield self.sim.network.request(self, self.db, "db.insert", {"rows": rows, "key": "ts"},
                                               size=sum(r.size for r in rows), timeout=5.0, trace=req.trace)
        if reply.status != "ok" or reply.payload.get("inserted") is None:
            return "error", {"ok": False, "error": "internal_error"}, 60
        return "ok", {"ok": True}, 40

    HANDLERS = {"rtm.start": rtm_start, "conversations.history": history, "persist": persist}
