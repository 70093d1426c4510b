"""Explore: search an architecture's fault space, shrink what breaks, write
it as a scenario that replays it (DESIGN §11; docs/explore.md).

Theory of operation
-------------------
**Vocabulary.** What a schedule may contain comes from the registry, never
from a list of designs: the kernel kinds (``sim.faults.KERNEL_KINDS``:
crash, pause, partition, degrade, skew), the architecture's component kinds
(``Architecture.faults``, each with its ``params``), its named send-path
steps (``Architecture.steps``: a fault may fire the nth time a node of the
step's role reaches it), and the nodes a run wires (``sim.runner.topology``:
names, roles and regions). ``--faults`` restricts the kinds.

**Generation.** Run ``i`` of a search draws from its own stream,
``random.Random(f"{seed}/explore/{i}")``: its simulation seed, its *swarm*
(a random non-empty subset of the allowed kinds, its size uniform: each run
tries only those, so a kind that masks another — a crash that hides a
pause — is often absent and rare combinations get room; Groce et al.,
"Swarm testing", ISSTA 2012), and one to ``MAX_FAULTS`` faults, at least
one of each swarm kind: timed (``at``, on a node, a role or a region) or at
a step (``step``, ``node``, ``nth``), symmetric or one-way partitions,
degraded links, skewed clocks, component faults with their params. A
component fault fires at a step more often than a crash does
(``P_STEP_COMPONENT``): it hits shared state, which matters when a message
is in flight. A later fault of a schedule copies an earlier one's trigger
with probability ``P_TOGETHER`` (same time, or same step and nth): failures
of real systems often need two faults at once (a web app dies right after
an append *and* the Redis primary fails over), which independent draws
almost never produce. Everything is a function of ``--seed`` and the run's
index, so the same seed tries the same schedules, whichever engine runs
them and in whatever order results come back.

**Findings.** A run is a finding when a targeted invariant (``--invariant``,
default all) is violated. Findings are grouped by *bug class* — the
invariant and the kind of its first violation (``lost``, ``not-durable``,
``duplicate``...) — in run order; the first of each class is shrunk. Its
*signature* is the class plus the nodes' roles and steps its shrunk
schedule involves; a later finding of the same class whose schedule covers
that signature is the same bug and is not shrunk again; one that does not
is shrunk too (at most ``SHRINKS_PER_CLASS`` per class), and findings whose
shrunk signatures coincide are reported once.

**Shrinking** is deterministic delta debugging run through the engine in
batches of ``SHRINK_BATCH`` (the same engine as the search, so a Dask
cluster shrinks too; a constant batch, so the result does not depend on the
worker count): each round builds every one-step simplification of the
current schedule — without one of its faults (the last one too: a run
that breaks the invariant without any fault needs none); then, per fault,
a smaller ``nth``, an earlier ``at`` (for all the faults that share the
trigger at once: a combination stays one), a shorter ``duration``, no
``silent``/``oneway``, a weaker degradation or skew — runs them batch by
batch in that order, and keeps the first that still violates the same
invariant in the same way (its first violation of the same kind: the bug
class). It stops at a schedule none of whose simplifications still fails
(a local minimum: fewest faults, then earliest, shortest, smallest nth;
``Finding.minimal``), or after ``shrink_budget`` runs.

**Output.** Every run (search and shrink) is a line of ``DIR/results.jsonl``
(``task.label`` says which: ``explore/17``, ``shrink/2/5``). Each distinct
finding ``n`` is written as ``DIR/found-<n>.toml``: the base scenario's
content with the overrides baked in, the shrunk schedule as its
``[[faults]]`` (``arch`` set) and ``[expect.<arch>]`` the verdicts the
replay gives, so ``chatsim run DIR/found-<n>.toml --arch A --seed S``
reproduces it (byte-identical history) and passes as that scenario's
expectation; then it is run from that file into ``DIR/found-<n>/`` with its
report (timeline, message diagrams); its comment names the explore
command that repeats the search (``command``). A run that could not run
(an exception in the model) is written the same way, as
``DIR/error-<run>.toml`` with its schedule. ``DIR/explore.json`` and
``DIR/report.html`` summarise the search.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sim.errors import ChatsimError

from .tasks import Engine, Interrupted, Task, TaskResult, run_many

MAX_FAULTS = 3
P_TOGETHER = 0.6  # a later fault fires with an earlier one (same time or same step)
P_STEP = 0.5  # a crash or pause fires at a send-path step (else at a time)
# A component fault (a Kafka leader crash, a Redis failover) hits shared state, not the node
# that reaches a step: at a random time it usually finds nothing in flight, right after a
# step it finds the message that reached it (acked by a leader, deduped by a primary).
P_STEP_COMPONENT = 0.75
KERNEL_STEP = ("crash", "pause")
SHRINKS_PER_CLASS = 3
SHRINK_BUDGET = 120  # shrink runs per finding
ERROR_FILES = 10  # runs that could not run written as error-<run>.toml: a bug that breaks them all needs one
# Every run's plan is drawn before the first run, so a budget is held in memory whole:
# past these a search is a typo, not a week of runs.
MAX_BUDGET = 1_000_000
MAX_SHRINK_BUDGET = 100_000
# Shrink candidates run this many at a time, whatever the engine: the first failing one of
# a batch wins, so the batch size decides the result and must not follow the worker count.
SHRINK_BATCH = 4
NTH_MAX = 30
MIN_AT = 0.5
MIN_DURATION = 0.5
TIMED_ONLY = ("partition", "degrade", "skew")  # kinds with no node to hit at a step
FIELDS = ("kind", "arch", "at", "step", "node", "nth", "duration", "targets", "a", "b", "oneway", "latency", "loss",
          "dup", "skew", "silent", "params")  # the order a fault table is written in


# --- the vocabulary ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    """What schedules of ``arch`` may contain, for one scenario."""

    arch: str
    kinds: tuple[str, ...]
    nodes: tuple[tuple[str, str, str], ...]  # (name, role, region)
    steps: tuple[tuple[str, str], ...]  # (step, role), only steps some node's role reaches
    params: dict[str, dict[str, type]]
    bounds: dict[str, int]  # int param -> how many there are (``partition`` -> kafka.partitions)
    duration: float  # the workload's: faults start before it ends

    @property
    def roles(self) -> list[str]:
        return list(dict.fromkeys(r for _, r, _ in self.nodes))

    @property
    def regions(self) -> list[str]:
        return sorted({g for _, _, g in self.nodes})

    def of_role(self, role: str) -> list[str]:
        return [n for n, r, _ in self.nodes if r == role]


def all_kinds(arch: str) -> list[str]:
    """Every fault kind a run under ``arch`` knows: the kernel's, then its own."""
    from sim import architectures
    from sim.faults import KERNEL_KINDS

    return list(KERNEL_KINDS) + [k for k in architectures.get(arch).faults if k not in KERNEL_KINDS]


def parse_kinds(text: str | None, arch: str) -> list[str]:
    """``--faults crash,partition`` → the kinds, checked against ``arch``'s."""
    known = all_kinds(arch)
    if text is None:
        return known
    kinds = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not kinds:
        raise ChatsimError("--faults: expected a comma list of fault kinds")
    bad = [k for k in kinds if k not in known]
    if bad:
        raise ChatsimError(f"--faults: unknown fault kind {bad[0]!r} for {arch} (known: {', '.join(known)})")
    return kinds


def parse_invariants(names: tuple[str, ...] | list[str]) -> list[str]:
    """``--invariant`` names, checked against the checkers (all when none given)."""
    from invariants import CHECKERS

    for n in names:
        if n not in CHECKERS:
            raise ChatsimError(f"--invariant: unknown invariant {n!r} (known: {', '.join(CHECKERS)})")
    return list(dict.fromkeys(names)) or list(CHECKERS)


def _count_of(settings, name: str) -> int | None:
    """The ``<name>s`` count anywhere in an architecture's settings (``partition``
    → ``kafka.partitions``), so an int param is drawn in range."""
    from pydantic import BaseModel

    want = name + "s"
    todo = [settings]
    while todo:
        s = todo.pop(0)
        for k in type(s).model_fields:
            v = getattr(s, k)
            if k == want and isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, BaseModel):
                todo.append(v)
    return None


def vocabulary(scn, arch: str, kinds: list[str]) -> Vocabulary:
    from sim import architectures
    from sim.runner import topology

    a = architectures.get(arch)
    cfg = scn.run_config(arch)
    nodes = tuple(topology(cfg))
    roles = {r for _, r, _ in nodes}
    params = {k: dict(a.faults[k].params) for k in kinds if k in a.faults}
    bounds = {}
    for ps in params.values():
        for p, typ in ps.items():
            if typ is int:
                bounds[p] = _count_of(cfg.arch, p) or 1
    return Vocabulary(arch=arch, kinds=tuple(kinds), nodes=nodes,
                      steps=tuple((s.name, s.role) for s in a.steps if s.role in roles),
                      params=params, bounds=bounds, duration=float(scn.workload.duration))


# --- drawing schedules ------------------------------------------------------------------------

def _r1(x: float) -> float:
    return round(x, 1)


def _group(rng: random.Random, v: Vocabulary) -> str:
    """A node, a whole role, or a region: what a fault aims at."""
    x = rng.random()
    if x < 0.15 and len(v.regions) > 1:
        return f"region:{rng.choice(v.regions)}"
    role = rng.choice(v.roles)
    if x < 0.35:
        return f"role:{role}"
    return rng.choice(v.of_role(role))


def _sides(rng: random.Random, v: Vocabulary) -> tuple[list[str], list[str]]:
    """Two sides of a partition or a degraded link: one group from the rest, or from another group."""
    a = _group(rng, v)
    if rng.random() < 0.5:
        return [a], ["*"]
    b = _group(rng, v)
    while b == a and len(v.nodes) > 1:
        b = _group(rng, v)
    return [a], [b]


def draw_fault(rng: random.Random, kind: str, v: Vocabulary, earlier: list[dict]) -> dict:
    """One fault of ``kind`` in the scenario-file format (``arch`` set)."""
    f: dict[str, Any] = {"kind": kind, "arch": v.arch}
    # a fault of the same kind at the same trigger is the same fault again, unless it aims at
    # other nodes (two crashes at one time); a timed-only kind cannot fire at a step
    triggers = [e for e in earlier if (kind not in TIMED_ONLY or "at" in e)
                and (e["kind"] != kind or ("at" in e and kind in ("crash", "pause", "skew")))]
    if triggers and rng.random() < P_TOGETHER:
        src = rng.choice(triggers)
        f.update({k: src[k] for k in ("at", "step", "node", "nth") if k in src})
    elif kind not in TIMED_ONLY and v.steps and rng.random() < (P_STEP if kind in KERNEL_STEP else P_STEP_COMPONENT):
        step, role = rng.choice(v.steps)
        f.update(step=step, node=rng.choice(v.of_role(role)), nth=rng.randint(1, NTH_MAX))
    else:
        f["at"] = _r1(rng.uniform(MIN_AT, max(MIN_AT, 0.9 * v.duration)))
    f["duration"] = _r1(rng.uniform(MIN_DURATION, max(MIN_DURATION, min(20.0, 0.6 * v.duration))))
    if kind in ("crash", "pause"):
        if "at" in f:
            f["targets"] = [_group(rng, v)]
        if kind == "crash":
            f["silent"] = rng.random() < 0.3
    elif kind in ("partition", "degrade"):
        f["a"], f["b"] = _sides(rng, v)
        f["oneway"] = rng.random() < 0.3
        if kind == "degrade":
            f["latency"] = round(rng.choice([0.0, rng.uniform(0.05, 3.0)]), 2)
            f["loss"] = round(rng.choice([0.0, rng.uniform(0.05, 0.6)]), 2)
            f["dup"] = round(rng.choice([0.0, 0.0, rng.uniform(0.01, 0.3)]), 2)
    elif kind == "skew":
        f["targets"] = [_group(rng, v)]
        f["skew"] = round(rng.choice([-1, 1]) * rng.uniform(0.01, 5.0), 2)
    else:  # a component fault: its declared params, drawn by type
        ps = {}
        for p, typ in v.params.get(kind, {}).items():
            if typ is bool:
                ps[p] = rng.random() < 0.5
            elif typ is int:
                ps[p] = rng.randrange(v.bounds.get(p, 1))
            elif typ is float:
                ps[p] = round(rng.uniform(0.0, 1.0), 2)
        if ps:
            f["params"] = ps
        if rng.random() < 0.3:
            f["silent"] = True
    return canonical(f)


def canonical(f: dict) -> dict:
    """A fault table with its keys in one order (for stable files and keys)."""
    return {k: f[k] for k in FIELDS if k in f}


@dataclass(frozen=True)
class Plan:
    """Run ``index`` of a search: its seed, its swarm and its schedule."""

    index: int
    seed: int
    swarm: tuple[str, ...]
    faults: tuple[dict, ...]


def draw(seed: int, index: int, v: Vocabulary) -> Plan:
    """Run ``index``'s plan. The swarm's size is uniform in 1..len(kinds)
    (so a given pair of kinds is enabled together more often than with each
    kind on a coin flip: 1/2 instead of 1/4 when two kinds are allowed);
    the schedule has at least as many faults as the swarm has kinds (up to
    ``MAX_FAULTS``) and its first faults use them without repetition, so a
    kind a run enables is exercised, not just allowed."""
    rng = random.Random(f"{seed}/explore/{index}")
    run_seed = rng.randrange(1, 1_000_000)
    chosen = set(rng.sample(v.kinds, rng.randint(1, len(v.kinds))))
    swarm = [k for k in v.kinds if k in chosen]
    n = rng.randint(min(len(swarm), MAX_FAULTS), MAX_FAULTS)
    kinds = rng.sample(swarm, min(n, len(swarm)))
    kinds += [rng.choice(swarm) for _ in range(n - len(kinds))]
    faults: list[dict] = []
    for kind in kinds:
        faults.append(draw_fault(rng, kind, v, faults))
    return Plan(index, run_seed, tuple(swarm), tuple(faults))


# --- findings ---------------------------------------------------------------------------------

def broken(result: TaskResult, invariants: list[str]) -> list[tuple[str, str]]:
    """(invariant, kind of its first violation) for each targeted invariant the run violated."""
    kinds = {}
    for x in result.violations:
        kinds.setdefault(x.invariant, x.kind)
    return [(n, kinds.get(n, "")) for n in invariants if result.verdicts.get(n) is False]


def involved(faults, v: Vocabulary) -> tuple[str, ...]:
    """What a schedule touches, as ``kind@role`` / ``kind@step``: the roles of
    the nodes it aims at (a region or a whole role stays as written)."""
    role_of = {n: r for n, r, _ in v.nodes}

    def roles(group) -> list[str]:
        out = []
        for g in group:
            out.append(g if ":" in g else role_of.get(g, "any") if g != "*" else "*")
        return out

    parts = set()
    for f in faults:
        k = f["kind"]
        if "step" in f:
            parts.add(f"{k}@{f['step']}")
        for r in roles(f.get("targets", [])) + roles(f.get("a", [])):
            parts.add(f"{k}@{r}")
        if k not in ("crash", "pause", "partition", "degrade", "skew") and "step" not in f and not f.get("targets"):
            parts.add(k)
    return tuple(sorted(parts))


@dataclass
class Finding:
    n: int
    invariant: str
    kind: str
    found_by: int  # the search run's index
    seed: int
    original: tuple[dict, ...]
    faults: tuple[dict, ...]
    signature: tuple[str, ...]
    shrink_runs: int
    minimal: bool  # a local minimum (False: --shrink-budget ran out first)
    breaks: list[tuple[str, str]] = field(default_factory=list)  # (invariant, kind) the shrunk schedule breaks
    violation: str = ""
    verdicts: dict = field(default_factory=dict)
    also: list[int] = field(default_factory=list)  # later search runs of the same bug
    path: str = ""
    replay: str = ""
    reproduced: bool = False

    def doc(self) -> dict:
        return {"n": self.n, "invariant": self.invariant, "kind": self.kind, "found_by": self.found_by,
                "seed": self.seed, "signature": list(self.signature), "faults": list(self.faults),
                "original_faults": list(self.original), "shrink_runs": self.shrink_runs, "minimal": self.minimal,
                "breaks": [f"{i}/{k}" for i, k in self.breaks],
                "violation": self.violation, "verdicts": self.verdicts, "also_found_by": self.also,
                "scenario_file": self.path, "replay": self.replay, "reproduced": self.reproduced}


# --- shrinking --------------------------------------------------------------------------------

def _smaller(x: float, low: float) -> list[float]:
    return sorted({_r1(c) for c in (low, x / 2, x * 0.8, x - 0.1) if low <= _r1(c) < x})  # smallest first


def trigger(f: dict) -> tuple:
    """When a fault fires: ``(step, node, nth)`` or ``(at,)``."""
    return (f["step"], f.get("node"), f.get("nth")) if "step" in f else (f.get("at"),)


def simplifications(faults: tuple[dict, ...]) -> tuple[list[tuple[dict, ...]], list[tuple[dict, ...]]]:
    """One-step simplifications of a schedule: (without one fault each —
    down to no fault at all —, each fault made smaller in one field), in the
    order they are preferred.
    Faults that fire together (one trigger: the same step, node and nth, or
    the same time) move together: a smaller ``nth`` or an earlier ``at`` is
    tried on all of them at once, so shrinking keeps what made them a
    combination instead of pulling them apart one occurrence at a time."""
    # the last fault too: a schedule is only replaced by a candidate that still breaks the
    # invariant, so an empty one that does says the fault was never needed (the base
    # scenario breaks it on that seed without any: a lossy link, a client timeout)
    removals = [faults[:i] + faults[i + 1:] for i in range(len(faults))]
    smaller = []
    for i, f in enumerate(faults):
        together = [j for j, g in enumerate(faults) if trigger(g) == trigger(f)]
        if i == together[0]:  # the group's trigger, once
            changes = []
            if "nth" in f:
                changes += [{"nth": n} for n in sorted({1, f["nth"] // 2, f["nth"] - 1}) if 1 <= n < f["nth"]]
            if "at" in f:
                changes += [{"at": a} for a in _smaller(f["at"], MIN_AT)]
            for ch in changes:
                smaller.append(tuple(canonical({**g, **ch}) if j in together else g for j, g in enumerate(faults)))
        variants = []
        if f.get("duration") is not None:
            variants += [{**f, "duration": d} for d in _smaller(f["duration"], MIN_DURATION)]
        for flag in ("silent", "oneway"):
            if f.get(flag):
                variants.append({**f, flag: False})
        for k in ("latency", "loss", "dup"):
            if f.get(k):
                variants.append({**f, k: 0.0})
        if f.get("skew") and abs(f["skew"]) > 0.01:
            variants.append({**f, "skew": round(f["skew"] / 2, 2)})
        smaller += [faults[:i] + (canonical(g),) + faults[i + 1:] for g in variants]
    return removals, smaller


def shrink(faults: tuple[dict, ...], invariant: str, make: Callable[[tuple[dict, ...], str], Task],
           runner: Callable[[list[Task]], list[tuple[Task, TaskResult]]], budget: int = SHRINK_BUDGET,
           chunk: int | None = None, kind: str = "") -> tuple[tuple[dict, ...], TaskResult | None, int, bool]:
    """Delta-debug ``faults`` to a local minimum that still violates
    ``invariant`` (with ``kind``, its first violation of that kind: the same
    bug class, not another way to break the invariant); returns (schedule,
    its result or None if nothing smaller failed, runs used, whether the
    schedule is a local minimum: False when the budget ran out first).
    Candidates run ``chunk`` (default ``SHRINK_BATCH``) at a time, in order
    of preference; the first chunk with a failing
    candidate ends the round and its first failing candidate is kept, so the
    outcome depends neither on the order results arrive in nor on how many
    workers run them: only on ``chunk``, a constant, so a Dask cluster, a
    local pool and one process shrink to the same schedule."""
    chunk = chunk or SHRINK_BATCH

    def still_fails(r: TaskResult | None) -> bool:
        return r is not None and r.verdicts.get(invariant) is False and (
            not kind or (invariant, kind) in broken(r, [invariant]))

    used, last, rnd = 0, None, 0
    current = faults
    while True:
        removals, smaller = simplifications(current)
        cands = removals + smaller
        rnd += 1
        progressed = False
        todo = cands[:budget - used]  # what the budget lets this round try
        for start in range(0, len(todo), chunk):
            batch = todo[start:start + chunk]
            tasks = [make(c, f"{rnd}.{start + i}") for i, c in enumerate(batch)]
            by_label = {t.label: r for t, r in runner(tasks)}
            used += len(batch)
            for t, c in zip(tasks, batch):
                r = by_label.get(t.label)
                if still_fails(r):
                    current, last, progressed = c, r, True
                    break
            if progressed:
                break
        if not progressed:  # a local minimum if the round tried every simplification
            return current, last, used, len(todo) == len(cands)


# --- the search -------------------------------------------------------------------------------

@dataclass
class Exploration:
    scenario: str
    arch: str
    seed: int
    budget: int
    kinds: list[str]
    invariants: list[str]
    overrides: list[str]
    engine: str = ""
    command: str = ""  # the explore command that repeats this search (same schedules, same findings)
    runs: int = 0
    shrink_runs: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)  # "invariant/kind" -> search runs that showed it
    swarm_hits: dict[str, list[int]] = field(default_factory=dict)  # kind -> [runs enabled, runs that found]

    def doc(self) -> dict:
        return {"scenario": self.scenario, "arch": self.arch, "seed": self.seed, "budget": self.budget,
                "faults": self.kinds, "invariants": self.invariants, "overrides": self.overrides,
                "engine": self.engine, "command": self.command, "runs": self.runs, "shrink_runs": self.shrink_runs,
                "classes": self.classes, "swarm": self.swarm_hits, "errors": self.errors,
                "findings": [f.doc() for f in self.findings]}


def check_budgets(budget: int, shrink_budget: int) -> None:
    """``--budget`` in 1..MAX_BUDGET and ``--shrink-budget`` in 0..MAX_SHRINK_BUDGET, or ChatsimError."""
    if not 1 <= budget <= MAX_BUDGET:
        raise ChatsimError(f"--budget {budget}: expected 1 to {MAX_BUDGET:,} runs")
    if not 0 <= shrink_budget <= MAX_SHRINK_BUDGET:
        raise ChatsimError(f"--shrink-budget {shrink_budget}: expected 0 to {MAX_SHRINK_BUDGET:,} runs")


def command(scenario_ref: str, arch: str, seed: int, budget: int, kinds: list[str], invariants: list[str],
            overrides: list[str], shrink_budget: int) -> str:
    """The ``chatsim explore`` command line that repeats a search: every
    option that decides its schedules and findings (not ``--workers``,
    ``--scheduler`` or ``--out``: they change neither), defaults left out."""
    import shlex

    from invariants import CHECKERS

    words = ["chatsim", "explore", scenario_ref, "--arch", arch, "--seed", str(seed), "--budget", str(budget)]
    if kinds != all_kinds(arch):
        words += ["--faults", ",".join(kinds)]
    if invariants != list(CHECKERS):
        for n in invariants:
            words += ["--invariant", n]
    for o in overrides:
        words += ["--set", o]
    if shrink_budget != SHRINK_BUDGET:
        words += ["--shrink-budget", str(shrink_budget)]
    return " ".join(shlex.quote(w) for w in words)


def explore(scenario_ref: str, arch: str, *, budget: int, seed: int, kinds: list[str], invariants: list[str],
            overrides: list[str], engine: Engine, out_dir: Path, progress: bool = True,
            shrink_budget: int = SHRINK_BUDGET, report: bool = True) -> Exploration:
    """Search, shrink, write. Raises ``tasks.Interrupted`` on Ctrl-C (what
    finished is in results.jsonl)."""
    from scenarios import load_scenario
    from scenarios.loader import apply_overrides, load_raw

    check_budgets(budget, shrink_budget)
    scn = load_scenario(scenario_ref, overrides)  # bad input fails here, before anything is written
    raw, _ = load_raw(scenario_ref)
    raw = apply_overrides(raw, overrides, scenario_ref) if overrides else raw
    v = vocabulary(scn, arch, kinds)
    ex = Exploration(scn.name, arch, seed, budget, kinds, invariants, overrides, engine.describe(),
                     command(scenario_ref, arch, seed, budget, kinds, invariants, overrides, shrink_budget))
    plans = [draw(seed, i, v) for i in range(budget)]

    def task(faults: tuple[dict, ...], run_seed: int, label: str) -> Task:
        return Task(scenario=scenario_ref, raw=raw, arch=arch, seed=run_seed, faults=tuple(faults), label=label)

    first, before = [True], [0]  # before: runs of the earlier batches, all in results.jsonl

    def runner(tasks: list[Task], what: str) -> list[tuple[Task, TaskResult]]:
        try:
            done = run_many(tasks, engine, out_dir, progress=progress, what=what, append=not first[0],
                            finding=lambda r: bool(broken(r, invariants)))
        except Interrupted as e:  # count the whole search, not only the batch it stopped in
            raise Interrupted(before[0] + e.done, before[0] + e.total, e.results, e.signum, e.log) from None
        first[0] = False
        before[0] += len(done)
        return done

    done = runner([task(p.faults, p.seed, f"explore/{p.index}") for p in plans], "explore")
    ex.runs = len(done)
    by_index = {int(t.label.split("/")[1]): r for t, r in done}
    for k in kinds:
        ex.swarm_hits[k] = [0, 0]
    candidates: list[tuple[Plan, str, str]] = []
    for p in plans:
        r = by_index[p.index]
        if r.error is not None:
            ex.errors.append({"run": p.index, "seed": p.seed, "faults": list(p.faults),
                              "error": r.error.splitlines()[0]})
            continue
        hits = broken(r, invariants)
        for k in p.swarm:
            ex.swarm_hits[k][0] += 1
            ex.swarm_hits[k][1] += bool(hits)
        for inv, kind in hits:
            ex.classes[f"{inv}/{kind}"] = ex.classes.get(f"{inv}/{kind}", 0) + 1
            candidates.append((p, inv, kind))

    seen: dict[tuple, Finding] = {}
    shrunk: list[Finding] = []
    per_class: dict[tuple[str, str], int] = {}
    for p, inv, kind in candidates:
        # the same bug: a finding that breaks this class, whose shrunk schedule this run's schedule covers
        mine = set(involved(p.faults, v))
        same = next((f for f in shrunk if (inv, kind) in f.breaks and set(f.signature) <= mine), None)
        if same is None and per_class.get((inv, kind), 0) >= SHRINKS_PER_CLASS:
            same = next(f for f in shrunk if (inv, kind) in f.breaks)
        if same is not None:
            if p.index not in same.also and p.index != same.found_by:
                same.also.append(p.index)
            continue
        n_shrink = len(shrunk) + 1

        def make(c, lbl, p=p, n_shrink=n_shrink):
            return task(c, p.seed, f"shrink/{n_shrink}/{lbl}")

        small, last, used, minimal = shrink(p.faults, inv, make,
                                            lambda ts, n=n_shrink: runner(ts, f"shrink {n}"), shrink_budget,
                                            kind=kind)
        ex.shrink_runs += used
        breaks = broken(last if last is not None else by_index[p.index], invariants)
        f = Finding(0, inv, kind, p.index, p.seed, p.faults, small, involved(small, v), used, minimal,
                    breaks=breaks)
        shrunk.append(f)
        for c in breaks:
            per_class[c] = per_class.get(c, 0) + 1
        sig = (inv, kind) + f.signature
        if sig in seen:
            seen[sig].also.append(p.index)
            continue
        seen[sig] = f
    ex.findings = sorted(seen.values(), key=lambda f: f.found_by)
    for n, f in enumerate(ex.findings, 1):
        f.n = n
        write_found(f, ex, raw, out_dir, report=report)
    for e in ex.errors[:ERROR_FILES]:  # a run that crashed the model: its schedule as a file to replay
        doc = replay_scenario(raw, e["faults"], arch, {}, f"{raw['name']}-error-{e['run']}",
                              f"chatsim explore: run {e['run']} could not run: {e['error']}")
        e["replay"] = write_replay(out_dir / f"error-{e['run']}.toml", doc, arch, e["seed"],
                                   f"could not run in: {ex.command}\n{e['error']}")
    from reports.render import write_atomic

    write_atomic(out_dir / "explore.json", json.dumps(ex.doc(), indent=2))
    if report:
        write_summary(ex, out_dir)
    return ex


# --- writing what was found ---------------------------------------------------------------------

def replay_scenario(raw: dict, faults, arch: str, verdicts: dict, name: str, description: str) -> dict:
    """The base scenario's content (overrides baked in) with ``faults`` as
    its whole schedule and ``verdicts`` as ``[expect.<arch>]``: a scenario
    file that replays one run of a search."""
    from scenarios.loader import Expect

    doc = copy.deepcopy(raw)
    doc["name"], doc["description"] = name, description
    doc["faults"] = [dict(x) for x in faults]
    names = {fl.alias or k for k, fl in Expect.model_fields.items()}
    doc["expect"] = {arch: {k: v for k, v in verdicts.items() if k in names and isinstance(v, bool)}}
    for key in ("sweep", "variants"):
        doc.pop(key, None)
    return doc


def write_replay(path: Path, doc: dict, arch: str, seed: int, comment: str) -> str:
    """Write ``doc`` to ``path`` (atomically), its first line the ``chatsim
    run`` command that replays it, then ``comment``; returns that command."""
    import shlex

    import tomli_w

    from reports.render import write_atomic

    replay = " ".join(shlex.quote(w) for w in ["chatsim", "run", str(path), "--arch", arch, "--seed", str(seed)])
    write_atomic(path, f"# {replay}\n" + "".join(f"# {line}\n" for line in comment.splitlines()) + tomli_w.dumps(doc))
    return replay


def _faults(n: int) -> str:
    return f"{n} fault{'s' if n != 1 else ''}"


def found_scenario(raw: dict, f: Finding, arch: str, verdicts: dict) -> dict:
    """The base scenario's content with the shrunk schedule and the verdicts it gives."""
    return replay_scenario(raw, f.faults, arch, verdicts, f"{raw['name']}-found-{f.n}",
                           f"found by chatsim explore: {f.invariant} ({f.kind}) breaks under {arch} "
                           + (f"with {_faults(len(f.faults))}" if f.faults else "without any fault"))


def write_found(f: Finding, ex: Exploration, raw: dict, out_dir: Path, report: bool = True) -> None:
    """``found-<n>.toml`` and its run (``found-<n>/``) from that very file."""
    from .tasks import run_task

    path = out_dir / f"found-{f.n}.toml"
    # the verdicts the shrunk schedule gives: its expectation, checked by the replay below
    probe = run_task(Task(scenario=ex.scenario, raw=raw, arch=ex.arch, seed=f.seed, faults=f.faults))
    doc = found_scenario(raw, f, ex.arch, probe.verdicts)
    f.replay = write_replay(path, doc, ex.arch, f.seed,
                            f"found by: {ex.command}\n(run {f.found_by}; shrunk in {f.shrink_runs} runs from "
                            f"{_faults(len(f.original))}"
                            f"{'' if f.minimal else '; --shrink-budget ran out before a local minimum'})")
    f.path = str(path)
    want = ("result", "plots") if report else ("result",)
    r = run_task(Task(scenario=str(path), arch=ex.arch, seed=f.seed, out=str(out_dir / f"found-{f.n}"), want=want))
    if r.error is not None:
        raise ChatsimError(f"{path}: its replay failed: {r.error.splitlines()[0]}")
    f.verdicts = dict(r.verdicts)
    f.reproduced = r.verdicts.get(f.invariant) is False and r.as_expected
    f.violation = next((x.explanation for x in r.violations if x.invariant == f.invariant), "")
    if report:
        from reports.data import load_run
        from reports.report import write_reports

        run_dir = out_dir / f"found-{f.n}"
        write_reports([load_run(run_dir)], run_dir, {"name": doc["name"], "description": doc["description"]})


def write_summary(ex: Exploration, out_dir: Path) -> Path:
    """``DIR/report.html``: the search, its findings, their shrunk schedules."""
    from reports.render import render, write_atomic

    rows = []
    for f in ex.findings:
        rows.append({**f.doc(), "toml": Path(f.path).name, "report": f"found-{f.n}/report.html",
                     "faults_text": schedule_text(f.faults)})
    return write_atomic(out_dir / "report.html", render("explore.html.j2", ex=ex.doc(), findings=rows))


def schedule_text(faults) -> list[str]:
    """A schedule in words, a line per fault; an empty one says so (the
    scenario breaks the invariant on that seed without any fault)."""
    return [fault_text(x) for x in faults] or ["no fault: the scenario breaks it without one"]


def fault_text(f: dict) -> str:
    """A fault table in a few words: ``crash channel-server-0 at ack_sent #1 for 0.5 s``."""
    k = f["kind"]
    who = ", ".join(f.get("targets", [])) or f.get("node", "")
    if k in ("partition", "degrade"):
        who = f"{','.join(f['a'])} {'→' if f.get('oneway') else '↔'} {','.join(f['b'])}"
    when = f"at {f['step']} #{f['nth']}" if "step" in f else f"at t={f['at']}"
    extra = []
    if k == "degrade":
        extra = [f"{x}={f[x]}" for x in ("latency", "loss", "dup") if f.get(x)]
    if k == "skew":
        extra = [f"skew={f['skew']}"]
    if f.get("params"):
        extra += [f"{p}={x}" for p, x in f["params"].items()]
    if f.get("silent"):
        extra.append("silent")
    dur = f" for {f['duration']} s" if f.get("duration") is not None else ""
    return " ".join(x for x in [k, who, when] + extra if x) + dur


__all__ = ["Vocabulary", "vocabulary", "all_kinds", "parse_kinds", "parse_invariants", "draw", "Plan", "shrink",
           "simplifications", "explore", "Exploration", "Finding", "command", "fault_text", "schedule_text",
           "replay_scenario", "write_replay", "broken", "involved"]
