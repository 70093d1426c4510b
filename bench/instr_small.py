"""Exact instruction counts of a small run, for A/B between trees.

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        python bench/instr_small.py SCENARIO ARCH RUNS

runs one warm-up and then RUNS runs of seed 1 (simulation and history, no
journal: ``chatsim.api.small_run_seconds``). The instructions of one run are
(count at RUNS=3 - count at RUNS=1) / 2: imports and the warm-up cancel out.
``bench/instr_small.sh TREE SCENARIO ARCH`` does the subtraction."""

import sys

from chatsim.api import small_run_seconds

scenario, arch, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(runs + 1):
    small_run_seconds(scenario, arch, 1)
