"""The old RTM architecture (DESIGN §5 "old").

One web app and one DB in the web-app region; the team's channels sharded
over stateful channel servers by a stable hash; clients boot with
``rtm.start`` and hold a WebSocket to every channel server that hosts one of
their channels. The channel server orders, broadcasts and acks *before* it
hands the message to the web app to persist: see docs/old-architecture.md.
"""

from __future__ import annotations

from ...config import RunConfig
from ...kernel import Simulation, stable_hash
from ...nodes.db import DB
from ...nodes.webapp import WebApp
from ..base import Architecture, Step, System, directory_of, frozen_members, make_clients, teams_of
from .channel_server import OldChannelServer
from .client import OldClient
from .settings import OldSettings

STEPS = (
    Step("received", "channel-server", "the channel server reads the message off the sender's WebSocket"),
    Step("broadcast", "channel-server", "ts assigned; pushed to the members' WebSockets"),
    Step("ack_sent", "channel-server", "ack to the sender"),
    Step("handoff", "channel-server", "queued in the volatile hand-off buffer to the web app"),
    Step("persisted", "channel-server", "the web app stored the batch in the DB"),
)

# The RTM socket protocol has no error codes of its own: a send is acked or
# times out. Its HTTP calls (rtm.start, history) share the network's outcomes.
ERRORS: dict = {}


def build(sim: Simulation, cfg: RunConfig) -> System:
    s: OldSettings = cfg.arch
    region = s.webapp_region
    members = cfg.members
    shared = frozen_members(cfg)  # one frozenset per channel for every server
    directory = directory_of(cfg, sim.rng("directory"))
    db = DB(sim, "db", region, directory)
    servers = [OldChannelServer(sim, f"channel-server-{i}", region, webapp="webapp-0", members=shared,
                                retry=s.persist_retry, timeout=s.persist_timeout)
               for i in range(s.channel_servers)]
    WebApp(sim, "webapp-0", region, db="db", members=shared, users=cfg.client_names(), teams=teams_of(cfg),
           workers=s.webapp_workers, boot_throttle=s.boot_throttle, publish_to=[x.name for x in servers])
    server_of = {ch: servers[stable_hash(ch) % len(servers)].name for ch in members}
    clients = make_clients(sim, cfg, OldClient, webapp="webapp-0", servers=server_of, directory=sorted(directory),
                           errors=ERRORS)
    return System(sim, clients, db, members, servers)


ARCHITECTURE = Architecture(
    name="old",
    description="Slack's RTM design: a stateful channel server orders, broadcasts and acks before the web app persists",
    settings=OldSettings,
    build=build,
    steps=STEPS,
    errors=ERRORS,
    client=OldClient,
    doc="docs/old-architecture.md",
)
