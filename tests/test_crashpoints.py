"""chatsim crashpoints: crash each node of each role at each named step, for
each nth; the matrix shows the acked loss exactly where the model loses it."""

import json

import pytest

from helpers import cli
from sim import architectures

# The old channel server acks (ack_sent) and only then appends to its volatile
# hand-off buffer (handoff); the flusher persists later (persisted). A crash
# after the ack left and before the buffer reached the web app loses an acked
# message: always at ack_sent and at handoff; at persisted when another acked
# message arrived while the batch was being stored (it is still in the buffer);
# never before the ack (received, broadcast).
OLD_LOSES_AT = {"ack_sent", "handoff"}
OLD_MAY_LOSE_AT = {"persisted"}


def test_crashpoints_old_loses_the_acked_message_only_between_the_ack_and_the_hand_off(tmp_path):
    out = tmp_path / "cp"
    code, stdout, err = cli("crashpoints", "crash-mid-send", "--arch", "old", "--nth", "1..2", "--workers", "2",
                            "--out", str(out))
    assert code == 1, err
    doc = json.loads((out / "crashpoints.json").read_text())
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


@pytest.mark.slow
def test_crashpoints_new_loses_nothing_at_any_step(tmp_path):
    out = tmp_path / "cp"
    code, _, err = cli("crashpoints", "crash-mid-send", "--arch", "new", "--nth", "1", "--workers", "2",
                       "--out", str(out))
    doc = json.loads((out / "crashpoints.json").read_text())
    assert {c["step"] for c in doc["cells"]} == set(architectures.get("new").step_names())
    assert not any({"durability", "validity"} & set(c["broken"]) for c in doc["cells"]), doc
    assert code in (0, 1), err
