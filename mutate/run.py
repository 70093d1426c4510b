"""``make mutate``: mutation testing with mutmut, one group at a time.

usage: python mutate/run.py GROUP [GROUP ...] [--max-children N] [--fresh | --survivors]

Each group (``invariants``, ``send``) has its mutmut configuration beside
this file (``mutate/<group>.cfg``: what to mutate, which tests judge it).
mutmut reads one configuration per project directory, so each group runs in
its own copy of the tree under ``build/mutate/<group>/`` (the working tree,
not the last commit; ``--fresh`` starts it over, otherwise mutmut resumes
and re-tests only what changed; ``--survivors`` re-tests only the last
run's survivors, after tests were added). The summary prints, per group, the
mutants killed, survived and not covered by any selected test, the score
(killed / all, timeouts counted as killed: the mutant hung the code) and the
surviving mutants by name; ``mutmut show NAME`` in the group's directory
shows one. Scores and the survivors judged equivalent are in
docs/testing.md.

A group may score only some functions of a file (``SCORED``): the send
group mutates the whole client module but scores its send bookkeeping, the
part of the client that is on the send path.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutate"
SKIP = {".venv", "runs", "build", "mutants", ".git", "__pycache__", ".hypothesis", ".pytest_cache"}

# group -> module -> the functions whose mutants count toward the score (None: all of the module)
SCORED: dict[str, dict[str, set[str] | None]] = {
    "invariants": {"invariants.checkers": None, "invariants.index": None},
    "send": {
        "sim.architectures.old.channel_server": None,
        "sim.architectures.new.webapp": None,
        "sim.nodes.client": {"new_send", "acked", "failed", "finish", "display"},
        "sim.architectures.new.client": {"transmit", "post_loop"},
    },
}
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def copy_tree(dst: Path) -> None:
    """The working tree into ``dst``, replacing stale copies of changed files."""
    for src in sorted(ROOT.rglob("*")):
        rel = src.relative_to(ROOT)
        if SKIP & set(rel.parts) or src.is_dir():
            continue
        out = dst / rel
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)


MUTANT = re.compile(r"^(?P<module>.*?)\.x(?:ǁ(?P<cls>[^ǁ]+)ǁ|_)(?P<func>.+?)__mutmut_\d+$")


def mutant_function(name: str) -> tuple[str, str]:
    """``sim.nodes.client.xǁClientǁacked__mutmut_3`` -> (``sim.nodes.client``, ``acked``);
    ``invariants.checkers.x__result__mutmut_1`` -> (``invariants.checkers``, ``_result``)."""
    m = MUTANT.match(name)
    return (m["module"], m["func"]) if m else (name, "")


def results(workdir: Path) -> dict[str, str]:
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=workdir, capture_output=True, text=True,
                         check=True).stdout
    got = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            got[name] = status
    return got


def summarize(group: str, statuses: dict[str, str]) -> tuple[float, list[str]]:
    scored = SCORED[group]
    counted: Counter = Counter()
    survivors = []
    for name, status in sorted(statuses.items()):
        module, func = mutant_function(name)
        funcs = scored.get(module, set())
        if funcs is not None and func not in funcs:
            continue
        counted[status] += 1
        if status not in KILLED:
            survivors.append(f"{name}: {status}")
    total = sum(counted.values())
    killed = sum(n for s, n in counted.items() if s in KILLED)
    score = killed / total if total else 0.0
    print(f"\n== {group}: {killed}/{total} killed = {score:.1%}  ({dict(sorted(counted.items()))})")
    for s in survivors:
        print("   ", s)
    return score, survivors


def patterns(group: str) -> list[str]:
    """mutmut's mutant-name globs for the scored functions (none: every mutant)."""
    scored = SCORED[group]
    if all(funcs is None for funcs in scored.values()):
        return []
    out = []
    for module, funcs in scored.items():
        out += [f"{module}.*"] if funcs is None else [f"{module}.x*{f}__mutmut_*" for f in sorted(funcs)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("groups", nargs="+", choices=sorted(SCORED))
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--fresh", action="store_true", help="start each group over (drop mutmut's state)")
    ap.add_argument("--survivors", action="store_true",
                    help="re-test only the mutants that survived last time (after adding tests)")
    args = ap.parse_args()
    mutmut = Path(sys.executable).with_name("mutmut")
    for group in args.groups:
        workdir = BUILD / group
        if args.fresh:
            shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        copy_tree(workdir)
        shutil.copy2(ROOT / "mutate" / f"{group}.cfg", workdir / "setup.cfg")
        print(f"mutmut: {group} in {workdir}", flush=True)
        names = patterns(group)
        if args.survivors and (workdir / "mutants").exists():
            names = [n for n, status in results(workdir).items() if status not in KILLED and status != "not checked"]
            if not names:
                summarize(group, results(workdir))
                continue
        run = subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children), *names], cwd=workdir)
        if run.returncode not in (0, 1):
            print(f"mutmut run failed for {group} (exit {run.returncode})", file=sys.stderr)
            return 2
        summarize(group, results(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
