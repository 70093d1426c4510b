"""Sweeps: one scenario at several settings, both architectures.

``boot_curve`` draws boot bytes, time to usable and web-app work per boot
against team size on log–log axes and fits the growth exponent (least
squares of log bytes on log size) over the largest sizes, where the member
lists dominate, and over the whole range. ``backend_load`` overlays the web
apps' requests per second of every variant and architecture, fault windows
shaded: the shape of a reconnect storm.
"""

from __future__ import annotations

import math

from . import plots
from .plots import arch_color, plt


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log10(x), math.log10(y)) for x, y in zip(xs, ys) if x > 0 and y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx, 3) if sxx else None


def archs_of(points: list[dict]) -> list[str]:
    """The architectures a sweep ran (the keys of a point that hold a result table)."""
    return [k for k, v in points[0].items() if isinstance(v, dict)] if points else []


def boot_fits(points: list[dict]) -> dict:
    """Exponents per architecture: over all sizes and over sizes ≥ 10k."""
    out = {}
    for arch in archs_of(points):
        xs = [p["value"] for p in points]
        ys = [p[arch]["bytes_per_boot"] for p in points]
        big = [(x, y) for x, y in zip(xs, ys) if x >= 10_000]
        out[arch] = {"exponent_all": fit_exponent(xs, ys),
                     "exponent_large": fit_exponent([x for x, _ in big], [y for _, y in big]) if len(big) >= 2
                     else None}
    return out


def boot_curve(points: list[dict], key: str, fits: dict):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    xs = [p["value"] for p in points]
    for arch in archs_of(points):
        color = arch_color(arch)
        f = fits[arch]
        label = f"{arch}: exponent {f['exponent_large']} (≥10k), {f['exponent_all']} (all)"
        axes[0].loglog(xs, [p[arch]["bytes_per_boot"] for p in points], "o-", color=color, label=label,
                       gid=f"boot-bytes-{arch}")
        axes[1].loglog(xs, [max(p[arch]["time_to_usable_p50"] or 1e-3, 1e-3) for p in points], "o-", color=color,
                       label=arch)
        axes[2].loglog(xs, [max(p[arch]["webapp_cpu_per_boot"] or 1e-6, 1e-6) for p in points], "o-",
                       color=color, label=arch)
    for ax, title, unit in zip(axes, ("boot payload", "time to usable (p50)", "web-app work per boot"),
                               ("bytes", "seconds", "CPU seconds")):
        ax.set_title(title)
        ax.set_xlabel(key)
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def backend_load(series: list[tuple[str, str, list[int]]], faults: list, title: str):
    """``series``: (variant, arch, web-app requests per second)."""
    fig, ax = plt.subplots(figsize=(12, 4.5))
    styles = ["-", "--", ":", "-."]
    variants = list(dict.fromkeys(v for v, _, _ in series))
    after = int(max((w.end for w in faults), default=0))  # the peak that matters: after the last fault ends
    for variant, arch, ys in series:
        peak = max(ys[after:], default=0)
        ax.plot(range(len(ys)), ys, styles[variants.index(variant) % len(styles)], color=arch_color(arch),
                label=f"{arch} · {variant} (peak {peak}/s{' after the heal' if after else ''})",
                gid=f"load-{arch}-{variant}")
    for w in faults:
        ax.axvspan(w.start, w.end, color=plots.FAULT_COLORS.get(w.kind, "#7f7f7f"), alpha=0.1)
        ax.text(w.start, 0, f"{w.kind} {w.label}", fontsize=7, va="bottom")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("web-app requests per second")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
