"""The jitter draws inlined on the hot path give the values the calls they
replace gave: ``Connection.send``'s copy of ``random.Random.gauss`` (a
server-to-server link) and ``Draws.gauss``'s inlined SplitMix64 steps (a
client's link) — draw for draw, spare deviate included."""

import math
import random

from conftest import Probe, make_net
from sim.kernel import Draws, Stream


def test_send_draws_the_jitter_random_gauss_draws():
    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "eu-west")
    sim.start()
    conn = net._open("ws", a, b, 10.0)
    link = net.link(a, b)
    twin = random.Random()
    twin.setstate(link.rng.getstate())  # the link's stream as it stands, before any segment
    p = link.p
    want, last = [], 0.0
    for _ in range(501):  # odd: the last draw leaves a spare deviate behind
        t = sim.env.now + (p.base * math.exp(twin.gauss(0.0, p.sigma)) + p.extra)
        last = max(last, t)  # FIFO: never before what was sent earlier
        want.append(last)
        conn.send(a, "m", None)
    sim.env.run(until=sim.env.now + 5)
    assert [t for t, _, _ in b.got] == want
    assert link.rng.getstate() == twin.getstate() and link.rng.gauss_next == twin.gauss_next


def _reference_gauss(s: Stream, mu: float = 0.0, sigma: float = 1.0) -> float:
    """``Draws.gauss`` as it was, calling ``random`` (and so ``_next``) twice."""
    if s._g is not None:
        z, s._g = s._g, None
        return mu + z * sigma
    r = math.sqrt(-2.0 * math.log(1.0 - s.random()))
    theta = 2.0 * math.pi * s.random()
    s._g = r * math.sin(theta)
    return mu + r * math.cos(theta) * sigma


def test_stream_gauss_draws_what_two_random_calls_drew():
    fast, ref = Stream("x/y"), Stream("x/y")
    got, want = [], []
    for i in range(2001):
        got.append(Draws.gauss(fast, 0.5, 0.15))
        want.append(_reference_gauss(ref, 0.5, 0.15))
        if i % 7 == 0:  # other draws in between move the same state
            got.append(fast.random())
            want.append(ref.random())
    assert got == want
    assert (fast._s, fast._g) == (ref._s, ref._g)
