"""Plots (matplotlib, Agg): failure timelines, message diagrams, latency
CDFs and rates over time.

Everything drawn here comes from run files (``reports.data.Run``). Text
stays text in SVG (``svg.fonttype = none``) and important artists carry a
``gid`` (``fault-crash-channel-server-0``, ``violation-client-1:4``), so a
test — or a person with a browser's inspector — can find them.

Readable at 100k ops: a lane with more than ``DENSE`` events is drawn as a
density strip (binned counts as shaded segments) instead of one mark per
event, clients beyond ``max_clients`` are sampled (those involved in
violations first), and message diagrams keep to the first ``MAX_ARROWS`` hops.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .data import Run  # noqa: E402
from .metrics import latencies  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "chatsim", "font.size": 8})

DENSE = 1500
BINS = 240
MAX_ARROWS = 250
ROLE_ORDER = ["webapp", "channel-server", "gateway", "kafka-controller", "kafka", "redis", "worker", "db",
              "discovery"]
FAULT_COLORS = {"crash": "#d62728", "pause": "#ff7f0e", "partition": "#9467bd", "degrade": "#8c564b",
                "skew": "#17becf", "kafka-leader-crash": "#d62728", "redis-failover": "#e377c2"}
_BUILTIN_COLORS = {"old": "#1f77b4", "new": "#2ca02c", "rt2023": "#9467bd"}
_PLUGIN_PALETTE = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def arch_color(arch: str) -> str:
    """A stable color per architecture: chatsim's own fixed, a plugin's by a
    stable hash of its name (the same in every report)."""
    import zlib

    return _BUILTIN_COLORS.get(arch) or _PLUGIN_PALETTE[zlib.crc32(arch.encode()) % len(_PLUGIN_PALETTE)]


def _role_key(name: str) -> tuple:
    for i, role in enumerate(ROLE_ORDER):
        if name == role or name.startswith(role + "-") or name.startswith(role):
            return (i, name)
    return (len(ROLE_ORDER), name)


def save(fig: Figure, base: Path) -> tuple[Path, Path]:
    """Write ``base.png`` and ``base.svg`` (no timestamps: reruns are identical)."""
    png, svg = base.with_suffix(".png"), base.with_suffix(".svg")
    fig.savefig(png, dpi=110, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return png, svg


# -- failure timeline ------------------------------------------------------------
def timeline(run: Run, max_clients: int = 12) -> Figure:
    vio = run.violating_msgs()
    involved = []
    for r in run.result.get("invariants", {}).values():
        for v in r["violations"][:50]:
            involved += v.get("clients", [])
    clients_all = sorted({op.process for op in run.ops if op.process.startswith("client-")},
                         key=lambda c: int(c.split("-")[1]) if c.split("-")[1].isdigit() else 0)
    picked = list(dict.fromkeys([c for c in involved if c in clients_all] + clients_all))[:max_clients]
    servers = sorted({n for row in run.journal for n in (row[1], row[2]) if not n.startswith("client-")}
                     | {n for w in run.faults() for n in w.nodes if not n.startswith("client-")}, key=_role_key)
    lanes = servers + sorted(picked, key=lambda c: clients_all.index(c))
    y = {name: i for i, name in enumerate(lanes)}
    fig, ax = plt.subplots(figsize=(13, max(3.0, 0.32 * len(lanes) + 1.6)))
    t_end = max(run.end_time, 1e-6)

    # fault windows
    for w in run.faults():
        color = FAULT_COLORS.get(w.kind, "#7f7f7f")
        gid = f"fault-{w.kind}-{w.label}"
        hit = [y[n] for n in w.nodes if n in y]
        if hit:
            for lane in hit:
                ax.broken_barh([(w.start, max(w.end - w.start, t_end / 400))], (lane - 0.45, 0.9),
                               facecolors=color, alpha=0.25, gid=gid)
            ax.text(w.start, max(hit) + 0.5, f"{w.kind} {w.label}", color=color, fontsize=7, va="bottom",
                    gid=gid + "-label")
        else:
            ax.axvspan(w.start, max(w.end, w.start + t_end / 400), color=color, alpha=0.10, gid=gid)
            ax.text(w.start, len(lanes) - 0.4, f"{w.kind} {w.label}", color=color, fontsize=7, va="bottom",
                    gid=gid + "-label")

    # marks
    events: dict[tuple[str, str], list[float]] = defaultdict(list)
    for op in run.ops:
        if op.process in y:
            if op.f == "send":
                events[(op.process, "send" if op.type == "invoke" else "ack" if op.type == "ok" else "other")] \
                    .append(op.time)
            elif op.f == "deliver":
                events[(op.process, "deliver")].append(op.time)
    for row in run.journal:
        dst, received = row[2], row[6]
        if received is not None and dst in y and not dst.startswith("client-"):
            events[(dst, "persist" if row[3] == "db.insert" else "handled")].append(received)
    style = {"send": ("|", "#555555", -0.22), "ack": ("^", "#2ca02c", 0.0), "deliver": (".", "#1f77b4", 0.22),
             "handled": (".", "#7f7f7f", 0.0), "persist": ("s", "#9467bd", 0.0), "other": ("x", "#ff7f0e", 0.0)}
    for (lane, kind), ts in sorted(events.items()):
        marker, color, dy = style[kind]
        if len(ts) > DENSE:
            _density(ax, ts, y[lane] + dy, color, t_end)
        else:
            ax.scatter(ts, [y[lane] + dy] * len(ts), marker=marker, s=9, color=color, linewidths=0.6,
                       rasterized=len(ts) > 300)
    # violating messages: all marked (up to 40), the first few labelled
    labelled = 6
    for i, (msg, names) in enumerate(sorted(vio.items())[:40]):
        times = [(op.time, op.process) for op in run.ops
                 if op.value.get("msg") == msg and op.process in y and op.f in ("send", "deliver")]
        if not times:
            continue
        ts, ls = zip(*times)
        ax.scatter(ts, [y[p] for p in ls], marker="x", s=30, color="#d62728", zorder=5, gid=f"violation-{msg}")
        if i < labelled:
            ax.annotate(f"{msg} ({', '.join(names)})", (ts[0], y[ls[0]]), xytext=(4, 6 + 7 * (i % 3)),
                        textcoords="offset points", color="#d62728", fontsize=7, gid=f"violation-{msg}-label")
    if len(vio) > labelled:
        ax.text(0.01, 0.01, f"{len(vio)} violating messages; the first {labelled} labelled (see result.json)",
                transform=ax.transAxes, color="#d62728", fontsize=7)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes)
    ax.set_ylim(-0.8, len(lanes) + 0.2)
    ax.set_xlim(0, t_end)
    ax.set_xlabel("simulated time (s)")
    verdict = run.result.get("valid")
    shown = f"{len(picked)} of {len(clients_all)} clients shown" if len(clients_all) > len(picked) else ""
    ax.set_title(f"{run.meta.scenario} / {run.arch} / seed {run.meta.seed} — valid: {verdict}   {shown}")
    handles = [plt.Line2D([], [], marker=m, color=c, linestyle="", label=k) for k, (m, c, _) in style.items()]
    handles.append(plt.Line2D([], [], marker="x", color="#d62728", linestyle="", label="violating message"))
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=7, framealpha=0.8)
    ax.grid(axis="x", alpha=0.2)
    fig.tight_layout()
    return fig


def _density(ax, ts: list[float], lane: float, color: str, t_end: float) -> None:
    width = t_end / BINS
    counts = [0] * BINS
    for t in ts:
        counts[min(BINS - 1, int(t / width))] += 1
    peak = max(counts)
    for i, c in enumerate(counts):
        if c:
            ax.broken_barh([(i * width, width)], (lane - 0.1, 0.2), facecolors=color, alpha=0.15 + 0.85 * c / peak)


# -- message diagram ---------------------------------------------------------------
def message_diagram(run: Run, msg: str) -> Figure:
    """A Lamport (spacetime) diagram of every hop of ``msg`` and the faults it met."""
    hops = [r for r in run.journal if r[8] is not None and msg in r[8].split(",")][:MAX_ARROWS]
    ops = [op for op in run.ops if op.value.get("msg") == msg or msg in (op.value.get("msgs") or [])
           and op.f == "stored"]
    ops = [op for op in ops if op.f in ("send", "deliver", "late")]
    times = [r[5] for r in hops] + [r[6] for r in hops if r[6] is not None] + [op.time for op in ops]
    if not times:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, f"no trace of {msg} in this run", ha="center", va="center")
        ax.set_axis_off()
        return fig
    t0, t1 = min(times), max(times)
    pad = max((t1 - t0) * 0.05, 0.001)
    order: list[str] = []
    for name in [op.process for op in ops if op.f == "send"][:1] + [n for r in hops for n in (r[1], r[2])] + \
            [op.process for op in ops]:
        if name not in order:
            order.append(name)
    x = {n: i for i, n in enumerate(order)}
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(order) + 2), 7))
    for i in x.values():
        ax.plot([i, i], [t0 - pad, t1 + pad], color="#bbbbbb", linewidth=0.8, zorder=0)
    for w in run.faults():
        if w.end < t0 - pad or w.start > t1 + pad:
            continue
        cols = [x[n] for n in w.nodes if n in x] or list(x.values())
        color = FAULT_COLORS.get(w.kind, "#7f7f7f")
        ax.fill_between([min(cols) - 0.3, max(cols) + 0.3], max(w.start, t0 - pad), min(w.end, t1 + pad),
                        color=color, alpha=0.15, gid=f"fault-{w.kind}-{w.label}")
        ax.text(min(cols) - 0.3, max(w.start, t0 - pad), f"{w.kind} {w.label}", color=color, fontsize=7,
                va="top")
    for r in hops:
        src, dst, kind, sent, got, dropped = r[1], r[2], r[3], r[5], r[6], r[7]
        if got is not None:
            ax.annotate("", xy=(x[dst], got), xytext=(x[src], sent),
                        arrowprops={"arrowstyle": "->", "color": "#1f77b4", "linewidth": 0.8})
            ax.text((x[src] + x[dst]) / 2, (sent + got) / 2, kind, fontsize=6, color="#1f77b4", ha="center")
        else:
            mid = (x[src] + x[dst]) / 2
            tm = sent + (t1 - t0) * 0.01
            ax.plot([x[src], mid], [sent, tm], color="#d62728", linewidth=0.8)
            ax.scatter([mid], [tm], marker="x", color="#d62728", s=30, gid=f"drop-{r[0]}")
            ax.text(mid, tm, f"{kind}: {dropped or 'in flight'}", fontsize=6, color="#d62728")
    placed: dict[str, list[float]] = defaultdict(list)  # labels already on a column, to stagger them
    for op in ops:
        label = {"invoke": "send", "ok": f"ok ts={op.value.get('ts', '')}", "info": "unknown",
                 "fail": "fail"}.get(op.type, op.type) if op.f == "send" else op.f
        ax.scatter([x[op.process]], [op.time], marker="o", s=14, color="#2ca02c" if op.type == "ok" else "#333333",
                   zorder=4)
        near = sum(1 for t in placed[op.process] if abs(t - op.time) < (t1 - t0 + 1e-9) * 0.02)
        placed[op.process].append(op.time)
        ax.annotate(f"{label} #{op.index}", (x[op.process], op.time), xytext=(4, -9 * near),
                    textcoords="offset points", fontsize=6, va="center")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=30, ha="right")
    ax.set_ylim(t1 + pad, t0 - pad)
    ax.set_ylabel("simulated time (s)")
    names = run.violating_msgs().get(msg, [])
    ax.set_title(f"{msg} — {run.arch}" + (f" — violates {', '.join(names)}" if names else ""), gid="diagram-title")
    fig.tight_layout()
    return fig


# -- comparisons ------------------------------------------------------------------
def latency_cdf(runs: list[Run]) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for run in runs:
        for ax, xs in zip(axes, latencies(run.ops)):
            if xs:
                xs = sorted(x * 1000 for x in xs)
                ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post",
                        color=arch_color(run.arch), label=f"{run.arch} (n={len(xs)})", gid=f"cdf-{run.arch}")
    for ax, what in zip(axes, ("ack latency", "live-delivery latency")):
        ax.set_title(what)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_ylabel("fraction")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        else:  # no ack (or no live delivery) in any of the runs: say so, not an empty legend and a warning
            ax.text(0.5, 0.5, f"no {what.split()[0]} in these runs", ha="center", va="center",
                    transform=ax.transAxes, alpha=0.6)
    fig.tight_layout()
    return fig


def rates(runs: list[Run], bin_s: float = 1.0) -> Figure:
    fig, ax = plt.subplots(figsize=(12, 4))
    t_end = max(r.end_time for r in runs)
    nb = max(1, int(t_end / bin_s) + 1)
    for run in runs:
        color = arch_color(run.arch)
        for kind, style in (("invoke", "--"), ("ok", "-")):
            counts = [0] * nb
            for op in run.ops:
                if op.f == "send" and op.type == kind:
                    counts[int(op.time / bin_s)] += 1
            ax.plot([i * bin_s for i in range(nb)], [c / bin_s for c in counts], style, color=color,
                    label=f"{run.arch}: {'sends' if kind == 'invoke' else 'acks'}/s", gid=f"rate-{run.arch}-{kind}")
        for w in run.faults():
            ax.axvspan(w.start, max(w.end, w.start + t_end / 400), color=FAULT_COLORS.get(w.kind, "#7f7f7f"),
                       alpha=0.08)
            ax.text(w.start, 0, f"{run.arch}: {w.kind} {w.label}", fontsize=6, rotation=90, va="bottom",
                    color=FAULT_COLORS.get(w.kind, "#7f7f7f"))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("per second")
    ax.set_title("send and ack rate, fault windows shaded")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
