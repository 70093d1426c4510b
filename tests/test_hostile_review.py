"""The adversarial review's findings, one literal test each: inputs that
slipped past issue 17's hardening (a traceback, an error naming a file
descriptor instead of the file, a typo silently read as a verdict) or that a
user meets in practice (a byte-order mark)."""

from __future__ import annotations

import json

import pytest

from hostile_helpers import TINY, assert_refused, chatsim, write_scenario


def refused(capsys, tmp_path, *argv: str) -> str:
    out = tmp_path / "out"
    code, _, err = chatsim(capsys, *argv, "--out", str(out))
    assert_refused(code, err, out)
    return err


# -- scenario files ----------------------------------------------------------------
def test_a_directory_named_like_a_scenario_is_named_in_the_error(capsys, tmp_path):
    d = tmp_path / "dir.toml"
    d.mkdir()
    err = refused(capsys, tmp_path, "run", str(d), "--arch", "old")
    # before: "chatsim: error: 3: Is a directory" (the descriptor, not the path)
    assert "dir.toml: not a regular file" in err


def test_an_empty_scenario_name_is_refused_as_such(capsys, tmp_path):
    err = refused(capsys, tmp_path, "run", "", "--arch", "old")
    assert "empty scenario name" in err


def test_an_integer_past_pythons_digit_limit_in_a_scenario_is_one_line(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY.replace("rate = 1.0", "rate = " + "1" * 5000))
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old")  # before: a ValueError traceback
    assert "malformed TOML" in err and "4300 digits" in err


@pytest.mark.parametrize("value, words", [("1" * 5000, "4300 digits"), ("[" * 5000, "nested too deeply")])
def test_a_set_value_past_the_parsers_limits_is_one_line(capsys, tmp_path, value, words):
    p = write_scenario(tmp_path, TINY)
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old", "--set", f"workload.rate={value}")
    assert err.startswith("chatsim: error: --set workload.rate: ") and words in err


def test_a_utf8_byte_order_mark_is_not_part_of_the_toml(capsys, tmp_path):
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + TINY.encode())
    out = tmp_path / "out"
    code, _, err = chatsim(capsys, "run", str(p), "--arch", "old", "--no-plots", "--out", str(out))
    assert code == 0, err
    assert json.loads((out / "result.json").read_text())["scenario"] == "tiny"


@pytest.mark.parametrize("value", ['"yes"', '"false"', "1", "0", '"Maybe"'])
def test_an_expected_verdict_is_true_false_or_maybe_and_nothing_coerced(capsys, tmp_path, value):
    p = write_scenario(tmp_path, TINY + f"\n[expect.old]\nvalidity = {value}\n")
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old")
    assert 'expect.old.validity: expected true, false or "maybe"' in err


def test_a_member_listed_twice_is_refused(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY.replace('general = ["*"]', 'general = ["client-1", "client-2", "client-1"]'))
    err = refused(capsys, tmp_path, "run", str(p), "--arch", "old")
    assert "channel general: member 'client-1' is listed twice" in err


# -- command-line options ----------------------------------------------------------
@pytest.mark.parametrize("command", [("run", "--arch", "old"), ("explore", "--arch", "old"), ("regress",)])
def test_an_empty_out_is_refused_not_the_default_directory(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    p = write_scenario(tmp_path, TINY)
    code, _, err = chatsim(capsys, command[0], str(p), *command[1:], "--out", "")
    assert_refused(code, err, tmp_path / "runs")  # before: `run` wrote runs/tiny/old-seed1/
    assert "--out" in err and "empty path" in err


def test_regress_with_an_empty_arch_list_is_refused_not_every_architecture(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY)
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "", "--seeds", "1", "--workers", "1")
    assert "--arch '': expected a comma list of architectures" in err


def test_a_scheduler_that_is_not_an_address_is_one_line_at_once(capsys, tmp_path):
    import time

    p = write_scenario(tmp_path, TINY)
    t0 = time.perf_counter()
    err = refused(capsys, tmp_path, "explore", str(p), "--arch", "old", "--scheduler", "nonsense")
    # before: the error, then 20 s later Client.__del__'s TimeoutError traceback
    assert "--scheduler nonsense: not an address like tcp://host:8786" in err
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("sizes, words", [("10000000000", "--storm 10000000000: old.channel_servers"),
                                          ("100,200000", "--storm 200000: topology.clients.1.count")])
def test_a_storm_past_the_settings_bounds_is_refused_before_any_storm(capsys, sizes, words):
    code, _, err = chatsim(capsys, "bench", "--storm", sizes, "--only", "none")
    assert_refused(code, err, None)  # before: a pydantic traceback from the worker process
    assert words in err


# -- history files -----------------------------------------------------------------
def test_an_op_missing_its_msg_names_the_file(capsys, tmp_path):
    head = {"type": "meta", "chatsim": "0.1.0", "scenario": "t", "arch": "x", "seed": 1,
            "channels": {"C1": ["c1"]}, "config": {}}
    op = {"index": 0, "time": 1.0, "process": "c1", "type": "invoke", "f": "send", "value": {"channel": "C1"}}
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(head) + "\n" + json.dumps(op) + "\n")
    code, _, err = chatsim(capsys, "check", str(p))
    assert_refused(code, err, None)
    assert err == f"chatsim: error: {p}: line 2: op 0 (send invoke): value needs 'channel' and 'msg'\n"


def test_a_history_with_a_byte_order_mark_says_so(capsys, tmp_path):
    head = {"type": "meta", "chatsim": "0.1.0", "scenario": "t", "arch": "x", "seed": 1,
            "channels": {"C1": ["c1"]}, "config": {}}
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(head).encode() + b"\n")
    code, _, err = chatsim(capsys, "check", str(p))
    assert_refused(code, err, None)
    assert err == f"chatsim: error: {p}: starts with a UTF-8 byte-order mark; a history is UTF-8 JSON Lines without one\n"


# -- interruption --------------------------------------------------------------------
def test_an_explore_interrupted_while_shrinking_counts_the_whole_search(tmp_path, monkeypatch):
    # before: "interrupted: 1 of 3 runs finished" (the shrinking batch) over a results.jsonl of 4 lines
    import signal

    import chatsim.explore as X
    from chatsim.tasks import InProcess, Interrupted

    real, calls = X.run_many, []

    def run_many(tasks, engine, out_dir, **kw):
        calls.append(len(tasks))
        if len(calls) == 1:
            return real(tasks, engine, out_dir, **kw)
        raise Interrupted(1, len(tasks), [], signal.SIGINT, out_dir / "results.jsonl")

    monkeypatch.setattr(X, "run_many", run_many)
    with pytest.raises(Interrupted) as e, InProcess() as engine:
        X.explore("crash-mid-send", "old", budget=3, seed=3, kinds=X.parse_kinds("crash", "old"),
                  invariants=X.parse_invariants(()), overrides=[], engine=engine, out_dir=tmp_path / "ex",
                  progress=False)
    assert len(calls) == 2, "the search found nothing to shrink: the test no longer reaches its point"
    assert (e.value.done, e.value.total) == (3 + 1, 3 + calls[1])
    assert str(e.value).startswith(f"interrupted: 4 of {3 + calls[1]} runs finished")


# -- regress baselines ---------------------------------------------------------------
@pytest.mark.parametrize("violated, runs", [(10**29, 10**30), (True, 2), (0, True)])
def test_a_baseline_count_that_is_huge_or_a_bool_is_refused_before_any_run(capsys, tmp_path, violated, runs):
    # before: 10**30 runs was an OverflowError traceback from Fisher's test after every run;
    # true was read as 1
    p = write_scenario(tmp_path, TINY + '\n[expect.old]\nvalidity = "maybe"\n')
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"format": "chatsim-regress-baseline/1", "seeds": [1],
                                "cells": {"tiny/old/validity": {"expected": "maybe", "violated": violated,
                                                                "runs": runs}}}))
    err = refused(capsys, tmp_path, "regress", str(p), "--arch", "old", "--seeds", "1", "--workers", "1",
                  "--baseline", str(base))
    assert "cell 'tiny/old/validity': needs integer 'violated' ≤ 'runs' (at most 1,000,000,000)" in err


# -- sweeps ----------------------------------------------------------------------------
@pytest.mark.parametrize("tables, words", [
    ('[sweep]\nkey = "workload.rate"\nvalues = [1, 1.0]\n', "sweep values repeat"),  # before: the same run twice
    ('[sweep]\nkey = "workload.rate"\nvalues = [1, 2]\n[[variants]]\nname = "a"\n',  # before: variants ignored
     "give [sweep] or [[variants]], not both"),
])
def test_a_sweep_that_would_run_a_point_twice_or_drop_variants_is_refused(capsys, tmp_path, tables, words):
    p = write_scenario(tmp_path, TINY + tables)
    assert words in refused(capsys, tmp_path, "sweep", str(p))


def test_a_sweep_of_a_rate_prints_no_boot_size_exponents(capsys, tmp_path):
    # before: "old: boot bytes grow as size^None for teams ≥ 10k (size^None over the whole range)"
    p = write_scenario(tmp_path, TINY.replace("duration = 2", "duration = 1")
                       + '[sweep]\nkey = "workload.rate"\nvalues = [1, 2]\n')
    code, out, err = chatsim(capsys, "sweep", str(p), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "grow as" not in out and "None" not in out


@pytest.mark.parametrize("argv, words", [
    (("--set", "workload.rate=true"), "workload.rate: expected a number, not true"),  # before: ran at rate 1.0
    (("--set", "network.loss=false"), "network.loss: expected a number, not false"),
    (("--set", "topology.team.users=true"), "topology.team.users: expected a number, not true"),
])
def test_true_or_false_is_not_a_number(capsys, tmp_path, argv, words):
    p = write_scenario(tmp_path, TINY)
    assert words in refused(capsys, tmp_path, "run", str(p), "--arch", "old", *argv)


def test_true_is_not_a_fault_time(capsys, tmp_path):
    p = write_scenario(tmp_path, TINY + '\n[[faults]]\nkind = "crash"\ntargets = ["db"]\nat = true\n')
    assert "faults.0.at: expected a number, not true" in refused(capsys, tmp_path, "run", str(p), "--arch", "old")
