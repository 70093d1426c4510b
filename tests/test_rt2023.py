"""rt2023 (Slack's 2023 design): a crash at each named step, each component
fault, the two weakness scenarios, the respond/admin ordering, determinism
and settings validation."""

import copy

import pytest

from helpers import cli, history_ops, raw, run_scenario, verdicts
from sim.architectures.rt2023 import ARCHITECTURE

STEP_NODES = {"received": "webapp-*", "deduped": "webapp-*", "persisted": "webapp-*", "handed": "webapp-*",
              "responded": "webapp-*", "routed": "admin-*", "sequenced": "channel-server-*",
              "broadcast": "channel-server-*", "pushed": "gateway-*"}


def short_steady(faults, duration=20):
    r = copy.deepcopy(raw("steady"))
    r["faults"] = faults
    r["workload"]["duration"] = duration
    return r


def nemesis(ops, f):
    return [o for o in ops if o["process"] == "nemesis" and o["f"] == f]


def test_every_step_has_a_crash_target():
    assert set(STEP_NODES) == set(ARCHITECTURE.step_names())


@pytest.mark.parametrize("step", ARCHITECTURE.step_names())
def test_crash_at_each_named_step_loses_nothing_acked(step, tmp_path):
    """The message is in its shard before anyone is told it was sent: no crash point loses an acked one."""
    r = short_steady([{"kind": "crash", "arch": "rt2023", "step": step, "node": STEP_NODES[step], "nth": 15,
                       "duration": 5}])
    result, out = run_scenario(r, "rt2023", 1, tmp_path)
    v = verdicts(result)
    assert v["durability"] is True and v["validity"] is True and v["integrity"] is True, step
    assert v["no-duplicates"] is True and v["total-order"] is True, step
    crash = nemesis(history_ops(out), "crash")
    assert crash and crash[0]["value"]["step"] == step and crash[0]["value"]["fault"] == 1


def _never_live(ops, msg):
    return not any(o["f"] == "deliver" and o["value"]["msg"] == msg for o in ops)


def test_admin_server_crash_persists_and_acks_but_never_shows_live(tmp_path):
    result, out = run_scenario("admin-server-crash", "rt2023", 1, tmp_path)
    ops = history_ops(out)
    start, end = nemesis(ops, "admin-server-crash"), nemesis(ops, "restart")
    assert start and end and start[0]["value"]["fault"] == end[0]["value"]["fault"]
    msg = start[0]["value"]["msg"]
    assert any(o["type"] == "ok" and o["f"] == "send" and o["value"]["msg"] == msg for o in ops)  # acked
    stored = {o["value"]["channel"]: o["value"]["msgs"] for o in ops if o["f"] == "stored"}
    assert any(msg in ms for ms in stored.values())  # durable, in the final reads
    assert _never_live(ops, msg)  # ... and nobody saw it live: live-completeness judges it
    v = {k: r["valid"] for k, r in result["invariants"].items()}
    assert v.pop("live-completeness") is False and all(x is True for x in v.values())
    assert msg in {x["msg"] for x in result["invariants"]["live-completeness"]["violations"]}


def test_shard_failover_loses_acked_messages_the_replica_never_got(tmp_path):
    result, out = run_scenario("shard-failover", "rt2023", 1, tmp_path)
    ops = history_ops(out)
    start = nemesis(ops, "shard-failover")
    assert start and start[0]["value"] == {"shard": 0, "node": "db-0a", "fault": 1}
    failover = [o for o in ops if o["f"] == "failover"]
    assert failover and failover[0]["value"]["primary"] == "db-0b"
    lost = result["invariants"]["durability"]["violations"]
    assert lost and all("acked to" in v["explanation"] for v in lost)
    # what was lost was acked within the replication lag before the primary vanished
    t_crash = start[0]["time"]
    acked_at = {o["value"]["msg"]: o["time"] for o in ops if o["f"] == "send" and o["type"] == "ok"}
    lost_msgs = {v["msg"] for v in lost if v.get("msg") in acked_at}
    assert lost_msgs and all(t_crash - 3.5 <= acked_at[m] <= t_crash for m in lost_msgs)


def test_shard_failover_without_lag_loses_nothing(tmp_path):
    result, _ = run_scenario("shard-failover", "rt2023", 1, tmp_path, ["rt2023.db.replication_lag=0"])
    v = verdicts(result)
    assert v["durability"] is True and v["validity"] is True


def test_ring_manager_loss_keeps_a_dead_channel_server_mapped(tmp_path):
    """channel-server-0 is dead for 30 s. With the ring manager its channels move after ~20 s;
    while the ring manager is lost they stay mapped to the dead server and go dark."""
    crash = {"kind": "crash", "arch": "rt2023", "at": 5, "duration": 30, "targets": ["channel-server-0"]}
    loss = {"kind": "ring-manager-loss", "arch": "rt2023", "at": 4, "duration": 40}
    _, with_rm = run_scenario(short_steady([crash], 40), "rt2023", 1, tmp_path / "rm")
    _, lost = run_scenario(short_steady([crash, loss], 40), "rt2023", 1, tmp_path / "lost")
    ops = history_ops(lost)
    start = nemesis(ops, "ring-manager-loss")[0]
    assert start["value"]["node"] == "ring-manager"
    assert any(o["f"] == "restart" and o["value"]["fault"] == start["value"]["fault"] for o in ops)

    def live_between(out, a, b):
        return sum(1 for o in history_ops(out) if o["f"] == "deliver" and a < o["time"] < b)

    assert live_between(with_rm, 27, 34) > live_between(lost, 27, 34)


def test_gateway_crash_by_region_disconnects_only_that_region(tmp_path):
    r = short_steady([{"kind": "gateway-crash", "arch": "rt2023", "at": 8, "duration": 3,
                       "params": {"region": "eu-west"}}])
    result, out = run_scenario(r, "rt2023", 1, tmp_path)
    ops = history_ops(out)
    start = nemesis(ops, "gateway-crash")[0]
    assert start["value"]["node"] == "gateway-eu-west-0"
    assert nemesis(ops, "restart")[0]["value"]["fault"] == start["value"]["fault"]
    dropped = {o["process"] for o in ops if o["f"] == "disconnect"}
    assert dropped == {"client-6", "client-7", "client-8"}  # the eu-west clients
    assert result["valid"] is True


def test_respond_first_decides_what_a_crash_at_responded_costs(tmp_path):
    """A web app crash at ``responded``: respond first → the admin call never left (nobody sees it
    live; the retry is an idempotent replay); admin first → it was routed before the crash."""
    fault = [{"kind": "crash", "arch": "rt2023", "step": "responded", "node": "webapp-*", "nth": 15,
              "duration": 5}]
    r = short_steady(fault)
    r["rt2023"] = {"respond_first": True}
    first, out_first = run_scenario(r, "rt2023", 1, tmp_path / "respond")
    r["rt2023"] = {"respond_first": False}
    admin, out_admin = run_scenario(r, "rt2023", 1, tmp_path / "admin")
    for result in (first, admin):
        assert verdicts(result)["durability"] is True and verdicts(result)["validity"] is True
    ops_first, ops_admin = history_ops(out_first), history_ops(out_admin)
    m1 = nemesis(ops_first, "crash")[0]["value"]["msg"]
    m2 = nemesis(ops_admin, "crash")[0]["value"]["msg"]
    assert _never_live(ops_first, m1)
    assert not _never_live(ops_admin, m2)


def test_job_queue_failure_never_fails_a_send(tmp_path):
    result, out = run_scenario("kafka-unclean-election", "rt2023", 1, tmp_path)
    ops = history_ops(out)
    assert result["valid"] is True
    assert not [o for o in ops if o["f"] == "send" and o["type"] in ("fail", "info")]
    assert any(o["f"] == "election" for o in ops)


def test_rt2023_run_is_deterministic(tmp_path):
    _, a = run_scenario("shard-failover", "rt2023", 4, tmp_path / "a")
    _, b = run_scenario("shard-failover", "rt2023", 4, tmp_path / "b")
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()


@pytest.mark.parametrize("setting, key", [("rt2023.db.shards=0", "shards"),
                                          ("rt2023.respond_first=maybe", "respond_first"),
                                          ("rt2023.kafka.replication=5", "replication")])
def test_bad_setting_is_exit_2_naming_the_key(setting, key, tmp_path):
    code, out, err = cli("run", "steady", "--arch", "rt2023", "--set", setting, "--out", str(tmp_path / "x"))
    assert code == 2 and key in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
