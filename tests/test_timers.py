"""``sim.kernel.Timers``: timers of one fixed delay with a single queue
entry fire exactly where ``Timeout``s made at the same moments would, and
cancelled ones cost nothing."""

from __future__ import annotations

import random
import sys

import simpy
from simpy.events import Timeout

from sim.kernel import Simulation, Timers


def _schedule(use_timers: bool, seed: int) -> list[tuple]:
    """A mix of fixed-delay timers (two delays, some cancelled before, some
    after they fire), other timeouts and zero-delay events made from inside
    callbacks; the order in which callbacks ran, with their times."""
    env = simpy.Environment()
    rnd = random.Random(seed)
    fifo = {d: Timers(env, d) for d in (1.5, 4)}
    log: list[tuple] = []
    cancels: list = []

    def fixed(delay, tag):
        if use_timers:
            t = fifo[delay]
            h = t.add(step, tag)
            return lambda: t.cancel(h)
        to = Timeout(env, delay)
        to.callbacks.append(lambda _e: step(tag))
        return to.callbacks.clear

    def step(tag):
        log.append((env.now, tag))
        if len(log) > 400:
            return
        for _ in range(rnd.randrange(1, 4)):
            kind = rnd.random()
            if kind < 0.5:
                cancels.append(fixed(rnd.choice((1.5, 4)), f"fixed-{len(log)}-{kind:.3f}"))
            elif kind < 0.8:
                Timeout(env, rnd.choice((0, 0.5, 1.5, 2.5))).callbacks.append(lambda _e, t=f"t-{kind:.3f}": step(t))
            elif cancels:
                cancels.pop(rnd.randrange(len(cancels)))()

    for i in range(5):
        Timeout(env, i * 0.5).callbacks.append(lambda _e, i=i: step(f"seed-{i}"))
    env.run(until=60)
    return log


def test_timers_fire_in_the_order_and_at_the_times_of_timeouts():
    for seed in range(6):
        a, b = _schedule(False, seed), _schedule(True, seed)
        assert len(a) > 50
        assert a == b


def test_only_the_earliest_timer_is_queued_and_cancelled_ones_are_forgotten():
    sim = Simulation(1)
    env = sim.env
    t = sim.timers(10.0)
    assert sim.timers(10.0) is t and sim.timers(10) is not t  # now + 10 and now + 10.0 differ at t = 0
    fired = []
    handles = [t.add(fired.append, i) for i in range(1000)]
    assert len(env._queue) == 1
    for h in handles[1:-3]:
        t.cancel(h)
    assert len(t.due) == 4 and t.high <= 64  # compacted: the emptied table was let go
    assert sys.getsizeof(t.due) < 8000  # a thousand entries: ~80 KB
    env.run(until=20)
    assert fired == [0, 997, 998, 999]
    assert not t.due and t.armed is None and not any(e[3] is t for e in env._queue)
