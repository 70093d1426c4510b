"""Record, then compare, the outputs of a fixed set of runs: the check that an
optimisation changed no behaviour (DESIGN §10; issue 15).

    python bench/histories.py record DIR     # before the change
    python bench/histories.py compare DIR    # after it: byte for byte

Each run is ``chatsim run SCENARIO --arch A --seed S --no-plots`` in a fresh
process (history.jsonl, journal.jsonl, result.json), over the scenarios below
× every registered architecture the scenario applies to × seeds 1-2, plus the
storm benchmark's scenario scaled to 300 clients (``storm-300``) per
architecture and seed 1. A scenario an architecture does not apply to fails
to wire (exit 2) and is left out, the same way in both modes. ``compare``
records into DIR.after and ``cmp``s every file; it exits 1 on any difference.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCENARIOS = ("steady", "crash-mid-send", "flaky-mobile", "partition-reconnect-storm", "redis-failover",
             "kafka-unclean-election", "shard-failover", "admin-server-crash")
SEEDS = (1, 2)
STORM_CLIENTS = 300
FILES = ("history.jsonl", "journal.jsonl", "result.json")


def _archs() -> list[str]:
    from sim import architectures

    return list(architectures.names())


def _storm(arch: str, out: Path) -> int:
    code = ("import sys; from pathlib import Path; from chatsim.api import run_one, storm_scenario; "
            f"run_one(storm_scenario({STORM_CLIENTS}), {arch!r}, 1, Path(sys.argv[1]))")
    return subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True).returncode


def _one(job: tuple[str, str, int], root: Path) -> tuple[str, int]:
    scenario, arch, seed = job
    out = root / f"{scenario}.{arch}.{seed}"
    if scenario.startswith("storm-"):
        out.mkdir(parents=True, exist_ok=True)
        return out.name, _storm(arch, out)
    rc = subprocess.run([sys.executable, "-m", "chatsim", "run", scenario, "--arch", arch, "--seed", str(seed),
                         "--out", str(out), "--no-plots"], capture_output=True).returncode
    return out.name, rc


def record(root: Path) -> dict[str, int]:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    jobs = [(s, a, k) for s in SCENARIOS for a in _archs() for k in SEEDS]
    jobs += [(f"storm-{STORM_CLIENTS}", a, 1) for a in _archs()]
    with ThreadPoolExecutor(2) as pool:
        codes = dict(pool.map(lambda j: _one(j, root), jobs))
    for name, rc in codes.items():
        if rc not in (0, 1):  # 1: an invariant failed, as some scenarios expect; 2: does not apply
            shutil.rmtree(root / name, ignore_errors=True)
    (root / "codes.json").write_text(json.dumps(codes, indent=1, sort_keys=True))
    return codes


def compare(root: Path) -> int:
    after = root.with_name(root.name + ".after")
    record(after)
    bad = []
    n = 0
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in FILES:
            a, b = d / f, after / d.name / f
            if not a.exists():
                continue
            n += 1
            if not b.exists() or not filecmp.cmp(a, b, shallow=False):
                bad.append(f"{d.name}/{f}")
    if not filecmp.cmp(root / "codes.json", after / "codes.json", shallow=False):
        bad.append("codes.json")
    print(f"{n} files compared, {len(bad)} differ" + "".join(f"\n  {b}" for b in bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "compare"):
        sys.exit("usage: histories.py record|compare DIR")
    if sys.argv[1] == "record":
        codes = record(Path(sys.argv[2]))
        print(f"{sum(1 for c in codes.values() if c in (0, 1))} runs recorded in {sys.argv[2]}")
    else:
        sys.exit(compare(Path(sys.argv[2])))
