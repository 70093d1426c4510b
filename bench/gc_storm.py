"""Where a checked storm run's collector time goes:

    python bench/gc_storm.py ARCH CLIENTS [MODE]

Times ``chatsim.api.run_one`` on the storm benchmark's scenario (CPU and wall
seconds, peak RSS) and, through ``gc.callbacks``, the CPU seconds spent in
the cyclic collector and its collections per generation. MODE: ``default``
(the code as it is), ``off`` (collector disabled for the whole process) or
``young`` (full collections never triggered: threshold 2 at 2**30).
"""

from __future__ import annotations

import gc
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(arch: str, clients: int, mode: str = "default") -> None:
    from chatsim.api import run_one, storm_scenario

    spent = [0.0, 0.0, 0.0]
    count = [0, 0, 0]
    started = [0.0]

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[info["generation"]] += time.process_time() - started[0]
            count[info["generation"]] += 1

    gc.callbacks.append(timer)
    if mode == "off":
        gc.disable()
    elif mode == "young":
        gc.set_threshold(700, 10, 1 << 30)
    elif mode != "default":
        sys.exit(f"unknown mode {mode!r} (default, off, young)")
    scn = storm_scenario(clients)
    with tempfile.TemporaryDirectory() as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        result = run_one(scn, arch, 1, Path(tmp))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    print(f"{arch} {clients} {mode}: cpu {cpu:.1f} s, wall {wall:.1f} s, peak RSS {rss} MB; "
          f"collector {sum(spent):.1f} s (young/middle/full {spent[0]:.2f}/{spent[1]:.2f}/{spent[2]:.2f} s, "
          f"{count[0]}/{count[1]}/{count[2]} collections); valid {result['valid']}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) not in (2, 3):
        sys.exit(__doc__)
    main(a[0], int(a[1]), *a[2:])
