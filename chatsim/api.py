"""The library the command line calls (DESIGN §1, §8): one run of a
scenario under an architecture, checked, with its metrics and result.json;
the storm benchmark. The CLI parses, calls this and prints; tests call it too.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sim import architectures
from sim.errors import ChatsimError, WiringError
from sim.gcpause import gc_paused

MSG_ID = re.compile(r"client-[0-9]{1,7}:[0-9]{1,9}")


@contextmanager
def staged_output(final: Path) -> Iterator[Path]:
    """All-or-nothing output: yield a fresh temporary directory beside
    ``final`` (same file system); when the block ends normally, move every
    file in it to the same relative path under ``final``; when it raises —
    a bad input found late, Ctrl-C, SIGTERM — delete it, and any parent
    directories this call created, so nothing is left half-written.

    ``final`` is checked first (before any run): it must be a directory or
    not exist, its nearest existing ancestor a writable directory. Existing
    files under ``final`` are replaced one by one (``os.replace``), never the
    directory as a whole: ``--out`` may name a directory holding other files."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise ChatsimError(f"--out {final}: exists and is not a directory")
    ancestor = final.parent
    missing = []
    while not ancestor.exists():
        missing.append(ancestor)
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ChatsimError(f"--out {final}: {ancestor} is not a directory")
    try:
        for d in reversed(missing):
            d.mkdir()
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name[:40]}.", suffix=".part", dir=final.parent))
    except OSError as e:
        _remove_empty(missing)
        raise ChatsimError(f"--out {final}: cannot write there: {e.strerror}") from None
    try:
        yield tmp
        _commit(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(missing)
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def _commit(tmp: Path, final: Path) -> None:
    """Move ``tmp``'s files under ``final``; every destination is checked
    before the first move, so a clash (a file where a directory goes, or the
    reverse) moves nothing."""
    files = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if not p.is_dir())
    for rel in files:
        dest = final / rel
        if dest.is_dir():
            raise ChatsimError(f"--out {final}: {dest} is a directory where a file goes")
        for parent in list(rel.parents)[:-1]:
            if (final / parent).exists() and not (final / parent).is_dir():
                raise ChatsimError(f"--out {final}: {final / parent} is a file where a directory goes")
    try:
        final.mkdir(exist_ok=True)
        for rel in files:
            (final / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, final / rel)
    except OSError as e:
        raise ChatsimError(f"--out {final}: cannot write there: {e.strerror}") from None


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # innermost first
        try:
            d.rmdir()
        except OSError:
            return


def default_out(*parts: str) -> Path:
    """``runs/<parts...>``: the default output of a command. Names are
    validated to a safe set already; this refuses anything that would still
    leave ``runs/`` (an absolute part, ``..``)."""
    runs = Path("runs")
    path = runs.joinpath(*parts)
    if any(p in ("", ".", "..") or "/" in p or "\\" in p or p.startswith("/") for p in parts) \
            or not path.resolve().is_relative_to(runs.resolve()):
        raise ChatsimError(f"output name {'/'.join(parts)!r} would leave runs/; give --out")
    return path


def run_one(scn, arch: str, seed: int, out_dir: Path, plots: bool = False, journal: bool = True) -> dict:
    """Run one architecture on a scenario; write history.jsonl, journal.jsonl,
    result.json and (with ``plots``) timeline.png / timeline.svg.

    ``journal=False`` keeps no per-message journal (a farm's small runs do not
    pay for it): no journal.jsonl, and the network figures count nothing."""
    from invariants.checkers import check_run_file
    from reports.metrics import run_metrics_bytes
    from sim.runner import run

    cfg = scn.run_config(arch)
    faults = scn.fault_specs(arch)
    # The collector stays paused (sim.gcpause) while the simulation is alive:
    # the journal and summaries below allocate enough to trigger collections
    # that would walk the whole simulation for nothing.
    with gc_paused():
        try:
            output = run(scenario=scn.name, seed=seed, cfg=cfg, faults=faults, out=out_dir / "history.jsonl",
                         journal=journal)
        except WiringError as e:
            raise WiringError(f"{scn.source}: {e}") from None
        if journal:
            output.write_journal(out_dir / "journal.jsonl")
        # Take what the result needs from the simulation, then let it go before
        # checking: the checker and the metrics reuse its memory, so a large run
        # peaks at the larger of the two phases instead of their sum. The
        # simulation is a web of cycles (nodes, network, processes, events), so
        # only a collection frees it.
        history, end_time = output.history, output.end_time
        network, backend = output.network_summary(), output.backend()
        del output
        gc.collect()
    # The history is read whole only for the native checker; the reference
    # path (a violation) and the metrics read the file a block at a time, so
    # a large run's check does not hold the whole history beside its index.
    _meta, verdict = check_run_file(history)
    metrics = run_metrics_bytes(history, network, backend=backend,
                                workload_end=scn.workload.duration + scn.workload.settle)
    metrics["simulated_seconds"] = round(end_time, 6)
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


def matches_expected(verdict: dict, expected: dict) -> bool:
    """Every invariant as the scenario expects ("maybe" accepts either)."""
    return all(want == "maybe" or verdict["invariants"][name]["valid"] == want for name, want in expected.items())


def explain_msg(out_dir: Path, msg: str) -> Path:
    from reports import plots as P
    from reports.data import load_run

    check_msg_id(msg)
    run = load_run(out_dir)
    if not any(op.value.get("msg") == msg for op in run.ops):
        raise ChatsimError(f"--explain: no message {msg!r} in this run (ids look like client-1:4)")
    return P.save(P.message_diagram(run, msg), out_dir / f"explain-{msg.replace(':', '_')}")[0]


def check_msg_id(msg: str) -> str:
    """A message id as chatsim writes them (``client-<n>:<k>``), or a one-line error."""
    if not MSG_ID.fullmatch(msg):
        raise ChatsimError(f"--explain {msg[:80]!r}: not a message id (ids look like client-1:4)")
    return msg


STORM_SIZES = (1_000, 10_000, 100_000)
# The memory of a connected client is read on an idle copy of the storm: no
# faults, sends so rare that none happens (state that grows with messages —
# logs, dedupe keys, seen sets — is not per-client cost), from 8 s on at the
# first whole second when every client is connected. The boot wave takes
# longer the more clients there are (a third of 10k are connected at 8 s,
# all by ~25 s), so a fixed probe time either charged booting clients to the
# connected ones or, later in a busy run, messages to clients.
STORM_PROBE_FROM = 8.0
STORM_PROBE_UNTIL = 900.0  # give up waiting for stragglers here (reported: connected_at_probe)
IDLE_RATE = 1e-9  # sends per second per client: the first would come after ~30 years


STORM_CLIENTS_PER_DEPLOYMENT = 10_000


def storm_scenario(clients: int, rate: float = 0.02):
    """The partition-reconnect-storm scaled to ``clients`` (40 in us-east, the
    rest in eu-west, channels of ~15 members, a light workload) — and its
    deployment with it: per started 10,000 clients, one more share of web-app
    workers, channel servers and edge hosts (Flannel, gateways). Each size is
    then the same system per client, so the growth exponents measure the
    simulator, not a backend pushed past its capacity: with a fixed backend
    the old design's reconnect storm never recovers at 30k clients (the web
    app's queue outlives the clients' timeouts, every answer is already
    abandoned — a metastable failure worth a scenario of its own)."""
    from scenarios.loader import _validate, load_raw

    raw, _ = load_raw("partition-reconnect-storm")
    raw["topology"]["clients"][1]["count"] = clients - raw["topology"]["clients"][0]["count"]
    raw["topology"]["auto_channels"] = max(40, clients // 15)  # channels of ~15 members
    raw["workload"]["rate"] = rate
    k = -(-clients // STORM_CLIENTS_PER_DEPLOYMENT)
    if k > 1:  # up to 10k clients the scenario's own deployment, unchanged
        raw.setdefault("old", {}).update(webapp_workers=32 * k, channel_servers=k)
        raw.setdefault("new", {}).update(webapps=min(64, 3 * k), channel_servers=2 * k,
                                          flannel={"hosts_per_region": min(16, 2 * k)})
        raw.setdefault("rt2023", {}).update(webapps=min(64, 3 * k), admin_servers=min(64, 2 * k),
                                             channel_servers=3 * k, gateway={"hosts_per_region": min(16, k)})
    # past the size caps on purpose (100k clients): the benchmark is --allow-large
    return _validate(raw, f"--storm {clients}", allow_large=True)


def storm_one(clients: int, arch: str) -> dict:
    """One storm measurement, meant to run in a fresh process (so its peak RSS
    is its own): a full checked run timed (wall and CPU seconds, peak RSS),
    then the idle copy (see ``STORM_PROBE_FROM``) under tracemalloc until
    every client is connected, for the bytes each connected client holds
    (live memory: read after a full collection)."""
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
            nodes = [n for n in sim.nodes.values() if n.role == "client"]
            while sum(1 for n in nodes if n.usable) < len(nodes) and sim.env.now < STORM_PROBE_UNTIL:
                sim.env.run(until=sim.env.now + 1.0)
            # live memory only: a full collection first frees the cycles left
            # while the collector is paused (sim.gcpause) and empties CPython's
            # free lists (blocks of objects already freed, kept for reuse,
            # which tracemalloc still counts): ~300-450 B a client at 1k that
            # no client holds
            gc.collect()
            seen["bytes"] = tracemalloc.get_traced_memory()[0]
            seen["connected"] = sum(1 for n in nodes if n.usable)
            seen["at"] = sim.env.now

        idle = storm_scenario(clients, IDLE_RATE)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        run(scenario=idle.name, seed=1, cfg=idle.run_config(arch), faults=[], out=Path(tmp) / "probe.jsonl",
            probe_at=STORM_PROBE_FROM, probe=probe, journal=False)  # the journal logs messages, not clients
        tracemalloc.stop()
    return {"wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_bytes": rss, "connected": seen["connected"],
            "probe_at": seen["at"], "traced_bytes": seen["bytes"] - base}


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
    for n in sizes:  # a size past the settings' bounds is bad input here, not a traceback from the pool
        storm_scenario(n)
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
                figures[f"{key}.probe_at"] = m["probe_at"]
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


NEW_VS_OLD_SCENARIOS = ("crash-mid-send", "steady")


def _small_scenario(scenario: str, idle: bool):
    """A built-in scenario, or (``idle``) the same system with no faults and
    sends so rare that none happens: what the design costs doing nothing."""
    from scenarios.loader import _validate, load_raw, load_scenario

    if not idle:
        return load_scenario(scenario)
    raw, _ = load_raw(scenario)
    raw["workload"]["rate"] = IDLE_RATE
    raw.pop("faults", None)
    return _validate(raw, f"{scenario} (idle)", allow_large=True)


def _small_run(scenario: str, arch: str, seed: int, idle: bool, tmp: str, clock=None):
    """One in-process run (simulation and history, no journal, no checking);
    with ``clock``, the run alone is timed by it: ``(output, seconds)``."""
    from sim.runner import run

    scn = _small_scenario(scenario, idle)
    cfg, faults = scn.run_config(arch), scn.fault_specs(arch)
    t0 = clock() if clock else 0.0
    out = run(scenario=scn.name, seed=seed, cfg=cfg, faults=faults, out=Path(tmp) / "h.jsonl", journal=False)
    return out, (clock() - t0 if clock else 0.0)


def small_run_seconds(scenario: str, arch: str, seed: int = 1, idle: bool = False) -> float:
    """CPU seconds of one in-process run of a built-in scenario: what
    exploring schedules pays per run. ``idle``: the same system doing
    nothing (``_small_scenario``)."""
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        return _small_run(scenario, arch, seed, idle, tmp, time.process_time)[1]


def small_run_counts(scenario: str, arch: str, seed: int = 1, idle: bool = False) -> dict:
    """Exact counts of one in-process run: SimPy events scheduled (every
    event pushed draws an id), network messages sent (every message draws an
    id) and sends invoked (``invoke`` ops: a retry counts again) — units no
    neighbour's load can move."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out, _ = _small_run(scenario, arch, seed, idle, tmp)
        sends = out.history.read_bytes().count(b'"type":"invoke","f":"send"')
        return {"events": next(out.sim.env._eid), "messages": next(out.sim.network._ids), "sends": sends}


def small_run_events(scenario: str, arch: str, seed: int = 1) -> int:
    """SimPy events scheduled by one in-process run of a built-in scenario."""
    return small_run_counts(scenario, arch, seed)["events"]


def bench_new_vs_old(pairs: int = 5, scenarios=NEW_VS_OLD_SCENARIOS) -> dict:
    """``run.new_vs_old``: a small run's CPU time, new ÷ old, per scenario,
    interleaved (target ≤ 2); pair ``k`` runs seed ``k + 1`` in both halves.
    The headline figure is the worst scenario's. Beside it, what it is made
    of: ``run.<scenario>.idle_new_vs_old`` (the same systems doing nothing,
    interleaved the same way: what the designs cost to keep running) and,
    exact, seed 1's SimPy events and the network messages each design sends
    per send invoke beyond its idle traffic (``messages_per_send``; the idle
    run has no faults, so a scenario's recovery traffic counts as sending)."""
    from sim.bench import paired, spread

    figures: dict = {}
    for name in scenarios:
        small_run_seconds(name, "old"), small_run_seconds(name, "new")  # imports, caches
        p = paired(lambda k: small_run_seconds(name, "old", k + 1),
                   lambda k: small_run_seconds(name, "new", k + 1), pairs)
        figures[f"run.{name}.old_seconds"] = round(p["a_seconds"], 4)
        figures[f"run.{name}.new_seconds"] = round(p["b_seconds"], 4)
        figures.update(spread(f"run.{name}.new_vs_old", p, 2))
        idle = paired(lambda k: small_run_seconds(name, "old", k + 1, idle=True),
                      lambda k: small_run_seconds(name, "new", k + 1, idle=True), pairs)
        figures[f"run.{name}.idle_old_seconds"] = round(idle["a_seconds"], 4)
        figures[f"run.{name}.idle_new_seconds"] = round(idle["b_seconds"], 4)
        figures.update(spread(f"run.{name}.idle_new_vs_old", idle, 2))
        for arch in ("old", "new"):
            busy, still = small_run_counts(name, arch), small_run_counts(name, arch, idle=True)
            figures[f"run.{name}.{arch}_events"] = busy["events"]
            figures[f"run.{name}.{arch}_messages"] = busy["messages"]
            figures[f"run.{name}.{arch}_idle_messages"] = still["messages"]
            figures[f"run.{name}.{arch}_messages_per_send"] = round(
                (busy["messages"] - still["messages"]) / max(1, busy["sends"]), 1)
        figures[f"run.{name}.events_new_vs_old"] = round(figures[f"run.{name}.new_events"]
                                                         / figures[f"run.{name}.old_events"], 2)
        figures[f"run.{name}.messages_per_send_new_vs_old"] = round(
            figures[f"run.{name}.new_messages_per_send"] / figures[f"run.{name}.old_messages_per_send"], 2)
    worst = max(scenarios, key=lambda s: figures[f"run.{s}.new_vs_old"])
    figures["run.new_vs_old"] = figures[f"run.{worst}.new_vs_old"]
    figures["run.new_vs_old.scenario"] = worst
    figures["run.idle_new_vs_old"] = max(figures[f"run.{s}.idle_new_vs_old"] for s in scenarios)
    return figures
