"""The comparison report: ``report.html`` (self-contained: styles inline,
images embedded as base64 PNG, no scripts) and ``report.md`` (images as
files beside it).

Sections: the verdict table (both architectures side by side, with the
scenario's expectations), the metrics, the rate and latency plots, each
architecture's failure timeline, and each violation's explanation with the
message diagram of the first violating messages.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from . import plots
from .data import Run
from .sweep import backend_load

INVARIANTS = ["validity", "integrity", "total-order", "no-duplicates", "durability", "boot-consistency"]
DIAGRAMS_PER_RUN = 4

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f3f3f3}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.unk{color:#9a6700;font-weight:600}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
code{background:#f6f8fa;padding:1px 4px}li{margin:.2em 0}.muted{color:#777}
"""


def _verdict(v) -> tuple[str, str]:
    if v == "maybe":
        return "maybe", "unk"
    if v is True:
        return "ok", "ok"
    if v is False:
        return "VIOLATED", "bad"
    return "unknown", "unk"


def _ms(x) -> str:
    return "-" if x is None else f"{x * 1000:.1f} ms"


def metric_rows(runs: list[Run]) -> list[tuple[str, list[str]]]:
    rows = []

    def m(run):
        return run.result["metrics"]

    rows.append(("sends acked / failed / unknown",
                 [f"{m(r)['sends']['acked']} / {m(r)['sends']['failed']} / {m(r)['sends']['unknown']}" for r in runs]))
    for key, label in (("ack_latency", "ack latency"), ("live_latency", "live latency")):
        rows.append((f"{label} p50 / p95 / p99",
                     [" / ".join(_ms(m(r)[key][p]) for p in ("p50", "p95", "p99")) for r in runs]))
    rows.append(("network messages per send", [str(m(r)["network_messages_per_send"]) for r in runs]))
    rows.append(("… including background traffic", [str(m(r).get("network_total_per_send")) for r in runs]))
    rows.append(("bytes per boot (boots)", [f"{m(r)['bytes_per_boot']:,} ({m(r)['boots']})" for r in runs]))
    rows.append(("disconnects", [str(m(r)["disconnects"]) for r in runs]))
    return rows


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


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
    for run in runs:
        tl = run.path / "timeline.png"
        if not tl.exists():
            plots.save(plots.timeline(run), run.path / "timeline")
        figs[f"timeline-{run.arch}"] = tl
        for msg in sorted(run.violating_msgs())[:DIAGRAMS_PER_RUN]:
            safe = msg.replace(":", "_").replace("/", "_")
            figs[f"diagram-{run.arch}-{msg}"] = plots.save(plots.message_diagram(run, msg),
                                                           run.path / f"explain-{safe}")[0]
    return figs


def write_reports(runs: list[Run], out: Path, scenario: dict) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    figs = build_figures(runs, out)
    html_path = _write(out / "report.html", render_html(runs, figs, scenario))
    md_path = _write(out / "report.md", render_md(runs, figs, scenario, out))
    return html_path, md_path


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def render_html(runs: list[Run], figs: dict[str, Path], scenario: dict) -> str:
    e = html.escape
    seed = runs[0].meta.seed
    h = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>chatsim: {e(scenario['name'])}"
         f"</title><style>{CSS}</style></head><body>",
         f"<h1>chatsim compare: {e(scenario['name'])} <span class='muted'>seed {seed}</span></h1>",
         f"<p>{e(scenario.get('description', ''))}</p>",
         "<h2>Verdicts</h2><table id='verdicts'><thead><tr><th>invariant</th>"]
    for r in runs:
        h.append(f"<th>{e(r.arch)}</th><th>violations</th><th>expected</th>")
    h.append("</tr></thead><tbody>")
    for name in INVARIANTS:
        h.append(f"<tr><td>{name}</td>")
        for r in runs:
            inv = r.result["invariants"][name]
            text, cls = _verdict(inv["valid"])
            exp_text, exp_cls = _verdict(r.result.get("expected", {}).get(name, True))
            h.append(f"<td class='{cls}'>{text}</td><td>{len(inv['violations'])}</td>"
                     f"<td class='{exp_cls}'>{exp_text}</td>")
        h.append("</tr>")
    h.append("<tr><th>overall</th>")
    for r in runs:
        text, cls = _verdict(r.result["valid"])
        h.append(f"<td class='{cls}' colspan='3'>{text}</td>")
    h.append("</tr></tbody></table>")
    h.append("<h2>Metrics</h2><table id='metrics'><thead><tr><th>metric</th>"
             + "".join(f"<th>{e(r.arch)}</th>" for r in runs) + "</tr></thead><tbody>")
    for label, vals in metric_rows(runs):
        h.append(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{e(v)}</td>" for v in vals) + "</tr>")
    h.append("</tbody></table>")
    h.append("<h2>Rates, latency and backend load</h2>" + _img(figs["rates"]) + _img(figs["cdf"])
             + (_img(figs["load"]) if "load" in figs else ""))
    h.append("<h2>Failure timelines</h2>")
    for r in runs:
        h.append(f"<h3>{e(r.arch)}</h3>" + _img(figs[f"timeline-{r.arch}"]))
    h.append("<h2>Violations</h2>")
    for r in runs:
        h.append(f"<h3>{e(r.arch)}</h3>")
        any_v = False
        for name in INVARIANTS:
            vs = r.result["invariants"][name]["violations"]
            if not vs:
                continue
            any_v = True
            h.append(f"<h4>{name} ({len(vs)})</h4><ul>")
            for v in vs[:10]:
                h.append(f"<li>{e(v['explanation'])}</li>")
            if len(vs) > 10:
                h.append(f"<li class='muted'>… and {len(vs) - 10} more (see result.json)</li>")
            h.append("</ul>")
        if not any_v:
            h.append("<p class='ok'>none</p>")
        for key, path in figs.items():
            if key.startswith(f"diagram-{r.arch}-"):
                h.append(f"<h4>message diagram: {e(key.split('-', 2)[2])}</h4>" + _img(path))
    h.append("<p class='muted'>Generated by chatsim from the run directories "
             + ", ".join(f"<code>{e(str(r.path))}</code>" for r in runs) + ".</p></body></html>")
    return "\n".join(h)


def render_md(runs: list[Run], figs: dict[str, Path], scenario: dict, out: Path) -> str:
    def rel(p: Path) -> str:
        return str(p.resolve().relative_to(out.resolve()))

    lines = [f"# chatsim compare: {scenario['name']} (seed {runs[0].meta.seed})", "",
             scenario.get("description", ""), "", "## Verdicts", "",
             "| invariant | " + " | ".join(f"{r.arch} | expected" for r in runs) + " |",
             "|---|" + "---|---|" * len(runs)]
    for name in INVARIANTS:
        cells = []
        for r in runs:
            inv = r.result["invariants"][name]
            cells.append(f"{_verdict(inv['valid'])[0]} ({len(inv['violations'])})")
            cells.append(_verdict(r.result.get("expected", {}).get(name, True))[0])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Metrics", "", "| metric | " + " | ".join(r.arch for r in runs) + " |",
              "|---|" + "---|" * len(runs)]
    lines += [f"| {label} | " + " | ".join(vals) + " |" for label, vals in metric_rows(runs)]
    lines += ["", "## Plots", "", f"![rates]({rel(figs['rates'])})", "", f"![latency]({rel(figs['cdf'])})", ""]
    if "load" in figs:
        lines += [f"![backend load]({rel(figs['load'])})", ""]
    for r in runs:
        lines.append(f"![timeline {r.arch}]({rel(figs[f'timeline-{r.arch}'])})")
    lines += ["", "## Violations", ""]
    for r in runs:
        lines.append(f"### {r.arch}")
        for name in INVARIANTS:
            for v in r.result["invariants"][name]["violations"][:10]:
                lines.append(f"- **{name}**: {v['explanation']}")
        for key, path in figs.items():
            if key.startswith(f"diagram-{r.arch}-"):
                lines.append(f"\n![{key}]({rel(path)})")
        lines.append("")
    return "\n".join(lines) + "\n"
