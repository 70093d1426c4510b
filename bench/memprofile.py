"""Where a connected client's bytes go: the storm benchmark's idle probe
(``chatsim.api.storm_one``: no faults, no sends, until every client is
connected) under tracemalloc, the live allocations grouped by source line,
per connected client.

Before the snapshot the interpreter's free lists are emptied (``gc.collect()``
does it; it finds no garbage here): tuples, floats, lists and dicts freed
during the run wait there for reuse, bounded in number (2,000 tuples of each
small size, ...), and tracemalloc still counts them at the line that first
allocated them — ~360 B "per client" at 1k clients, a fixed cost that
scattered itself over ``Link(...)``, closures and timer tuples. Both totals
are printed: the raw one (what ``chatsim bench`` reports) and the one
without the free lists.

    python bench/memprofile.py ARCH [CLIENTS] [TOP]
"""

from __future__ import annotations

import sys
import tempfile
import tracemalloc
from pathlib import Path


def main(arch: str, clients: int = 2000, top: int = 30) -> None:
    from chatsim.api import IDLE_RATE, STORM_PROBE_FROM, storm_scenario
    from sim.runner import run

    scn = storm_scenario(clients, IDLE_RATE)
    seen = {}

    def probe(sim):
        nodes = [n for n in sim.nodes.values() if n.role == "client"]
        while sum(1 for n in nodes if n.usable) < len(nodes) and sim.env.now < 900:
            sim.env.run(until=sim.env.now + 1.0)
        seen["raw"] = tracemalloc.get_traced_memory()[0]
        import gc
        gc.collect()  # empties the free lists (see above)
        seen["snap"] = tracemalloc.take_snapshot()
        seen["connected"] = sum(1 for n in nodes if n.usable)

    tracemalloc.start(1)
    base = tracemalloc.take_snapshot()
    raw0 = tracemalloc.get_traced_memory()[0]
    with tempfile.TemporaryDirectory() as tmp:
        run(scenario=scn.name, seed=1, cfg=scn.run_config(arch), faults=[], out=Path(tmp) / "h.jsonl",
            probe_at=STORM_PROBE_FROM, probe=probe, journal=False)
    tracemalloc.stop()
    n = seen["connected"]
    stats = seen["snap"].compare_to(base, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"{arch}: {n} connected, {total / n:.0f} B per connected client without the free lists, "
          f"{(seen['raw'] - raw0) / n:.0f} B with them")
    for s in stats[:top]:
        f = s.traceback[0]
        print(f"{s.size_diff / n:8.0f} B {s.count_diff / n:6.2f} obj  {f.filename.split('site-packages/')[-1].split('wt-perf/')[-1]}:{f.lineno}")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], int(a[1]) if len(a) > 1 else 2000, int(a[2]) if len(a) > 2 else 30)
