"""chatsim explore: schedules from the registry's fault vocabulary, swarm
testing, deterministic shrinking, found-<n>.toml that replays byte for byte,
the same findings whichever engine runs it, and interruption."""

import json
import signal

import pytest

from chatsim.explore import (SHRINK_BATCH, all_kinds, draw, explore, involved, parse_kinds, shrink, simplifications,
                             vocabulary)
from chatsim.tasks import DaskEngine, InProcess, Task, TaskResult, read_results
from helpers import cli, interrupt_after_lines
from scenarios import load_scenario
from sim import architectures
from sim.faults import KERNEL_KINDS

ARCHS = architectures.names()


@pytest.mark.parametrize("arch", ARCHS)
def test_schedules_come_from_the_architecture_s_vocabulary(arch):
    scn = load_scenario("crash-mid-send")
    v = vocabulary(scn, arch, all_kinds(arch))
    a = architectures.get(arch)
    assert set(v.kinds) == set(KERNEL_KINDS) | set(a.faults)
    names = {n for n, _, _ in v.nodes}
    seen_kinds, seen_steps = set(), set()
    plans = [draw(7, i, v) for i in range(200)]
    assert plans == [draw(7, i, v) for i in range(200)]  # same seed, same schedules
    assert plans != [draw(8, i, v) for i in range(200)]
    for p in plans:
        assert 1 <= len(p.faults) and set(p.swarm) <= set(v.kinds)
        for f in p.faults:
            assert f["kind"] in p.swarm and f["arch"] == arch
            seen_kinds.add(f["kind"])
            if "step" in f:
                step = next(s for s in a.steps if s.name == f["step"])
                assert f["node"] in names and dict((n, r) for n, r, _ in v.nodes)[f["node"]] == step.role
                seen_steps.add(f["step"])
            for g in f.get("targets", []) + f.get("a", []) + f.get("b", []):
                assert g == "*" or g in names or g.split(":", 1)[0] in ("role", "region")
            for p_name, typ in a.faults.get(f["kind"], KERNEL_KINDS[f["kind"]] if f["kind"] in KERNEL_KINDS
                                               else None).params.items():
                if p_name in f.get("params", {}):
                    assert isinstance(f["params"][p_name], typ)
    assert seen_kinds == set(v.kinds)  # every kind is drawn, component kinds included
    assert seen_steps == {s for s, _ in v.steps}
    # each scenario file validates every drawn schedule
    from scenarios import Scenario
    from scenarios.loader import load_raw

    raw = load_raw("crash-mid-send")[0]
    for p in plans[:40]:
        Scenario.model_validate({**raw, "faults": list(p.faults), "source": "t"})


def test_faults_restricts_the_kinds_and_swarm_varies_them():
    scn = load_scenario("crash-mid-send")
    v = vocabulary(scn, "old", parse_kinds("crash,partition", "old"))
    plans = [draw(1, i, v) for i in range(100)]
    assert {f["kind"] for p in plans for f in p.faults} == {"crash", "partition"}
    assert {p.swarm for p in plans} == {("crash",), ("partition",), ("crash", "partition")}
    for p in plans:  # every kind a run enables is in its schedule
        assert {f["kind"] for f in p.faults} == set(p.swarm)


def _redis_duplicate_shape(plan) -> bool:
    """A web app dies right after an append (or its answer) and the Redis
    primary fails over at that very moment, for longer than the failover
    takes: the schedule of the redis-failover scenario, which yields the
    duplicate."""
    for c in plan.faults:
        if c["kind"] == "crash" and c.get("step") in ("appended", "responded"):
            for r in plan.faults:
                if (r["kind"] == "redis-failover" and r["duration"] >= 2.5
                        and all(r.get(k) == c[k] for k in ("step", "node", "nth"))):
                    return True
    return False


@pytest.mark.parametrize("scenario, kinds, shape, at_least", [
    ("redis-failover", "crash,redis-failover", _redis_duplicate_shape, 0.03),
    # a leader of some partition dies right after a web app appended to it (acks=1: not yet on a follower)
    ("crash-mid-send", "kafka-leader-crash",
     lambda p: any(f["kind"] == "kafka-leader-crash" and f.get("step") == "appended" for f in p.faults), 0.1),
])
def test_component_faults_are_drawn_where_they_break_something(scenario, kinds, shape, at_least):
    # A component fault hits shared state, so it is drawn right after a send-path step most of
    # the time, and often together with another fault: the shapes the built-in scenarios
    # reproduce by hand come up in a budget a test can afford.
    v = vocabulary(load_scenario(scenario), "new", parse_kinds(kinds, "new"))
    hits = sum(shape(draw(1, i, v)) for i in range(2000))
    assert hits / 2000 >= at_least


def _fake(verdict):
    """A runner that judges a schedule by a function instead of simulating it."""
    def make(c, label):
        return Task(scenario="x", arch="old", seed=1, faults=tuple(c), label=label)

    calls = []

    def runner(tasks):
        calls.append(len(tasks))
        return [(t, TaskResult(scenario="x", arch="old", seed=1,
                               verdicts={"durability": not verdict(t.faults)})) for t in tasks]
    return make, runner, calls


def test_shrinking_reaches_fewest_earliest_shortest_smallest_nth():
    # breaks when some crash at handoff has nth >= 3 and duration >= 1, whatever else is there
    def breaks(faults):
        return any(f.get("step") == "handoff" and f["nth"] >= 3 and f["duration"] >= 1.0 for f in faults)

    start = ({"kind": "pause", "arch": "old", "at": 12.0, "duration": 9.0, "targets": ["db"]},
             {"kind": "crash", "arch": "old", "step": "handoff", "node": "channel-server-0", "nth": 17,
              "duration": 8.3, "silent": True},
             {"kind": "partition", "arch": "old", "at": 3.0, "duration": 4.0, "a": ["db"], "b": ["*"],
              "oneway": True})
    make, runner, calls = _fake(breaks)
    small, last, used, minimal = shrink(start, "durability", make, runner, budget=500, chunk=2)
    assert small == ({"kind": "crash", "arch": "old", "step": "handoff", "node": "channel-server-0", "nth": 3,
                      "duration": 1.0, "silent": False},)
    assert last is not None and used == sum(calls) and max(calls) <= 2 and minimal
    again = shrink(start, "durability", *_fake(breaks)[:2], budget=500, chunk=2)
    assert again[0] == small and again[2] == used  # deterministic
    # by default candidates run in batches of a constant size, not one per worker: the
    # result is the same on one process, a local pool or a Dask cluster
    make, runner, calls = _fake(breaks)
    assert shrink(start, "durability", make, runner, budget=500)[0] == small
    assert max(calls) == SHRINK_BATCH
    cut = shrink(start, "durability", *_fake(breaks)[:2], budget=5, chunk=2)
    assert cut[2] == 5 and not cut[3]  # the budget bounds it, and the result says it is no local minimum


def test_shrinking_keeps_faults_that_fire_together_together():
    # breaks only when a crash and a Redis failover fire at the same append, the 3rd or later
    def breaks(faults):
        crash = [f for f in faults if f["kind"] == "crash"]
        rf = [f for f in faults if f["kind"] == "redis-failover"]
        return any(c["nth"] >= 3 and r.get("nth") == c["nth"] for c in crash for r in rf)

    at = {"step": "appended", "node": "webapp-2", "nth": 18}
    start = ({"kind": "crash", "arch": "new", **at, "duration": 6.7},
             {"kind": "redis-failover", "arch": "new", **at, "duration": 15.9, "silent": True})
    # the pair moves as one (18 → 9 → 4 → 3): one fault's nth alone would pull them apart
    small, *_ = shrink(start, "durability", *_fake(breaks)[:2], budget=500)
    assert [(f["kind"], f["nth"], f["duration"]) for f in small] == [("crash", 3, 0.5), ("redis-failover", 3, 0.5)]


def test_simplifications_never_grow_a_schedule():
    f = ({"kind": "degrade", "arch": "old", "at": 4.0, "duration": 2.0, "a": ["db"], "b": ["*"], "oneway": True,
          "latency": 0.5, "loss": 0.2, "dup": 0.1},)
    removals, smaller = simplifications(f)
    assert removals == [()]  # the last fault too: shrinking keeps it unless the run breaks without it
    for c in smaller:
        (g,) = c
        assert g["at"] <= 4.0 and g["duration"] <= 2.0 and g != f[0]
    assert involved(f, vocabulary(load_scenario("crash-mid-send"), "old", ["degrade"])) == ("degrade@db",)


@pytest.mark.parametrize("args, words", [
    (["--faults", "crash,meteor"], "unknown fault kind 'meteor'"),
    (["--invariant", "liveness"], "unknown invariant 'liveness'"),
    (["--budget", "0"], "--budget 0"),
    (["--faults", "redis-failover"], "unknown fault kind 'redis-failover'"),  # a component kind of another design
])
def test_explore_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, words):
    code, _, err = cli("explore", "crash-mid-send", "--arch", "old", "--out", str(tmp_path / "o"), *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("nth", ["0..3", "3..1", "x", "1..2000"])
def test_crashpoints_bad_nth_is_one_line_exit_2(tmp_path, nth):
    code, _, err = cli("crashpoints", "crash-mid-send", "--arch", "old", "--nth", nth, "--out", str(tmp_path / "o"))
    assert code == 2 and "--nth" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_explore_finds_shrinks_and_replays_byte_for_byte(tmp_path):
    out = tmp_path / "ex"
    code, stdout, err = cli("explore", "crash-mid-send", "--arch", "old", "--budget", "8", "--seed", "3",
                            "--faults", "crash", "--invariant", "durability", "--workers", "2",
                            "--shrink-budget", "40", "--out", str(out))
    assert code == 1, err
    doc = json.loads((out / "explore.json").read_text())
    assert doc["runs"] == 8 and doc["findings"]
    f = doc["findings"][0]
    assert f["invariant"] == "durability" and len(f["faults"]) <= 2 and f["reproduced"]
    # the file names the search that found it, with every option that decides the schedules
    search = ("chatsim explore crash-mid-send --arch old --seed 3 --budget 8 --faults crash "
              "--invariant durability --shrink-budget 40")
    assert doc["command"] == search
    assert (out / "found-1.toml").read_text().splitlines()[1] == f"# found by: {search}"
    assert (out / "report.html").exists() and (out / "found-1" / "report.html").exists()
    assert "found-1.toml" in (out / "report.html").read_text()
    lines = read_results(out / "results.jsonl")
    assert len(lines) == 8 + doc["shrink_runs"]
    assert [k["label"] for k, _ in lines[:8]] == [f"explore/{i}" for i in range(8)] or \
        sorted(k["label"] for k, _ in lines[:8]) == sorted(f"explore/{i}" for i in range(8))
    # chatsim run on the written file: the same violation, the same bytes
    code, _, err = cli("run", str(out / "found-1.toml"), "--arch", "old", "--seed", str(f["seed"]),
                       "--out", str(tmp_path / "replay"), "--no-plots")
    assert code == 1, err
    assert (tmp_path / "replay" / "history.jsonl").read_bytes() == (out / "found-1" / "history.jsonl").read_bytes()
    replay = json.loads((tmp_path / "replay" / "result.json").read_text())
    assert replay["invariants"]["durability"]["valid"] is False and replay["as_expected"] is True


def test_interrupting_an_explore_keeps_results_jsonl_valid(tmp_path):
    out = tmp_path / "ex"
    code, err, lines = interrupt_after_lines(["explore", "crash-mid-send", "--arch", "old", "--budget", "5000",
                                              "--workers", "2", "--out", str(out)], tmp_path,
                                             out / "results.jsonl", signal.SIGINT)
    assert code == 130, err
    assert lines[-1] == b""
    docs = [json.loads(x) for x in lines[:-1]]
    assert f"interrupted: {len(docs)} of 5000 runs finished" in err and "Traceback" not in err
    assert all(d["task"]["label"].startswith("explore/") for d in docs)
    assert not (out / "explore.json").exists() and not list(out.glob("found-*.toml"))


# --- the acceptance searches (make test-slow) ------------------------------------------------------

def _explore(tmp_path, *args):
    out = tmp_path / "ex"
    code, _, err = cli("explore", *args, "--workers", "2", "--out", str(out))
    assert code in (0, 1), err
    return code, json.loads((out / "explore.json").read_text()), out


@pytest.mark.slow
def test_explore_old_design_finds_the_acked_loss_in_60_runs(tmp_path):
    code, doc, out = _explore(tmp_path, "crash-mid-send", "--arch", "old", "--budget", "60", "--seed", "1",
                            "--shrink-budget", "40")
    assert code == 1
    lost = [f for f in doc["findings"] if f["invariant"] in ("durability", "validity")]
    assert lost and min(len(f["faults"]) for f in lost) <= 2 and all(f["reproduced"] for f in lost)
    f = min(lost, key=lambda f: len(f["faults"]))
    n = f["n"]
    code, _, err = cli("run", str(out / f"found-{n}.toml"), "--arch", "old", "--seed", str(f["seed"]),
                       "--out", str(tmp_path / "replay"), "--no-plots")
    assert code == 1
    assert (tmp_path / "replay" / "history.jsonl").read_bytes() == (out / f"found-{n}" / "history.jsonl").read_bytes()


@pytest.mark.slow
def test_explore_new_design_keeps_acked_messages_under_crash_pause_partition(tmp_path):
    code, doc, _ = _explore(tmp_path, "crash-mid-send", "--arch", "new", "--budget", "40", "--seed", "1",
                            "--faults", "crash,pause,partition", "--invariant", "durability",
                            "--invariant", "validity")
    assert code == 0 and doc["findings"] == [] and doc["runs"] == 40 and not doc["errors"]


@pytest.mark.slow
def test_explore_new_design_finds_the_redis_failover_duplicate(tmp_path):
    # the scenario's own faults are replaced by the search's: a web app crash and a Redis failover
    code, doc, out = _explore(tmp_path, "redis-failover", "--arch", "new", "--budget", "25", "--seed", "1",
                              "--faults", "crash,redis-failover", "--invariant", "no-duplicates",
                              "--shrink-budget", "24")
    assert code == 1 and not doc["errors"]  # overlapping failovers once crashed runs (test_failover_overlap)
    (f, *_) = doc["findings"]
    assert f["invariant"] == "no-duplicates" and f["kind"] == "duplicate" and f["reproduced"]
    assert {x["kind"] for x in f["faults"]} == {"crash", "redis-failover"}


@pytest.mark.slow
def test_explore_new_design_with_acks_1_and_unclean_election_finds_the_acked_loss(tmp_path):
    code, doc, out = _explore(tmp_path, "crash-mid-send", "--arch", "new", "--budget", "20", "--seed", "1",
                              "--set", "new.kafka.acks=1", "--set", "new.kafka.unclean_election=true",
                              "--faults", "kafka-leader-crash,kafka-leader-isolate", "--invariant", "durability",
                              "--invariant", "validity", "--shrink-budget", "20")
    assert code == 1 and not doc["errors"]
    lost = [f for f in doc["findings"] if f["invariant"] in ("durability", "validity")]
    assert lost and all(f["reproduced"] for f in lost)
    # a leader crash alone no longer loses anything (followers long-poll); the split
    # does: the cut-off leader acks (acks=1) what the elected one never had
    assert all(len(f["faults"]) == 1 and f["faults"][0]["kind"] == "kafka-leader-isolate" for f in lost)
    toml = (out / f"found-{lost[0]['n']}.toml").read_text()
    # the overrides are baked in (``--set`` reads 1 as a number; the setting takes either)
    assert ('acks = "1"' in toml or "acks = 1\n" in toml) and "unclean_election = true" in toml


@pytest.mark.slow
def test_explore_on_a_dask_cluster_finds_what_in_process_finds(dask_cluster, tmp_path):
    # one in-process worker against two Dask workers: the same schedules, shrunk the same way
    common = dict(budget=20, seed=3, kinds=["crash", "pause", "partition"], invariants=["durability"],
                  overrides=[], progress=False, shrink_budget=16, report=False)

    def same(ex):
        keep = ("invariant", "kind", "found_by", "seed", "faults", "signature", "shrink_runs", "breaks",
                "also_found_by", "verdicts", "reproduced")
        return [{k: f.doc()[k] for k in keep} for f in ex.findings], ex.runs, ex.shrink_runs, ex.classes

    with InProcess() as engine:
        local = explore("crash-mid-send", "old", engine=engine, out_dir=tmp_path / "local", **common)
    with DaskEngine(dask_cluster) as engine:
        assert engine.workers == 2
        remote = explore("crash-mid-send", "old", engine=engine, out_dir=tmp_path / "dask", **common)
    assert local.findings and same(remote) == same(local)
    assert len(read_results(tmp_path / "dask" / "results.jsonl")) == 20 + remote.shrink_runs
    body = lambda d: [x for x in (tmp_path / d / "found-1.toml").read_text().splitlines() if not x.startswith("#")]
    assert body("dask") == body("local")  # only the replay comment (its path) differs
