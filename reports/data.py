"""A finished run as the reports see it: history ops, result, journal.

Reports read files only (``history.jsonl``, ``result.json``,
``journal.jsonl``), never simulation objects, so they work on any run
directory, including ones copied from CI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from sim.history import read_history

# how each fault kind's end is recorded (sim.faults registers the same names)
END_OF = {"crash": "restart", "kafka-leader-crash": "restart", "redis-failover": "restart", "pause": "resume",
          "partition": "heal", "degrade": "degrade-end", "skew": "skew-end", "flannel-restart": "restart"}
ENDS = set(END_OF.values())


@dataclass
class FaultWindow:
    kind: str
    label: str
    nodes: list[str]  # affected nodes ([] = network-wide)
    start: float
    end: float
    start_index: int


@dataclass
class Run:
    path: Path
    meta: object
    ops: list
    result: dict
    journal: list[list] = field(default_factory=list)

    @property
    def arch(self) -> str:
        return self.meta.arch

    @property
    def end_time(self) -> float:
        return self.ops[-1].time if self.ops else 0.0

    def violating_msgs(self) -> dict[str, list[str]]:
        """msg -> the invariants it violates."""
        out: dict[str, list[str]] = {}
        for name, r in self.result.get("invariants", {}).items():
            for v in r["violations"]:
                if v.get("msg"):
                    out.setdefault(v["msg"], [])
                    if name not in out[v["msg"]]:
                        out[v["msg"]].append(name)
        return out

    def faults(self) -> list[FaultWindow]:
        """Pair every nemesis start with its end (open windows end with the run)."""
        open_: list[FaultWindow] = []
        windows: list[FaultWindow] = []
        for op in self.ops:
            if op.process != "nemesis":
                continue
            v = op.value
            label = v.get("node") or f"{','.join(v.get('a', []))} ⇹ {','.join(v.get('b', []))}"
            if op.f in ENDS:
                for i, w in enumerate(open_):
                    if END_OF.get(w.kind) == op.f and w.label == label:
                        w.end = op.time
                        windows.append(open_.pop(i))
                        break
                continue
            nodes = v["node"].split(",") if v.get("node") else []
            w = FaultWindow(op.f, label, nodes, op.time, self.end_time, op.index)
            (open_ if op.f in END_OF else windows).append(w)
        return sorted(windows + open_, key=lambda w: (w.start, w.start_index))


def load_run(path: str | Path) -> Run:
    p = Path(path)
    h = read_history(p / "history.jsonl")
    result = json.loads((p / "result.json").read_text()) if (p / "result.json").exists() else {}
    journal = []
    jp = p / "journal.jsonl"
    if jp.exists():
        lines = jp.read_bytes().splitlines()
        journal = msgspec.json.decode(b"[" + b",".join(lines[1:]) + b"]") if len(lines) > 1 else []
    return Run(p, h.meta, h.ops, result, journal)
