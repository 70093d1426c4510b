"""Overlapping failovers: the node that was failed away from is promoted
again before it could be demoted (its replacement died first). It must stay
the primary — not be told to replicate from itself (which once crashed the
run at kernel dispatch: a reply delivered to a node as a request) — and the
system must take writes again once the faults are over."""

import pytest

from helpers import history_ops, raw, run_scenario


def _late_sends(out, after: float) -> dict[str, str]:
    """Outcome of each send invoked after ``after``: ok, fail or info."""
    ops = history_ops(out)
    invoked = {o["value"]["msg"] for o in ops if o["f"] == "send" and o["type"] == "invoke" and o["time"] > after}
    outcome = {}
    for o in ops:
        if o["f"] == "send" and o["type"] != "invoke" and o["value"]["msg"] in invoked:
            outcome[o["value"]["msg"]] = o["type"]
    assert invoked, "the workload sends after the faults"
    return {m: outcome.get(m, "none") for m in invoked}


def test_overlapping_redis_failovers_leave_one_primary_that_takes_writes(tmp_path):
    scn = raw("redis-failover")
    # three failovers at send-path steps, the second and third while earlier
    # ones are still in progress (found by `chatsim explore`, seed 838992)
    at = [("appended", "webapp-1", 9, 5.0), ("appended", "webapp-0", 19, 10.4), ("replicated", "kafka-2", 3, 10.2)]
    scn["faults"] = [dict(arch="new", kind="redis-failover", step=s, node=n, nth=k, duration=d) for s, n, k, d in at]
    scn.pop("expect")
    result, out = run_scenario(scn, "new", 838992, tmp_path)
    assert sum(1 for o in history_ops(out) if o["f"] == "redis-failover" and o["type"] == "info") >= 2
    late = _late_sends(out, after=30.0)
    assert set(late.values()) == {"ok"}, late


@pytest.mark.parametrize("second_at,d1,d2", [(16, 5, 3), (17, 8, 6)])
def test_overlapping_shard_failovers_leave_the_shard_writable(tmp_path, second_at, d1, d2):
    scn = raw("shard-failover")
    scn["faults"] = [dict(arch="rt2023", kind="shard-failover", at=12, duration=d1, params={"shard": 0}),
                     dict(arch="rt2023", kind="shard-failover", at=second_at, duration=d2, params={"shard": 0})]
    scn.pop("expect")
    scn["workload"]["duration"] = 45
    result, out = run_scenario(scn, "rt2023", 1, tmp_path)
    failovers = [o for o in history_ops(out) if o["f"] == "failover"]
    assert len(failovers) >= 2  # the replica took over, then the first primary took it back
    late = _late_sends(out, after=max(12 + d1, second_at + d2) + 5.0)
    assert set(late.values()) == {"ok"}, late
