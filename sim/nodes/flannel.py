"""Flannel: the regional edge cache that clients boot from and hold their
WebSocket to (it terminates client sockets and validates sessions, then acts
as the gateway for live messages).

Theory of operation
-------------------
A host caches, per team, the team's data (here: its directory, and the cost
of its full size). Every team's cache starts cold. The first boot of a team
that finds its cache cold is a *miss*: Flannel fetches that team's data from
a web app in the main region — web-app work in proportion to the team's
full payload — while later boots of the team wait for the same load. Warm
boots are *hits*, served at the edge with a small payload
(``TeamSize.flannel_boot_bytes`` of the booting user's team); profiles the
client lacks are pushed just ahead of a message from their user (lazy
loading).

Team affinity: the architectures route a team's clients in a region to one
host, the owner of the team id on the consistent-hash ring of the region's
hosts (``team_host``), so a team is loaded once per region and its boots
are hits from then on; a host's teams are the ones the ring gives it, and
adding or removing a host moves only the teams whose owner changes.

The cache is kept warm by the event stream: every directory event is
applied in version order (out-of-order events wait for their predecessors).
Events that arrive while the cache is loading are buffered and applied after
the snapshot if they are newer than it. ``broken_warmup`` is a canary: it
drops those events and trusts the stream blindly afterwards, which the
boot-consistency checker must catch. A restart is cold (the cache is
volatile). The directory belongs to one team (``Teams.directory_team``):
only that team's cache holds it and only its clients are sent its events.

``team_stats`` is measurement (it survives a restart): per team, the boots
served, hits, misses, cache loads, boot bytes served and bytes loaded.
"""

from __future__ import annotations

from collections import Counter

from .discovery import ring_owner
from .gateway import Gateway, session_of
from .protocol import Chat, Hello, api_error
from .team import PROFILE_BYTES, DirEvent, Teams, apply, snapshot_of

BACKBONE = 125e6  # bytes/s between regions for the cache load
TEAM_STATS = ("boots", "hits", "misses", "loads", "bytes", "load_bytes")


def team_host(hosts: list[str], team: str) -> str:
    """The host of a region's ``hosts`` that serves ``team`` (consistent hashing)."""
    return ring_owner(tuple(hosts), team)


class Flannel(Gateway):
    role = "flannel"

    def __init__(self, sim, name, region, *, discovery: str, webapps: list[str], teams: Teams,
                 broken_warmup: bool, users: list[str]):
        super().__init__(sim, name, region, discovery=discovery)
        self.users = frozenset(users)  # whose sessions are valid
        self.webapps = list(webapps)
        self.teams = teams
        self.broken_warmup = broken_warmup
        self.hits = 0  # boots served from a warm cache
        self.misses = 0  # boots that found it cold (and waited for a load)
        self.loads = 0  # cache loads from the main region
        self.profile_pushes = 0
        self.team_stats: dict[str, Counter] = {}
        self.rng = sim.rng(f"node/{name}/flannel")

    def reset_volatile(self):
        super().reset_volatile()
        self.caches: dict[str, dict] = {}  # team -> {"version": int, "channels": {ch: set}}
        self.loading: dict[str, object] = {}  # team -> the event its boots wait on while the cache loads
        self.buffer: list[DirEvent] = []  # directory events that arrived while the directory team loads
        self.pending: dict[int, DirEvent] = {}
        self.dir_log: list[DirEvent] = []
        self.clients: dict = {}  # client socket -> its user's team, insertion-ordered

    def count(self, team: str, key: str, n: int = 1) -> None:
        stats = self.team_stats.get(team)
        if stats is None:
            stats = self.team_stats[team] = Counter()
        stats[key] += n

    # -- the cache -------------------------------------------------------------------
    def warm(self, team: str):
        """Wait until ``team``'s cache is warm; True if it is."""
        if team in self.caches:
            return True
        if team not in self.loading:
            self.loading[team] = self.env.event()
            self.spawn(self.load(team))
        ok = yield self.loading[team]
        return ok

    def load(self, team: str):
        self.loads += 1
        directory = team == self.teams.directory_team
        if directory:
            self.buffer = []
        size = self.teams.size(team).rtm_start_bytes()  # the whole team's data comes over once
        self.count(team, "loads")
        reply = yield self.sim.network.request(self, self.webapps[self.rng.randrange(len(self.webapps))],
                                               "flannel.team", {"team": team}, size=100, timeout=30.0)
        if reply.status == "ok":
            yield from self.sleep(size / BACKBONE)
            self.count(team, "load_bytes", size)
            snap = reply.payload["snapshot"] if directory else snapshot_of(0, {})
            self.caches[team] = {"version": snap.version, "channels": snap.as_dict()}
            if directory:
                buffered, self.buffer = self.buffer, []
                for ev in buffered:
                    self.cache_event(ev)
        done = self.loading.pop(team)
        done.succeed(team in self.caches)

    def cache_event(self, ev: DirEvent) -> None:
        cache = self.caches[self.teams.directory_team]
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
        user = req.payload["user"]
        if user not in self.users:
            return api_error("invalid_auth")
        team = self.teams.of(user)
        hit = team in self.caches
        ok = yield from self.warm(team)
        if not ok:
            return api_error("internal_error")
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        size = self.teams.size(team).flannel_boot_bytes()
        for key, n in (("boots", 1), ("hits" if hit else "misses", 1), ("bytes", size)):
            self.count(team, key, n)
        cache = self.caches[team]
        snap = snapshot_of(cache["version"], cache["channels"])
        return "ok", {"ok": True, "bytes": size, "snapshot": snap, "hit": hit}, size

    def serve_directory(self, req):
        team = self.teams.directory_team
        ok = yield from self.warm(team)
        if not ok:
            return api_error("internal_error")
        cache = self.caches[team]
        snap = snapshot_of(cache["version"], cache["channels"])
        return "ok", {"ok": True, "snapshot": snap}, 200

    def serve_directory_event(self, req):
        ev: DirEvent = req.payload
        team = self.teams.directory_team
        self.dir_log.append(ev)
        for c, t in list(self.clients.items()):
            if t == team:
                c.send(self, "directory", ev, 80)
        if team in self.caches:
            self.cache_event(ev)
        elif team in self.loading and not self.broken_warmup:
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
            team = self.clients[conn] = self.teams.of(p.user)
            if team == self.teams.directory_team:
                for ev in self.dir_log:
                    if ev.version > p.dir_version:
                        conn.send(self, "directory", ev, 80)
        elif isinstance(p, Chat):
            # lazy loading: push the sender's profile just ahead of its first message
            for c in self.local.get(p.channel, {}).values():
                session = session_of(c)
                if session is None:
                    known = set()
                elif session.known is None:
                    known = session.known = set()
                else:
                    known = session.known
                if p.sender not in known:
                    known.add(p.sender)
                    c.send(self, "user", {"user": p.sender}, PROFILE_BYTES)
                    self.profile_pushes += 1
        super().on_message(conn, msg)

    def on_closed(self, conn, reason):
        self.clients.pop(conn, None)
        super().on_closed(conn, reason)

    def stats(self) -> dict:
        """Totals, and per team (``teams``: team -> ``TEAM_STATS`` counts)."""
        return {"hits": self.hits, "misses": self.misses, "loads": self.loads, "profile_pushes": self.profile_pushes,
                "teams": {t: {k: c[k] for k in TEAM_STATS} for t, c in sorted(self.team_stats.items())}}
