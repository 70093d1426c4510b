"""The library the command line calls (DESIGN §1, §8): one run of a
scenario under an architecture, checked, with its metrics and result.json;
the storm benchmark. The CLI parses, calls this and prints; tests call it too.
"""

from __future__ import annotations

import json
from pathlib import Path

from sim import architectures
from sim.errors import ChatsimError, WiringError


def run_one(scn, arch: str, seed: int, out_dir: Path, plots: bool = False, journal: bool = True) -> dict:
    """Run one architecture on a scenario; write history.jsonl, journal.jsonl,
    result.json and (with ``plots``) timeline.png / timeline.svg.

    ``journal=False`` keeps no per-message journal (a farm's small runs do not
    pay for it): no journal.jsonl, and the network figures count nothing."""
    from invariants import check
    from reports.metrics import run_metrics
    from sim.history import parse_history
    from sim.runner import run

    cfg = scn.run_config(arch)
    faults = fault_specs(scn, arch)
    try:
        output = run(scenario=scn.name, seed=seed, cfg=cfg, faults=faults, out=out_dir / "history.jsonl",
                     journal=journal)
    except WiringError as e:
        raise WiringError(f"{scn.source}: {e}") from None
    if journal:
        output.write_journal(out_dir / "journal.jsonl")
    data = output.history.read_bytes()  # read once: checkers decode it slim, metrics in full
    verdict = check(parse_history(data, str(output.history), slim=True))
    metrics = run_metrics(parse_history(data, str(output.history)), output.network_summary(),
                          backend=output.backend(), workload_end=scn.workload.duration + scn.workload.settle)
    metrics["simulated_seconds"] = round(output.end_time, 6)
    expected = scn.expected(arch)
    result = {
        "scenario": scn.name, "arch": arch, "seed": seed, "valid": verdict["valid"],
        "invariants": verdict["invariants"], "sends": verdict["sends"], "ops": verdict["ops"],
        "expected": expected,
        "as_expected": matches_expected(verdict, expected),
        "metrics": metrics, "config": cfg.as_json(),
    }
    tmp = out_dir / "result.json.part"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out_dir / "result.json")
    if plots:
        from reports import plots as P
        from reports.data import load_run

        P.save(P.timeline(load_run(out_dir)), out_dir / "timeline")
    return result


def fault_specs(scn, arch: str) -> list:
    """The scenario's faults that apply to ``arch``, as the runner takes them."""
    from sim.faults import FaultSpec

    return [FaultSpec(**{k: (tuple(v) if isinstance(v, list) else v)
                         for k, v in f.model_dump().items() if k != "arch"})
            for f in scn.faults_for(arch)]


def matches_expected(verdict: dict, expected: dict) -> bool:
    """Every invariant as the scenario expects ("maybe" accepts either)."""
    return all(want == "maybe" or verdict["invariants"][name]["valid"] == want for name, want in expected.items())


def explain_msg(out_dir: Path, msg: str) -> Path:
    from reports import plots as P
    from reports.data import load_run

    run = load_run(out_dir)
    if not any(op.value.get("msg") == msg for op in run.ops):
        raise ChatsimError(f"--explain: no message {msg!r} in this run (ids look like client-1:4)")
    return P.save(P.message_diagram(run, msg), out_dir / f"explain-{msg.replace(':', '_')}")[0]


STORM_SIZES = (1_000, 10_000, 100_000)


def storm_scenario(clients: int):
    """The partition-reconnect-storm scaled to ``clients`` (40 in us-east, the
    rest in eu-west, channels of ~15 members, a light workload)."""
    from scenarios.loader import Scenario, load_raw

    raw, _ = load_raw("partition-reconnect-storm")
    raw["topology"]["clients"][1]["count"] = clients - raw["topology"]["clients"][0]["count"]
    raw["topology"]["auto_channels"] = max(40, clients // 15)  # channels of ~15 members
    raw["workload"]["rate"] = 0.02
    return Scenario.model_validate({**raw, "source": "bench"})


def storm_one(clients: int, arch: str) -> dict:
    """One storm measurement, meant to run in a fresh process (so its peak RSS
    is its own): a full checked run timed (wall and CPU seconds, peak RSS), then a run
    to t = 8 s under tracemalloc, when every client is booted and connected,
    for the bytes each connected client holds."""
    import resource
    import tempfile
    import time
    import tracemalloc

    from sim.runner import run

    scn = storm_scenario(clients)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        run_one(scn, arch, 1, Path(tmp) / "run")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        seen: dict = {}

        def probe(sim):
            seen["bytes"] = tracemalloc.get_traced_memory()[0]
            seen["connected"] = sum(1 for n in sim.nodes.values() if n.role == "client" and n.usable)

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        run(scenario=scn.name, seed=1, cfg=scn.run_config(arch), faults=[], out=Path(tmp) / "probe.jsonl",
            probe_at=8.0, probe=probe, journal=False)  # the journal is a log of messages, not state per client
        tracemalloc.stop()
    return {"wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_bytes": rss, "connected": seen["connected"],
            "traced_bytes": seen["bytes"] - base}


def bench_storm(sizes=(10_000,), archs: list[str] | None = None, plot: Path | None = None,
                progress=None) -> dict:
    """The partition-reconnect-storm at each size, for every registered
    architecture (or ``archs``), each measurement in a fresh process; with
    two sizes or more, the exponents of wall time and memory vs clients
    (least squares on log-log, target ≤ 1.1). ``plot`` writes the growth plot
    (``<plot>.png`` and ``.svg``). ``progress(row)`` hears of each
    measurement as it completes (a 100k storm takes minutes)."""
    import multiprocessing as mp

    sizes = sorted(set(sizes))
    names = list(archs or architectures.names())
    figures: dict = {"storm.clients": sizes[0] if len(sizes) == 1 else sizes}
    rows = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        for n in sizes:
            for arch in names:
                m = pool.apply(storm_one, (n, arch))
                rows.append({"clients": n, "arch": arch, **m})
                if progress is not None:
                    progress(rows[-1])
                key = f"storm.{arch}" if len(sizes) == 1 else f"storm.{arch}.{n}"
                figures[f"{key}.wall_seconds"] = round(m["wall_seconds"], 2)
                figures[f"{key}.cpu_seconds"] = round(m["cpu_seconds"], 2)
                figures[f"{key}.ms_per_client"] = round(1000 * m["wall_seconds"] / n, 3)
                figures[f"{key}.peak_rss_mb"] = round(m["peak_rss_bytes"] / 2**20)
                figures[f"{key}.connected_at_probe"] = m["connected"]
                figures[f"{key}.bytes_per_connected_client"] = round(m["traced_bytes"] / max(1, m["connected"]))
    if len(sizes) > 1:
        from reports.growth import exponent

        for arch in names:
            mine = [r for r in rows if r["arch"] == arch]
            ns = [r["clients"] for r in mine]
            # CPU seconds: on a shared machine, wall time also counts the neighbours
            figures[f"storm.{arch}.time_exponent"] = round(exponent(ns, [r["cpu_seconds"] for r in mine]), 3)
            figures[f"storm.{arch}.memory_exponent"] = round(exponent(ns, [r["traced_bytes"] for r in mine]), 3)
        # the per-client figures at the largest size, under the usual names
        for arch in names:
            figures[f"storm.{arch}.bytes_per_connected_client"] = figures[f"storm.{arch}.{sizes[-1]}.bytes_per_connected_client"]
    if plot is not None:
        from reports.growth import growth_plot

        figures["storm.plot"] = [str(p) for p in growth_plot(rows, plot)]
    figures["storm.rows"] = rows
    return figures
