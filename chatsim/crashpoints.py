"""Crashpoints: crash each node of each role at each named step of the send
path, for each nth occurrence, and tabulate what breaks (DESIGN §11;
docs/explore.md).

Theory of operation
-------------------
The architecture declares its steps (``Architecture.steps``: name and the
role that reaches it) and ``sim.runner.topology`` lists the nodes a run
wires, so the plan is the product step × node of that role × nth: one task
each, whose schedule is the one fault ``crash NODE the nth time it reaches
STEP`` (restarting after ``duration``), replacing the scenario's own. The
tasks run on the chosen engine like any other batch (results.jsonl,
progress, interruption). The *matrix* folds the nodes of a role together:
each cell (step, nth) says which invariants broke on any of its nodes and
how many distinct messages the violations name (summed over those nodes'
runs), with the per-node detail beside it in ``crashpoints.json``.

A crash fires only if its node reaches the step ``nth`` times during the
workload; a run where it did not (``TaskResult.fired`` is 0) is the
scenario without faults, so its node is marked ``crashed: false``, what it
broke is left out of the cell (the scenario broke it, not this crash
point), and a cell none of whose nodes crashed reads "not reached", never
"ok": a crash point the run never met is untested, not harmless.

Each run whose crash broke something is written as a scenario file,
``DIR/replay/<step>-<node>-<nth>.toml`` (the base scenario, overrides baked
in, with that one crash as its schedule and the verdicts it gave as its
expectation), whose first line is the ``chatsim run`` command that replays
it; the node's detail in ``crashpoints.json`` carries that command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .tasks import Task, TaskResult

DURATION = 5.0  # seconds a crashed node stays down before it restarts


def plan(scenario_ref: str, raw: dict, scn, arch: str, seed: int, nths: list[int], duration: float = DURATION) -> list[Task]:
    from sim import architectures
    from sim.runner import topology

    nodes = topology(scn.run_config(arch))
    tasks = []
    for step in architectures.get(arch).steps:
        for name, role, _ in nodes:
            if role != step.role:
                continue
            for nth in nths:
                fault = {"kind": "crash", "arch": arch, "step": step.name, "node": name, "nth": nth,
                         "duration": duration}
                tasks.append(Task(scenario=scenario_ref, raw=raw, arch=arch, seed=seed, faults=(fault,),
                                  want=("all-violations",), label=f"crashpoint/{step.name}/{name}/{nth}"))
    return tasks


@dataclass
class Cell:
    step: str
    role: str
    nth: int
    broken: list[str] = field(default_factory=list)  # invariants broken on any node of the role that crashed
    messages: int = 0  # distinct messages named by the violations, summed over the nodes that crashed
    nodes: dict[str, dict] = field(default_factory=dict)  # node -> {crashed, broken, messages, error}

    @property
    def errors(self) -> list[str]:
        """The errors of the runs that could not run (a cell of only those proves nothing)."""
        return [n["error"] for n in self.nodes.values() if n["error"]]

    @property
    def reached(self) -> bool:
        """Whether the crash fired in any of the cell's runs."""
        return any(n["crashed"] for n in self.nodes.values())

    def summary(self) -> str:
        """The cell in a few words (rich markup): what broke, else why nothing did."""
        from rich.markup import escape

        if self.broken:
            return f"[red]{escape(', '.join(self.broken))}[/] · {self.messages} msg"
        if self.errors:
            return f"[yellow]error[/] ({len(self.errors)} runs)"
        return "[green]ok[/]" if self.reached else "[dim]not reached[/]"

    def doc(self) -> dict:
        return {"step": self.step, "role": self.role, "nth": self.nth, "reached": self.reached,
                "broken": self.broken, "messages": self.messages, "nodes": self.nodes}


def matrix(results: list[tuple[Task, TaskResult]], arch: str, nths: list[int]) -> list[Cell]:
    """The (step, nth) cells, in the architecture's step order then nth."""
    from sim import architectures

    cells = {(s.name, n): Cell(s.name, s.role, n) for s in architectures.get(arch).steps for n in nths}
    for task, r in results:
        f = task.faults[0]
        cell = cells[(f["step"], f["nth"])]
        bad = sorted(k for k, v in r.verdicts.items() if v is False)
        msgs = {x.msg for x in r.violations if x.msg is not None and x.invariant in bad}
        crashed = r.fired > 0
        cell.nodes[f["node"]] = {"crashed": crashed, "broken": bad, "messages": len(msgs), "error": r.error}
        if crashed:  # what a run without its crash breaks, the scenario breaks: not this crash point
            cell.broken = sorted(set(cell.broken) | set(bad))
            cell.messages += len(msgs)
    for cell in cells.values():  # in node order, not in the order the runs finished (crashpoints.json's bytes)
        cell.nodes = dict(sorted(cell.nodes.items(), key=lambda kv: _natural(kv[0])))
    return [cells[k] for k in cells if cells[k].nodes]


def _natural(name: str) -> tuple:
    """``webapp-10`` after ``webapp-9``."""
    import re

    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name))


def write_replays(cells: list[Cell], results: list[tuple[Task, TaskResult]], raw: dict, arch: str,
                  out_dir: Path) -> list[str]:
    """``DIR/replay/<step>-<node>-<nth>.toml`` for each run whose crash
    broke something; sets the node's ``replay`` in its cell. Returns those
    replay commands, in the matrix's order."""
    from .explore import fault_text, replay_scenario, write_replay

    run = {(t.faults[0]["step"], t.faults[0]["node"], t.faults[0]["nth"]): (t, r) for t, r in results}
    written = []
    for cell, name, node in ((c, n, d) for c in cells for n, d in c.nodes.items()):
        if not node["crashed"] or not node["broken"]:
            continue
        task, r = run[(cell.step, name, cell.nth)]
        f = task.faults[0]
        what = fault_text(f)
        doc = replay_scenario(raw, task.faults, arch, r.verdicts, f"{raw['name']}-crash-{f['step']}-{name}-{f['nth']}",
                              f"chatsim crashpoints: {what} breaks {', '.join(node['broken'])} under {arch}")
        (out_dir / "replay").mkdir(parents=True, exist_ok=True)
        node["replay"] = write_replay(out_dir / "replay" / f"{f['step']}-{f['node']}-{f['nth']}.toml", doc, arch,
                                      task.seed, f"crash point: {what}")
        written.append(node["replay"])
    return written


def document(scenario: str, arch: str, seed: int, nths: list[int], cells: list[Cell], engine: str) -> dict:
    return {"scenario": scenario, "arch": arch, "seed": seed, "nth": nths, "engine": engine,
            "runs": sum(len(c.nodes) for c in cells), "cells": [c.doc() for c in cells]}


__all__ = ["plan", "matrix", "write_replays", "Cell", "document", "DURATION"]
