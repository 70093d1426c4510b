"""The cyclic collector is paused while a simulation runs (sim.gcpause), and
that stays sound only while the model leaves few cycles behind: the bound
below fails if a change starts making garbage cycles per event (an exception
kept with its traceback per request, a closure holding itself)."""

from __future__ import annotations

import gc

import pytest

from scenarios.loader import load_scenario
from sim.gcpause import gc_paused
from sim.runner import run


def test_paused_nests_and_restores():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # was off: stays off
    finally:
        gc.enable()


def test_run_pauses_the_collector_and_restores_it(tmp_path):
    scn = load_scenario("steady")
    seen = []
    run(scenario=scn.name, seed=1, cfg=scn.run_config("old"), faults=scn.fault_specs("old"),
        out=tmp_path / "h.jsonl", probe_at=5.0, probe=lambda sim: seen.append(gc.isenabled()))
    assert seen == [False]
    assert gc.isenabled()


# webapp-outage leaves the most garbage of the built-in runs (unanswered
# requests: a connection and its pending arrival hold each other, ~4 objects
# a request, 1,676 objects for 23,604 events under new); flaky-mobile's
# links hold their peers.
@pytest.mark.parametrize("scenario,arch", [("webapp-outage", "new"), ("flaky-mobile", "rt2023")])
def test_a_run_leaves_few_garbage_cycles(tmp_path, scenario, arch):
    scn = load_scenario(scenario)
    gc.collect()
    with gc_paused():
        out = run(scenario=scn.name, seed=1, cfg=scn.run_config(arch), faults=scn.fault_specs(arch),
                  out=tmp_path / "h.jsonl", journal=False)
        events = next(out.sim.env._eid)
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()  # the simulation is still referenced: only what the run dropped
        finally:
            gc.set_debug(0)
        garbage = len(gc.garbage)
        gc.garbage.clear()
        del out
        gc.collect()
    assert events > 10_000
    assert garbage < 0.2 * events, f"{garbage} objects in garbage cycles for {events} events"
