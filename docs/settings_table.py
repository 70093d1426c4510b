"""Generate the bounds table of docs/scenarios.md from the pydantic models.

``python docs/settings_table.py`` rewrites the part of docs/scenarios.md
between ``<!-- settings:begin -->`` and ``<!-- settings:end -->``;
``tests/test_hostile.py::test_settings_doc_is_current`` fails when the two
differ, so every setting's bounds in the doc are the ones the loader enforces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel

DOC = Path(__file__).with_name("scenarios.md")
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _bounds(field) -> str:
    lo = hi = ""
    for m in field.metadata:
        if isinstance(m, Ge):
            lo = f"≥ {m.ge:g}"
        elif isinstance(m, Gt):
            lo = f"> {m.gt:g}"
        elif isinstance(m, Le):
            hi = f"≤ {m.le:,}" if isinstance(m.le, int) else f"≤ {m.le:g}"
        elif isinstance(m, Lt):
            hi = f"< {m.lt:g}"
        elif isinstance(m, MinLen):
            lo = f"at least {m.min_length} items"
        elif isinstance(m, MaxLen):
            hi = f"at most {m.max_length} items"
    return ", ".join(x for x in (lo, hi) if x)


def _type(ann) -> str:
    """A short, stable spelling of a field's type (no module paths, no addresses)."""
    import re

    text = ann.__name__ if isinstance(ann, type) else str(ann)
    text = re.sub(r"Annotated\[str, [^\]]*\]", "name", text)
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(\w+)", r"\1", text)


def rows(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        key = f.alias or name
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += rows(ann, f"{prefix}{key}.")
            continue
        default = f.get_default(call_default_factory=True)
        shown = "" if f.is_required() else (default.model_dump(mode="json") if isinstance(default, BaseModel)
                                            else default)
        if isinstance(shown, list) and shown and isinstance(shown[0], BaseModel):
            shown = [x.model_dump(mode="json") for x in shown]
        cell = f"`{shown!s}`".replace("|", "\\|") if shown != "" else "(required)"
        out.append(f"| `{prefix}{key}` | {_type(ann).replace('|', 'or')} | {cell} | {_bounds(f) or '-'} | "
                   f"{(f.description or '').replace('|', '/')} |")
    return out


def table() -> str:
    from scenarios.loader import Fault
    from sim import architectures
    from sim.config import MAX_CHANNELS, MAX_CLIENTS, MAX_MEMBERSHIPS, MAX_SENDS, ClientGroup, ClientSettings, \
        NetworkSettings, Team, TeamSpec, Topology, Workload

    lines = ["| key | type | default | bounds | meaning |", "|---|---|---|---|---|"]
    for model, prefix in ((Topology, "topology."), (ClientGroup, "topology.clients[]."), (Team, "topology.team."),
                          (Workload, "workload."), (NetworkSettings, "network."), (ClientSettings, "clients."),
                          (Fault, "faults[].")):
        lines += [r for r in rows(model, prefix) if not r.startswith("| `topology.team.") or model is Team]
        if model is Team:  # a team of several: the same sizes, and its own auto channels
            lines += [r for r in rows(TeamSpec, "topology.teams.<name>.")
                      if not any(r.startswith(f"| `topology.teams.<name>.{k}`") for k in Team.model_fields)]
    for arch in architectures.registry().values():
        lines += rows(arch.settings, f"{arch.name}.")
    caps = (f"Caps on a run's total size (`--allow-large` lifts them): {MAX_CLIENTS:,} clients, "
            f"{MAX_CHANNELS:,} channels, {MAX_MEMBERSHIPS:,} channel memberships, {MAX_SENDS:,} expected sends "
            f"(rate × clients × duration).")
    return "\n".join(lines) + "\n\n" + caps + "\n"


def render(doc: str) -> str:
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


if __name__ == "__main__":
    sys.path.insert(0, str(DOC.parent.parent))
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
