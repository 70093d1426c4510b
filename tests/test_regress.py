"""`chatsim regress` (issue 12): judging cells against [expect], rates and
baselines, JUnit XML, replay commands that reproduce, bad input."""

import json
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chatsim import regress as R
from chatsim.tasks import Task, TaskResult, Violation

from helpers import cli
from scenarios import list_builtin
from sim import architectures



def fake(scenario, arch, seed, verdicts, expected):
    """A TaskResult as run_task makes it, for judging without simulating."""
    t = Task(scenario=scenario, raw={"name": scenario}, arch=arch, seed=seed)
    viol = [Violation(k, "lost", f"c:{seed}", "C1", f"{k} broke on seed {seed}") for k, v in verdicts.items() if v is False]
    r = TaskResult(scenario=scenario, arch=arch, seed=seed, valid=False if viol else True, verdicts=verdicts,
                   counts={k: int(v is False) for k, v in verdicts.items()}, violations=viol,
                   expected=expected, as_expected=True)
    return t, r


def maybe_results(k, n, inv="no-duplicates"):
    """n seeds of a "maybe" cell, violated on the first k."""
    exp = {"validity": True, "durability": True, inv: "maybe"}
    return [fake("storm", "old", s, {"validity": True, "durability": True, inv: s <= n - k}, exp) for s in range(1, n + 1)]


def cell(cells, inv):
    return next(c for c in cells if c.invariant == inv)


def test_expected_hold_that_breaks_on_one_seed_is_a_regression_with_seed_and_replay():
    exp = {"validity": True, "durability": True, "no-duplicates": True}
    res = [fake("s", "new", s, {"validity": True, "durability": s != 4, "no-duplicates": True}, exp) for s in range(1, 6)]
    cells = R.judge(res)
    d = cell(cells, "durability")
    assert d.status == "regression" and d.violated == [4] and "seed 4" in d.message
    assert d.explanation == "durability broke on seed 4"
    assert d.replay == "chatsim run s --arch new --seed 4"
    assert cell(cells, "validity").status == "ok"
    assert R.exit_status(cells) == 1


def test_expected_broken_must_break_on_every_seed():
    exp = {"validity": False, "durability": False, "no-duplicates": True}
    res = [fake("c", "old", s, {"validity": False, "durability": s == 2, "no-duplicates": True}, exp) for s in (1, 2, 3)]
    cells = R.judge(res)
    assert cell(cells, "validity").status == "ok"
    d = cell(cells, "durability")
    assert d.status == "regression" and d.held == [2] and "held on seed 2" in d.message
    assert d.replay.endswith("--seed 2")


def test_maybe_reports_a_rate_with_a_wilson_interval():
    cells = R.judge(maybe_results(6, 20))
    c = cell(cells, "no-duplicates")
    assert c.status == "ok" and c.rate == 0.3
    lo, hi = c.interval
    assert lo == pytest.approx(0.1455, abs=1e-3) and hi == pytest.approx(0.5190, abs=1e-3)  # Wilson 6/20
    assert R.exit_status(cells) == 0


def test_baseline_flags_a_much_lower_rate_and_not_the_same_rate():
    base = R.baseline_doc(R.judge(maybe_results(15, 20)), list(range(1, 21)))
    same = R.judge(maybe_results(15, 20), base)
    assert cell(same, "no-duplicates").status == "ok"
    assert cell(same, "no-duplicates").baseline["p"] == 1.0 and R.exit_status(same) == 0
    lower = R.judge(maybe_results(2, 20), base)
    c = cell(lower, "no-duplicates")
    assert c.status == "changed" and c.baseline["significant"] and "fell from 15/20 to 2/20" in c.message
    assert R.exit_status(lower) == 1
    higher = R.judge(maybe_results(20, 20), R.baseline_doc(R.judge(maybe_results(3, 20)), []))
    assert cell(higher, "no-duplicates").status == "changed" and "rose" in cell(higher, "no-duplicates").message
    # a small wobble is not significant
    assert cell(R.judge(maybe_results(13, 20), base), "no-duplicates").status == "ok"


def test_undecided_and_errors():
    exp = {"validity": True}
    res = [fake("u", "old", 1, {"validity": "unknown"}, exp), fake("u", "old", 2, {"validity": True}, exp)]
    cells = R.judge(res)
    assert cell(cells, "validity").status == "undecided" and R.exit_status(cells) == 3
    t = Task(scenario="e", raw={"name": "e"}, arch="old", seed=1)
    err = TaskResult(scenario="e", arch="old", seed=1, error="fault crash at step 'x': no such step")
    cells = R.judge(res + [(t, err)])
    e = [c for c in cells if c.name == "e"]
    assert e and all(c.status == "error" for c in e) and R.exit_status(cells) == 1


def test_outputs_escape_and_parse():
    exp = {"validity": True}
    t, r = fake("a|b", "old", 1, {"validity": False}, exp)
    r.violations = [Violation("validity", "lost", "m", "C1", "<script>x|y</script> & `z`")]
    cells = R.judge([(t, r)])
    md = R.markdown(cells, [1])
    assert "a\\|b" in md and "\\<script\\>x\\|y\\</script\\>" in md and "<script>" not in md
    root = ET.fromstring(R.junit_xml(cells))
    (f,) = root.iter("failure")
    assert "<script>x|y</script> & `z`" in f.text and "replay: chatsim run 'a|b' --arch old --seed 1" in f.text


# --- the command -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (("--seeds", "5..1"), "--seeds"),
    (("--seeds", "x"), "--seeds"),
    (("--arch", "middle"), "unknown architecture"),
    (("no-such-scenario",), "unknown scenario"),
    (("--baseline", "/nonexistent/b.json"), "cannot read"),
    (("--workers", "0"), "--workers"),
    (("--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), "not both"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(args, needle, tmp_path):
    code, out, err = cli("regress", "steady", *args, "--out", str(tmp_path / "o"), "--junit", str(tmp_path / "j.xml"))
    assert code == 2, (out, err)
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "j.xml").exists()


def test_malformed_baseline_is_bad_input(tmp_path):
    (tmp_path / "b.json").write_text('{"cells": 3}')
    code, _, err = cli("regress", "steady", "--baseline", str(tmp_path / "b.json"), "--out", str(tmp_path / "o"))
    assert code == 2 and "not a chatsim regress baseline" in err and not (tmp_path / "o").exists()


def copy_with_expect(tmp_path, name, old_expect: str) -> Path:
    """A built-in copied to tmp_path with its [expect.old] table replaced."""
    text = (Path(__file__).resolve().parent.parent / "scenarios" / "builtin" / f"{name}.toml").read_text()
    head, _, rest = text.partition("[expect.old]\n")
    rest = rest[rest.index("\n["):] if "\n[" in rest else ""
    p = tmp_path / f"{name}-copy.toml"
    p.write_text(head + "[expect.old]\n" + old_expect + "\n" + rest)
    return p


def test_wrong_expectation_exits_1_with_one_junit_failure_whose_replay_reproduces_it(tmp_path):
    # crash-mid-send's old design loses an acked message; the copy says durability holds
    scn = copy_with_expect(tmp_path, "crash-mid-send", 'validity = false\nlive-completeness = "maybe"')
    code, out, err = cli("regress", str(scn), "--arch", "old", "--seeds", "1..3", "--workers", "2",
                         "--out", str(tmp_path / "o"), "--junit", str(tmp_path / "j.xml"))
    assert code == 1, err
    assert "REGRESSION" in out
    root = ET.parse(tmp_path / "j.xml").getroot()
    failures = [(tc, f) for tc in root.iter("testcase") for f in tc.findall("failure")]
    assert len(failures) == 1
    tc, f = failures[0]
    assert tc.get("name") == "durability" and tc.get("classname") == "chatsim.crash-mid-send.old"
    assert "acked" in f.text
    replay = next(line for line in f.text.splitlines() if line.startswith("replay: "))[len("replay: "):]
    words = shlex.split(replay)
    assert words[:2] == ["chatsim", "run"]
    rerun = subprocess.run([sys.executable, "-m", "chatsim", *words[1:], "--out", str(tmp_path / "replay"),
                            "--no-plots"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1, rerun.stderr
    result = json.loads((tmp_path / "replay" / "result.json").read_text())
    assert result["invariants"]["durability"]["valid"] is False and result["as_expected"] is False
    doc = json.loads((tmp_path / "o" / "regress.json").read_text())
    assert doc["exit"] == 1 and doc["summary"]["regression"] == 1
    assert "durability" in (tmp_path / "o" / "regress.md").read_text()


def test_write_baseline_then_compare(tmp_path):
    # crash-mid-send's validity as "maybe": it breaks on every seed, rate 100%
    scn = copy_with_expect(tmp_path, "crash-mid-send",
                           'validity = "maybe"\ndurability = false\nlive-completeness = "maybe"')
    base = tmp_path / "baseline.json"
    args = ("regress", str(scn), "--arch", "old", "--seeds", "1..4", "--workers", "1")
    code, out, err = cli(*args, "--out", str(tmp_path / "a"), "--write-baseline", str(base))
    assert code == 0, err
    doc = json.loads(base.read_text())
    assert doc["cells"]["crash-mid-send/old/validity"] == {"expected": "maybe", "violated": 4, "runs": 4}
    code, out, err = cli(*args, "--out", str(tmp_path / "b"), "--baseline", str(base))
    assert code == 0, err  # the same rate
    doc["cells"]["crash-mid-send/old/validity"]["violated"] = 0  # the baseline said it never broke
    base.write_text(json.dumps(doc))
    code, out, err = cli(*args, "--out", str(tmp_path / "c"), "--baseline", str(base), "--junit", str(tmp_path / "j.xml"))
    assert code == 1 and "CHANGED" in out
    (f,) = ET.parse(tmp_path / "j.xml").getroot().iter("failure")
    assert f.get("type") == "changed" and "rose from 0/4 to 4/4" in f.get("message")


@pytest.mark.slow
def test_regress_on_the_builtins_exits_0_and_writes_junit(tmp_path):
    """The issue's acceptance run: every built-in, every architecture, seeds 1..5."""
    code, out, err = cli("regress", "--seeds", "1..5", "--out", str(tmp_path / "o"), "--junit", str(tmp_path / "j.xml"))
    assert code == 0, out + err
    doc = json.loads((tmp_path / "o" / "regress.json").read_text())
    root = ET.parse(tmp_path / "j.xml").getroot()
    cases = list(root.iter("testcase"))
    runs = len(list_builtin()) * len(architectures.names()) * 5
    assert len(cases) == len(doc["cells"]) >= runs
    assert not list(root.iter("failure")) and not list(root.iter("error"))
    assert {c.get("classname").split(".")[1] for c in cases} == {n for n, _ in list_builtin()}
    lines = (tmp_path / "o" / "results.jsonl").read_text().splitlines()
    assert len(lines) == runs
