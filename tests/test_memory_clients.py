"""What a connected client costs, pinned structurally (issue 15: bytes per
connected client). Each test reads the state of a small idle storm (the
benchmark's idle probe, ``chatsim.api.storm_one``) once every client is
connected, and fails if a per-client structure grows back: links kept in the
network's dict or with parameters of their own, a gateway session as a dict,
empty dicts built eagerly, a pending break as an event, a ``Wake`` or an
unused stream per client, a profile per client, answered requests' timeouts
kept, emptied connection or process tables kept at full size."""

from __future__ import annotations

import sys

import pytest

from chatsim.api import IDLE_RATE, STORM_PROBE_FROM, storm_scenario
from sim.network import Link
from sim.nodes.client import ARMED, EMPTY
from sim.nodes.gateway import Session
from sim.runner import run

CLIENTS = 120


def connected_state(arch: str, tmp_path) -> dict:
    """The idle storm's simulation once every client is connected (or at 60 s)."""
    scn = storm_scenario(CLIENTS, IDLE_RATE)
    seen: dict = {}

    def probe(sim):
        clients = [n for n in sim.nodes.values() if n.role == "client"]
        while not all(c.usable for c in clients) and sim.env.now < 60:
            sim.env.run(until=sim.env.now + 1.0)
        seen.update(sim=sim, clients=clients)

    run(scenario=scn.name, seed=1, cfg=scn.run_config(arch), faults=[], out=tmp_path / "h.jsonl",
        probe_at=STORM_PROBE_FROM, probe=probe, journal=False)
    assert all(c.usable for c in seen["clients"])
    return seen


@pytest.fixture(scope="module", params=["old", "new", "rt2023"])
def state(request, tmp_path_factory):
    return request.param, connected_state(request.param, tmp_path_factory.mktemp(request.param))


def test_a_clients_links_are_its_own_small_records_with_shared_parameters(state):
    arch, s = state
    net, clients = s["sim"].network, s["clients"]
    assert not any(a.startswith("client-") or b.startswith("client-") for a, b in net._links)
    links = [link for c in clients for link in c.links]
    assert 2 * len(clients) <= len(links) <= 4 * len(clients)
    for c in clients:
        assert type(c.links) is tuple
        # each (peer, direction) once: the same stream for every connection of the pair
        assert len({(link.peer, link.out) for link in c.links}) == len(c.links)
    assert all(type(link) is Link and link.rng is link for link in links)
    assert max(sys.getsizeof(link) for link in links) <= 80
    # a handful of parameter records (region pair x access kind), not one per link
    assert len({id(link.p) for link in links}) <= 8


def test_an_idle_connected_client_holds_no_empty_dicts_and_no_break_event(state):
    arch, s = state
    for c in s["clients"]:
        assert c.durable is EMPTY and c.directory is EMPTY and c.dir_pending is EMPTY
        assert c._broken is ARMED
        if arch != "old":
            assert c.seen is EMPTY and c.next_seq is EMPTY and c.held is EMPTY and c.filling is EMPTY
            assert c.welcomed is None


def test_clients_share_equal_names_channels_and_the_servers_share_member_sets(state):
    arch, s = state
    clients = s["clients"]
    assert all(c.name is sys.intern(c.name) for c in clients)
    by_channels: dict = {}
    for c in clients:
        assert by_channels.setdefault(c.channels, c.channels) is c.channels
    indexed = [n.members for n in s["sim"].nodes.values() if isinstance(getattr(n, "members", None), dict)]
    assert len(indexed) >= 2
    for ch, ms in indexed[0].items():
        assert all(other[ch] is ms for other in indexed[1:])


def test_a_gateway_session_is_a_slotted_record(state):
    arch, s = state
    if arch == "old":
        pytest.skip("the old design has no gateways")
    sessions = [conn.meta for conn in (c.conn for c in s["clients"])]
    assert len(sessions) == CLIENTS and all(type(m) is Session for m in sessions)
    assert not hasattr(sessions[0], "__dict__")
    assert all(m.pending is None for m in sessions)  # welcomed: the pending set is let go


def test_an_idle_client_is_its_own_workload_timer_holds_no_unused_stream_and_shares_its_profile(state):
    arch, s = state
    sim, clients = s["sim"], s["clients"]
    queued = [e[3] for e in sim.env._queue]
    assert sum(1 for e in queued if e in clients) == sum(1 for c in clients if c.channels)
    assert not any(type(e).__name__ == "Wake" and e.node in clients for e in queued)
    assert all(c._rng is None for c in clients)  # nothing drew from it (no backoff, no choice of web app)
    assert len({id(c.profile) for c in clients}) <= 4  # one per client group
    assert all(c.pending is EMPTY for c in clients)


def test_a_connected_clients_registration_is_a_small_tuple_and_no_answered_timeout_is_kept(state):
    arch, s = state
    sim, clients = s["sim"], s["clients"]
    for c in clients:
        held = sim.network.conns[c.name]
        assert type(held) is tuple and all(conn.open for conn in held)
    for timers in sim._timers.values():
        for _t, _func, conn in timers.due.values():
            assert not conn.http.triggered  # only unanswered requests keep a timeout


def test_a_workload_timer_set_before_a_crash_does_nothing_and_the_restarted_client_gets_its_own(monkeypatch):
    from conftest import make_net
    from sim.architectures.new.client import NewClient
    from sim.config import ClientSettings, Workload
    from sim.nodes.client import Client

    sim, _ = make_net()
    c = NewClient(sim, "c1", "us-east", kind="desktop", channels=["C1"], settings=ClientSettings(),
                  workload=Workload(rate=1.0), webapp="webapp-0", gateway="flannel-0", hold_back=True,
                  hold_timeout=2.0)
    c.reset_volatile()
    steps = []
    monkeypatch.setattr(Client, "workload_step", lambda self: steps.append((self.env.now, self.incarnation)))
    sim.phase = "workload"
    c.workload_loop()
    assert c.callbacks is not None and [e[3] for e in sim.env._queue] == [c]
    c.crash()  # resets its volatile state
    c.up = True  # back, without a boot: the test drives the workload alone
    c.workload_loop()  # still queued from before the crash: this timer is a Wake
    assert sorted(type(e[3]).__name__ for e in sim.env._queue) == ["NewClient", "Wake"]
    sim.env.run(until=100)
    assert [inc for _t, inc in steps] == [1]  # the dead incarnation's timer did nothing


def test_no_node_keeps_an_emptied_connection_table(state):
    """After the boot wave a web app had no connection left and a 74 KB table."""
    from sim.network import FEW_CONNS

    arch, s = state
    for name, held in s["sim"].network.conns.items():
        if type(held) is dict:
            assert len(held) > FEW_CONNS // 2, name
            assert sys.getsizeof(held) <= max(96 * len(held), 8192), name


def test_no_node_keeps_an_emptied_process_table(state):
    """A Flannel host kept a 36 KB table (its boots' processes) for one process."""
    arch, s = state
    for node in s["sim"].nodes.values():
        procs = node._procs
        assert procs is None or len(procs) >= 8 or sys.getsizeof(procs) <= 1024, node.name
