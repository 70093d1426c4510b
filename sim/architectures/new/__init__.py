"""The new architecture (DESIGN §5 "new"); see docs/new-architecture.md.

Main region (us-east): web app instances behind a load balancer, the DB,
Kafka brokers and controller, a Redis primary and replica, discovery, the
channel servers and one job worker per partition. Every region with clients
has Flannel hosts. Component faults registered here: ``kafka-leader-crash``
(crash the current leader of ``params.partition``), ``kafka-leader-isolate``
(cut that leader off from the other brokers and the controller while the
web apps still reach it: the zombie leader of a network split), ``redis-failover`` (the
Redis primary's host vanishes; discovery promotes the replica) and
``flannel-restart`` (Flannel hosts restart, cold).
"""

from __future__ import annotations

from ...config import RunConfig
from ...faults import FaultKind, in_range
from ...kernel import Simulation
from ...nodes.db import DB
from ...nodes.discovery import Discovery
from ...nodes.flannel import Flannel, team_host
from ...nodes.kafka import Broker, Controller
from ...nodes.protocol import SLACK_WEB_API
from ...nodes.redis import Redis
from ..base import Architecture, Step, System, directory_of, frozen_members, make_clients, teams_of
from .channel_server import NewChannelServer
from .client import NewClient
from .settings import NewSettings
from .webapp import NewWebApp
from .worker import Worker

MAIN = "us-east"
STEPS = (
    Step("received", "webapp", "chat.postMessage reaches a web app"),
    Step("deduped", "webapp", "client_msg_id claimed in Redis (SETNX)"),
    Step("appended", "webapp", "append to the channel's Kafka partition acknowledged"),
    Step("replicated", "kafka", "a follower copied the record"),
    Step("responded", "webapp", "{ok: true, ts} answered to the sender"),
    Step("broadcast", "channel-server", "fanned out to the subscribed gateways"),
    Step("pushed", "flannel", "pushed down the members' WebSockets"),
    Step("persisted", "worker", "a job worker stored it in the DB"),
)


def build(sim: Simulation, cfg: RunConfig) -> System:
    s: NewSettings = cfg.arch
    k = s.kafka
    members = cfg.members
    shared = frozen_members(cfg)  # one frozenset per channel for every web app
    users = frozenset(cfg.client_names())  # one set for every web app and Flannel host
    directory = directory_of(cfg, sim.rng("directory"))
    db = DB(sim, "db", MAIN, directory)
    brokers = [f"kafka-{i}" for i in range(k.brokers)]
    rf = min(k.replication, k.brokers)
    replicas = {p: [brokers[(p + i) % len(brokers)] for i in range(rf)] for p in range(k.partitions)}
    Controller(sim, "kafka-controller", MAIN, brokers=brokers, replicas=replicas, cfg=k)
    for b in brokers:
        Broker(sim, b, MAIN, controller="kafka-controller", replicas=replicas, cfg=k)
    servers = [f"channel-server-{i}" for i in range(s.channel_servers)]
    Discovery(sim, "discovery", MAIN, servers=servers, redis=["redis-0", "redis-1"],
              health=s.health, failover_delay=s.redis.failover_delay)
    r = s.redis
    Redis(sim, "redis-0", MAIN, primary=True, peer="redis-1", persistence=r.persistence,
          lag=r.replication_lag, discovery="discovery")
    Redis(sim, "redis-1", MAIN, primary=False, peer="redis-0", persistence=r.persistence,
          lag=r.replication_lag, discovery="discovery")
    cs = [NewChannelServer(sim, n, MAIN, discovery="discovery") for n in servers]
    webapps = [f"webapp-{i}" for i in range(s.webapps)]
    regions = sorted({g.region for g in cfg.topology.clients})
    hosts = {r: [f"flannel-{r}-{i}" for i in range(s.flannel.hosts_per_region)] for r in regions}
    teams = teams_of(cfg)
    for w in webapps:
        NewWebApp(sim, w, MAIN, db="db", members=shared, users=users, teams=teams,
                  controller="kafka-controller", discovery="discovery", settings=s, workers=s.webapp_workers,
                  boot_throttle=s.boot_throttle, publish_to=[h for hs in hosts.values() for h in hs])
    for p in range(k.partitions):
        Worker(sim, f"worker-{p}", MAIN, partitions=[p], controller="kafka-controller", discovery="discovery",
               db="db", settings=s.workers)
    for region, names in hosts.items():
        for h in names:
            Flannel(sim, h, region, discovery="discovery", webapps=webapps, teams=teams,
                    broken_warmup=s.flannel.broken_warmup, users=users)
    clients = []
    for c in make_clients(sim, cfg, NewClient, webapp=webapps, gateway="flannel-?",
                          hold_back=s.hold_back, hold_timeout=s.hold_timeout, directory=sorted(directory),
                          errors=SLACK_WEB_API):
        # every client of a team in a region lands on the same Flannel host
        c.gateway = team_host(hosts[c.region], teams.of(c.name))
        clients.append(c)
    return System(sim, clients, db, members, cs)


# -- component faults ------------------------------------------------------------
def _controller(nem):
    return next(n for n in nem.sim.nodes.values() if n.role == "kafka-controller")


def _kafka_leader_crash(nem, spec, hit):
    part = int(spec.params.get("partition", 0))
    leader = _controller(nem).durable["state"][part][0]
    node = nem.sim.node(leader) if leader else None
    if node is not None and node.up:
        node.crash(silent=spec.silent)
    return {"partition": part, "node": leader or "", "silent": spec.silent}, node


def _kafka_leader_isolate(nem, spec, hit):
    """Cut the current leader of ``params.partition`` off from the other
    brokers and the controller; producers and consumers still reach it.

    The controller stops hearing its heartbeats and elects another leader;
    until the web apps learn of it, the old leader goes on answering
    produce requests. With ``acks=1`` it acks what no follower will ever
    fetch, and truncates it when it rejoins as a follower (Kafka's
    acks=1 loss under a split); with ``acks=all`` it cannot advance its high
    watermark, so nothing it takes is acked."""
    part = int(spec.params.get("partition", 0))
    ctl = _controller(nem)
    leader = ctl.durable["state"][part][0]
    if leader is None:
        return {"partition": part, "node": ""}, None
    rest = {n.name for n in nem.sim.nodes.values() if n.role == "kafka" and n.name != leader} | {ctl.name}
    return {"partition": part, "node": leader}, nem.sim.network.partition({leader}, rest)


def _kafka_heal(nem, spec, rules):
    if rules is not None:
        nem.sim.network.heal(rules)
    return {"partition": int(spec.params.get("partition", 0))}


def _restart(nem, spec, node):
    if node is not None:
        node.restart()
    return {"node": node.name if node is not None else ""}


def _redis_failover(nem, spec, hit):
    primary = next(n for n in nem.sim.nodes.values() if n.role == "discovery").primary
    node = nem.sim.node(primary)
    node.crash(silent=True)
    return {"node": primary}, node


def _flannel_restart(nem, spec, hit):
    """Flannel hosts (``targets``, default all) go down; they come back cold."""
    hosts = nem.sim.select(spec.targets or ["role:flannel"])
    for h in hosts:
        h.crash()
    names = ",".join(sorted(h.name for h in hosts))
    return {"node": names}, hosts


def _flannel_back(nem, spec, hosts):
    for h in hosts:
        h.restart()
    return {"node": ",".join(sorted(h.name for h in hosts))}


FAULTS = {
    "kafka-leader-crash": FaultKind(_kafka_leader_crash, _restart, "restart", params={"partition": int},
                                    check=in_range("partition", lambda s: s.kafka.partitions, "partitions"),
                                    doc="crash the current leader of params.partition (default 0)"),
    "kafka-leader-isolate": FaultKind(_kafka_leader_isolate, _kafka_heal, "heal", params={"partition": int},
                                      check=in_range("partition", lambda s: s.kafka.partitions, "partitions"),
                                      doc="cut the current leader of params.partition (default 0) off from the "
                                          "other brokers and the controller; clients still reach it"),
    "redis-failover": FaultKind(_redis_failover, _restart, "restart",
                                doc="the Redis primary's host vanishes; discovery promotes the replica"),
    "flannel-restart": FaultKind(_flannel_restart, _flannel_back, "restart",
                                 doc="Flannel hosts (targets, default all) restart cold"),
}

ARCHITECTURE = Architecture(
    name="new",
    description="HTTP POST → web app → Kafka ledger (Redis dedupe) → stateless channel servers; Flannel edge boot",
    settings=NewSettings,
    build=build,
    steps=STEPS,
    errors=SLACK_WEB_API,
    client=NewClient,
    faults=FAULTS,
    doc="docs/new-architecture.md",
    profiles={
        # Slack's job queue as its 2017 write-ups describe it: leader-only
        # acks and unclean leader election on (docs/fidelity.md)
        "slack-2017": ("new.kafka.acks=1", "new.kafka.unclean_election=true"),
        # the defaults, spelled out: acks=all, min.insync.replicas=2, clean elections only
        "safe": ("new.kafka.acks=all", "new.kafka.min_insync=2", "new.kafka.unclean_election=false"),
    },
)
