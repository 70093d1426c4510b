"""The new architecture: every scenario's expected verdicts under both
architectures, a crash at each named step, and the failure each setting
enables."""

import copy

import pytest

from helpers import history_ops, raw, run_scenario, verdicts
from sim.architectures.new import ARCHITECTURE

STEPS = ARCHITECTURE.step_names()


def test_crash_mid_send_new_holds_where_old_loses(tmp_path):
    old, _ = run_scenario("crash-mid-send", "old", 1, tmp_path)
    new, out = run_scenario("crash-mid-send", "new", 1, tmp_path)
    assert old["valid"] is False and new["valid"] is True
    assert any(o["f"] == "crash" and o["value"].get("step") == "broadcast" for o in history_ops(out))


def test_webapp_outage_new_fails_clearly(tmp_path):
    result, out = run_scenario("webapp-outage", "new", 1, tmp_path)
    assert result["valid"] is True
    fails = [o for o in history_ops(out) if o["f"] == "send" and o["type"] == "fail"]
    assert len(fails) > 10  # refused while every instance is down: definite, not lies


STEP_NODES = {"received": "webapp-*", "deduped": "webapp-*", "appended": "webapp-*", "responded": "webapp-*",
              "replicated": "kafka-*", "broadcast": "channel-server-*", "pushed": "flannel-*",
              "persisted": "worker-*"}


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_each_named_step_loses_nothing_acked(step, tmp_path):
    r = copy.deepcopy(raw("steady"))
    r["faults"] = [{"kind": "crash", "arch": "new", "step": step, "node": STEP_NODES[step], "nth": 15,
                    "duration": 5}]
    r["workload"]["duration"] = 20
    result, out = run_scenario(r, "new", 1, tmp_path)
    v = verdicts(result)
    assert v["durability"] is True and v["validity"] is True and v["integrity"] is True, step
    assert any(o["f"] == "crash" and o["value"].get("step") == step for o in history_ops(out)), step


# -- each setting and the failure it enables ---------------------------------------
def test_dedupe_off_duplicates_retries(tmp_path):
    on, _ = run_scenario("retry-duplicate", "new", 1, tmp_path / "on")
    off, _ = run_scenario("retry-duplicate", "new", 1, tmp_path / "off", ["new.dedupe=false"])
    assert verdicts(on)["no-duplicates"] is True
    assert verdicts(off)["no-duplicates"] is False


@pytest.mark.parametrize("override", ["kafka.acks=all", "kafka.unclean_election=false"])
def test_acks_all_or_clean_election_keep_acked_messages(override, tmp_path):
    result, _ = run_scenario("kafka-unclean-election", "new", 1, tmp_path, [override])
    v = verdicts(result)
    assert v["durability"] is True and v["validity"] is True


def test_unclean_election_loses_acked_messages_and_names_them(tmp_path):
    result, out = run_scenario("kafka-unclean-election", "new", 1, tmp_path)
    lost = result["invariants"]["durability"]["violations"]
    assert lost and all("acked to" in v["explanation"] for v in lost)
    elections = [o for o in history_ops(out) if o["f"] == "election"]
    assert any(o["value"]["clean"] is False for o in elections)


def test_redis_restart_without_persistence_forgets_dedupe_keys(tmp_path):
    r = copy.deepcopy(raw("redis-failover"))
    r["faults"] = [
        {"kind": "crash", "arch": "new", "step": "appended", "node": "webapp-*", "nth": 20, "duration": 10},
        # restarts before discovery would fail over: the same node stays primary
        {"kind": "crash", "arch": "new", "step": "appended", "node": "webapp-*", "nth": 20, "duration": 0.5,
         "targets": ["redis-0"]},
    ]
    r["new"] = {"redis": {"replication_lag": 1.0, "persistence": True}}
    kept, _ = run_scenario(r, "new", 1, tmp_path / "kept")
    r["new"]["redis"]["persistence"] = False
    lost, _ = run_scenario(r, "new", 1, tmp_path / "lost")
    assert verdicts(kept)["no-duplicates"] is True
    assert verdicts(lost)["no-duplicates"] is False


def test_ts_from_kafka_keeps_order_under_skew(tmp_path):
    skewed, _ = run_scenario("clock-skew", "new", 1, tmp_path / "w")
    kafka, _ = run_scenario("clock-skew", "new", 1, tmp_path / "k", ["new.ts_source=kafka"])
    assert verdicts(skewed)["total-order"] is False
    assert verdicts(kafka)["total-order"] is True


def test_hold_back_off_shows_messages_out_of_log_order(tmp_path):
    # busy enough that two web apps' broadcasts of one channel race (acks=all
    # acks come within a couple of intra-region round trips, in log order)
    busy = ["workload.rate=30", "workload.duration=5"]
    held, _ = run_scenario("steady", "new", 1, tmp_path / "h", busy)
    loose, _ = run_scenario("steady", "new", 1, tmp_path / "l", busy + ["new.hold_back=false"])
    assert verdicts(held)["total-order"] is True
    assert verdicts(loose)["total-order"] is False


def test_non_idempotent_workers_duplicate_on_redelivery(tmp_path):
    r = copy.deepcopy(raw("steady"))
    r["faults"] = [{"kind": "crash", "arch": "new", "step": "persisted", "node": "worker-*", "nth": 10,
                    "duration": 2}]
    r["workload"]["duration"] = 20
    r["new"] = {"workers": {"idempotent": True}}
    idem, _ = run_scenario(r, "new", 1, tmp_path / "i")
    r["new"]["workers"]["idempotent"] = False
    plain, _ = run_scenario(r, "new", 1, tmp_path / "p")
    assert verdicts(idem)["no-duplicates"] is True
    assert verdicts(plain)["no-duplicates"] is False


def test_rate_limit_answers_429_and_clients_back_off(tmp_path):
    result, out = run_scenario("steady", "new", 1, tmp_path, ["workload.rate=4", "new.rate_limit=2",
                                                              "workload.duration=10"])
    assert result["valid"] is True
    assert result["metrics"]["sends"]["acked"] > 0


def test_new_run_is_deterministic(tmp_path):
    _, a = run_scenario("kafka-unclean-election", "new", 5, tmp_path / "a")
    _, b = run_scenario("kafka-unclean-election", "new", 5, tmp_path / "b")
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()


def test_kafka_leader_crash_elects_a_new_leader_and_keeps_acked_messages(tmp_path):
    from sim.kernel import stable_hash

    r = copy.deepcopy(raw("steady"))
    part = stable_hash("general") % 4
    r["faults"] = [{"kind": "kafka-leader-crash", "arch": "new", "at": 8, "duration": 10, "silent": True,
                    "params": {"partition": part}}]
    result, out = run_scenario(r, "new", 1, tmp_path)
    ops = history_ops(out)
    crash = next(o for o in ops if o["f"] == "kafka-leader-crash")
    assert crash["value"]["partition"] == part and crash["value"]["node"].startswith("kafka-")
    elections = [o for o in ops if o["f"] == "election" and o["value"]["partition"] == part]
    assert elections and elections[0]["value"]["clean"] is True
    assert elections[0]["value"]["leader"] != crash["value"]["node"]
    v = verdicts(result)
    assert v["durability"] is True and v["validity"] is True


@pytest.mark.parametrize("acks", ["1", "all"])
def test_kafka_leader_isolated_acks_with_acks_1_what_the_new_leader_never_had(acks, tmp_path):
    """A split: the leader of general's partition cannot reach the other
    brokers or the controller, the web apps still reach it. The controller
    elects another leader (clean: the ISR could not shrink without it); with
    acks=1 the old leader acked appends no follower fetched, and truncates
    them when it rejoins; with acks=all it acked nothing it could lose."""
    from sim.kernel import stable_hash

    r = copy.deepcopy(raw("steady"))
    part = stable_hash("general") % 4
    r["faults"] = [{"kind": "kafka-leader-isolate", "arch": "new", "at": 8, "duration": 6,
                    "params": {"partition": part}}]
    r.setdefault("new", {}).setdefault("kafka", {})["acks"] = acks
    result, out = run_scenario(r, "new", 1, tmp_path)
    ops = history_ops(out)
    cut = next(o for o in ops if o["f"] == "kafka-leader-isolate")
    assert cut["value"]["partition"] == part and cut["value"]["node"].startswith("kafka-")
    assert [o["f"] for o in ops if o["process"] == "nemesis"] == ["kafka-leader-isolate", "heal"]
    elections = [o for o in ops if o["f"] == "election" and o["value"]["partition"] == part]
    assert elections and elections[0]["value"]["clean"] is True
    assert elections[0]["value"]["leader"] != cut["value"]["node"]
    v = verdicts(result)
    if acks == "1":
        assert v["durability"] is False and v["validity"] is False
        lost = {x["msg"] for x in result["invariants"]["durability"]["violations"]}
        acked_at = {o["value"]["msg"]: o["time"] for o in ops if o["f"] == "send" and o["type"] == "ok"}
        # what was lost was acked while the old leader was cut off, before the election
        assert lost and all(8 <= acked_at[m] <= elections[0]["time"] for m in lost)
    else:
        assert v["durability"] is True and v["validity"] is True


def test_flannel_restart_fault_is_recorded_and_cold(tmp_path):
    result, out = run_scenario("flannel-cold-restart", "new", 2, tmp_path)
    ops = history_ops(out)
    assert [o["f"] for o in ops if o["process"] == "nemesis"] == ["flannel-restart", "restart"]
    assert result["metrics"]["backend"]["flannel"]["loads"] == 3
