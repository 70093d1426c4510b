"""Benchmark of ``check``: records per second, parsing included (DESIGN §10).

Beside the figure it measures, on the same bytes in the same process, a
baseline: a bare ``msgspec`` JSON decode of every line into generic objects
(no validation, no checking). Their ratio says how far checking is from
merely reading the file, whatever the machine's load.
"""

from __future__ import annotations

import gc
import random
import time

import msgspec

from sim.gcpause import gc_paused

import os

from .checkers import check_bytes_path
from .synth import reference_history, to_jsonl


def synthetic_bytes(target_ops: int = 1_000_000, seed: int = 1) -> bytes:
    """A valid history of about ``target_ops`` ops: 40 clients, 20 channels of
    10 members, every member connected throughout, some sends retried."""
    rng = random.Random(f"{seed}/bench-check")
    clients = [f"client-{i}" for i in range(40)]
    members = {f"C{j}": sorted(rng.sample(clients, 10)) for j in range(20)}
    sends = []
    n = 0
    while n < target_ops - 1000:
        ch = rng.choice(sorted(members))
        sender = rng.choice(members[ch])
        outcome = rng.choices(("ok", "fail", "info-applied", "info-lost", "info-retry-ok"), (88, 4, 3, 3, 2))[0]
        sends.append((sender, ch, outcome))
        n += 2 + (len(members[ch]) if outcome in ("ok", "info-applied") else 0) + \
            (2 + len(members[ch]) if outcome == "info-retry-ok" else 0)
    meta, ops = reference_history(members, sends)
    return to_jsonl(meta, ops)


def _best(f, repeat: int) -> float:
    """Best wall time of ``repeat`` calls; each result is dropped before the next."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_check(target_ops: int = 1_000_000, repeat: int = 2) -> dict:
    """``check.records_per_s`` (parse + index + every checker, best of
    ``repeat``) and ``check.baseline_decode_records_per_s`` with their ratio;
    ``check.path`` says which path answered (``checkers.check_bytes_path``)."""
    data = synthetic_bytes(target_ops)
    n = data.count(b"\n")  # records: the header and every op
    bare = msgspec.json.Decoder()

    def baseline():
        with gc_paused():  # the same favour parse_history gets
            return bare.decode_lines(data)

    results = []
    cpu = []

    def checked():
        c0 = time.process_time()
        results[:] = check_bytes_path(data, "bench")[1:]
        cpu.append(time.process_time() - c0)

    t_base, t_check = float("inf"), float("inf")
    for _ in range(repeat):  # interleaved, so load swings hit both alike
        t_base = min(t_base, _best(baseline, 1))
        t_check = min(t_check, _best(checked, 1))
    assert results[0]["valid"] is True, "the reference history must pass"
    return {"check.records": n, "check.path": results[1],  # "native" (C scanner + numpy) or "python"
            "check.records_per_s": round(n / t_check), "check.seconds": round(t_check, 3),
            "check.baseline_decode_records_per_s": round(n / t_base),
            "check.ratio_vs_bare_decode": round(t_base / t_check, 3),
            # CPU seconds of this process: what a quiet machine's wall time would be
            "check.records_per_cpu_s": round(n / min(cpu)), "check.load_average": round(os.getloadavg()[0], 2)}


def bench_growth(sizes=(100_000, 1_000_000, 4_000_000)):
    """``bench_check`` at each size (one repeat), yielded as measured: growth should be linear."""
    for s in sizes:
        yield {"ops": s, **bench_check(s, repeat=1)}


if __name__ == "__main__":  # pragma: no cover - a manual measurement: python -m invariants.bench
    import json
    import sys

    sizes = tuple(int(x) for x in sys.argv[1:]) or (100_000, 1_000_000, 4_000_000)
    for row in bench_growth(sizes):
        print(json.dumps(row), flush=True)
