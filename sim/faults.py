"""Faults as data, and the nemesis that applies a schedule of them (DESIGN §4).

A ``FaultSpec`` says *what* (``kind`` and its targets), *when* (``at`` a
simulated time, or at the ``nth`` time a node matching ``node`` reaches the
protocol ``step``) and *for how long* (``duration``; a crash with a duration
restarts the node after it). Each kind is a ``FaultKind``: a start, an end,
the name its end record carries, and the params it takes. ``KERNEL_KINDS``
are the kinds every architecture has (crash, pause, partition, degrade,
skew); an architecture declares its component kinds (Kafka leader crash,
Redis failover, Flannel cold restart, ...) in its ``Architecture`` value, and
the nemesis of a run knows exactly the union of the two: a component fault
of one design is unknown to another.

Every start and every end is recorded as a ``nemesis`` ``info`` op whose
value carries ``fault``, an id shared by the start and its end (numbered
from 1 in firing order), so the history alone tells which faults the system
met and reports pair them without guessing from labels. ``heal_all`` ends every
fault still in force and disarms step triggers that never fired: it is the
first step of the end-of-run sequence heal → settle → final reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Callable

from .errors import ConfigError
from .kernel import Node, Simulation


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    at: float | None = None
    step: str | None = None
    node: str = "*"  # which nodes' steps count (a glob), for step triggers
    nth: int = 1
    duration: float | None = None
    targets: tuple[str, ...] = ()  # crash / pause / skew / component targets
    a: tuple[str, ...] = ()  # partition / degrade: one side
    b: tuple[str, ...] = ()  # partition / degrade: the other side
    oneway: bool = False  # partition / degrade: only a → b
    latency: float = 0.0
    loss: float = 0.0
    dup: float = 0.0
    skew: float = 0.0
    silent: bool = False  # crash: the host vanishes (peers wait for keepalive)
    params: dict[str, Any] = field(default_factory=dict)  # component-specific


@dataclass(frozen=True)
class FaultKind:
    """One fault kind: ``start(nemesis, spec, hit) -> (record value, state)``
    applies it (``hit`` is the node whose step fired it, if any); ``end(nemesis,
    spec, state) -> record value`` undoes it; ``end_name`` is the ``f`` of the
    end record; ``params`` the component-specific parameters it accepts
    (name → type), validated when the scenario is loaded."""

    start: Callable[["Nemesis", FaultSpec, Node | None], tuple[dict, Any]]
    end: Callable[["Nemesis", FaultSpec, Any], dict]
    end_name: str
    params: dict[str, type] = field(default_factory=dict)
    doc: str = ""
    # check(spec, cfg) -> a problem in a few words, or None: what a spec needs
    # beyond its params' types (targets, a param in range of the settings),
    # asked when the scenario is loaded so a bad fault never fires mid-run
    check: Callable[[FaultSpec, Any], str | None] | None = None


def _targets(nem: "Nemesis", spec: FaultSpec, hit: Node | None) -> list[Node]:
    if spec.targets:
        return nem.sim.select(spec.targets)
    if hit is not None:
        return [hit]
    raise ConfigError(f"{spec.kind} fault needs targets")


def _names(nodes: list[Node]) -> list[str]:
    return sorted(n.name for n in nodes)


# -- kernel fault kinds --------------------------------------------------------
def _crash_start(nem, spec, hit):
    nodes = [n for n in _targets(nem, spec, hit) if n.up]
    for n in nodes:
        n.crash(silent=spec.silent)
    return {"node": ",".join(_names(nodes)), "silent": spec.silent}, nodes


def _crash_end(nem, spec, nodes):
    for n in nodes:
        n.restart()
    return {"node": ",".join(_names(nodes))}


def _pause_start(nem, spec, hit):
    nodes = _targets(nem, spec, hit)
    for n in nodes:
        n.pause()
    return {"node": ",".join(_names(nodes))}, nodes


def _pause_end(nem, spec, nodes):
    for n in nodes:
        n.resume()
    return {"node": ",".join(_names(nodes))}


def _groups(nem, spec):
    if not spec.a or not spec.b:
        raise ConfigError(f"{spec.kind} fault needs both groups a and b")
    a = {n.name for n in nem.sim.select(spec.a)}
    b = {n.name for n in nem.sim.select(spec.b)}
    return a, b


def _partition_start(nem, spec, hit):
    a, b = _groups(nem, spec)
    rules = nem.sim.network.partition(a, b, oneway=spec.oneway)
    return {"a": list(spec.a), "b": list(spec.b), "oneway": spec.oneway}, rules


def _partition_end(nem, spec, rules):
    nem.sim.network.heal(rules)
    return {"a": list(spec.a), "b": list(spec.b)}


def _degrade_start(nem, spec, hit):
    a, b = _groups(nem, spec)
    rules = nem.sim.network.degrade(a, b, spec.latency, spec.loss, spec.dup, oneway=spec.oneway)
    value = {"a": list(spec.a), "b": list(spec.b), "latency": spec.latency, "loss": spec.loss, "dup": spec.dup}
    return value, rules


def _degrade_end(nem, spec, rules):
    nem.sim.network.undegrade(rules)
    return {"a": list(spec.a), "b": list(spec.b)}


def _skew_start(nem, spec, hit):
    nodes = _targets(nem, spec, hit)
    for n in nodes:
        n.skew += spec.skew
    return {"node": ",".join(_names(nodes)), "skew": spec.skew}, nodes


def _skew_end(nem, spec, nodes):
    for n in nodes:
        n.skew -= spec.skew
    return {"node": ",".join(_names(nodes))}


def needs_targets(spec: FaultSpec, cfg: Any) -> str | None:
    """A timed fault has no node that fired it: it needs ``targets``."""
    if not spec.targets and spec.step is None:
        return "needs targets (or a step trigger, whose node it then hits)"
    return None


def needs_groups(spec: FaultSpec, cfg: Any) -> str | None:
    if not spec.a or not spec.b:
        return "needs both groups a and b"
    return None


def in_range(param: str, count: Callable[[Any], int], what: str) -> Callable[[FaultSpec, Any], str | None]:
    """A check for an index param: ``0 <= params[param] < count(cfg.arch)``."""
    def check(spec: FaultSpec, cfg: Any) -> str | None:
        n = count(cfg.arch)
        v = spec.params.get(param, 0)
        if not 0 <= v < n:
            return f"params.{param} = {v}, but there are {n} {what} (0..{n - 1})"
        return None
    return check


KERNEL_KINDS: dict[str, FaultKind] = {
    "crash": FaultKind(_crash_start, _crash_end, "restart", check=needs_targets,
                       doc="crash targets (or the node that reached the step); restart after duration"),
    "pause": FaultKind(_pause_start, _pause_end, "resume", doc="hang targets, state kept", check=needs_targets),
    "partition": FaultKind(_partition_start, _partition_end, "heal", doc="cut a from b (oneway: only a → b)",
                           check=needs_groups),
    "degrade": FaultKind(_degrade_start, _degrade_end, "degrade-end", doc="extra latency, loss, dup on a ↔ b",
                         check=needs_groups),
    "skew": FaultKind(_skew_start, _skew_end, "skew-end", doc="offset the targets' local clocks by skew seconds",
                      check=needs_targets),
}


class Nemesis:
    """Applies a fault schedule to a simulation and records every fault."""

    def __init__(self, sim: Simulation, schedule: list[FaultSpec], kinds: dict[str, FaultKind] | None = None):
        self.sim = sim
        self.kinds = dict(KERNEL_KINDS if kinds is None else kinds)
        self.schedule = list(schedule)
        self.active: list[tuple[FaultSpec, Any, int]] = []
        self.armed: list[FaultSpec] = []
        self._counts: dict[int, int] = {}
        self._next_id = 0
        for spec in self.schedule:
            if spec.kind not in self.kinds:
                raise ConfigError(f"unknown fault kind {spec.kind!r}; known: {', '.join(sorted(self.kinds))}")
            if (spec.at is None) == (spec.step is None):
                raise ConfigError(f"{spec.kind} fault needs exactly one of 'at' or 'step'")
        sim.step_listeners.append(self._on_step)

    def start(self) -> None:
        for spec in self.schedule:
            if spec.at is not None:
                self.sim.env.timeout(spec.at).callbacks.append(lambda _e, s=spec: self.fire(s))
            else:
                self.armed.append(spec)

    def _on_step(self, node: Node, step: str, ctx: dict[str, Any]) -> None:
        for spec in list(self.armed):
            if spec.step != step or not fnmatchcase(node.name, spec.node):
                continue
            n = self._counts.get(id(spec), 0) + 1
            self._counts[id(spec)] = n
            if n == spec.nth:
                self.armed.remove(spec)
                self.fire(spec, node, step=step, ctx=ctx)

    def fire(self, spec: FaultSpec, hit: Node | None = None, step: str | None = None,
             ctx: dict[str, Any] | None = None) -> None:
        if self.sim.phase != "workload":
            return
        kind = self.kinds[spec.kind]
        value, state = kind.start(self, spec, hit)
        if step is not None:
            value = {**value, "step": step, "nth": spec.nth}
            if ctx and "msg" in ctx:
                value["msg"] = ctx["msg"]
        self._next_id += 1
        entry = (spec, state, self._next_id)
        self.active.append(entry)
        self.sim.record("nemesis", "info", spec.kind, {**value, "fault": self._next_id})
        if spec.duration is not None:
            self.sim.env.timeout(spec.duration).callbacks.append(lambda _e: self.end(entry))

    def end(self, entry: tuple[FaultSpec, Any, int]) -> None:
        if entry not in self.active:
            return
        self.active.remove(entry)
        spec, state, fid = entry
        kind = self.kinds[spec.kind]
        value = kind.end(self, spec, state)
        self.sim.record("nemesis", "info", kind.end_name, {**value, "fault": fid})

    def heal_all(self) -> None:
        """End every fault in force and disarm the step triggers."""
        self.armed.clear()
        for entry in list(self.active):
            self.end(entry)
