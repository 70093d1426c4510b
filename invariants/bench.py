"""Benchmark of ``check``: records per second, parsing included (DESIGN §10)."""

from __future__ import annotations

import random
import time

from sim.history import parse_history

from .checkers import check
from .synth import reference_history, to_jsonl


def synthetic_bytes(target_ops: int = 1_000_000, seed: int = 1) -> bytes:
    rng = random.Random(f"{seed}/bench-check")
    clients = [f"client-{i}" for i in range(40)]
    members = {f"C{j}": sorted(rng.sample(clients, 10)) for j in range(20)}
    sends = []
    n = 0
    while n < target_ops - 1000:
        ch = rng.choice(sorted(members))
        sender = rng.choice(members[ch])
        outcome = rng.choices(("ok", "fail", "info-applied", "info-lost"), (90, 4, 3, 3))[0]
        sends.append((sender, ch, outcome))
        n += 2 + (len(members[ch]) if outcome in ("ok", "info-applied") else 0)
    meta, ops = reference_history(members, sends)
    return to_jsonl(meta, ops)


def bench_check(target_ops: int = 1_000_000, repeat: int = 2) -> dict:
    data = synthetic_bytes(target_ops)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        h = parse_history(data, "bench", slim=True)
        result = check(h)
        best = min(best, time.perf_counter() - t0)
    assert result["valid"] is True, "the reference history must pass"
    n = len(h.ops) + 1
    return {"check.records": n, "check.records_per_s": round(n / best), "check.seconds": round(best, 3)}
