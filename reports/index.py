"""``runs/index.html``: every output found under a runs directory, one page.

What counts as what (DESIGN §8, §11), by the files a directory holds:

- **compare**: ``report.html`` and run subdirectories;
- **sweep**: ``sweep.json``;
- **explore**: ``results.jsonl`` with ``found-*.toml`` (or none found yet);
- **regress**: ``regress.json``;
- **run**: ``result.json`` beside ``history.jsonl`` (runs inside a compare
  or a sweep are listed too, with the output they belong to).

Each row has the scenario, the architecture(s), the seed, the verdict and a
relative link. Files are read defensively: a half-written or foreign file
makes its row say so, never the page fail. The page is written to a
temporary file and renamed, so a browser never sees half of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .render import render, write_atomic
from .verdicts import verdict_word

KINDS = ("compare", "sweep", "explore", "regress", "run")


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _row(kind, d: Path, root: Path, link: Path, scenario=None, archs=(), seed=None, valid=None, note="",
         parent: Path | None = None) -> dict:
    text, cls = verdict_word(valid)
    return {"kind": kind, "path": d.relative_to(root).as_posix() or ".", "link": link.relative_to(root).as_posix(),
            "scenario": scenario or "-", "archs": ", ".join(a for a in archs if a) or "-",
            "seed": "-" if seed is None else str(seed), "verdict": text, "cls": cls, "note": note,
            "parent": parent.relative_to(root).as_posix() if parent else "",
            "parent_link": next(((parent / f).relative_to(root).as_posix() for f in ("report.html", "sweep.json")
                                 if parent and (parent / f).exists()), "")}


def _run_row(d: Path, root: Path, parent: Path | None) -> dict:
    r = _json(d / "result.json")
    if not isinstance(r, dict):
        return _row("run", d, root, d / "result.json", note="unreadable result.json", parent=parent)
    link = d / "timeline.html" if (d / "timeline.html").exists() else d / "result.json"
    broken = [n for n, v in (r.get("invariants") or {}).items() if isinstance(v, dict) and v.get("valid") is False]
    return _row("run", d, root, link, r.get("scenario"), [r.get("arch")], r.get("seed"), r.get("valid"),
                ("broken: " + ", ".join(broken)) if broken else "", parent)


def _compare_row(d: Path, root: Path, runs: list[dict]) -> dict:
    verdicts = [r["verdict"] for r in runs]
    valid = None if not runs else False if "VIOLATED" in verdicts else True if all(v == "ok" for v in verdicts) \
        else "unknown"
    head = runs[0] if runs else {}
    return _row("compare", d, root, d / "report.html", head.get("scenario"), [r["archs"] for r in runs],
                head.get("seed"), valid, "; ".join(f"{r['archs']}: {r['verdict']}" for r in runs))


def _sweep_row(d: Path, root: Path) -> dict:
    doc = _json(d / "sweep.json")
    if not isinstance(doc, dict):
        return _row("sweep", d, root, d / "sweep.json", note="unreadable sweep.json")
    points = doc.get("points") or []
    # the keys of a point that hold a result table are the architectures the sweep ran
    archs = [a for a, v in points[0].items() if isinstance(v, dict)] if points and isinstance(points[0], dict) else []
    valids = [p[a].get("valid") for p in points if isinstance(p, dict) for a in archs if isinstance(p.get(a), dict)]
    valid = None if not valids else False if False in valids else True if all(v is True for v in valids) \
        else "unknown"
    return _row("sweep", d, root, d / "sweep.json", doc.get("scenario"), archs, doc.get("seed"), valid,
                f"{len(points)} points")


def _explore_row(d: Path, root: Path) -> dict:
    lines = []
    try:
        for line in (d / "results.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by an interrupted run
    except OSError:
        pass
    # engine lines are {"task": {...}, "result": {...}}; older ones were flat
    rows = [x.get("task") if isinstance(x.get("task"), dict) else x for x in lines if isinstance(x, dict)]
    found = sorted(d.glob("found-*.toml"))
    head = rows[0] if rows else {}
    archs = list(dict.fromkeys(str(x.get("arch")) for x in rows if x.get("arch")))
    seeds = [x.get("seed") for x in rows if x.get("seed") is not None]
    link = next((d / n for n in ("report.html", "index.html") if (d / n).exists()), None) \
        or (found[0] if found else d / "results.jsonl")
    return _row("explore", d, root, link, head.get("scenario"), archs, min(seeds) if seeds else None,
                False if found else (True if rows else None),
                f"{len(rows)} runs, {len(found)} found" + (": " + ", ".join(f.name for f in found[:5]) if found else ""))


def _regress_row(d: Path, root: Path) -> dict:
    doc = _json(d / "regress.json")
    if not isinstance(doc, dict):
        return _row("regress", d, root, d / "regress.json", note="unreadable regress.json")
    regressions = doc.get("regressions")
    n = len(regressions) if isinstance(regressions, list) else regressions if isinstance(regressions, int) else None
    scen = doc.get("scenarios")
    scen = ", ".join(map(str, scen)) if isinstance(scen, list) else scen or doc.get("scenario")
    archs = doc.get("archs") or doc.get("arch") or []
    archs = [archs] if isinstance(archs, str) else [str(a) for a in archs]
    seeds = doc.get("seeds")
    valid = None if n is None else n == 0
    return _row("regress", d, root, d / "regress.json", scen, archs,
                seeds if not isinstance(seeds, list) else f"{seeds[0]}..{seeds[-1]}" if seeds else None, valid,
                "" if n is None else f"{n} regressions")


def scan(root: Path) -> list[dict]:
    """Every output under ``root``, sorted by kind then path (stable, so
    regenerating the page with nothing new gives the same bytes)."""
    rows: list[dict] = []
    parents: dict[Path, Path] = {}  # run dir -> the compare/sweep it belongs to
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        d = Path(dirpath)
        files = set(filenames)
        explore = "explore.json" in files
        if "report.html" in files and not explore:
            subs = sorted(p for p in d.iterdir() if (p / "result.json").exists() and (p / "history.jsonl").exists())
            runs = [_run_row(p, root, d) for p in subs]
            for p in subs:
                parents[p] = d
            rows.append(_compare_row(d, root, runs))
        if "sweep.json" in files:
            for p in d.rglob("result.json"):
                parents.setdefault(p.parent, d)
            rows.append(_sweep_row(d, root))
        if "results.jsonl" in files and explore:  # a regress also keeps results.jsonl
            rows.append(_explore_row(d, root))
        if "regress.json" in files:
            rows.append(_regress_row(d, root))
        if "result.json" in files and "history.jsonl" in files:
            rows.append(_run_row(d, root, parents.get(d)))
    return sorted(rows, key=lambda r: (KINDS.index(r["kind"]), r["path"]))


def write_index(root: Path = Path("runs")) -> Path:
    """Regenerate ``root/index.html`` atomically; returns its path."""
    root = Path(root)
    rows = scan(root) if root.is_dir() else []
    groups = [(kind, [r for r in rows if r["kind"] == kind]) for kind in KINDS]
    return write_atomic(root / "index.html", render("index.html.j2", root=root.name, groups=groups,
                                                    total=len(rows)))
