"""The comparison report: ``report.html`` (self-contained: styles, images
and the timeline data inline, one small script, nothing fetched) and
``report.md`` (images as files beside it).

Sections: the verdict table (the architectures side by side, with the
scenario's expectations), the metrics, the rate and latency plots, each
architecture's interactive timeline, and each violation's explanation with
a diagram per violating message: its path through the declared send-path
steps with the missing steps and why (``reports.explain``), the clients'
views side by side for an ordering violation, or — for histories without
declared steps — the journal's message diagram (``plots.message_diagram``).

The pages are Jinja2 templates (``reports/templates/``), rendered by
``reports.render`` with autoescaping (HTML) or Markdown escaping.
"""

from __future__ import annotations

import base64
from pathlib import Path

from . import plots
from .data import Run
from .explain import message_path, order_views
from .render import Raw, relative_link, render, write_atomic
from .sweep import backend_load
from .timeline import timeline_data, write_timeline
from .verdicts import invariant_names, metric_rows, verdict_word

DIAGRAMS_PER_RUN = 4
SHOWN = 10  # explanations listed per invariant; result.json has all


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def build_figures(runs: list[Run], out: Path) -> dict[str, Path]:
    """Write every plot the report shows; returns name -> PNG path."""
    figs: dict[str, Path] = {}
    figs["rates"] = plots.save(plots.rates(runs), out / "rates")[0]
    figs["cdf"] = plots.save(plots.latency_cdf(runs), out / "latency-cdf")[0]

    def until(r: Run) -> int:  # up to the final reads, which are the harness's, not the workload's
        w = r.result["config"]["workload"]
        return int(w["duration"] + w["settle"])

    load = [("this run", r.arch, r.result["metrics"]["backend"]["series"]["webapp_requests"][:until(r)])
            for r in runs if "backend" in r.result.get("metrics", {})]
    if load:
        figs["load"] = plots.save(backend_load(load, runs[0].faults(), "web-app load (requests per second)"),
                                  out / "backend-load")[0]
    return figs


def diagrams(run: Run) -> list[dict]:
    """One entry per violating message shown (the first ``DIAGRAMS_PER_RUN``):
    its step path when the history declares steps, else the journal diagram
    as a PNG beside the run; ordering violations add the views side by side."""
    out = []
    vio = run.violating_msgs()
    orders = {}
    for v in run.result.get("invariants", {}).get("total-order", {}).get("violations", []):
        orders.setdefault(v.get("msg"), []).append(v)
    for msg in sorted(vio)[:DIAGRAMS_PER_RUN]:
        d = {"msg": msg, "invariants": vio[msg], "path": message_path(run, msg), "png": None, "png_path": None,
             "orders": [o for o in (order_views(run, v) for v in orders.get(msg, [])[:1]) if o]}
        if d["path"] is None:
            safe = msg.replace(":", "_").replace("/", "_")
            png = plots.save(plots.message_diagram(run, msg), run.path / f"explain-{safe}")[0]
            d["png"], d["png_path"] = _data_uri(png), png
        out.append(d)
    return out


def report_context(runs: list[Run], figs: dict[str, Path], scenario: dict) -> dict:
    names = invariant_names([r.result for r in runs])
    verdicts = []
    for name in names:
        cells = []
        for r in runs:
            inv = r.result["invariants"].get(name, {"valid": "unknown", "violations": []})
            text, cls = verdict_word(inv["valid"])
            exp_text, exp_cls = verdict_word(r.result.get("expected", {}).get(name, True))
            cells.append({"text": text, "cls": cls, "n": len(inv["violations"]), "exp_text": exp_text,
                          "exp_cls": exp_cls})
        verdicts.append({"name": name, "cells": cells})
    overall = [dict(zip(("text", "cls"), verdict_word(r.result["valid"]))) for r in runs]
    run_ctx = []
    for r in runs:
        invs = [{"name": n, "count": len(vs), "shown": vs[:SHOWN]}
                for n in names for vs in [r.result["invariants"].get(n, {}).get("violations", [])] if vs]
        run_ctx.append({"arch": r.arch, "path": str(r.path), "violations": invs, "diagrams": diagrams(r)})
    images = [(name, _data_uri(figs[key])) for key, name in (("rates", "rates"), ("cdf", "latency CDF"),
                                                            ("load", "backend load")) if key in figs]
    return {"scenario": {"name": scenario["name"], "description": scenario.get("description", "")},
            "seed": runs[0].meta.seed, "runs": run_ctx, "verdicts": verdicts, "overall": overall,
            "metrics": metric_rows([r.result for r in runs]), "images": images,
            "timelines": [{"id": f"tl-{i}", "arch": r.arch, "data": timeline_data(r)} for i, r in enumerate(runs)]}


def write_reports(runs: list[Run], out: Path, scenario: dict) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    figs = build_figures(runs, out)
    for r in runs:  # each run's standalone timeline.html, linked from report.md
        write_timeline(r)
    ctx = report_context(runs, figs, scenario)
    ctx["runs"] = [{**rc, "link": relative_link(r.path, out) + "/"} for rc, r in zip(ctx["runs"], runs)]
    html_path = write_atomic(out / "report.html", render("report.html.j2", **ctx))
    md_path = write_atomic(out / "report.md", render_md(ctx, figs, runs, out))
    return html_path, md_path


def render_md(ctx: dict, figs: dict[str, Path], runs: list[Run], out: Path) -> str:
    def rel(p: Path) -> Raw:
        return Raw(relative_link(p, out))

    md_images = [(name, rel(figs[key])) for key, name in (("rates", "rates"), ("cdf", "latency"),
                                                          ("load", "backend load")) if key in figs]
    md_runs = []
    for r, rc in zip(runs, ctx["runs"]):
        md_runs.append({**rc, "timeline_link": rel(r.path / "timeline.html"),
                        "diagrams": [{**d, "png_path": rel(d["png_path"]) if d["png_path"] else None}
                                     for d in rc["diagrams"]]})
    return render("report.md.j2", **{**ctx, "runs": md_runs, "md_images": md_images})
