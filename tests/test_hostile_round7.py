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


# -- many runs: sizes that exhaust the machine ----------------------------------------
def test_a_comma_list_of_seed_ranges_is_capped_as_a_whole(capsys, tmp_path):
    seeds = ",".join(f"{i * 100_000}..{i * 100_000 + 99_999}" for i in range(50))
    p = write_scenario(tmp_path, TINY)
    # before: 5,000,000 runs planned and started (each range was under the cap of 100,000)
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "old", "--workers", "1", "--seeds", seeds)
    assert "at most 100000 seeds" in err


def test_parse_seeds_cap_counts_distinct_seeds():
    from chatsim.tasks import MAX_SEEDS, parse_seeds

    assert len(parse_seeds(f"1..{MAX_SEEDS},1..{MAX_SEEDS}")) == MAX_SEEDS  # the same seeds twice: fine
    with pytest.raises(Exception, match="at most"):
        parse_seeds(f"0..{MAX_SEEDS - 1},{MAX_SEEDS}")


def test_an_explore_budget_past_the_cap_is_refused_before_planning(capsys, tmp_path):
    import time

    p = write_scenario(tmp_path, TINY)
    t0 = time.perf_counter()
    # before: every plan of 10**20 runs was drawn into a list first (no output, memory growing)
    err = refused(capsys, tmp_path, "explore", str(p), "--arch", "old", "--workers", "1",
                  "--budget", str(10**20))
    assert "--budget 100000000000000000000: expected 1 to 1,000,000 runs" in err
    assert time.perf_counter() - t0 < 5


def test_a_shrink_budget_past_the_cap_is_refused(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY)
    err = refused(capsys, tmp_path, "explore", str(p), "--arch", "old", "--workers", "1",
                  "--shrink-budget", str(10**12))
    assert "--shrink-budget" in err


@pytest.mark.parametrize("command", [("explore", "--budget", "1"), ("crashpoints", "--nth", "1"), ("regress", "--seeds", "1")])
def test_a_worker_count_past_the_cap_is_refused_before_any_worker_starts(capsys, tmp_path, monkeypatch, command):
    import chatsim.tasks as T

    started = []
    monkeypatch.setattr(T.LocalPool, "_start_worker", lambda self: started.append(1) or 1 / 0)
    p = write_scenario(tmp_path, TINY)
    # before: --workers 100000 started 100,000 processes (the machine's process table, not the runs, decided)
    err = refused(capsys, tmp_path, command[0], str(p), "--arch", "old", *command[1:], "--workers", "100000")
    assert "--workers 100000: expected 1 to 256 worker processes" in err and not started


def test_a_local_pool_starts_no_more_workers_than_tasks():
    from chatsim.tasks import LocalPool, Task, TaskResult

    with LocalPool(8, run=_echo) as pool:
        got = list(pool.map([Task(scenario="x", raw={}, arch="old", seed=s) for s in (1, 2)]))
        # before: all 8 started for 2 tasks
        assert len(pool._procs) == 2
    assert sorted(r.seed for _, r in got) == [1, 2] and all(isinstance(r, TaskResult) for _, r in got)


def _echo(task):
    from chatsim.tasks import TaskResult

    return TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed)


# -- scenario names ----------------------------------------------------------------------
def test_a_directory_named_like_a_builtin_does_not_hide_it(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "steady").mkdir()  # what `chatsim run steady --arch old --out steady` leaves
    from scenarios.loader import load_raw

    # before: "steady: not a regular file (a scenario must be a .toml file)"
    raw, where = load_raw("steady")
    assert raw["name"] == "steady" and where == "steady.toml"


def test_a_builtin_name_cannot_climb_out_of_the_builtins(capsys, tmp_path, monkeypatch):
    from scenarios.loader import BUILTIN_DIR

    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    write_scenario(tmp_path, TINY.replace('name = "tiny"', 'name = "elsewhere"'), "elsewhere.toml")
    ref = os.path.relpath(tmp_path / "elsewhere", BUILTIN_DIR)  # ../../../tmp/.../elsewhere: no such path here
    assert not Path(ref).exists()
    # before: read as the built-in BUILTIN_DIR/<ref>.toml, i.e. tmp_path/elsewhere.toml, and run
    err = refused(capsys, tmp_path, "run", ref, "--arch", "old", "--no-plots")
    assert "unknown scenario" in err


def test_a_scenario_name_too_long_for_the_file_system_says_what_it_is(capsys, tmp_path):
    err = refused(capsys, tmp_path, "run", "a" * 5000, "--arch", "old")
    # before: the 5,000-character name, then ": File name too long"
    assert "cannot read: File name too long" in err and len(err) < 300


# -- a newcomer's first commands ---------------------------------------------------------
def test_bare_chatsim_prints_readable_help_and_one_error_line(capsys):
    code, out, err = chatsim(capsys)
    # before: the whole help squeezed onto one stderr line ("chatsim: error: Usage: chatsim [OPTIONS] ...")
    assert_refused(code, err, None)
    assert err == "chatsim: error: give a command (listed above)\n"
    assert out.startswith("Usage: chatsim") and "\n  run " in out and "\n  explore " in out


# -- sweeps ------------------------------------------------------------------------------
def test_a_sweep_value_true_is_not_the_number_one(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY + '\n[sweep]\nkey = "workload.rate"\nvalues = [true, 2]\n')
    # before: ran at rate 1.0, as the point "rate=1.0"
    err = refused(capsys, tmp_path, "sweep", str(p))
    assert "workload.rate: expected a number, not true" in err


def test_a_sweep_of_a_boolean_setting_sets_true_and_false(tmp_path):
    from scenarios import load_scenario

    p = write_scenario(tmp_path, TINY + '\n[sweep]\nkey = "new.kafka.unclean_election"\nvalues = [true, false]\n')
    # before: the points were "unclean_election=1.0" and "unclean_election=0.0"
    assert load_scenario(str(p)).points() == [("unclean_election=true", ["new.kafka.unclean_election=true"]),
                                              ("unclean_election=false", ["new.kafka.unclean_election=false"])]


# -- signals -----------------------------------------------------------------------------
def test_ctrl_c_while_the_command_line_imports_is_one_line(capsys, monkeypatch):
    import sys

    import chatsim

    class CtrlC:  # a finder that is "interrupted" while chatsim.cli is being imported
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "chatsim.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "chatsim.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlC, *sys.meta_path])
    # before: a KeyboardInterrupt traceback (Ctrl-C in the first half second of any command)
    with pytest.raises(SystemExit) as e:
        chatsim.main(["scenarios"])
    assert e.value.code == 130
    assert capsys.readouterr().err == "chatsim: interrupted (SIGINT) while starting; nothing was written\n"


# -- the pytest plugin -------------------------------------------------------------------
pytest_plugins = ["pytester"]


@pytest.mark.parametrize("argv, words", [
    (("--chatsim-scenarios", "scn", "--chatsim-arch", ","), "--chatsim-arch ',': expected a comma list"),
    (("--chatsim-scenarios", ""), "--chatsim-scenarios '': an empty path"),
])
def test_plugin_options_that_would_run_nothing_are_usage_errors(pytester, argv, words):
    (pytester.path / "scn").mkdir()
    (pytester.path / "scn" / "tiny.toml").write_text(TINY)
    pytester.makepyfile("def test_x(): pass")
    r = pytester.runpytest(*argv, "-p", "no:xdist", "-p", "no:cacheprovider")
    # before: "1 passed" — no scenario item collected, the suite green
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines([f"*{words}*"])


# -- regress's output files --------------------------------------------------------------
@pytest.mark.parametrize("option", ["--junit", "--write-baseline"])
def test_a_regress_output_that_is_a_fifo_or_device_is_refused_before_any_run(capsys, tmp_path, option):
    import stat

    fifo = tmp_path / "junit.xml"
    os.mkfifo(fifo)  # stands in for /dev/null, which the test must not risk
    p = write_scenario(tmp_path, TINY)
    # before: exit 0 after the runs, the FIFO renamed over by a regular file (as root, --junit
    # /dev/null replaced the machine's /dev/null with a file)
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "old", "--seeds", "1", "--workers", "1",
                  option, str(fifo))
    assert f"{option} {fifo}: exists and is not a regular file" in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_regress_output_naming_a_directory_is_refused(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY)
    # before: `--junit reports/` (no such directory yet) wrote a file named "reports"
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "old", "--seeds", "1", "--workers", "1",
                  "--junit", str(tmp_path / "reports") + "/")
    assert "names a directory" in err and not (tmp_path / "reports").exists()


# -- runs/index.html ---------------------------------------------------------------------
def test_an_index_that_cannot_be_written_leaves_the_run_and_its_exit_status(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "index.html").mkdir(parents=True)
    p = write_scenario(tmp_path, TINY)
    code, _, err = chatsim(capsys, "run", str(p), "--arch", "old", "--no-plots")
    # before: exit 2 ("…/runs/.index.html.<pid>.part: Is a directory") after the run was written,
    # the .part file left behind
    assert code == 0 and err.startswith("chatsim: warning: ") and "index.html not updated" in err, err
    assert (tmp_path / "runs" / "tiny" / "old-seed1" / "result.json").exists()
    assert not list((tmp_path / "runs").glob(".*.part"))


# -- regress: the same name twice --------------------------------------------------------
def test_two_different_scenarios_with_one_name_are_refused_by_regress(capsys, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_scenario(tmp_path / "a", TINY, "x.toml")
    b = write_scenario(tmp_path / "b", TINY.replace("rate = 1.0", "rate = 2.0"), "x.toml")
    # before: both ran and their results merged into one "tiny" row (and one baseline key per invariant)
    err = refused(capsys, tmp_path, "regress", str(a), str(b), "--arch", "old", "--seeds", "1", "--workers", "1")
    assert f"{a} and {b} are both named 'tiny'" in err


def test_a_scenario_or_architecture_given_twice_runs_once():
    from chatsim.regress import plan
    from scenarios.loader import BUILTIN_DIR

    tasks = plan(["steady", "steady", str(BUILTIN_DIR / "steady.toml")], ["old", "old"], [1, 2])
    # before: 3 × 2 × 2 = 12 runs, every cell counted six times
    assert [(t.arch, t.seed) for t in tasks] == [("old", 1), ("old", 2)]


# -- crashpoints: a run that could not run -----------------------------------------------
def test_crashpoints_nth_past_a_faults_cap_is_refused(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY)
    # before: every run refused by the loader, the matrix all "ok", exit 0
    err = refused(capsys, tmp_path, "crashpoints", str(p), "--arch", "old", "--workers", "1", "--nth", "99999999999")
    assert "a fault's nth is at most 1,000,000" in err


def test_a_crashpoint_run_that_errors_is_not_ok(capsys, tmp_path, monkeypatch):
    import chatsim.tasks as T

    real = T.run_task

    def broken(task):
        r = real(task)
        return r if "ack_sent" not in task.label else T.TaskResult(scenario=r.scenario, arch=r.arch, seed=r.seed,
                                                                      error="the model crashed")

    monkeypatch.setattr(T, "run_task", broken)
    monkeypatch.setattr(T.InProcess.__init__, "__defaults__", (broken,))
    p = write_scenario(tmp_path, TINY)
    out = tmp_path / "out"
    code, text, _ = chatsim(capsys, "crashpoints", str(p), "--arch", "old", "--workers", "1", "--nth", "1",
                            "--out", str(out))
    # before: the ack_sent cell was a green "ok" and the exit status 0
    assert code == 1
    row = next(line for line in text.splitlines() if "ack_sent" in line)
    assert "error" in row and "ok" not in row
    assert "could not run: the model crashed" in text
