"""The growth plot of ``chatsim bench --storm 1000,10000,100000 --plot``:
wall time and memory against simulated clients, per architecture, log-log,
each line labelled with its fitted exponent (DESIGN §10: ≤ 1.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .plots import arch_color, plt, save


def exponent(ns, ys) -> float:
    """The slope of ``log y`` against ``log n`` by least squares: cost grows
    as ``n ** slope``; 1 is linear. Needs two sizes or more."""
    if len(ns) < 2 or len(set(ns)) < 2:
        raise ValueError("an exponent needs two different sizes at least")
    return float(np.polyfit(np.log(np.asarray(ns, float)), np.log(np.asarray(ys, float)), 1)[0])


PANELS = (("cpu_seconds", "CPU time, full run (s)"),
          ("traced_bytes", "memory, all connected (idle), tracemalloc (bytes)"),
          ("peak_rss_bytes", "peak RSS, full run (bytes)"))


def growth_plot(rows: list[dict], base: Path, panels=PANELS) -> tuple[Path, Path]:
    """``rows``: one per (clients, arch) with the keys of ``panels`` (pairs of
    row key and title). Writes ``base.png`` and ``base.svg``."""
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), constrained_layout=True)
    for ax, (key, title) in zip(axes, panels):
        for arch in archs:
            mine = sorted((r["clients"], r[key]) for r in rows if r["arch"] == arch)
            ns, ys = [n for n, _ in mine], [y for _, y in mine]
            label = arch if len(set(ns)) < 2 else f"{arch}: n^{exponent(ns, ys):.2f}"
            ax.plot(ns, ys, marker="o", label=label, color=arch_color(arch))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated clients")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("chatsim reconnect storm: growth with clients (slope = fitted exponent)", fontsize=11)
    base.parent.mkdir(parents=True, exist_ok=True)
    return save(fig, base)
