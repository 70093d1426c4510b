"""The interactive timeline: one lane per process, every op of the history.

Theory of operation
-------------------
The page is self-contained: the data as one JSON block, one small script
(``templates/timeline.js``) that draws inline SVG, inline CSS, nothing
fetched. The data is *columnar and interned* so 100k ops stay a few MB:
each op is ``[time, lane, kind, shape, field...]`` where ``kind`` indexes
``"type f"`` pairs, ``shape`` indexes the tuple of the value's keys, and
each field is an index into one string table (strings repeat: channels,
message ids, texts), ``{"s": [...]}`` for a list of strings, or
``{"j": value}`` for anything else. The op's position is its history index.
The script rebuilds the full record on hover, so nothing is lost.

Drawing is per view: for each lane the script finds the ops inside the
visible time range by binary search; a lane with more ops in view than it
has room for is drawn as a *density strip* (pixel bins shaded by count),
otherwise one mark per op, all of a lane's marks as one SVG path. Hover and
click are answered by arithmetic (nearest op in the lane under the pointer),
not by one DOM element per op, which keeps a 100k-op page quick to load.
"""

from __future__ import annotations

import re
from pathlib import Path

from .data import Run
from .render import relative_link, render, write_atomic

ROLE_ORDER = ["nemesis", "webapp", "admin", "channel-server", "gateway", "kafka-controller", "kafka", "redis",
              "worker", "db", "flannel", "discovery", "presence"]
MAX_VIOLATIONS = 500  # listed with jump links; result.json has the rest


def role_key(name: str) -> tuple:
    """Lanes in send-path order: servers by role, clients last in numeric order."""
    if name.startswith("client-"):
        tail = name[len("client-"):]
        return (len(ROLE_ORDER) + 1, int(tail) if tail.isdigit() else 0, name)
    for i, role in enumerate(ROLE_ORDER):
        if name == role or name.startswith(role):
            return (i, 0, _natural(name))
    return (len(ROLE_ORDER), 0, _natural(name))


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


class _Interner:
    def __init__(self):
        self.items: list = []
        self._ix: dict = {}

    def __call__(self, item) -> int:
        i = self._ix.get(item)
        if i is None:
            i = self._ix[item] = len(self.items)
            self.items.append(item)
        return i


def _field(v, strings: _Interner):
    if isinstance(v, str):
        return strings(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return {"s": [strings(x) for x in v]}
    return {"j": v}


def timeline_data(run: Run) -> dict:
    """The JSON block the timeline script draws (see the module docstring)."""
    strings, kinds, shapes, lanes = _Interner(), _Interner(), _Interner(), _Interner()
    windows = run.faults()
    names = {op.process for op in run.ops} | {n for w in windows for n in w.nodes}
    for name in sorted(names, key=role_key):
        lanes(name)
    ops = []
    for op in run.ops:
        v = op.value
        row = [op.time, lanes(op.process), kinds(f"{op.type} {op.f}"), shapes(tuple(v))]
        row += [_field(x, strings) for x in v.values()]
        ops.append(row)
    violations = []
    for name, r in run.result.get("invariants", {}).items():
        for v in r.get("violations", []):
            violations.append({"invariant": name, "kind": v.get("kind"), "msg": v.get("msg"),
                               "explanation": v.get("explanation", ""), "indexes": v.get("indexes", [])})
    faults = [{"id": w.fault, "kind": w.kind, "label": w.label, "desc": w.describe(), "start": w.start,
               "end": w.end, "index": w.start_index, "lanes": [lanes._ix[n] for n in w.nodes if n in lanes._ix]} for w in windows]
    meta = run.meta
    return {"title": f"{meta.scenario} / {meta.arch} / seed {meta.seed}", "valid": run.result.get("valid"),
            "t_end": max(run.end_time, 1e-6), "lanes": lanes.items, "kinds": kinds.items,
            "shapes": [list(s) for s in shapes.items], "strings": strings.items, "ops": ops, "faults": faults,
            "violations": violations[:MAX_VIOLATIONS], "violations_total": len(violations)}


def render_standalone(run: Run, history: str = "history.jsonl") -> str:
    """``timeline.html``: the timeline of one run as a page of its own;
    ``history`` is the history file's path relative to the page."""
    return render("timeline.html.j2", tl={"id": "tl", "data": timeline_data(run)}, history=history)


def write_timeline(run: Run, path: Path | None = None) -> Path:
    """Write ``timeline.html`` beside the run's history (atomically).

    The page links the history relative to itself (``relative_link``)."""
    path = path or run.path / "timeline.html"
    return write_atomic(path, render_standalone(run, relative_link(run.path / "history.jsonl", path.parent)))
