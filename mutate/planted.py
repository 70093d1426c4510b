"""The bugs issue 18 names, planted one at a time: each must be killed.

usage: python mutate/planted.py [NAME ...]

Each entry below is a hand-made mutant (one exact text replacement in one
file) and the tests that must catch it. In a scratch copy of the working
tree (``build/mutate/planted/``) each is applied, its tests run (they must
fail), and the file restored; the named tests are first run on the
unmutated copy (they must pass). Prints one line per bug and exits 1 if a
planted bug survives or a test fails on the real code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BUILD, copy_tree  # noqa: E402

# name -> (file, exact text, replacement, tests that must fail)
PLANTED: dict[str, tuple[str, str, str, list[str]]] = {
    "rate-limit-never-applied": (
        "sim/architectures/new/webapp.py", "        if self.s.rate_limit:", "        if False:",
        ["tests/test_gaps_send.py::test_rate_limit_refuses_over_the_limit_per_window_and_clients_retry_after",
         "tests/test_send_webapp.py::test_the_rate_limit_admits_that_many_per_sender_in_any_second_and_refused"
         "_sends_do_not_count"]),
    "before-send-check-removed": (
        "invariants/checkers.py", "            if index < s.invoke:", "            if False:",
        ["tests/test_gaps_checkers.py::test_displayed_before_it_was_sent_is_before_send"]),
    "check-wiring-returns-at-once": (
        "sim/runner.py", "    check_specs(arch, faults)\n", "    return\n    check_specs(arch, faults)\n",
        ["tests/test_gaps_wiring.py"]),
    "kafka-replica-never-truncates": (
        "sim/nodes/kafka.py", "del log[min(end, epoch_end(log, epoch)):]", "pass",
        ["tests/test_gaps_nodes.py::test_after_an_unclean_election_the_old_leader_ends_with_the_new_leaders_log"]),
    "redis-dedupe-ignored": (
        "sim/architectures/new/webapp.py", '        key = f"dedupe:{post.channel}:{post.msg}"\n        if self.s.dedupe:',
        '        key = f"dedupe:{post.channel}:{post.msg}"\n        if False:',
        ["tests/test_send_webapp.py"]),
    "fail-recorded-as-unknown": (
        "sim/nodes/client.py", "            if p.maybe_applied:", "            if True:",
        ["tests/test_send_client.py", "tests/test_gaps_send.py::test_definite_api_errors_are_recorded_fail_after_one"
                                      "_attempt"]),
}


def pytest(workdir: Path, tests: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(workdir)}  # the copy's packages before the editable install
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", "-p", "no:cacheprovider",
                           *tests], cwd=workdir, env=env, capture_output=True).returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(PLANTED)}")
    names = ap.parse_args().names or list(PLANTED)
    unknown = sorted(set(names) - set(PLANTED))
    if unknown:
        print(f"unknown planted bug(s): {', '.join(unknown)} (known: {', '.join(PLANTED)})", file=sys.stderr)
        return 2
    workdir = BUILD / "planted"
    workdir.mkdir(parents=True, exist_ok=True)
    copy_tree(workdir)
    bad = 0
    for name in names:
        path, old, new, tests = PLANTED[name]
        src = workdir / path
        text = src.read_text()
        if text.count(old) != 1:
            print(f"{name}: the text to mutate is not found exactly once in {path}", file=sys.stderr)
            return 2
        if pytest(workdir, tests) != 0:
            print(f"{name}: FAILS ON THE REAL CODE ({' '.join(tests)})")
            bad += 1
            continue
        try:
            src.write_text(text.replace(old, new))
            killed = pytest(workdir, tests) != 0
        finally:
            src.write_text(text)
        bad += not killed
        print(f"{name}: {'killed' if killed else 'SURVIVED'} (judged by {' '.join(tests)})", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
