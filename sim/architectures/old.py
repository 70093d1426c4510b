"""The old RTM architecture (DESIGN §5 "old").

One web app and one DB in the main region; the team's channels sharded over
stateful channel servers by a stable hash; clients boot with ``rtm.start``
and hold a WebSocket to every channel server that hosts one of their
channels.
"""

from __future__ import annotations

from ..kernel import Simulation
from ..nodes.channel_server import OldChannelServer
from ..nodes.client import OldClient
from ..nodes.db import DB
from ..nodes.webapp import WebApp
from .base import System, client_names, directory_of, make_clients, stable_hash, team_of

STEPS = ("received", "broadcast", "ack_sent", "handoff", "persisted")


def build(sim: Simulation, cfg: dict) -> System:
    s = cfg["old"]
    region = s["webapp_region"]
    members = cfg["members"]
    directory = directory_of(cfg, sim.rng("directory"))
    db = DB(sim, "db", region, directory)
    servers = [OldChannelServer(sim, f"channel-server-{i}", region, webapp="webapp-0", members=members,
                                retry=s["persist_retry"], timeout=s["persist_timeout"])
               for i in range(s["channel_servers"])]
    WebApp(sim, "webapp-0", region, db="db", members=members, users=client_names(cfg), team=team_of(cfg),
           workers=s["webapp_workers"], boot_throttle=s["boot_throttle"], publish_to=[x.name for x in servers])
    server_of = {ch: servers[stable_hash(ch) % len(servers)].name for ch in members}
    clients = make_clients(sim, cfg, OldClient, webapp="webapp-0", servers=server_of, directory=sorted(directory))
    return System(sim, clients, db, members, servers)
