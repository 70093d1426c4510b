"""What every wired architecture hands back to the runner."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel import Node, Simulation, stable_hash  # noqa: F401 (re-exported)
from ..nodes.client import Client
from ..nodes.db import DB
from ..nodes.team import TeamSize


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
        if self.db.durable["directory"]:
            snap = self.db.directory_snapshot()
            self.sim.record("db", "event", "directory-truth",
                            {"version": snap.version, "channels": {ch: list(ms) for ch, ms in snap.channels}})


def client_names(cfg: dict) -> list[str]:
    return [f"client-{i}" for i in range(1, sum(g["count"] for g in cfg["topology"]["clients"]) + 1)]


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


def team_of(cfg: dict) -> TeamSize:
    """Team size for boot payloads: the scenario's (membership growing with
    size unless given), or the simulated one."""
    t = cfg["topology"]["team"]
    members = cfg["members"]
    if t["users"]:
        return TeamSize.derive(t["users"], t["channels"], t["members_per_channel"])
    n_clients = sum(g["count"] for g in cfg["topology"]["clients"])
    return TeamSize(n_clients, t["channels"] or len(members),
                    t["members_per_channel"] or max((len(m) for m in members.values()), default=0))


def directory_of(cfg: dict, rng) -> dict[str, set[str]]:
    """The initial directory: ``team.directory`` channels, each with a random
    half of the simulated clients."""
    n = cfg["topology"]["team"]["directory"]
    names = [f"client-{i}" for i in range(1, sum(g["count"] for g in cfg["topology"]["clients"]) + 1)]
    return {f"D{j}": {c for c in names if rng.random() < 0.5} for j in range(1, n + 1)}
