"""The crashpoints heatmap: send-path steps down, nth across; a cell's
colour is how many messages the violations name, its text which
invariants broke (``chatsim crashpoints``; docs/explore.md)."""

from __future__ import annotations

from pathlib import Path

from . import plots

ABBREV = {"validity": "V", "integrity": "I", "total-order": "O", "no-duplicates": "D", "durability": "Du",
          "boot-consistency": "B"}


def heatmap(doc: dict):
    """A Figure of ``crashpoints.json``'s cells."""
    import numpy as np
    from matplotlib.figure import Figure

    steps = list(dict.fromkeys((c["step"], c["role"]) for c in doc["cells"]))
    nths = doc["nth"]
    grid = np.zeros((len(steps), len(nths)))
    fig = Figure(figsize=(max(5.0, 2.4 + 0.75 * len(nths)), 1.2 + 0.45 * len(steps)))
    ax = fig.add_subplot()
    by = {(c["step"], c["nth"]): c for c in doc["cells"]}
    for i, (step, _) in enumerate(steps):
        for j, n in enumerate(nths):
            c = by.get((step, n))
            grid[i, j] = c["messages"] if c else 0
    ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0, vmax=max(1.0, float(grid.max())))
    for i, (step, _) in enumerate(steps):
        for j, n in enumerate(nths):
            c = by.get((step, n))
            if not c:
                continue
            # a crash that never fired tested nothing: it is not "ok" (older files lack "reached")
            text = (" ".join(ABBREV.get(b, b) for b in c["broken"])
                    or ("ok" if c.get("reached", True) else "not\nreached"))
            if c["broken"]:
                text += f"\n{c['messages']} msg"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, gid=f"cell-{step}-{n}",
                    color="black" if grid[i, j] < 0.6 * max(1.0, grid.max()) else "white")
    ax.set_xticks(range(len(nths)), [str(n) for n in nths])
    ax.set_yticks(range(len(steps)), [f"{s} ({r})" for s, r in steps])
    ax.set_xlabel("nth time the step is reached")
    ax.set_title(f"{doc['scenario']} / {doc['arch']}: crash at each step\n"
                 + " ".join(f"{v}={k}" for k, v in ABBREV.items()), fontsize=7)
    fig.tight_layout()
    return fig


def write_heatmap(doc: dict, base: Path) -> tuple[Path, Path]:
    return plots.save(heatmap(doc), base)
