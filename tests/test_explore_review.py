"""Review of explore and crashpoints (round 8): what a finding claims must be
true of the run it came from — a shrunk schedule needs every fault it keeps,
the command in a found file repeats the search, a crash point the run never
reached is not reported as harmless (tests/test_crashpoints.py)."""

import json
import shlex

import pytest

import tomli_w

from chatsim.explore import Finding, command, found_scenario, shrink
from chatsim.tasks import Task, TaskResult, Violation, run_task
from scenarios import load_scenario
from scenarios.loader import load_raw


def _always_broken(tasks):
    # the invariant breaks whatever the schedule: the base scenario breaks it on this seed
    return [(t, TaskResult(scenario="x", arch="old", seed=1, verdicts={"no-duplicates": False})) for t in tasks]


def test_shrinking_drops_the_last_fault_when_the_run_breaks_without_it():
    # flaky-mobile under old duplicates messages with no fault at all (lossy links, resends):
    # a finding must not keep a fault the violation does not need
    start = ({"kind": "degrade", "arch": "old", "at": 7.0, "duration": 3.0, "a": ["client-6"], "b": ["*"],
              "oneway": False, "latency": 0.2, "loss": 0.0, "dup": 0.0},)
    make = lambda c, label: Task(scenario="x", arch="old", seed=1, faults=tuple(c), label=label)  # noqa: E731
    small, last, used, minimal = shrink(start, "no-duplicates", make, _always_broken, budget=50)
    assert small == () and last is not None and minimal and used <= 4


def test_a_finding_without_faults_is_written_as_a_scenario_with_none(tmp_path):
    raw, _ = load_raw("crash-mid-send")
    f = Finding(1, "no-duplicates", "duplicate", 0, 7, original=({"kind": "crash", "arch": "old", "at": 1.0},),
                faults=(), signature=(), shrink_runs=1, minimal=True)
    doc = found_scenario(raw, f, "old", {"no-duplicates": False})
    assert doc["faults"] == [] and doc["description"].endswith("without any fault")
    path = tmp_path / "found-1.toml"
    path.write_text(tomli_w.dumps(doc))
    assert load_scenario(str(path)).fault_specs("old") == []  # the base scenario's own faults are gone too


def test_the_found_by_command_repeats_the_search():
    # every option that decides the schedules is in it (a search with another --faults draws
    # other schedules); the defaults and the engine are not
    cmd = command("my scenarios/x.toml", "new", 3, 8, ["crash", "redis-failover"], ["no-duplicates"],
                  ["new.kafka.acks=1"], 40)
    assert shlex.split(cmd) == ["chatsim", "explore", "my scenarios/x.toml", "--arch", "new", "--seed", "3",
                                "--budget", "8", "--faults", "crash,redis-failover", "--invariant", "no-duplicates",
                                "--set", "new.kafka.acks=1", "--shrink-budget", "40"]
    from chatsim.explore import SHRINK_BUDGET, all_kinds
    from invariants import CHECKERS

    assert command("steady", "old", 1, 5, all_kinds("old"), list(CHECKERS), [], SHRINK_BUDGET) == \
        "chatsim explore steady --arch old --seed 1 --budget 5"


def test_a_task_result_counts_the_faults_that_fired():
    raw, _ = load_raw("crash-mid-send")
    crash = {"kind": "crash", "arch": "old", "step": "ack_sent", "node": "channel-server-0", "duration": 5.0}
    fired = run_task(Task(scenario="crash-mid-send", raw=raw, arch="old", seed=1, faults=({**crash, "nth": 1},)))
    never = run_task(Task(scenario="crash-mid-send", raw=raw, arch="old", seed=1, faults=({**crash, "nth": 5000},)))
    assert (fired.fired, never.fired) == (1, 0)
    assert never.valid is True  # the run without its crash: the scenario's workload alone


def test_shrinking_keeps_the_bug_class_not_just_the_invariant():
    # integrity breaks in several ways; a finding of one kind (a failed send that appears)
    # must not shrink into another (a message shown to a non-member) and keep the first's name
    start = ({"kind": "crash", "arch": "old", "at": 9.0, "duration": 4.0, "targets": ["webapp-0"]},
             {"kind": "pause", "arch": "old", "at": 3.0, "duration": 2.0, "targets": ["db"]})

    def runner(tasks):
        out = []
        for t in tasks:
            kinds = {f["kind"] for f in t.faults}
            # both faults: failed-appears; the crash alone: another integrity violation
            kind = "failed-appears" if kinds == {"crash", "pause"} else "non-member" if "crash" in kinds else None
            out.append((t, TaskResult(scenario="x", arch="old", seed=1, verdicts={"integrity": kind is None},
                                      violations=[Violation("integrity", kind, "c:1", "C1", "")] if kind else [])))
        return out

    make = lambda c, label: Task(scenario="x", arch="old", seed=1, faults=tuple(c), label=label)  # noqa: E731
    small, last, _, _ = shrink(start, "integrity", make, runner, budget=200, kind="failed-appears")
    assert {f["kind"] for f in small} == {"crash", "pause"}
    assert last is None or last.violations[0].kind == "failed-appears"
    # without a kind any integrity violation will do (what shrink did for every finding)
    assert [f["kind"] for f in shrink(start, "integrity", make, runner, budget=200)[0]] == ["crash"]


def test_a_run_that_could_not_run_is_written_as_a_scenario_that_replays_it(tmp_path):
    # a model exception in a farm of runs is a finding: its schedule must be replayable too
    from chatsim.explore import explore
    from chatsim.tasks import InProcess

    def run(task):
        if task.label == "explore/1":
            return TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed, error="KeyError in the simulation")
        return TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed, verdicts={"validity": True})

    with InProcess(run) as engine:
        ex = explore("crash-mid-send", "old", budget=3, seed=4, kinds=["crash"], invariants=["validity"], overrides=[],
                     engine=engine, out_dir=tmp_path, progress=False, report=False)
    (e,) = ex.errors
    path = tmp_path / "error-1.toml"
    assert e["replay"] == f"chatsim run {path} --arch old --seed {e['seed']}"
    assert path.read_text().splitlines()[0] == f"# {e['replay']}"
    scn = load_scenario(str(path))
    assert [s.kind for s in scn.fault_specs("old")] == [f["kind"] for f in e["faults"]] == ["crash"] * len(e["faults"])
    assert json.loads((tmp_path / "explore.json").read_text())["errors"][0]["replay"] == e["replay"]


def _earlier_outputs(out, names):
    """An earlier command's outputs in ``out``, and what is not theirs to remove."""
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("an earlier run's")
    (out / "found-7").mkdir()
    (out / "found-7" / "history.jsonl").write_text("an earlier run's")
    (out / "notes.txt").write_text("mine")


@pytest.mark.parametrize("args, names", [
    (["explore", "steady", "--arch", "old", "--budget", "100000"],
     ["explore.json", "report.html", "found-7.toml", "error-3.toml"]),
    (["crashpoints", "crash-mid-send", "--arch", "old", "--nth", "1..100"],
     ["crashpoints.json", "crashpoints.png", "crashpoints.svg", "replay/persisted-db-1.toml"]),
])
def test_an_interrupted_search_leaves_no_earlier_verdicts_beside_its_results(tmp_path, args, names):
    # as regress (tests/test_regress_review.py): an interrupted search left the earlier
    # search's findings and summary beside its own partial results.jsonl
    import signal

    from helpers import interrupt_after_lines

    out = tmp_path / "o"
    out.mkdir()
    _earlier_outputs(out, names)
    code, err, _ = interrupt_after_lines([*args, "--workers", "1", "--out", str(out)], tmp_path,
                                         out / "results.jsonl", signal.SIGINT, lines=2)
    assert code == 130 and "interrupted" in err, err
    assert [n for n in names if (out / n).exists()] == []
    # a finding's run directory and anything else in the directory are not the command's to remove
    assert (out / "found-7" / "history.jsonl").exists() and (out / "notes.txt").read_text() == "mine"
