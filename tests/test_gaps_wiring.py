"""Wiring fails fast, before time starts (STYLE 7, docs/faults.md): each
``WiringError`` case of ``sim.runner.check_wiring``, raised by ``run`` with
nothing written, naming what was wrong and what is known."""

import pytest

from scenarios import load_scenario
from sim.errors import WiringError
from sim.faults import FaultSpec
from sim.runner import run


def _run(arch, faults, tmp_path):
    cfg = load_scenario("steady", []).run_config(arch)
    out = tmp_path / "history.jsonl"
    with pytest.raises(WiringError) as err:
        run(scenario="steady", seed=1, cfg=cfg, faults=faults, out=out)
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written half-way
    return str(err.value)


def test_unknown_step_names_the_architectures_steps(tmp_path):
    msg = _run("old", [FaultSpec("crash", step="persisted_twice", node="channel-server-*")], tmp_path)
    assert "'persisted_twice'" in msg and "old's steps are received, broadcast, ack_sent, handoff" in msg


def test_step_fault_on_a_node_glob_matching_nothing(tmp_path):
    msg = _run("old", [FaultSpec("crash", step="ack_sent", node="kafka-*")], tmp_path)
    assert msg == "fault crash at step ack_sent: node 'kafka-*' matches no node"


def test_component_fault_of_another_architecture_is_unknown(tmp_path):
    msg = _run("old", [FaultSpec("redis-failover", at=5.0)], tmp_path)
    assert msg.startswith("unknown fault kind 'redis-failover' for architecture old (known: ")
    known = msg.split("(known: ")[1].rstrip(")").split(", ")
    assert {"crash", "pause", "partition"} <= set(known) and "redis-failover" not in known


def test_timed_fault_target_matching_nothing(tmp_path):
    msg = _run("new", [FaultSpec("crash", at=5.0, targets=("nobody-*",))], tmp_path)
    assert "'nobody-*' matches no node" in msg
    msg = _run("new", [FaultSpec("partition", at=5.0, a=("webapp-*",), b=("region:mars",))], tmp_path)
    assert "'region:mars' matches no node" in msg


def test_a_later_bad_fault_is_found_after_good_ones(tmp_path):
    """Every fault is checked, not only the first."""
    good = FaultSpec("crash", step="ack_sent", node="channel-server-*")
    msg = _run("old", [good, good, FaultSpec("crash", step="nope", node="channel-server-*")], tmp_path)
    assert "'nope'" in msg


def test_the_same_faults_wire_under_the_architecture_that_has_them(tmp_path):
    """The control: a known kind, a real step and a matching glob run to the end."""
    cfg = load_scenario("steady", ["workload.duration=3", "workload.settle=2"]).run_config("new")
    out = run(scenario="steady", seed=1, cfg=cfg, out=tmp_path / "h.jsonl",
              faults=[FaultSpec("redis-failover", at=1.0), FaultSpec("crash", step="appended", node="webapp-*",
                                                                     duration=1.0)])
    assert out.history.exists()
