"""Transport semantics: streams, datagrams, partitions, crashes, HTTP."""

import math

from conftest import Probe, make_net


def open_conn(sim, net, a, b, **kw):
    ev = net.connect(a, b.name, **kw)
    sim.env.run(until=sim.env.now + 1)
    assert ev.triggered and not isinstance(ev.value, str)
    return ev.value


def test_stream_is_fifo_and_lossless_under_heavy_loss():
    sim, net = make_net(loss=0.3)
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "eu-west")
    sim.start()
    conn = open_conn(sim, net, a, b)
    for i in range(2000):
        conn.send(a, "m", i)
    sim.env.run(until=sim.env.now + 600)
    assert [p for _, p, _ in b.got] == list(range(2000))
    # loss shows up as retransmission delay: some arrivals far above the 40 ms one-way
    assert max(t for t, _, _ in b.got) > 0.2


def test_stream_latency_follows_region_rtt():
    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "ap-southeast")
    sim.start()
    conn = open_conn(sim, net, a, b)
    t0 = sim.env.now
    conn.send(a, "m", 1)
    sim.env.run(until=t0 + 5)
    dt = b.got[0][0] - t0
    assert 0.217 / 2 * 0.5 < dt < 0.217 / 2 * 2


def test_partition_breaks_stream_after_keepalive_and_notifies_both_ends():
    sim, net = make_net(keepalive=10.0)
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    conn = open_conn(sim, net, a, b)
    t0 = sim.env.now
    net.partition({"a"}, {"b"})
    conn.send(a, "m", "lost")
    sim.env.run(until=t0 + 30)
    assert b.got == []
    assert [(r) for _, r, _ in a.closed] == ["timeout"]
    assert [(r) for _, r, _ in b.closed] == ["timeout"]
    assert abs(a.closed[0][0] - (t0 + 10.0)) < 0.01
    assert not conn.open
    assert net.journal.rows[-1][7] == "broken"


def test_short_partition_holds_data_and_delivers_in_order_after_heal():
    sim, net = make_net(keepalive=10.0)
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    conn = open_conn(sim, net, a, b)
    t0 = sim.env.now
    rules = net.partition({"a"}, {"b"})
    for i in range(5):
        conn.send(a, "m", i)
    sim.env.run(until=t0 + 3)
    assert b.got == []
    net.heal(rules)
    for i in range(5, 10):
        conn.send(a, "m", i)
    sim.env.run(until=t0 + 20)
    assert [p for _, p, _ in b.got] == list(range(10))
    assert a.closed == [] and b.closed == [] and conn.open


def test_one_way_partition_drops_one_direction_only():
    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    net.partition({"a"}, {"b"}, oneway=True)
    for i in range(50):
        net.send_datagram(a, "b", "m", i)
        net.send_datagram(b, "a", "m", i)
    sim.env.run(until=5)
    assert b.got == []
    assert len(a.got) == 50


def test_region_partition_selects_every_node_of_the_region():
    sim, net = make_net()
    a, b, c = Probe(sim, "a", "us-east"), Probe(sim, "b", "eu-west"), Probe(sim, "c", "eu-west")
    sim.start()
    eu = {n.name for n in sim.select(["region:eu-west"])}
    net.partition({"a"}, eu)
    for dst in ("b", "c"):
        net.send_datagram(a, dst, "m", 1)
    sim.env.run(until=1)
    assert b.got == [] and c.got == []


def test_process_crash_resets_peer_at_once_silent_host_waits_for_keepalive():
    for silent, expect in ((False, ("reset", 0.0, 0.01)), (True, ("timeout", 10.0, 0.01))):
        sim, net = make_net(keepalive=10.0)
        a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
        sim.start()
        open_conn(sim, net, a, b)
        t0 = sim.env.now
        b.crash(silent=silent)
        sim.env.run(until=t0 + 20)
        reason, after, tol = expect
        assert [r for _, r, _ in a.closed] == [reason]
        assert abs(a.closed[0][0] - t0 - after) < tol
        assert b.closed == []  # a dead node learns nothing


def test_datagram_loss_and_duplication_rates_match_settings():
    n = 20000
    sim, net = make_net(loss=0.1, dup=0.05)
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    for i in range(n):
        net.send_datagram(a, "b", "m", i)
    sim.env.run(until=10)
    ids = [p for _, p, _ in b.got]
    distinct = len(set(ids))
    dups = len(ids) - distinct
    lost = n - distinct
    # within 5 standard deviations of the binomial expectation
    assert abs(lost - 0.1 * n) < 5 * math.sqrt(n * 0.1 * 0.9)
    kept = n - lost
    assert abs(dups - 0.05 * kept) < 5 * math.sqrt(kept * 0.05 * 0.95)
    # reordering follows from jitter
    assert ids != sorted(ids)


def test_degradation_window_adds_latency_and_loss_then_ends():
    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    rules = net.degrade({"a"}, {"b"}, latency=0.5, loss=1.0)
    net.send_datagram(a, "b", "m", "dropped")
    sim.env.run(until=2)
    assert b.got == []
    net.undegrade(rules)
    net.send_datagram(a, "b", "m", "ok")
    sim.env.run(until=4)
    assert [p for _, p, _ in b.got] == ["ok"]


def test_http_ok_refused_reset_and_timeout():
    sim, net = make_net()
    c, s = Probe(sim, "c", "us-east"), Probe(sim, "s", "us-east")
    sim.start()
    env = sim.env
    ok = net.request(c, "s", "echo", 1, timeout=1)
    env.run(until=1)
    assert ok.value.status == "ok" and ok.value.payload == {"echo": 1}
    # reset: the server dies while handling, outcome unknown
    slow = net.request(c, "s", "slow", 5.0, timeout=10)
    env.run(until=2)
    s.crash()
    env.run(until=3)
    assert slow.value.status == "reset"
    # refused: nothing listening, definitely no effect
    ref = net.request(c, "s", "echo", 2, timeout=10)
    env.run(until=4)
    assert ref.value.status == "refused"
    s.restart()
    # timeout: the path breaks while the request is in flight (outcome unknown)
    to = net.request(c, "s", "slow", 3.0, timeout=2)
    env.run(until=4.1)
    rules = net.partition({"c"}, {"s"})
    env.run(until=7)
    assert to.value.status == "timeout"
    # unreachable: no connection can be set up through a partition (never sent)
    un = net.request(c, "s", "echo", 4, timeout=10)
    env.run(until=12)
    assert un.value.status == "unreachable"
    net.heal(rules)
    assert s.durable["served"] == [1, 3.0]  # the timed-out request took effect: unknown, not failed


def test_journal_records_send_receive_and_drop():
    sim, net = make_net()
    a, _ = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    net.send_datagram(a, "b", "hello", 1, size=42, trace="m1")
    sim.env.run(until=1)
    net.partition({"a"}, {"b"})
    net.send_datagram(a, "b", "hello", 2, trace="m2")
    sim.env.run(until=2)
    r1, r2 = net.journal.rows
    assert r1[1:5] == ["a", "b", "hello", 42] and r1[6] is not None and r1[7] is None and r1[8] == "m1"
    assert r2[6] is None and r2[7] == "partition"


def test_same_seed_same_journal_other_seed_differs():
    def run(seed):
        sim, net = make_net(seed=seed, loss=0.2)
        a, _ = Probe(sim, "a", "us-east"), Probe(sim, "b", "eu-west")
        sim.start()
        for i in range(200):
            net.send_datagram(a, "b", "m", i)
        sim.env.run(until=5)
        return [(r[6], r[7]) for r in net.journal.rows]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_vanished_host_answers_nothing_a_dead_process_is_refused():
    sim, net = make_net(connect_timeout=3.0)
    c, s = Probe(sim, "c", "us-east"), Probe(sim, "s", "us-east")
    sim.start()
    s.crash(silent=True)
    req = net.request(c, "s", "echo", 1, timeout=5)
    conn = net.connect(c, "s")
    sim.env.run(until=10)
    assert req.value.status == "timeout" and conn.value == "timeout"
    assert net.journal.rows[0][6] is None and net.journal.rows[0][7] == "crashed"
    s.restart()
    s.crash(silent=False)
    req = net.request(c, "s", "echo", 2, timeout=5)
    conn = net.connect(c, "s")
    sim.env.run(until=12)
    assert req.value.status == "refused" and conn.value == "refused"


def test_a_segment_is_queued_with_the_key_a_timeout_would_get():
    """``Connection.send`` pushes its arrival on SimPy's queue itself: the
    same time (now + delay, as ``Timeout`` computes it), priority and next
    event id that ``Timeout(env, delay)`` would get, so it runs in the same
    order: before a timeout of the same delay created after it."""
    import copy

    from simpy.events import NORMAL

    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "eu-west")
    sim.start()
    conn = open_conn(sim, net, a, b)
    env = sim.env
    link = net.link(a, b)
    p, rng, now = link.p, copy.deepcopy(link.rng), env.now  # the draw the send will make
    delay = (now + (p.base * math.exp(rng.gauss(0.0, p.sigma)) + p.extra)) - now
    conn.send(a, "m", "x")
    after = env.timeout(delay)
    seen = []
    after.callbacks.append(lambda _e: seen.append(len(b.got)))
    seg, timeout = sorted(env._queue, key=lambda e: e[2])[-2:]
    assert seg[:2] == timeout[:2] == (now + delay, NORMAL) and seg[2] == timeout[2] - 1
    assert seg[3].callbacks == [net._stream_timeout] and seg[3]._ok is True
    env.run(until=now + 1)
    assert seen == [1] and b.got[0][:2] == (now + delay, "x")
