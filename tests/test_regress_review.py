"""`chatsim regress` under review (round 8): baselines that cannot be
compared with the run are refused or said, not silently compared; the
statistics against scipy at their edges; JUnit times."""

import json
import xml.etree.ElementTree as ET

import pytest
from scipy.stats import binomtest, fisher_exact

from chatsim import regress as R
from reports.render import write_atomic

from helpers import cli
from test_regress import cell, fake, maybe_results


def baseline_file(tmp_path, seeds, cells):
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"format": R.BASELINE_FORMAT, "seeds": seeds, "cells": cells}))
    return p


@pytest.mark.parametrize("seeds, cells, words", [
    # written with 1..50, checked with 1..3: the counts were compared as if the same runs
    (list(range(1, 51)), {"steady/old/validity": {"violated": 0, "runs": 50}},
     "written with seeds 1..50, this run has 1..3; use the same --seeds"),
    # another scenario set: nothing matched, every cell went unpinned and the check passed
    ([1, 2, 3], {"other/old/validity": {"violated": 0, "runs": 3}},
     "has no cell of these scenarios × architectures (it has other/old)"),
    ([1, 2, 3], {"steady/new/validity": {"violated": 0, "runs": 3}}, "(it has steady/new)"),  # another arch set
    ([1, 2, 3], {}, "(it has none)"),
    ([1, "2"], {}, "'seeds' must be the list of seeds it was written with"),
])
def test_a_baseline_this_run_cannot_be_compared_with_is_bad_input(tmp_path, seeds, cells, words):
    b = baseline_file(tmp_path, seeds, cells)
    code, out, err = cli("regress", "steady", "--arch", "old", "--seeds", "1..3", "--baseline", str(b),
                         "--out", str(tmp_path / "o"), "--junit", str(tmp_path / "j.xml"))
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "j.xml").exists()


def test_check_baseline_accepts_its_own_run():
    tasks = R.plan(["steady"], ["old"], [1, 2])
    doc = R.baseline_doc(R.judge(maybe_results(1, 2)), [1, 2])
    doc["cells"]["steady/old/validity"] = {"violated": 0, "runs": 2}
    R.check_baseline(doc, "b.json", [1, 2], tasks)  # raises nothing


def test_a_maybe_cell_missing_from_the_baseline_says_so():
    base = R.baseline_doc(R.judge(maybe_results(3, 20, inv="live-completeness")), list(range(1, 21)))
    cells = R.judge(maybe_results(15, 20), base)  # a "maybe" the baseline never saw
    c = cell(cells, "no-duplicates")
    assert c.status == "ok" and c.baseline is None and c.message.startswith("not in the baseline")
    assert "not in the baseline" in R.markdown(cells, list(range(1, 21)))
    assert R.exit_status(cells) == 0


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (0, 20), (20, 20), (7, 20), (0, 100_000), (1, 100_000),
                                  (100_000, 100_000), (3, 10**9)])
def test_wilson_is_scipys_to_four_significant_digits(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = R.wilson(k, n)
    assert lo == pytest.approx(ci.low, rel=1e-3, abs=1e-300) and hi == pytest.approx(ci.high, rel=1e-3)
    assert 0 <= lo <= k / n <= hi <= 1
    assert hi > 0  # 0/100,000's upper bound (3.8e-05) was rounded to 0.0: an interval claiming certainty


@pytest.mark.parametrize("k, n, k0, n0", [(0, 1, 1, 1), (0, 20, 0, 20), (20, 20, 0, 20), (15, 20, 2, 20),
                                          (13, 20, 15, 20), (0, 4, 4, 4), (50, 100_000, 90, 100_000)])
def test_fisher_is_scipys_two_sided(k, n, k0, n0):
    want = fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="two-sided").pvalue
    assert R.fisher_p(k, n, k0, n0) == pytest.approx(want)


def test_a_tiny_rate_keeps_its_digits_in_regress_json():
    exp = {"validity": "maybe"}
    res = [fake("t", "old", s, {"validity": s != 1}, exp) for s in range(1, 20_001)]
    c = cell(R.judge(res), "validity")
    assert c.rate == 5e-05 and c.interval[0] > 0  # was 0.0 and (0.0, 0.0003)


def test_junit_suite_time_counts_each_run_once():
    exp = {"validity": True, "durability": True}
    res = [fake("s", arch, seed, {"validity": True, "durability": True}, exp) for arch in ("old", "new") for seed in (1, 2)]
    for _, r in res:
        r.wall = 0.5
    root = ET.fromstring(R.junit_xml(R.judge(res)))
    (suite,) = root.iter("testsuite")
    assert float(suite.get("time")) == pytest.approx(2.0)  # four runs of 0.5 s, not 4 cells × 1.0 s


def test_junit_stays_parseable_when_a_crash_message_carries_control_characters():
    from chatsim.tasks import Task, TaskResult

    t = Task(scenario="e", raw={"name": "e"}, arch="old", seed=1)
    err = TaskResult(scenario="e", arch="old", seed=1, error="RuntimeError in the simulation: \x1b[31mboom\x00\ud800")
    root = ET.fromstring(R.junit_xml(R.judge([(t, err)])))  # was: not well-formed (invalid token)
    (e,) = root.iter("error")
    assert e.text == "seed 1: RuntimeError in the simulation: \\x1b[31mboom\\x00\\ud800"


def test_regress_md_spells_out_control_characters_as_the_junit_file_does():
    # an ANSI escape reached the CI comment as it was (a terminal paging the file acted on it)
    from chatsim.tasks import Task, TaskResult

    t = Task(scenario="e", raw={"name": "e"}, arch="old", seed=1)
    err = TaskResult(scenario="e", arch="old", seed=1, error="RuntimeError in the simulation: \x1b[31mboom\x00\x9b\x7f")
    md = R.markdown(R.judge([(t, err)]), [1])
    assert "RuntimeError in the simulation: \\x1b\\[31mboom\\x00\\x9b\\x7f" in md
    assert not any(ch < " " and ch != "\n" or "\x7f" <= ch <= "\x9f" for ch in md)


def test_a_failed_atomic_write_leaves_the_old_file_and_no_part(tmp_path):
    p = tmp_path / "j.xml"
    p.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(p, "half \ud800")
    assert p.read_text() == "old" and list(tmp_path.iterdir()) == [p]  # the .part was left behind
    # regress wrote through a copy of this function (same rename, no cleanup): it now uses this one
    assert not hasattr(R, "write_atomic")


def test_an_interrupted_regress_leaves_no_earlier_verdicts_beside_its_results(tmp_path):
    import signal

    from helpers import interrupt_after_lines

    out, junit, base = tmp_path / "o", tmp_path / "j.xml", tmp_path / "b.json"
    out.mkdir()
    for p in (out / "regress.json", out / "regress.md", junit, base):
        p.write_text("an earlier run's")
    code, err, lines = interrupt_after_lines(["regress", "steady", "--arch", "old", "--seeds", "1..2000",
                                              "--workers", "1", "--out", str(out), "--junit", str(junit),
                                              "--write-baseline", str(base)],
                                             tmp_path, out / "results.jsonl", signal.SIGINT, lines=2)
    assert code == 130 and "interrupted" in err, err
    # they stayed, the earlier run's green verdicts beside this run's partial results
    assert not (out / "regress.json").exists() and not (out / "regress.md").exists() and not junit.exists()
    assert base.read_text() == "an earlier run's"  # the committed baseline until a run replaces it


@pytest.mark.parametrize("target", ["/proc/nosuch/j.xml", "/sys/j.xml"])
def test_an_output_nobody_can_create_is_refused_before_the_runs(tmp_path, target):
    # the folder exists (or its nearest existing one does) but refuses the write itself —
    # even to root; it was found out after every run, regress.json already written
    out = tmp_path / "o"
    code, _, err = cli("regress", "steady", "--arch", "old", "--seeds", "1", "--junit", target, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and "cannot write in" in err, err
    assert not out.exists()
