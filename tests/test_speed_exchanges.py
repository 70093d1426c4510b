"""HTTP exchanges are kept apart from the nodes' stream tables
(``Network.exchanges``, merged back by ``seq`` in ``Network.held_by``): a
crash, a partition and a heal still walk a node's connections in the order
one table gave — checked against that one table (the reference: every
exchange held in both ends' tables, as before), on a hand-built run where
streams and exchanges interleave, and on built-in runs with crashes and
partitions."""

from pathlib import Path

import pytest

from conftest import Probe, make_net
from scenarios.loader import load_scenario
from sim.network import Network
from sim.runner import run

_OPEN, _FORGET = Network._open, Network._forget


def _table_open(self, kind, a, b, keepalive):
    conn = _OPEN(self, "ws", a, b, keepalive)  # every connection in both ends' tables
    conn.kind = kind
    return conn


def _table_forget(self, conn):
    kind, conn.kind = conn.kind, "ws"
    try:
        _FORGET(self, conn)
    finally:
        conn.kind = kind


def _one_table(monkeypatch):
    monkeypatch.setattr(Network, "_open", _table_open)
    monkeypatch.setattr(Network, "_forget", _table_forget)
    monkeypatch.setattr(Network, "held_by", lambda self, name, by_node=None: list(self.conns.get(name, ())))


def _interleaved(reference: bool, monkeypatch):
    """``hub`` makes streams and requests in turn to four servers, some
    answered slowly (in flight across the faults); a partition holds data
    both ways, a heal flushes it, and the hub crashes with a mix open."""
    if reference:
        _one_table(monkeypatch)
    sim, net = make_net(seed=7)
    hub = Probe(sim, "hub", "us-east")
    servers = [Probe(sim, f"s{i}", "us-east") for i in range(4)]
    sim.start()
    answers = []

    def client():
        for i, s in enumerate(servers):  # a stream, then a request answered 0.3 + 0.3 i s later
            net.connect(hub, s.name)
            ask(i, s.name, 0.3 + 0.3 * i)  # s0's answer comes back during the partition: held
            yield sim.env.timeout(0.01)
        yield sim.env.timeout(0.05)
        for s in servers:  # stream data that the partition will hold
            stream = next(c for c in net.held_by("hub") if c.http is None and s in (c.a, c.b))
            for k in range(3):
                stream.send(hub, "m", k, 50)
        yield sim.env.timeout(0.4)
        for i, s in enumerate(servers[:2]):  # after the heal, in flight at the crash
            ask(10 + i, s.name, 1.0)

    def ask(i, server, wait):
        ev = net.request(hub, server, "slow", wait, size=80, timeout=30.0)
        ev.callbacks.append(lambda e: answers.append((i, round(sim.env.now, 9), e.value.status)))

    def faults():
        yield sim.env.timeout(0.06)
        rules = net.partition({"hub"}, {"s0", "s1", "s2"})
        yield sim.env.timeout(0.4)
        net.heal(rules)  # streams' and an exchange's held data, interleaved
        yield sim.env.timeout(0.44)
        hub.crash()  # two streams' worth of exchanges in flight, made before and after them

    sim.env.process(client())
    sim.env.process(faults())
    sim.env.run(until=40.0)
    got = {s.name: [(round(t, 9), p) for t, p, _c in s.got] for s in servers}
    closed = {s.name: [(round(t, 9), r) for t, r, _c in s.closed] for s in servers}
    return answers, got, closed, list(net.journal.rows)


def test_crash_partition_and_heal_walk_streams_and_exchanges_in_creation_order(monkeypatch):
    fast = _interleaved(False, monkeypatch)
    with monkeypatch.context() as m:
        ref = _interleaved(True, m)
    answers, got, closed, journal = ref
    # the case exercises what it claims: data held by the partition (a
    # stream's and an answer's) delivered after the heal, streams reset by
    # the crash, exchanges it broke
    held = [row for row in journal if row[5] < 0.46 < row[6]]
    assert {row[3] for row in held} == {"m", "slow:reply"}
    assert all(len(got[s]) == 3 for s in ("s0", "s1", "s2")) and all(closed.values())
    # two answered; the rest were in flight when the hub died (never answered)
    assert [(i, status) for i, _t, status in answers] == [(0, "ok"), (1, "ok")] + [
        (i, "timeout") for i in (2, 3, 10, 11)]
    assert len(fast[3]) == len(journal) and fast == ref


def test_an_exchange_is_not_in_the_stream_tables_and_goes_when_answered():
    sim, net = make_net(seed=1)
    a, b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    stream = net._open("ws", a, b, 10.0)
    ev = net.request(a, "b", "ping", 1, timeout=5.0)
    exchange = next(iter(net.exchanges))
    assert net.conns["a"] == (stream,) and net.conns["b"] == (stream,)
    assert net.held_by("a") == [stream, exchange] == net.held_by("b")
    assert exchange.seq > stream.seq
    later = net._open("ws", b, a, 10.0)
    assert net.held_by("a") == [stream, exchange, later]
    sim.env.run(until=1.0)
    assert ev.value.status == "ok" and not net.exchanges and net.held_by("a") == [stream, later]


def test_the_exchange_table_shrinks_after_a_wave():
    sim, net = make_net(seed=1)
    a = Probe(sim, "a", "us-east")
    Probe(sim, "b", "us-east")  # the server end (a node registers itself)
    sim.start()
    for i in range(2000):
        net.request(a, "b", "ping", i, timeout=5.0)
    import sys

    peak = sys.getsizeof(net.exchanges)
    sim.env.run(until=1.0)
    assert not net.exchanges and sys.getsizeof(net.exchanges) < peak / 10


@pytest.mark.parametrize("scenario,arch", [("kafka-unclean-election", "new"), ("crash-mid-send", "rt2023"),
                                           ("redis-failover", "new")])
def test_builtin_runs_match_the_one_table_version(tmp_path, monkeypatch, scenario, arch):
    def once(reference: bool, mp):
        if reference:
            _one_table(mp)
        scn = load_scenario(scenario)
        out = run(scenario=scn.name, seed=2, cfg=scn.run_config(arch), faults=scn.fault_specs(arch),
                  out=Path(tmp_path) / f"{int(reference)}.jsonl")
        return out.history.read_bytes(), list(out.journal.rows)

    fast = once(False, monkeypatch)
    with monkeypatch.context() as m:
        ref = once(True, m)
    assert fast == ref
