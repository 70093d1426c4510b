"""Service discovery (a Consul-like node): the channel-server ring and the
Redis primary, from heartbeats.

Channel servers and Redis nodes send a heartbeat datagram every 0.5 s. A
channel server silent for ``reassign_delay`` (~20 s) leaves the ring and its
channels move to the next server on the consistent-hash ring; it rejoins
when its heartbeats resume. A Redis primary silent for ``failover_delay`` is
replaced by its replica (Sentinel-style promotion); when the old primary
returns it is told to replicate from the new one, which discards what it
had. Web apps and gateways poll ``discovery.get``.

The discovery service itself is assumed to be a healthy quorum: it is not a
fault target.
"""

from __future__ import annotations

from bisect import bisect

from ..kernel import Node, stable_hash

VNODES = 32
HEARTBEAT = 0.5


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

    def __init__(self, sim, name, region, *, servers: list[str], redis: list[str], reassign_delay: float,
                 failover_delay: float):
        super().__init__(sim, name, region)
        self.servers = list(servers)
        self.redis_nodes = list(redis)
        self.reassign_delay = reassign_delay
        self.failover_delay = failover_delay

    def reset_volatile(self):
        self.last_seen = {n: 0.0 for n in self.servers + self.redis_nodes}
        self.ring = tuple(self.servers)
        self.primary = self.redis_nodes[0] if self.redis_nodes else None
        self.version = 0

    def start(self):
        self.spawn(self.watch())

    def on_message(self, conn, msg):
        if msg.kind == "heartbeat":
            self.last_seen[msg.src] = self.env.now

    def alive(self, node: str, within: float) -> bool:
        return self.env.now - self.last_seen.get(node, -1e9) <= within

    def watch(self):
        net = self.sim.network
        while True:
            yield from self.sleep(0.25)
            ring = tuple(s for s in self.servers if self.alive(s, self.reassign_delay))
            if ring != self.ring:
                self.ring = ring
                self.version += 1
            if self.primary and not self.alive(self.primary, self.failover_delay):
                candidates = [r for r in self.redis_nodes if r != self.primary and self.alive(r, 1.5)]
                if candidates:
                    old, self.primary = self.primary, candidates[0]
                    self.version += 1
                    net.request(self, self.primary, "redis.promote", {}, timeout=2.0)
                    self.spawn(self.demote_when_back(old))

    def demote_when_back(self, old: str):
        """When the old primary returns, make it a replica of the new one."""
        net = self.sim.network
        while True:
            yield from self.sleep(0.5)
            if self.alive(old, 1.0):
                reply = yield net.request(self, old, "redis.replicaof", {"primary": self.primary}, timeout=2.0)
                if reply.status == "ok":
                    return

    def view(self, req):
        return "ok", {"ring": self.ring, "redis": self.primary, "version": self.version}, 200

    HANDLERS = {"discovery.get": view}


def heartbeat_loop(node: Node, target: str):
    """Spawned by nodes that discovery watches."""
    net = node.sim.network
    while True:
        net.send_datagram(node, target, "heartbeat", None, 40)
        yield from node.sleep(HEARTBEAT)


class ClusterView:
    """Mixin for nodes that cache where things are: Kafka partition leaders
    (from the controller) and the channel-server ring and Redis primary (from
    discovery). ``refresh_view`` asks both; ``view_loop`` does so every second.
    The node sets ``controller`` and ``discovery`` (names) in its constructor."""

    controller: str
    discovery: str

    def reset_view(self) -> None:
        self.leaders: dict[int, str | None] = {}
        self.ring: tuple[str, ...] = ()
        self.redis: str | None = None

    def refresh_view(self):
        net = self.sim.network
        meta = yield net.request(self, self.controller, "kafka.metadata", {}, timeout=1.0)
        if meta.status == "ok":
            self.leaders = {p: lead for p, (lead, _) in meta.payload["leaders"].items()}
        disc = yield net.request(self, self.discovery, "discovery.get", {}, timeout=1.0)
        if disc.status == "ok":
            self.ring = disc.payload["ring"]
            self.redis = disc.payload["redis"]

    def view_loop(self):
        while True:
            yield from self.refresh_view()
            yield from self.sleep(1.0)
