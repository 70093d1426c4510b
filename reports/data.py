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

# Histories written before nemesis ops carried ``value.fault`` (an id shared
# by a fault's start and its end) pair windows by label and this table of how
# each kind's end is recorded (sim.faults registers the same names).
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
    fault: int | None = None  # the history's fault id (value.fault), when it records one
    value: dict = field(default_factory=dict)  # the start op's value (step, nth, msg for step triggers)
    end_index: int | None = None

    @property
    def step(self) -> str | None:
        return self.value.get("step")

    def describe(self) -> str:
        """``#3 crash channel-server-0 (at step ack_sent, 12th time)``."""
        head = (f"#{self.fault} " if self.fault is not None else "") + f"{self.kind} {self.label}"
        if self.step:
            head += f" (at step {self.step}" + (f", occurrence {self.value['nth']}" if self.value.get("nth") else "") + ")"
        return head


@dataclass
class Run:
    path: Path
    meta: object
    ops: list
    result: dict
    journal: list[list] = field(default_factory=list)
    header: dict = field(default_factory=dict)  # line 1 as written (fields newer than sim.history.Meta too)

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

    @property
    def steps(self) -> list[dict]:
        """The architecture's named send-path steps, in order, as the header
        declares them (``[{"step", "role", "label"}]``); ``[]`` for histories
        that predate them."""
        steps = msgspec.to_builtins(self.header.get("steps") or getattr(self.meta, "steps", None) or [])
        return [s for s in steps if isinstance(s, dict) and isinstance(s.get("step"), str)]

    def step_events(self, msg: str) -> list:
        """The ``event``/``step`` ops recorded for ``msg``, in history order."""
        return [op for op in self.ops if op.f == "step" and op.type == "event" and op.value.get("msg") == msg]

    def faults(self) -> list[FaultWindow]:
        """Pair every nemesis start with its end (open windows end with the run).

        A start and its end share ``value.fault`` when the history records it;
        older histories are paired by kind and label through ``END_OF``."""
        if self._faults is None:
            self._faults = _pair_faults([op for op in self.ops if op.process == "nemesis"], self.end_time)
        return self._faults

    _faults: list[FaultWindow] | None = field(default=None, repr=False, compare=False)


def _label(v: dict) -> str:
    return v.get("node") or f"{','.join(v.get('a', []))} ⇹ {','.join(v.get('b', []))}"


def _pair_faults(nemesis_ops: list, end_time: float) -> list[FaultWindow]:
    by_id: dict[int, FaultWindow] = {}
    open_: list[FaultWindow] = []  # legacy windows (no id) still waiting for their end
    windows: list[FaultWindow] = []
    for op in nemesis_ops:
        v = op.value
        fid = v.get("fault")
        if isinstance(fid, int) and not isinstance(fid, bool):
            if fid in by_id:  # the second op with this id ends the window
                w = by_id[fid]
                w.end, w.end_index = op.time, op.index
            else:
                nodes = v["node"].split(",") if v.get("node") else []
                by_id[fid] = w = FaultWindow(op.f, _label(v), nodes, op.time, end_time, op.index, fid, dict(v))
                windows.append(w)
            continue
        label = _label(v)
        if op.f in ENDS:
            for i, w in enumerate(open_):
                if END_OF.get(w.kind) == op.f and w.label == label:
                    w.end, w.end_index = op.time, op.index
                    windows.append(open_.pop(i))
                    break
            continue
        nodes = v["node"].split(",") if v.get("node") else []
        w = FaultWindow(op.f, label, nodes, op.time, end_time, op.index, None, dict(v))
        (open_ if op.f in END_OF else windows).append(w)
    return sorted(windows + open_, key=lambda w: (w.start, w.start_index))


def load_run(path: str | Path) -> Run:
    p = Path(path)
    h = read_history(p / "history.jsonl")
    with open(p / "history.jsonl", "rb") as fh:
        header = json.loads(fh.readline())
    result = json.loads((p / "result.json").read_text()) if (p / "result.json").exists() else {}
    journal = []
    jp = p / "journal.jsonl"
    if jp.exists():
        lines = jp.read_bytes().splitlines()
        journal = msgspec.json.decode(b"[" + b",".join(lines[1:]) + b"]") if len(lines) > 1 else []
    return Run(p, h.meta, h.ops, result, journal, header)
