"""The architecture seam: what an architecture declares, and what its
``build`` hands back to the runner.

An architecture is one ``Architecture`` value (DESIGN §5): its name and
one-line description, its typed settings (a frozen pydantic model with
defaults; the scenario loader validates ``[<name>]`` tables and ``--set``
against it, and ``build`` receives the instance), the named steps of its send
path (fault triggers, and what message diagrams draw), its component fault
kinds (each with its start, its end and its params), the error table of its
API (which errors are definite, which leave the outcome unknown) and its
client class (the workload's behaviour). Everything else — the command line,
the loader, the runner, the reports, the tests — iterates the registry
(``sim.architectures.registry()``) and never spells out a list of designs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..config import RunConfig, Strict
from ..faults import FaultKind
from ..nodes.protocol import ApiError

from ..kernel import Node, Simulation
from ..nodes.client import Client, final_reads
from ..nodes.db import DB
from ..nodes.team import Teams, TeamSize


@dataclass(frozen=True)
class Step:
    """A named point of the send path: where a fault can be triggered
    (``crash channel-server-0 the 3rd time it reaches ack_sent``) and what a
    message diagram draws. ``role`` is the node role that reaches it;
    ``label`` says what happens there, in a few words."""

    name: str
    role: str
    label: str


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    settings: type[Strict]
    build: Callable[..., "System"]  # (sim, RunConfig) -> System; RunConfig.arch is a ``settings`` instance
    steps: tuple[Step, ...]
    errors: Mapping[str, ApiError]
    client: type
    faults: Mapping[str, FaultKind] = field(default_factory=dict)
    doc: str = ""  # a docs page, for `chatsim scenarios`
    # named setting profiles: name -> ``--set`` overrides, applied before the
    # user's own (``chatsim run --profile NAME``), e.g. a deployment's known settings
    profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def steps_meta(self) -> list[dict[str, str]]:
        """The steps as the history header carries them (reports read them)."""
        return [{"step": s.name, "role": s.role, "label": s.label} for s in self.steps]


@dataclass
class System:
    sim: Simulation
    clients: list[Client]
    db: DB
    members: dict[str, list[str]]
    servers: list[Node] = field(default_factory=list)

    def final_reads(self) -> list:
        return [final_reads(c) for c in self.clients if c.up]

    def finish(self) -> None:
        for c in self.clients:
            c.finish()

    def stored(self, channel: str) -> list:
        """A channel's durable content, in store order (a design whose store is
        not the one ``db`` overrides this)."""
        return self.db.channel(channel)

    def store_report(self) -> None:
        for ch in self.members:
            self.sim.record("db", "event", "stored", {"channel": ch, "msgs": [c.msg for c in self.stored(ch)]})
        if self.db.durable["directory"]:
            snap = self.db.directory_snapshot()
            self.sim.record("db", "event", "directory-truth",
                            {"version": snap.version, "channels": {ch: list(ms) for ch, ms in snap.channels}})


def make_clients(sim: Simulation, cfg: RunConfig, cls, directory: list[str] = (), **kw) -> list[Client]:
    """Every simulated client, ``cls`` with the run's client settings and
    workload; each knows the channels it belongs to, and the clients of the
    directory's team its directory channels.

    Clients share what is equal: their names are the config's interned ones
    (the web apps' user sets hold the same strings), and clients with the
    same channels hold one sorted tuple."""
    channels_of: dict[str, list[str]] = {}
    for ch, ms in cfg.members.items():
        for m in ms:
            channels_of.setdefault(m, []).append(ch)
    dir_team = set(cfg.topology.team_clients()[directory_team(cfg)]) if cfg.topology.teams and directory else None
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    names = iter(cfg.client_names())
    clients = []
    for group in cfg.topology.clients:
        for _ in range(group.count):
            name = next(names)
            chans = tuple(sorted(channels_of.get(name, ())))
            clients.append(cls(sim, name, group.region, kind=group.kind, channels=shared.setdefault(chans, chans),
                               settings=cfg.clients, workload=cfg.workload,
                               directory=directory if dir_team is None or name in dir_team else (), **kw))
    return clients


def frozen_members(cfg: RunConfig) -> dict[str, frozenset[str]]:
    """The channels' members as frozensets, built once: the servers that
    index them (``{ch: frozenset(ms)}``) then share these (``frozenset`` of
    a frozenset is the same object) instead of a copy each."""
    return {ch: frozenset(ms) for ch, ms in cfg.members.items()}


def _size(t, clients: int, channels: int, largest: int) -> TeamSize:
    """A team's size for boot payloads: the scenario's (membership growing
    with size unless given), or the simulated one."""
    if t.users:
        return TeamSize.derive(t.users, t.channels, t.members_per_channel)
    return TeamSize(clients, t.channels or channels, t.members_per_channel or largest)


def team_of(cfg: RunConfig) -> TeamSize:
    """The size of a single-team run's team (``topology.team``)."""
    return _size(cfg.topology.team, len(cfg.client_names()), len(cfg.members),
                 max((len(m) for m in cfg.members.values()), default=0))


def directory_team(cfg: RunConfig) -> str | None:
    """The team whose directory churns: ``T1`` of a single-team run, or the one team that declares it."""
    if not cfg.topology.teams:
        return "T1" if cfg.topology.team.directory else None
    return next((t for t, spec in cfg.topology.teams.items() if spec.directory), None)


def teams_of(cfg: RunConfig) -> Teams:
    """Every team's size and who is in it (one team ``T1`` without ``topology.teams``)."""
    topo = cfg.topology
    if not topo.teams:
        return Teams.single(team_of(cfg), len(cfg.client_names()), directory=bool(topo.team.directory))
    of_channel, of_team = topo.channel_teams(), topo.team_clients()
    sizes = {}
    for t, spec in topo.teams.items():
        chans = [ch for ch, owner in of_channel.items() if owner == t]
        sizes[t] = _size(spec, len(of_team[t]), len(chans),
                         max((len(cfg.members[ch]) for ch in chans), default=0))
    last, owner, i = [], [], 0
    for g in topo.clients:
        i += g.count
        if owner and owner[-1] == g.team:
            last[-1] = i
        else:
            last.append(i)
            owner.append(g.team)
    return Teams(sizes, tuple(last), tuple(owner), directory_team(cfg))


def directory_of(cfg: RunConfig, rng) -> dict[str, set[str]]:
    """The initial directory: ``team.directory`` channels, each with a random
    half of the directory team's clients (every simulated client in a single-team run)."""
    t = directory_team(cfg)
    if t is None:
        return {}
    if not cfg.topology.teams:
        names, n = cfg.client_names(), cfg.topology.team.directory
    else:
        names, n = cfg.topology.team_clients()[t], cfg.topology.teams[t].directory
    return {f"D{j}": {c for c in names if rng.random() < 0.5} for j in range(1, n + 1)}
