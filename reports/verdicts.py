"""How verdicts and metrics read, once for every surface that shows them:
the terminal tables of the command line, the HTML and Markdown reports, the
runs index. Plain data in, words out; no I/O, nothing heavy imported.
"""

from __future__ import annotations

# the usual invariants in their usual order; any other a result carries follows them
INVARIANTS = ["validity", "integrity", "total-order", "no-duplicates", "durability", "live-completeness",
              "boot-consistency"]


def verdict_word(valid) -> tuple[str, str]:
    """A verdict (or an expectation) as ``(word, class)``: class is ``ok``,
    ``bad``, ``unk`` (unknown, maybe) or ``muted`` (nothing to say)."""
    if valid is True:
        return "ok", "ok"
    if valid is False:
        return "VIOLATED", "bad"
    if valid is None:
        return "-", "muted"
    if valid == "maybe":
        return "maybe", "unk"
    return "unknown", "unk"


def invariant_names(results: list[dict]) -> list[str]:
    """The invariants these results judged, in the usual order, then any other."""
    seen = [n for r in results for n in r.get("invariants", {})]
    return [n for n in INVARIANTS if n in seen] + [n for n in dict.fromkeys(seen) if n not in INVARIANTS]


def ms(x) -> str:
    return "-" if x is None else f"{x * 1000:.1f} ms"


def metric_rows(results: list[dict]) -> list[tuple[str, list[str]]]:
    """The metrics compared side by side, one (label, cells) row each."""
    if not all("metrics" in r for r in results):  # a history checked elsewhere: verdicts only
        return []
    ms_ = [r["metrics"] for r in results]
    rows = [("sends acked / failed / unknown",
             [f"{m['sends']['acked']} / {m['sends']['failed']} / {m['sends']['unknown']}" for m in ms_])]
    for key, label in (("ack_latency", "ack latency"), ("live_latency", "live latency")):
        rows.append((f"{label} p50 / p95 / p99", [" / ".join(ms(m[key][p]) for p in ("p50", "p95", "p99"))
                                                  for m in ms_]))
    rows.append(("network messages per send", [str(m["network_messages_per_send"]) for m in ms_]))
    rows.append(("… including background traffic", [str(m.get("network_total_per_send")) for m in ms_]))
    rows.append(("bytes per boot (boots)", [f"{m['bytes_per_boot']:,} ({m['boots']})" for m in ms_]))
    rows.append(("disconnects", [str(m["disconnects"]) for m in ms_]))
    return rows + team_rows(results)


def team_rows(results: list[dict]) -> list[tuple[str, list[str]]]:
    """Per-team rows for the side-by-side metric tables, when a run has
    several teams: boots, bytes per boot and the Flannel hit rate."""
    names = list(dict.fromkeys(t for r in results for t in r.get("metrics", {}).get("teams", {})))
    if len(names) < 2:
        return []
    rows = []
    for t in names:
        cells = []
        for r in results:
            row = r.get("metrics", {}).get("teams", {}).get(t)
            if row is None:
                cells.append("-")
                continue
            fl = row.get("flannel")
            cell = f"{row['boots']} boots × {row['bytes_per_boot']:,} B"
            if fl is not None and fl["hit_rate"] is not None:
                most = max(len(hosts) for hosts in fl["hosts"].values())
                cell += (f", {fl['hit_rate']:.0%} hits, {fl['loads']} cache loads, "
                         f"{most} host(s) per region in {len(fl['hosts'])} region(s)")
            cells.append(cell)
        rows.append((f"team {t}: boots × bytes", cells))
    return rows
