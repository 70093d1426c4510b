"""Background loops as callbacks keep the order of events: Redis replication
(``sim.nodes.redis.Replication``) and heartbeats (``heartbeat_loop`` with
``kernel.start_soon``) against the generator loops in processes they
replace, on a hand-built run with pauses, crashes, a failing replica and
writes that collide in time."""

from simpy.events import Event

import sim.nodes.redis as redis_mod
from conftest import Scripted, make_net
from sim.kernel import Node
from sim.nodes.discovery import HEARTBEAT
from sim.nodes.redis import Redis


# -- the loops as they were (processes), the reference ---------------------------------


def _old_to_replica(node, entry):
    node.outbox.append(entry)
    wake = node.outbox_wake
    if wake is not None:
        node.outbox_wake = None
        wake.succeed()


def _old_replication_loop(node, kind, pack):
    net = node.sim.network
    while True:
        if not node.durable["primary"] or not node.outbox or not node.durable["peer"]:
            node.outbox_wake = wake = node.env.event()
            yield wake
            while node.paused:
                yield node.env.timeout(0.05)
            continue
        due = node.outbox[0][0] + node.lag
        if due > node.env.now:
            yield from node.sleep(due - node.env.now)
            continue
        n = next((i for i, w in enumerate(node.outbox) if w[0] + node.lag > node.env.now), len(node.outbox))
        batch, node.outbox = node.outbox[:n], node.outbox[n:]
        payload, size = pack(batch)
        reply = yield net.request(node, node.durable["peer"], kind, payload, size=size, timeout=2.0)
        if reply.status != "ok":
            node.outbox = batch + node.outbox
            yield from node.sleep(0.5)


def _old_heartbeat_loop(node, target):
    def loop():
        net = node.sim.network
        while True:
            net.send_datagram(node, target, "heartbeat", None, 40)
            yield from node.sleep(HEARTBEAT)

    node.spawn(loop())


# -- a hand-built run -------------------------------------------------------------------


class Writer(Scripted):
    """Writes keys to the primary on a script of (delay, key); logs each answer."""

    def run(self):
        net = self.sim.network
        for delay, key in self.script:
            yield self.env.timeout(delay)
            reply = yield net.request(self, "r1", "redis.cmd", {"op": "SET", "key": key, "value": key, "ttl": None},
                                      size=80, timeout=1.0)
            self.log.append((round(self.env.now, 9), self.name, key, reply.status))


def _replicated_run(reference: bool, monkeypatch):
    if reference:
        monkeypatch.setattr(redis_mod, "to_replica", _old_to_replica)
        monkeypatch.setattr(redis_mod, "heartbeat_loop", _old_heartbeat_loop)
        monkeypatch.setattr(Redis, "replicate", lambda self: self.spawn(_old_replication_loop(
            self, "redis.replicate", redis_mod._pack_writes)))
    sim, net = make_net(seed=11)
    Node(sim, "disc", "us-east")  # hears the heartbeats
    # a lag of a whole heartbeat period: writes made on a heartbeat are due on the next one
    primary = Redis(sim, "r1", "us-east", primary=True, peer="r2", persistence=True, lag=HEARTBEAT,
                    discovery="disc")
    replica = Redis(sim, "r2", "eu-west", primary=False, peer="r1", persistence=True, lag=0.2, discovery="disc")
    log: list = []
    # several writers: writes land together, in bursts and while the replica is away
    for i in range(3):
        Writer(sim, f"w{i}", "us-east", [(0.05 + 0.07 * i, f"k{i}.{j}") for j in range(40)], log)
    sim.start()

    def faults():
        yield sim.env.timeout(0.8)
        replica.crash()  # shipments are refused, go back to the outbox, retried 0.5 s later
        yield sim.env.timeout(1.1)
        replica.restart()
        yield sim.env.timeout(0.6)
        primary.pause()  # its due shipments and heartbeats wait for the resume
        yield sim.env.timeout(0.33)
        primary.resume()
        yield sim.env.timeout(0.5)
        primary.crash()  # unshipped writes are lost with the volatile outbox
        yield sim.env.timeout(0.2)
        primary.restart()

    # an idle primary's wake-up, within an instant: a write at 9 s (the
    # replication idle by then) and, later in the same instant, a datagram;
    # the shipment and a second datagram are both due 0.5 s later, and which
    # goes first (the journal's ids) follows the order the two were woken in
    def direct():
        yield sim.env.timeout(9.0)
        primary.write("late", "v", None)

    def other():
        yield sim.env.timeout(9.0)
        for _ in range(2):
            net.send_datagram(sim.node("disc"), "r1", "ping", None, 40)
            yield sim.env.timeout(HEARTBEAT)

    sim.env.process(faults())
    sim.env.process(direct())  # first: at 9 s it pops before ``other``
    sim.env.process(other())
    sim.run(until=12.0)
    return log, list(net.journal.rows), dict(replica.data), next(sim.env._eid)


def test_replication_and_heartbeats_as_callbacks_keep_the_process_order(monkeypatch):
    fast = _replicated_run(False, monkeypatch)
    with monkeypatch.context() as m:
        ref = _replicated_run(True, m)
    log, journal, data, events = ref
    # the case exercises what it claims: refused shipments retried, a paused
    # primary, writes lost with a crashed primary, heartbeats
    kinds = [row[3] for row in journal]
    assert "redis.replicate" in kinds and "heartbeat" in kinds
    late = [row[3] for row in journal if row[5] == 9.5]
    assert late == ["ping", "redis.replicate"]  # the write's wake-up ran after the 9 s datagram
    refused = [row for row in journal if row[3] == "redis.replicate" and row[7] == "refused"]
    assert refused and any(status != "ok" for *_, status in log)
    assert 0 < len(data) < sum(1 for *_, status in log if status == "ok")
    assert fast[:3] == ref[:3]  # answers, every message with its times, the replica's data
    assert fast[3] < events  # and fewer events: no processes, no wake-up events


def test_to_replica_wakes_an_idle_replication_where_the_event_would_run():
    """The wake-up is pushed with ``Event.succeed``'s key: now, NORMAL, the next id."""
    sim, _net = make_net(seed=1)
    Node(sim, "disc", "us-east")
    r = Redis(sim, "r1", "us-east", primary=True, peer="r2", persistence=False, lag=0.1, discovery="disc")
    Redis(sim, "r2", "us-east", primary=False, peer="r1", persistence=False, lag=0.1, discovery="disc")
    sim.start()
    sim.run(until=0.5)
    wake = r.outbox_wake
    assert wake is not None  # idle: parked, nothing queued for it
    assert all(item[3] is not wake for item in sim.env._queue)
    probe = Event(sim.env)
    probe.succeed()  # takes the next id: the wake-up must come right after it
    r.write("k", "v", None)
    queued = [item for item in sim.env._queue if item[3] is probe or item[3] is wake]
    (t0, p0, id0, ev0), (t1, p1, id1, ev1) = sorted(queued, key=lambda item: item[2])
    assert ev0 is probe and ev1 is wake and (t1, p1, id1) == (t0, p0, id0 + 1)
    assert r.outbox_wake is None
