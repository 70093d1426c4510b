"""The old RTM architecture end to end: expected verdicts, crash points,
degraded mode, determinism."""

import copy

import pytest

from helpers import assert_expected, history_ops, raw, run_scenario, verdicts
from sim.architectures.old import ARCHITECTURE

STEPS = ARCHITECTURE.step_names()

SCENARIOS = ["steady", "crash-mid-send", "webapp-outage", "flaky-mobile"]


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_expected_verdicts_hold(name, seed, tmp_path):
    result, _ = run_scenario(name, "old", seed, tmp_path)
    assert_expected(result)


def test_crash_mid_send_names_the_lost_acked_message(tmp_path):
    result, out = run_scenario("crash-mid-send", "old", 1, tmp_path)
    lost = result["invariants"]["durability"]["violations"]
    assert lost and all("acked to" in v["explanation"] for v in lost)
    ops = history_ops(out)
    crash = next(o for o in ops if o["process"] == "nemesis" and o["f"] == "crash")
    assert crash["value"]["step"] == "ack_sent" and crash["value"]["nth"] == 12
    # the message the crash interrupted was acked and never persisted
    acked = {o["value"]["msg"] for o in ops if o["f"] == "send" and o["type"] == "ok"}
    assert crash["value"]["msg"] in acked
    assert crash["value"]["msg"] in {v["msg"] for v in lost}


def _crash_at(step):
    r = copy.deepcopy(raw("crash-mid-send"))
    r["faults"] = [{"kind": "crash", "step": step, "node": "channel-server-0", "nth": 12, "duration": 5}]
    r["expect"] = {}
    r["workload"]["duration"] = 20
    return r


# What a crash at each step of the old send path must show (seed 1).
CRASH_POINTS = {
    "received": {"durability": True, "validity": True},  # nothing acked yet: the client resends
    "broadcast": {"no-duplicates": False, "durability": True},  # shown, unacked, resent with a new ts
    "ack_sent": {"durability": False, "validity": False},  # acked, still in the volatile buffer
    "handoff": {"durability": False, "validity": False},  # in the buffer, not persisted
    "persisted": {"durability": True, "validity": True},  # already stored
}


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_each_named_step(step, tmp_path):
    result, out = run_scenario(_crash_at(step), "old", 1, tmp_path)
    v = verdicts(result)
    assert v["integrity"] is True
    for name, want in CRASH_POINTS[step].items():
        assert v[name] is want, (step, name, result["invariants"][name]["violations"][:2])
    ops = history_ops(out)
    assert any(o["f"] == "crash" and o["value"].get("step") == step for o in ops)


def test_degraded_mode_chat_continues_while_the_webapp_is_down(tmp_path):
    result, out = run_scenario("webapp-outage", "old", 1, tmp_path)
    ops = history_ops(out)
    down = next(o["time"] for o in ops if o["f"] == "crash" and o["value"]["node"] == "webapp-0")
    up = next(o["time"] for o in ops if o["f"] == "restart" and o["value"]["node"] == "webapp-0")
    acked_during = [o for o in ops if o["f"] == "send" and o["type"] == "ok" and down < o["time"] < up]
    shown_during = [o for o in ops if o["f"] == "deliver" and down < o["time"] < up]
    assert len(acked_during) > 10 and len(shown_during) > 10
    # ... and what the channel-server crash during the outage threw away was acked
    lost = result["invariants"]["durability"]["violations"]
    assert lost and result["metrics"]["sends"]["failed"] == 0


def test_same_seed_byte_identical_other_seed_differs(tmp_path):
    _, a = run_scenario("flaky-mobile", "old", 7, tmp_path / "a")
    _, b = run_scenario("flaky-mobile", "old", 7, tmp_path / "b")
    _, c = run_scenario("flaky-mobile", "old", 8, tmp_path / "c")
    ha, hb, hc = ((p / "history.jsonl").read_bytes() for p in (a, b, c))
    assert ha == hb
    assert ha != hc


def test_presence_and_typing_are_carried_but_never_recorded_or_stored(tmp_path):
    result, out = run_scenario("steady", "old", 1, tmp_path)
    kinds = result["metrics"]["network"]["by_kind"]
    assert kinds.get("typing", 0) > 0 and kinds.get("presence", 0) > 0
    assert not any(o["f"] in ("typing", "presence") for o in history_ops(out))


def test_run_ends_heal_settle_final_reads_store(tmp_path):
    _, out = run_scenario("webapp-outage", "old", 2, tmp_path)
    ops = history_ops(out)
    fs = [o["f"] for o in ops]
    last_heal = max(i for i, o in enumerate(ops) if o["process"] == "nemesis")
    first_read = fs.index("read")
    first_stored = fs.index("stored")
    assert last_heal < first_read < first_stored
    assert all(f == "stored" for f in fs[first_stored:])


@pytest.mark.parametrize("seed", [6, 8])
def test_a_client_is_connected_only_once_its_channel_server_welcomed_it(seed, tmp_path):
    """RTM's ``hello`` event: the channel server answers a client's hello
    once it has subscribed it, and only then does the client log ``connect``.
    On these seeds a message was broadcast between the client's socket
    opening and its hello reaching the server; with ``connect`` logged at
    the socket's opening that client was "connected" yet never shown it."""
    result, out = run_scenario("steady", "old", seed, tmp_path)
    assert verdicts(result)["live-completeness"] is True, result["invariants"]["live-completeness"]["violations"]


def test_without_the_servers_welcome_a_client_never_connects(tmp_path, monkeypatch):
    """A channel server that never answers the hello: the client gives up
    after the HTTP timeout and starts over, never logging ``connect``."""
    from sim import network

    real = network.Connection.send

    def no_welcome(self, sender, kind, *a, **k):
        return False if kind == "welcome" else real(self, sender, kind, *a, **k)

    monkeypatch.setattr(network.Connection, "send", no_welcome)
    r = raw("steady")
    r["workload"]["duration"] = 5
    r["expect"] = {}
    _, out = run_scenario(r, "old", 1, tmp_path)
    ops = history_ops(out)
    assert not [o for o in ops if o["f"] == "connect"]
    assert [o for o in ops if o["f"] == "boot" and o["process"] == "client-1"][1:], "it booted again after giving up"
