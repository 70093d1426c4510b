"""The adversarial review's findings, one literal test each: inputs that
slipped past issue 17's hardening (a traceback, an error naming a file
descriptor instead of the file, a typo silently read as a verdict) or that a
user meets in practice (a byte-order mark)."""

from __future__ import annotations

import json
from pathlib import Path

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
