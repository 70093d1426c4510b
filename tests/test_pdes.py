"""The parallel-simulation prototype (sim/pdes.py, docs/scaling.md): regions
as logical processes advancing in lookahead windows give the sequential
run's history byte for byte, in one process, in two OS processes and on Dask
actors; a lookahead that the delays do not honour is caught."""

import pytest

from sim.pdes import LP, LookaheadViolation, Model, run_parallel, run_sequential

SMALL = Model(nodes_per_region=30, duration=4.0)


def test_windows_in_one_process_give_the_sequential_history():
    ref = run_sequential(SMALL, seed=3)
    got, stats = run_parallel(SMALL, seed=3, how="inline")
    assert got == ref
    assert stats["windows"] > 50  # many barriers, not one window swallowing the run
    assert ref.count(b"\n") > 500 and b'"recv"' in ref and b'"eu-west-' in ref


def test_three_regions_and_cross_region_forwarding_still_agree():
    m = Model(regions=("us-east", "eu-west", "ap-south"), nodes_per_region=20, duration=3.0, cross=0.6,
              forward=0.8, max_hops=5)
    assert run_parallel(m, seed=2, how="inline")[0] == run_sequential(m, seed=2)


def test_the_history_depends_on_the_seed_and_the_model():
    a = run_sequential(SMALL, seed=1)
    assert a != run_sequential(SMALL, seed=2)
    assert a != run_sequential(Model(nodes_per_region=30, duration=4.0, cross=0.5), seed=1)
    assert a == run_sequential(SMALL, seed=1)


def test_two_os_processes_give_the_sequential_history():
    ref = run_sequential(SMALL, seed=5)
    got, _ = run_parallel(SMALL, seed=5, how="processes")
    assert got == ref


def test_a_lookahead_longer_than_the_shortest_cross_delay_is_caught():
    # the model's delays are >= cross_delay * clamp = 20 ms; windows of 100 ms
    # would let a message arrive inside the window it was sent in
    with pytest.raises(LookaheadViolation, match="arrives inside the window"):
        run_parallel(SMALL, seed=1, how="inline", lookahead=0.1)
    with pytest.raises(ValueError, match="lookahead"):
        run_parallel(Model(clamp=0.0), seed=1, how="inline")


def test_a_crashed_lp_process_is_reported_not_hung():
    with pytest.raises(RuntimeError, match="LP process .* ended"):
        run_parallel(SMALL, seed=1, how="processes", lookahead=0.1)


def test_ties_are_broken_by_lp_and_its_own_sequence():
    # two LPs pushing events at the same time: the order is (time, lp, seq),
    # whatever order they were pushed in
    import simpy

    env = simpy.Environment()
    a, b = (LP(i, Model(nodes_per_region=1, duration=0.0), 1, env) for i in (0, 1))
    env._queue.clear()
    fired = []
    b._push(1.0, fired.append, ("b0",))
    a._push(1.0, fired.append, ("a0",))
    b._push(1.0, fired.append, ("b1",))
    while env._queue:
        env.step()
    assert fired == ["a0", "b0", "b1"]


def test_dask_actors_give_the_sequential_history(dask_cluster):
    ref = run_sequential(SMALL, seed=4)
    got, _ = run_parallel(SMALL, seed=4, how="dask", scheduler=dask_cluster)
    assert got == ref


def test_chatsim_bench_reports_the_prototype():
    import json

    from helpers import cli

    code, out, err = cli("bench", "--json", "--quick", "--only", "pdes")
    assert code == 0, err
    fig = json.loads(out)
    assert fig["pdes.identical"] is True and fig["pdes.lps"] == 2
    assert fig["pdes.ops"] > 1000 and fig["pdes.windows"] > 50
    assert fig["pdes.speedup"] > 0 and fig["pdes.balance_speedup"] >= 1.0
