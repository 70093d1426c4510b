"""chatsim crashpoints: crash each node of each role at each named step, for
each nth; the matrix shows the acked loss exactly where the model loses it."""

import json

import pytest

from chatsim.crashpoints import matrix, plan
from chatsim.tasks import TaskResult
from helpers import cli
from scenarios import load_scenario
from scenarios.loader import load_raw
from sim import architectures

# The old channel server acks (ack_sent) and only then appends to its volatile
# hand-off buffer (handoff); the flusher persists later (persisted). A crash
# after the ack left and before the buffer reached the web app loses an acked
# message: always at ack_sent and at handoff; at persisted when another acked
# message arrived while the batch was being stored (it is still in the buffer);
# never before the ack (received, broadcast).
OLD_LOSES_AT = {"ack_sent", "handoff"}
OLD_MAY_LOSE_AT = {"persisted"}


def crashpoints(out, arch: str, nth: str, workers: str = "2"):
    """``chatsim crashpoints crash-mid-send`` into ``out``: (exit code, stdout, stderr, crashpoints.json)."""
    code, stdout, err = cli("crashpoints", "crash-mid-send", "--arch", arch, "--nth", nth, "--workers", workers,
                            "--out", str(out))
    path = out / "crashpoints.json"
    return code, stdout, err, json.loads(path.read_text()) if path.exists() else None


def test_crashpoints_old_loses_the_acked_message_only_between_the_ack_and_the_hand_off(tmp_path):
    out = tmp_path / "cp"
    code, stdout, err, doc = crashpoints(out, "old", "1..2")
    assert code == 1, err
    steps = architectures.get("old").step_names()
    assert [(c["step"], c["nth"]) for c in doc["cells"]] == [(s, n) for s in steps for n in (1, 2)]
    losing = {c["step"] for c in doc["cells"] if "durability" in c["broken"]}
    assert OLD_LOSES_AT <= losing <= OLD_LOSES_AT | OLD_MAY_LOSE_AT
    for c in doc["cells"]:
        if c["step"] in OLD_LOSES_AT:
            assert {"durability", "validity"} <= set(c["broken"]) and c["messages"] >= 1
        assert set(c["nodes"]) == {"channel-server-0"}
    assert doc["runs"] == len(steps) * 2
    assert (out / "crashpoints.png").stat().st_size > 0
    svg = (out / "crashpoints.svg").read_text()
    assert "cell-handoff-1" in svg and "ack_sent (channel-server)" in svg
    assert "handoff" in stdout and "durability" in stdout
    # every cell that broke is replayable from a file it wrote: the crash alone, with what it broke
    node = next(c for c in doc["cells"] if (c["step"], c["nth"]) == ("ack_sent", 1))["nodes"]["channel-server-0"]
    replay = out / "replay" / "ack_sent-channel-server-0-1.toml"
    assert node["replay"] == f"chatsim run {replay} --arch old --seed 1" and node["replay"] in stdout
    code, _, err = cli(*node["replay"].split()[1:], "--out", str(tmp_path / "replay"), "--no-plots")
    result = json.loads((tmp_path / "replay" / "result.json").read_text())
    assert code == 1 and result["as_expected"], err
    assert sorted(k for k, v in result["invariants"].items() if v["valid"] is False) == node["broken"]
    assert not any(n.get("replay") for c in doc["cells"] for n in c["nodes"].values() if not c["broken"])


@pytest.mark.slow
def test_crashpoints_new_loses_nothing_at_any_step(tmp_path):
    code, _, err, doc = crashpoints(tmp_path / "cp", "new", "1")
    assert {c["step"] for c in doc["cells"]} == set(architectures.get("new").step_names())
    assert not any({"durability", "validity"} & set(c["broken"]) for c in doc["cells"]), doc
    assert code in (0, 1), err


def test_crashpoints_says_not_reached_for_a_crash_that_never_fired(tmp_path):
    # crash-mid-send sends fewer than 1,000 messages: the 1,000th ack_sent never comes, and
    # a crash point the run never met is untested, not "ok"
    code, stdout, err, doc = crashpoints(tmp_path / "cp", "old", "1,1000", workers="1")
    assert code == 1, err
    far = [c for c in doc["cells"] if c["nth"] == 1000]
    assert far and all(not c["reached"] and not c["broken"] for c in far)
    assert all(not n["crashed"] for c in far for n in c["nodes"].values())
    near = {c["step"]: c for c in doc["cells"] if c["nth"] == 1}
    assert near["ack_sent"]["reached"] and "durability" in near["ack_sent"]["broken"]
    assert "not reached" in stdout


def test_crashpoints_leaves_out_what_the_scenario_breaks_without_the_crash():
    # a run whose crash never fired shows the scenario's own weakness, not this crash point's
    scn = load_scenario("crash-mid-send")
    raw, _ = load_raw("crash-mid-send")
    t = next(t for t in plan("crash-mid-send", raw, scn, "old", 1, [3]) if t.faults[0]["step"] == "handoff")
    broke = TaskResult(scenario="crash-mid-send", arch="old", seed=1, valid=False, fired=0,
                       verdicts={"no-duplicates": False, "validity": True})
    (cell,) = matrix([(t, broke)], "old", [3])
    assert cell.broken == [] and not cell.reached and cell.nodes["channel-server-0"]["broken"] == ["no-duplicates"]
    assert "not reached" in cell.summary()


def test_crashpoints_json_does_not_depend_on_the_order_runs_finish_in():
    # a pool finishes runs in any order; the nodes of a cell are listed in node order, so
    # crashpoints.json is byte-identical for 1 or 2 workers (the new design has 3 web apps)
    scn = load_scenario("crash-mid-send")
    raw, _ = load_raw("crash-mid-send")
    tasks = plan("crash-mid-send", raw, scn, "new", 1, [1])
    res = [(t, TaskResult(scenario="crash-mid-send", arch="new", seed=1, fired=1, verdicts={})) for t in tasks]
    doc = lambda results: json.dumps([c.doc() for c in matrix(results, "new", [1])])  # noqa: E731
    assert doc(res) == doc(res[::-1])
    assert '"webapp-0": {' in doc(res[::-1]).split('"webapp-1"')[0]
