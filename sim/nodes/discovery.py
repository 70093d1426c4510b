"""Service discovery (a Consul-like node): the channel-server ring and the
Redis primary.

Channel servers are found dead by active health checks, as a Consul agent
runs them: every ``health.interval`` discovery sends each server a ``health``
request; one not answered within ``health.timeout`` (a hung or vanished
host) or refused (a crashed process) fails the check. After
``health.failures`` consecutive failures the server leaves the ring and its
channels move to the next server on the consistent-hash ring; after
``health.passes`` consecutive passes it rejoins. Any answer passes — an
``unknown_method`` error too: the check asks whether the process serves
requests at all (Consul's TCP check), not what it thinks of itself.

So a failed server is replaced after between ``(failures - 1)·interval +
timeout`` and ``failures·interval + timeout`` (where the crash falls in the
check cycle), plus the time for the new ring to reach the web apps. They
learn it by a *blocking query* (Consul's ``?index=&wait=``): ``discovery.get``
with the version the asker knows parks until the ring or the Redis primary
changes, or ``wait`` passes; so a change propagates in one network delay and
an idle cluster costs one round trip per ``wait``.

Redis nodes send a heartbeat datagram every 0.5 s (Sentinel's pings); a
primary silent for ``failover_delay`` is replaced by its replica; when the
old primary returns it is told to replicate from the new one, which discards
what it had.

The discovery service itself is assumed to be a healthy quorum: it is not a
fault target.
"""

from __future__ import annotations

from bisect import bisect

from simpy.events import Event

from ..kernel import Later, Node, at_timeout_key, stable_hash, start_soon

VNODES = 32
_new_object = object.__new__
HEARTBEAT = 0.5
WATCH_WAIT = 10.0  # a blocking query's longest wait (Consul's default is 5 min; shorter keeps views fresh after a partition)


def ring_owner(ring: tuple[str, ...], channel: str) -> str | None:
    """Consistent hashing with virtual nodes: the owner of ``channel``."""
    if not ring:
        return None
    keys, owners = _points(ring)
    return owners[bisect(keys, stable_hash(channel)) % len(keys)]


# ring -> (sorted point hashes, their owners): a pure function's cache
_cache: dict[tuple[str, ...], tuple[list[int], list[str]]] = {}


def _points(ring: tuple[str, ...]) -> tuple[list[int], list[str]]:
    pts = _cache.get(ring)
    if pts is None:
        ordered = sorted((stable_hash(f"{s}#{v}"), s) for s in ring for v in range(VNODES))
        pts = _cache[ring] = ([k for k, _ in ordered], [s for _, s in ordered])
    return pts


class Discovery(Node):
    role = "discovery"

    def __init__(self, sim, name, region, *, servers: list[str], redis: list[str], health, failover_delay: float):
        super().__init__(sim, name, region)
        self.servers = list(servers)
        self.redis_nodes = list(redis)
        self.health = health
        self.failover_delay = failover_delay

    def reset_volatile(self):
        self.last_seen = {n: 0.0 for n in self.redis_nodes}
        self.in_ring = {s: True for s in self.servers}
        self.ring = tuple(self.servers)
        self.primary = self.redis_nodes[0] if self.redis_nodes else None
        self.version = 0
        self.watchers: list = []  # blocking queries waiting for a change

    def start(self):
        start_soon(self, Discovery.watch)
        for s in self.servers:
            self.spawn(self.check(s))

    def on_message(self, conn, msg):
        if msg.kind == "heartbeat":
            self.last_seen[msg.src] = self.env.now

    def alive(self, node: str, within: float) -> bool:
        return self.env.now - self.last_seen.get(node, -1e9) <= within

    def changed(self) -> None:
        self.version += 1
        watchers, self.watchers = self.watchers, []
        for ev in watchers:
            if not ev.triggered:
                ev.succeed()

    def check(self, server: str):
        """The health check of one channel server, staggered in the cycle."""
        h = self.health
        net = self.sim.network
        passes = failures = 0
        yield from self.sleep(self.sim.rng(f"{self.name}/check/{server}").uniform(0, h.interval))
        while True:
            reply = yield net.request(self, server, "health", {}, size=40, timeout=h.timeout)
            if reply.status in ("ok", "error"):
                passes, failures = passes + 1, 0
            else:
                passes, failures = 0, failures + 1
            member = self.in_ring[server]
            if (member and failures >= h.failures) or (not member and passes >= h.passes):
                self.in_ring[server] = not member
                self.ring = tuple(s for s in self.servers if self.in_ring[s])
                self.sim.record(self.name, "event", "ring", {"ring": list(self.ring), "node": server,
                                                              "joined": not member})
                self.changed()
            yield from self.sleep(h.interval)

    def watch(self) -> None:
        """Every 0.25 s, replace a Redis primary silent for ``failover_delay``
        by a live replica: a timer, where this was a loop sleeping and
        checking in a process."""
        self.wake_after(0.25, Discovery._check_primary)

    def _check_primary(self) -> None:
        if self.primary and not self.alive(self.primary, self.failover_delay):
            candidates = [r for r in self.redis_nodes if r != self.primary and self.alive(r, 1.5)]
            if candidates:
                old, self.primary = self.primary, candidates[0]
                self.changed()
                self.sim.network.request(self, self.primary, "redis.promote", {}, timeout=2.0)
                self.spawn(self.demote_when_back(old))
        self.watch()

    def demote_when_back(self, old: str):
        """When the old primary returns, make it a replica of the new one.

        Failovers can overlap: if ``old`` was promoted again meanwhile (the
        node that replaced it died first), it is the primary and stays one;
        and it is never told to follow a primary that is itself silent."""
        net = self.sim.network
        while True:
            yield from self.sleep(0.5)
            if old == self.primary:
                return
            # only towards a live primary: one that died too would leave no primary at all
            if self.alive(old, 1.0) and self.alive(self.primary, 1.0):
                reply = yield net.request(self, old, "redis.replicaof", {"primary": self.primary}, timeout=2.0)
                if reply.status == "ok":
                    return

    def view(self, req):
        """The ring and the Redis primary; with ``version`` and ``wait``, a
        blocking query: answered when the view differs from that version."""
        known, wait = req.payload.get("version"), req.payload.get("wait", 0.0)
        if wait and known == self.version:
            return Later(park(self, self.watchers, wait), Discovery.current)
        return self.current(req)

    def current(self, req):
        return "ok", {"ring": self.ring, "redis": self.primary, "version": self.version}, 200

    HANDLERS = {"discovery.get": view}


def park(node: Node, watchers: list, wait: float):
    """An event that fires when a change wakes ``watchers`` or after ``wait``."""
    env = node.env
    ev = _new_object(Event)  # Event(env) without its __init__ frame:
    ev.env = env  # the same object, attributes set in the same order (``_value``
    ev.callbacks = []  # is PENDING by the class); tests/test_speed_kernel.py compares
    watchers.append(ev)
    # Timeout(env, wait) with a callback, as one slotted event pushed with the
    # key that Timeout gets (so the same order): most parks are woken first,
    # and the long-poll timer is the most frequent timer of the new designs
    at_timeout_key(env, wait, _ParkTimer(ev))
    return ev


def _park_expired(timer: "_ParkTimer") -> None:
    ev = timer.ev
    if not ev.triggered:
        ev.succeed()


_PARK_CBS = [_park_expired]  # shared, read (never mutated) by the run loop


class _ParkTimer:
    __slots__ = ("callbacks", "_ok", "ev")

    def __init__(self, ev: Event):
        self.callbacks = _PARK_CBS
        self._ok = True
        self.ev = ev


def heartbeat_loop(node: Node, target: str) -> None:
    """Started by nodes that discovery watches: a heartbeat datagram to
    ``target`` every ``HEARTBEAT`` s, from where a process spawned now would
    start (``start_soon``), then on a timer (``Node.wake_after``:
    ``Node.sleep``'s key and pause rule) — the loop that sent and slept in a
    process, without the process."""
    net = node.sim.network

    def beat(node: Node) -> None:
        net.send_datagram(node, target, "heartbeat", None, 40)
        node.wake_after(HEARTBEAT, beat)

    start_soon(node, beat)


class ClusterView:
    """Mixin for nodes that cache where things are: Kafka partition leaders
    (from the controller) and the channel-server ring and Redis primary (from
    discovery). ``refresh_view`` asks both at once (after an error);
    ``view_loop`` keeps a blocking query open on each, so a change arrives
    in one network delay and an idle view costs a round trip per
    ``WATCH_WAIT``. The node sets ``controller`` and ``discovery`` (names)
    in its constructor."""

    controller: str
    discovery: str

    def reset_view(self) -> None:
        self.leaders: dict[int, str | None] = {}
        self.ring: tuple[str, ...] = ()
        self.redis: str | None = None
        self.versions = {"kafka.metadata": None, "discovery.get": None}

    def ask_view(self, kind: str, wait: float):
        """Ask for one view (``kafka.metadata`` or ``discovery.get``), as a
        blocking query if ``wait``; the request's event (``learn`` its reply)."""
        target = self.controller if kind == "kafka.metadata" else self.discovery
        return self.sim.network.request(self, target, kind, {"version": self.versions[kind], "wait": wait},
                                        timeout=wait + 1.0)

    def learn(self, kind: str, reply) -> bool:
        """Take in the view a reply to ``ask_view`` carries; False if it failed."""
        if reply.status != "ok":
            return False
        body = reply.payload
        self.versions[kind] = body["version"]
        if kind == "kafka.metadata":
            self.leaders = {p: lead for p, (lead, _) in body["leaders"].items()}
        else:
            self.ring, self.redis = body["ring"], body["redis"]
        return True

    def _ask(self, kind: str, wait: float):
        return self.learn(kind, (yield self.ask_view(kind, wait)))

    def refresh_view(self):
        yield from self._ask("kafka.metadata", 0.0)
        yield from self._ask("discovery.get", 0.0)

    def view_loop(self):
        self.spawn(self._watch("kafka.metadata"))
        yield from self._watch("discovery.get")

    def _watch(self, kind: str):
        while True:
            if not (yield from self._ask(kind, WATCH_WAIT)):
                yield from self.sleep(1.0)
