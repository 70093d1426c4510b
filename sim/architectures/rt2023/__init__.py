"""Slack's 2023 real-time design (DESIGN §5 "rt2023"); see docs/rt2023-architecture.md.

Main region (us-east): web apps, admin servers, the ring manager and the
channel servers, presence servers, the message shards (a primary and a
replica each) and their orchestrator, the team database (directory and boot
data), Kafkagate and the job queue's brokers. Every region with clients has
gateway servers (Flannel hosts). The send path persists first: web app →
shard primary (ts) → answer and admin server (either order) → channel server
on the ring (sequence) → subscribed gateways → clients.

Component faults declared here: ``shard-failover`` (a shard's primary host
vanishes; the orchestrator promotes the replica and what it had not received
is lost), ``ring-manager-loss`` (the ring manager is down: no channel is
remapped), ``gateway-crash`` (a region's gateway servers crash; they return
cold) and ``admin-server-crash`` (admin servers crash: what they were routing
is never broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import RunConfig
from ...faults import FaultKind, in_range
from ...kernel import Simulation
from ...nodes.db import DB
from ...nodes.flannel import team_host
from ...nodes.kafka import Broker, Controller
from ...nodes.protocol import Chat, SLACK_WEB_API
from ..base import Architecture, Step, System, directory_of, frozen_members, make_clients, teams_of
from .admin import AdminServer
from .channel_server import Rt2023ChannelServer
from .client import Rt2023Client
from .edge import Gateway, Kafkagate, PresenceServer
from .ring import RingManager
from .settings import Rt2023Settings
from .shard import Orchestrator, ShardDB, shard_of
from .webapp import Rt2023WebApp

MAIN = "us-east"
STEPS = (
    Step("received", "webapp", "chat.postMessage reaches a web app"),
    Step("deduped", "webapp", "client_msg_id not found on the shard primary"),
    Step("persisted", "webapp", "the shard primary stored the row (ts assigned)"),
    Step("handed", "webapp", "admin.route sent to an admin server"),
    Step("responded", "webapp", "{ok: true, ts} answered to the sender"),
    Step("routed", "admin-server", "the channel server found on the ring; cs.route sent"),
    Step("sequenced", "channel-server", "the channel server numbered it (in memory)"),
    Step("broadcast", "channel-server", "fanned out to the subscribed gateways"),
    Step("pushed", "flannel", "the gateway pushed it down its members' WebSockets"),
)


@dataclass
class Rt2023System(System):
    """The store is the message shards: each channel's content is read from
    its shard's current primary, as the orchestrator names it."""

    orchestrator: Orchestrator | None = None
    shards: dict[str, ShardDB] = field(default_factory=dict)

    def stored(self, channel: str) -> list[Chat]:
        primaries = self.orchestrator.durable["primaries"]
        return self.shards[primaries[shard_of(channel, len(primaries))]].channel(channel)


def build(sim: Simulation, cfg: RunConfig) -> System:
    s: Rt2023Settings = cfg.arch
    members = cfg.members
    shared = frozen_members(cfg)  # one frozenset per channel for every web app
    users = frozenset(cfg.client_names())  # one set for every web app and Flannel host
    directory = directory_of(cfg, sim.rng("directory"))
    team_db = DB(sim, "db", MAIN, directory)  # team data: directory, boot snapshots
    pairs = [(f"db-{i}a", f"db-{i}b") for i in range(s.db.shards)]
    orch = Orchestrator(sim, "orchestrator", MAIN, shards=pairs, failover_delay=s.db.failover_delay)
    shards = {}
    for a, b in pairs:
        shards[a] = ShardDB(sim, a, MAIN, primary=True, peer=b, lag=s.db.replication_lag, orchestrator=orch.name)
        shards[b] = ShardDB(sim, b, MAIN, primary=False, peer=a, lag=s.db.replication_lag, orchestrator=orch.name)
    servers = [f"channel-server-{i}" for i in range(s.channel_servers)]
    RingManager(sim, "ring-manager", MAIN, servers=servers, health=s.health)
    cs = [Rt2023ChannelServer(sim, n, MAIN, ring_manager="ring-manager", orchestrator=orch.name,
                              recent=s.recent_messages) for n in servers]
    admins = [f"admin-{i}" for i in range(s.admin_servers)]
    for a in admins:
        AdminServer(sim, a, MAIN, ring_manager="ring-manager", attempts=s.route_attempts, retry=s.route_retry)
    kafkagate = None
    if s.jobs:
        k = s.kafka
        brokers = [f"kafka-{i}" for i in range(k.brokers)]
        replicas = {p: [brokers[(p + i) % len(brokers)] for i in range(k.replication)] for p in range(k.partitions)}
        Controller(sim, "kafka-controller", MAIN, brokers=brokers, replicas=replicas, cfg=k)
        for b in brokers:
            Broker(sim, b, MAIN, controller="kafka-controller", replicas=replicas, cfg=k)
        kafkagate = Kafkagate(sim, "kafkagate", MAIN, controller="kafka-controller", partitions=k.partitions,
                              timeout=k.request_timeout).name
    regions = sorted({g.region for g in cfg.topology.clients})
    hosts = {r: [f"gateway-{r}-{i}" for i in range(s.gateway.hosts_per_region)] for r in regions}
    gateways = [h for hs in hosts.values() for h in hs]
    presence = [f"presence-{i}" for i in range(s.presence_servers)]
    for p in presence:
        PresenceServer(sim, p, MAIN, gateways=gateways)
    webapps = [f"webapp-{i}" for i in range(s.webapps)]
    teams = teams_of(cfg)
    for w in webapps:
        Rt2023WebApp(sim, w, MAIN, db="db", members=shared, users=users, teams=teams,
                     orchestrator=orch.name, admins=admins, kafkagate=kafkagate, settings=s,
                     workers=s.webapp_workers, boot_throttle=s.boot_throttle, publish_to=gateways)
    for region, names in hosts.items():
        for h in names:
            Gateway(sim, h, region, discovery="ring-manager", webapps=webapps, teams=teams, broken_warmup=False,
                    users=users, presence=presence)
    clients = []
    for c in make_clients(sim, cfg, Rt2023Client, webapp=webapps, gateway="gateway-?", hold_back=s.hold_back,
                          hold_timeout=s.hold_timeout, directory=sorted(directory), errors=SLACK_WEB_API):
        c.gateway = team_host(hosts[c.region], teams.of(c.name))  # a team's clients of a region share a host
        clients.append(c)
    return Rt2023System(sim, clients, team_db, members, cs, orchestrator=orch, shards=shards)


# -- component faults ------------------------------------------------------------
def _orchestrator(nem) -> Orchestrator:
    return nem.sim.node("orchestrator")


def _shard_failover(nem, spec, hit):
    """The current primary of ``params.shard`` vanishes (silently, like a lost host)."""
    shard = int(spec.params.get("shard", 0))
    primaries = _orchestrator(nem).durable["primaries"]
    if not 0 <= shard < len(primaries):
        from ...errors import WiringError

        raise WiringError(f"shard-failover: params.shard = {shard}, but there are {len(primaries)} shards")
    node = nem.sim.node(primaries[shard])
    node.crash(silent=True)
    return {"shard": shard, "node": node.name}, node


def _restart(nem, spec, node):
    node.restart()
    return {"node": node.name}


def _ring_manager_loss(nem, spec, hit):
    node = nem.sim.node("ring-manager")
    node.crash(silent=True)
    return {"node": node.name}, node


def _gateway_crash(nem, spec, hit):
    """Gateway servers crash: ``targets``, else those of ``params.region``, else the one whose step fired, else all."""
    if spec.targets:
        hosts = nem.sim.select(spec.targets)
    elif "region" in spec.params:
        hosts = nem.sim.select([f"region:{spec.params['region']}&role:flannel"])
    elif hit is not None:
        hosts = [hit]
    else:
        hosts = nem.sim.select(["role:flannel"])
    hosts = [h for h in hosts if h.up]
    for h in hosts:
        h.crash()
    return {"node": ",".join(h.name for h in hosts)}, hosts


def _admin_crash(nem, spec, hit):
    """Admin servers crash: ``targets``, else the one whose step fired, else all."""
    nodes = nem.sim.select(spec.targets) if spec.targets else [hit] if hit is not None \
        else nem.sim.select(["role:admin-server"])
    nodes = [n for n in nodes if n.up]
    for n in nodes:
        n.crash(silent=spec.silent)
    return {"node": ",".join(n.name for n in nodes), "silent": spec.silent}, nodes


def _restart_all(nem, spec, nodes):
    for n in nodes:
        n.restart()
    return {"node": ",".join(n.name for n in nodes)}


def _gateway_region(spec, cfg) -> str | None:
    region = spec.params.get("region")
    regions = sorted({g.region for g in cfg.topology.clients})
    if region is not None and region not in regions:
        return f"params.region = {region!r} has no gateway (regions with clients: {', '.join(regions)})"
    return None


FAULTS = {
    "shard-failover": FaultKind(_shard_failover, _restart, "restart", params={"shard": int},
                                check=in_range("shard", lambda s: s.db.shards, "shards"),
                                doc="the primary of params.shard (default 0) vanishes; its replica is promoted "
                                    "and the writes it had not received are lost; the old primary returns as a "
                                    "replica"),
    "ring-manager-loss": FaultKind(_ring_manager_loss, _restart, "restart",
                                   doc="the ring manager vanishes: no dead channel server is replaced meanwhile"),
    "gateway-crash": FaultKind(_gateway_crash, _restart_all, "restart", params={"region": str},
                               check=_gateway_region,
                               doc="gateway servers (targets, or params.region, or all) crash; they return cold"),
    "admin-server-crash": FaultKind(_admin_crash, _restart_all, "restart",
                                    doc="admin servers (targets, or the one that reached the step, or all) "
                                        "crash: messages they were routing are never broadcast"),
}

ARCHITECTURE = Architecture(
    name="rt2023",
    description="Slack 2023: web app persists to a sharded DB, then admin servers route to stateful channel "
                "servers on a hash ring; regional gateways",
    settings=Rt2023Settings,
    build=build,
    steps=STEPS,
    errors=SLACK_WEB_API,
    client=Rt2023Client,
    faults=FAULTS,
    doc="docs/rt2023-architecture.md",
)
