"""What every wired architecture hands back to the runner."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel import Node, Simulation, stable_hash  # noqa: F401 (re-exported)
from ..nodes.client import Client
from ..nodes.db import DB


@dataclass
class System:
    sim: Simulation
    clients: list[Client]
    db: DB
    members: dict[str, list[str]]
    servers: list[Node] = field(default_factory=list)

    def final_reads(self) -> list:
        return [c.spawn(c.final_reads()) for c in self.clients if c.up]

    def finish(self) -> None:
        for c in self.clients:
            c.finish()

    def store_report(self) -> None:
        for ch in self.members:
            self.sim.record("db", "event", "stored", {"channel": ch, "msgs": [c.msg for c in self.db.channel(ch)]})


def make_clients(sim: Simulation, cfg: dict, cls, **kw) -> list[Client]:
    members = cfg["members"]
    clients = []
    i = 0
    for group in cfg["topology"]["clients"]:
        for _ in range(group["count"]):
            i += 1
            name = f"client-{i}"
            chans = [ch for ch, ms in members.items() if name in ms]
            clients.append(cls(sim, name, group["region"], kind=group["kind"], channels=chans,
                               settings=cfg["clients"], workload=cfg["workload"], **kw))
    return clients


def team_of(cfg: dict) -> dict:
    """Team size for boot payloads: the scenario's, or the simulated one."""
    t = dict(cfg["topology"]["team"])
    members = cfg["members"]
    n_clients = sum(g["count"] for g in cfg["topology"]["clients"])
    t["users"] = t["users"] or n_clients
    t["channels"] = t["channels"] or len(members)
    t["members_per_channel"] = t["members_per_channel"] or max((len(m) for m in members.values()), default=0)
    return t
