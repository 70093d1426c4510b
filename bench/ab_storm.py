"""Interleaved A/B timing of one checked storm run between two source trees:

    python bench/ab_storm.py TREE_A TREE_B ARCH CLIENTS [PAIRS]

Each run is a fresh process (``PYTHONPATH=TREE``) timing ``run_one`` of the
storm benchmark's scenario in its own CPU seconds; A and B alternate, and
the median of the paired ratios B / A is reported with its min and max.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

CODE = """
import json, sys, tempfile, time
from pathlib import Path
from chatsim.api import run_one, storm_scenario
scn = storm_scenario(int(sys.argv[2]))
with tempfile.TemporaryDirectory() as tmp:
    c0 = time.process_time()
    run_one(scn, sys.argv[1], 1, Path(tmp) / "r")
    print(json.dumps(time.process_time() - c0))
"""


def once(tree: str, arch: str, clients: int) -> float:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CODE, arch, str(clients)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main(a: str, b: str, arch: str, clients: int, pairs: int = 3) -> None:
    rows = []
    for _ in range(pairs):
        ta, tb = once(a, arch, clients), once(b, arch, clients)
        rows.append((ta, tb))
        print(f"A {ta:.2f} s  B {tb:.2f} s  B/A {tb / ta:.3f}", flush=True)
    ratios = [tb / ta for ta, tb in rows]
    print(f"{arch} {clients}: B/A median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {pairs} pairs)")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], int(a[3]), int(a[4]) if len(a) > 4 else 3)
