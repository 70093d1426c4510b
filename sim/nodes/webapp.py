"""The web app (Slack's PHP/Hack tier): boot, persistence API, history,
directory changes, auth.

``WebApp`` serves the old architecture: ``rtm.start`` (the full team
snapshot: its size follows ``sim.nodes.team``), ``persist`` (the channel
server's hand-off), ``conversations.history`` (final and gap reads) and
``directory.change`` (a join/leave; the event goes to the ``publish_to``
nodes: channel servers in the old design, Flannel hosts in the new).
Requests queue on a pool of workers, and a boot costs CPU in proportion to
its payload, so a boot storm shows up as queueing; ``boot_throttle`` admits
at most that many boots at once and answers the rest ``ratelimited`` with a
``retry_after``. The new architecture's instances
(``sim/nodes/webapp_new.py``) add ``chat.postMessage`` and ``flannel.team``.

``meter`` is measurement, not state: it survives crashes and feeds the
backend-load figures.
"""

from __future__ import annotations

from collections import Counter

import simpy

from ..kernel import Node
from .protocol import api_error
from .team import Teams

SERIALIZE_RATE = 200e6  # bytes/s of snapshot a worker builds and serialises


class Meter:
    """Per-second counts of requests and boots, queue high-water marks, CPU time."""

    def __init__(self):
        self.requests: Counter = Counter()
        self.boots: Counter = Counter()
        self.queue: dict[int, int] = {}
        self.busy = 0.0
        self.boot_busy = 0.0  # CPU spent building boot payloads (rtm.start, Flannel loads)

    def summary(self) -> dict:
        return {"requests": sum(self.requests.values()), "boots": sum(self.boots.values()),
                "cpu_seconds": round(self.busy, 6), "boot_cpu_seconds": round(self.boot_busy, 6), "peak_requests_per_s": max(self.requests.values(), default=0),
                "peak_boots_per_s": max(self.boots.values(), default=0),
                "peak_queue": max(self.queue.values(), default=0)}


class WebApp(Node):
    role = "webapp"

    def __init__(self, sim, name: str, region: str, *, db: str, members: dict[str, list[str]],
                 users: list[str], teams: Teams, workers: int = 32, boot_throttle: int = 0,
                 publish_to: list[str] = ()):
        super().__init__(sim, name, region)
        self.db = db
        self.members = {ch: frozenset(ms) for ch, ms in members.items()}
        self.users = frozenset(users)
        self.teams = teams  # each user's team and its size
        self.n_workers = workers
        self.boot_throttle = boot_throttle
        self.publish_to = list(publish_to)
        self.meter = Meter()

    def reset_volatile(self):
        self.workers = simpy.Resource(self.env, self.n_workers)
        self.booting = 0

    BOOTS = ("rtm.start", "flannel.team")

    def on_request(self, req):
        second = int(self.env.now)
        self.meter.requests[second] += 1
        if req.kind in self.BOOTS:
            # admission control before queueing: a throttled boot costs no worker
            if self.boot_throttle and self.booting >= self.boot_throttle:
                return api_error("ratelimited", retry_after=2.0)
            self.booting += 1
            self.meter.boots[second] += 1
            try:
                return (yield from self.work(req))
            finally:
                self.booting -= 1
        return (yield from self.work(req))

    def work(self, req):
        """Queue for a worker, then serve."""
        second = int(self.env.now)
        self.meter.queue[second] = max(self.meter.queue.get(second, 0), len(self.workers.queue))
        with self.workers.request() as slot:
            yield slot
            t0 = self.env.now
            try:
                return (yield from self.serve(req))
            finally:
                self.meter.busy += self.env.now - t0

    def serve(self, req):
        """Dispatch on the request kind (``HANDLERS``; subclasses add their methods)."""
        return (yield from self.dispatch(req))

    # -- boot -------------------------------------------------------------------
    def build_snapshot(self, size: int):
        """Read the directory from the DB and spend the CPU of a ``size``-byte payload."""
        reply = yield self.sim.network.request(self, self.db, "db.directory_get", {}, size=60, timeout=5.0)
        work = 0.005 + size / SERIALIZE_RATE
        yield self.env.timeout(work)
        self.meter.boot_busy += work
        return reply.payload["snapshot"] if reply.status == "ok" else None

    def rtm_start(self, req):
        user = req.payload["user"]
        if user not in self.users:
            return api_error("not_authed")
        size = self.teams.size(self.teams.of(user)).rtm_start_bytes()  # the user's own team
        snap = yield from self.build_snapshot(size)
        if snap is None:
            return api_error("internal_error")
        return "ok", {"ok": True, "bytes": size, "snapshot": snap}, size

    # -- reads ---------------------------------------------------------------------
    def history(self, req):
        ch = req.payload["channel"]
        if req.payload["user"] not in self.members.get(ch, ()):
            return api_error("not_in_channel")
        reply = yield self.sim.network.request(self, self.db, "db.history", {"channel": ch},
                                               size=80, timeout=5.0, trace=None)
        if reply.status != "ok" or reply.payload is None or "msgs" not in reply.payload:
            return api_error("internal_error")
        msgs = reply.payload["msgs"]
        return "ok", {"ok": True, "msgs": msgs}, 60 + 30 * len(msgs)

    def refuse(self, post):
        """The definite refusals of a send, before any work: auth, channel,
        membership. None when the send may go on."""
        if post.sender not in self.users:
            return api_error("not_authed")
        if post.channel not in self.members:
            return api_error("channel_not_found")
        if post.sender not in self.members[post.channel]:
            return api_error("not_in_channel")
        return None

    # -- writes ----------------------------------------------------------------------
    def persist(self, req):
        rows = req.payload["rows"]
        reply = yield self.sim.network.request(self, self.db, "db.insert", {"rows": rows, "key": "ts"},
                                               size=sum(r.size for r in rows), timeout=5.0, trace=req.trace)
        if reply.status != "ok" or reply.payload.get("inserted") is None:
            return api_error("internal_error")
        return "ok", {"ok": True}, 40

    def directory_change(self, req):
        reply = yield self.sim.network.request(self, self.db, "db.directory_change", req.payload, size=80,
                                               timeout=5.0)
        if reply.status != "ok":
            return api_error("internal_error")
        ev = reply.payload["event"]
        if ev is not None:
            for node in self.publish_to:
                self.sim.network.request(self, node, "directory.event", ev, size=80, timeout=5.0)
        return "ok", {"ok": True}, 40

    def directory_get(self, req):
        reply = yield self.sim.network.request(self, self.db, "db.directory_get", {}, size=60, timeout=5.0)
        if reply.status != "ok":
            return api_error("internal_error")
        return "ok", {"ok": True, "snapshot": reply.payload["snapshot"]}, reply.size

    HANDLERS = {"rtm.start": rtm_start, "conversations.history": history, "persist": persist,
                "directory.change": directory_change, "directory.get": directory_get}
