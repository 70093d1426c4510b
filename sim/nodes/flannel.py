"""Flannel: the regional edge cache that clients boot from and hold their
WebSocket to (it terminates client sockets and validates sessions, then acts
as the gateway for live messages).

Theory of operation
-------------------
The cache holds the team's data (here: its directory, and the cost of its
full size). It starts cold. The first boot that finds it cold is a *miss*:
Flannel fetches the team data from a web app in the main region — web-app
work in proportion to the team's full payload — while later boots wait for
the same load. Warm boots are *hits*, served at the edge with a small
payload (``TeamSize.flannel_boot_bytes``); profiles the client lacks are
pushed just ahead of a message from their user (lazy loading).

The cache is kept warm by the event stream: every directory event is
applied in version order (out-of-order events wait for their predecessors).
Events that arrive while the cache is loading are buffered and applied after
the snapshot if they are newer than it. ``broken_warmup`` is a canary: it
drops those events and trusts the stream blindly afterwards, which the
boot-consistency checker must catch. A restart is cold (the cache is
volatile).
"""

from __future__ import annotations

from .gateway import Gateway
from .protocol import Chat, Hello, api_error
from .team import PROFILE_BYTES, DirEvent, TeamSize, apply, snapshot_of

BACKBONE = 125e6  # bytes/s between regions for the cache load


class Flannel(Gateway):
    role = "flannel"

    def __init__(self, sim, name, region, *, discovery: str, webapps: list[str], team: TeamSize,
                 broken_warmup: bool, users: list[str]):
        super().__init__(sim, name, region, discovery=discovery)
        self.users = frozenset(users)  # whose sessions are valid
        self.webapps = list(webapps)
        self.team = team
        self.broken_warmup = broken_warmup
        self.hits = 0  # boots served from a warm cache
        self.misses = 0  # boots that found it cold (and waited for a load)
        self.loads = 0  # cache loads from the main region
        self.profile_pushes = 0
        self.rng = sim.rng(f"node/{name}/flannel")

    def reset_volatile(self):
        super().reset_volatile()
        self.cache: dict | None = None  # {"version": int, "channels": {ch: set}}
        self.loading = None  # the event boots wait on while the cache loads
        self.buffer: list[DirEvent] = []
        self.pending: dict[int, DirEvent] = {}
        self.dir_log: list[DirEvent] = []
        self.clients: dict = {}  # client sockets, insertion-ordered

    # -- the cache -------------------------------------------------------------------
    def warm(self):
        """Wait until the cache is warm; True if it is."""
        if self.cache is not None:
            return True
        if self.loading is None:
            self.loading = self.env.event()
            self.spawn(self.load())
        ok = yield self.loading
        return ok

    def load(self):
        self.loads += 1
        self.buffer = []
        size = self.team.rtm_start_bytes()  # the whole team's data comes over once
        reply = yield self.sim.network.request(self, self.webapps[self.rng.randrange(len(self.webapps))],
                                               "flannel.team", {}, size=100, timeout=30.0)
        if reply.status == "ok":
            yield from self.sleep(size / BACKBONE)
            snap = reply.payload["snapshot"]
            self.cache = {"version": snap.version, "channels": snap.as_dict()}
            buffered, self.buffer = self.buffer, []
            for ev in buffered:
                self.cache_event(ev)
        done, self.loading = self.loading, None
        done.succeed(self.cache is not None)

    def cache_event(self, ev: DirEvent) -> None:
        cache = self.cache
        if self.broken_warmup:  # the canary: trust the stream, whatever it skipped
            apply(cache["channels"], ev)
            cache["version"] = max(cache["version"], ev.version)
            return
        if ev.version <= cache["version"]:
            return
        self.pending[ev.version] = ev
        while cache["version"] + 1 in self.pending:
            e = self.pending.pop(cache["version"] + 1)
            apply(cache["channels"], e)
            cache["version"] = e.version

    # -- requests --------------------------------------------------------------------------
    def serve_boot(self, req):
        if req.payload["user"] not in self.users:
            return api_error("invalid_auth")
        hit = self.cache is not None
        ok = yield from self.warm()
        if not ok:
            return api_error("internal_error")
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        size = self.team.flannel_boot_bytes()
        snap = snapshot_of(self.cache["version"], self.cache["channels"])
        return "ok", {"ok": True, "bytes": size, "snapshot": snap, "hit": hit}, size

    def serve_directory(self, req):
        ok = yield from self.warm()
        if not ok:
            return api_error("internal_error")
        snap = snapshot_of(self.cache["version"], self.cache["channels"])
        return "ok", {"ok": True, "snapshot": snap}, 200

    def serve_directory_event(self, req):
        ev: DirEvent = req.payload
        self.dir_log.append(ev)
        for c in list(self.clients):
            c.send(self, "directory", ev, 80)
        if self.cache is not None:
            self.cache_event(ev)
        elif self.loading is not None and not self.broken_warmup:
            self.buffer.append(ev)
        return "ok", {}, 40

    HANDLERS = {"flannel.boot": serve_boot, "flannel.directory": serve_directory,
                "directory.event": serve_directory_event}

    # -- client sockets ------------------------------------------------------------------------
    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Hello):
            if p.user not in self.users:  # an invalid session: the socket is closed
                conn.close(self, "invalid_auth")
                return
            self.clients[conn] = None
            for ev in self.dir_log:
                if ev.version > p.dir_version:
                    conn.send(self, "directory", ev, 80)
        elif isinstance(p, Chat):
            # lazy loading: push the sender's profile just ahead of its first message
            for c in self.local.get(p.channel, {}).values():
                known = c.meta.setdefault("known", set()) if c.meta is not None else set()
                if p.sender not in known:
                    known.add(p.sender)
                    c.send(self, "user", {"user": p.sender}, PROFILE_BYTES)
                    self.profile_pushes += 1
        super().on_message(conn, msg)

    def on_closed(self, conn, reason):
        self.clients.pop(conn, None)
        super().on_closed(conn, reason)

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "loads": self.loads, "profile_pushes": self.profile_pushes}
