"""Round 7 of the hostile-input review: inputs that still slipped past the
earlier rounds (a traceback, a hang, a fork storm, memory exhaustion, a
built-in shadowed by a directory), one literal test each. Each test failed
before its fix; the comment above its assertion says how."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hostile_helpers import TINY, assert_refused, chatsim, with_setting, write_scenario


def refused(capsys, tmp_path, *argv: str) -> str:
    out = tmp_path / "out"
    code, _, err = chatsim(capsys, *argv, "--out", str(out))
    assert_refused(code, err, out)
    return err


# -- scenario values ---------------------------------------------------------------
@pytest.mark.parametrize("settle", ["0", "1e-300"])
def test_a_zero_settle_is_refused_not_a_kernel_traceback(capsys, tmp_path, settle):
    p = write_scenario(tmp_path, with_setting(TINY, "workload", "settle", settle))
    # before: ValueError "until (2.0) must be greater than the current simulation time" from sim.run
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old", "--no-plots")
    assert "workload.settle" in err


def test_a_zero_settle_from_set_is_refused(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY)
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old", "--no-plots", "--set", "workload.settle=0")
    assert "workload.settle" in err


# -- files that are not files --------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def chatsim_bounded(tmp_path, *argv: str, memory: int = 3 << 30, timeout: float = 60):
    """The real entry point in a child with its address space capped, so an
    unbounded read fails the test (MemoryError or a timeout) instead of
    exhausting the machine."""
    import resource
    import subprocess
    import sys

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "chatsim", *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap)


@pytest.mark.parametrize("make", ["devzero", "fifo", "dir"])
def test_a_baseline_that_is_not_a_regular_file_is_refused_at_once(tmp_path, make):
    if make == "devzero":
        base = "/dev/zero"
    elif make == "fifo":
        base = str(tmp_path / "base.json")
        os.mkfifo(base)
    else:
        (tmp_path / "base.json").mkdir()
        base = str(tmp_path / "base.json")
    p = write_scenario(tmp_path, TINY)
    # before: /dev/zero was read until memory ran out, a FIFO blocked for ever (click's Path check passes both)
    r = chatsim_bounded(tmp_path, "regress", str(p), "--arch", "old", "--seeds", "1", "--workers", "1",
                        "--baseline", base, "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("chatsim: error: ") and base in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()


def test_an_oversized_baseline_is_refused(capsys, tmp_path):
    from chatsim.regress import MAX_BASELINE_BYTES

    base = tmp_path / "base.json"
    base.write_text(json.dumps({"format": "chatsim-regress-baseline/1", "pad": "x" * MAX_BASELINE_BYTES}))
    p = write_scenario(tmp_path, TINY)
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "old", "--seeds", "1", "--workers", "1",
                  "--baseline", str(base))
    assert "larger than" in err
