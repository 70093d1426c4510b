"""The Kafka long-poll loops as callback chains keep the order of events:
the follower fetcher (``sim.nodes.kafka.Fetcher``) and the job worker's
consumer (``sim.architectures.new.worker.Consumer``) against the generator
loops in processes they replace, on a new-design run with a partitioned
leader, an unclean election (truncation), follower crashes and pauses while
fetches are parked, and a worker that dies between persisting and
committing."""

from pathlib import Path

import pytest

from scenarios.loader import load_scenario
from sim.architectures.new.worker import Worker
from sim.faults import FaultSpec
from sim.nodes.kafka import Broker, _NO_VIEW, epoch_end
from sim.runner import run


# -- the loops as they were (processes), the reference ---------------------------------


def _old_fetcher(self, p):
    net = self.sim.network
    cfg = self.cfg
    while True:
        leader, _ = self.view.get(p, _NO_VIEW)
        if leader is None or leader == self.name:
            ev = self.role_change.get(p)
            if ev is None:
                ev = self.role_change[p] = self.env.event()
            yield ev
            continue
        log = self.log(p)
        reply = yield net.request(self, leader, "kafka.fetch",
                                  {"partition": p, "offset": len(log), "replica": self.name,
                                   "last_epoch": log[-1].epoch if log else None,
                                   "wait": cfg.replica_fetch_wait_max},
                                  size=80, timeout=cfg.replica_fetch_wait_max + cfg.request_timeout)
        if reply.status != "ok" or self.view.get(p, _NO_VIEW)[0] != leader:
            if reply.status != "ok":
                yield from self.sleep(cfg.fetch_backoff)
            continue
        body = reply.payload
        if "diverging" in body:
            epoch, end = body["diverging"]
            del log[min(end, epoch_end(log, epoch)):]
            self.durable["hw"][p] = min(self.durable["hw"][p], len(log))
            continue
        for r in body["records"]:
            if r.offset == len(log):
                log.append(r)
        self.durable["hw"][p] = min(body["hw"], len(log))


def _old_consume(self, p):
    net = self.sim.network
    cfg = self.cfg
    offsets, epochs = self.durable["offsets"], self.durable["epochs"]
    while True:
        leader = self.leaders.get(p)
        if leader is None:
            yield from self.sleep(cfg.retry_backoff)
            continue
        reply = yield net.request(self, leader, "kafka.fetch",
                                  {"partition": p, "offset": offsets[p], "last_epoch": epochs[p],
                                   "wait": cfg.fetch_max_wait},
                                  size=80, timeout=cfg.fetch_max_wait + 1.0)
        if reply.status != "ok":
            if reply.status == "error" and reply.payload.get("error") == "OFFSET_OUT_OF_RANGE":
                to = reply.payload["hw"] if cfg.offset_reset == "latest" else 0
                if not self.reset(p, "offset-reset", to, None):
                    return
                continue
            if reply.status == "error" and reply.payload.get("error") == "NOT_LEADER":
                yield from self.refresh_view()
            yield from self.sleep(cfg.retry_backoff)
            continue
        if "diverging" in reply.payload:
            epoch, end = reply.payload["diverging"]
            if not self.reset(p, "truncation", min(end, offsets[p]), epoch, diverged_at=end):
                return
            continue
        records = reply.payload["records"]
        if not records:
            continue
        rows = [r.chat for r in records]
        ins = yield net.request(self, self.db, "db.insert", {"rows": rows, "key": "ts" if cfg.idempotent else None},
                                size=sum(c.size for c in rows), timeout=5.0,
                                trace=",".join(c.msg for c in rows))
        if ins.status != "ok":
            yield from self.sleep(cfg.retry_backoff)
            continue
        for chat in rows:
            self.step("persisted", msg=chat.msg)
        offsets[p], epochs[p] = records[-1].offset + 1, records[-1].epoch
        if self.redis is not None:
            for chat in rows:
                net.request(self, self.redis, "redis.cmd",
                            {"op": "SET", "key": f"job:{chat.channel}:{chat.msg}", "value": "persisted",
                             "ttl": 3600}, size=80, timeout=1.0)


def _old_broker_start(self):
    from sim.kernel import start_soon

    start_soon(self, Broker.heartbeat)
    self.spawn(self.isr_watch())
    for p in sorted(self.replicas):
        self.spawn(_old_fetcher(self, p))


def _old_worker_start(self):
    self.spawn(self.view_loop())
    for p in self.partitions:
        self.spawn(_old_consume(self, p))


# -- a run with faults aimed at the loops ----------------------------------------------

# beside the scenario's own (kafka-0 cut off from its followers and the
# workers, then its host gone: an unclean election and truncations)
EXTRA = [
    FaultSpec(kind="crash", step="persisted", node="worker-*", nth=3, duration=2.0,
              targets=("worker-*",)),  # dies between persisting and committing: a redelivery
    FaultSpec(kind="pause", at=8.0, duration=1.5, targets=("worker-1",)),
    FaultSpec(kind="crash", at=12.0, duration=3.0, targets=("kafka-1",)),  # a follower, mid-fetch
    FaultSpec(kind="pause", at=14.0, duration=1.2, targets=("kafka-2",)),  # its parked fetches answered late
    FaultSpec(kind="pause", at=25.0, duration=3.0, targets=("kafka-2",)),  # a leader fenced while hung: NOT_LEADER
    FaultSpec(kind="crash", at=33.0, duration=3.0, targets=("kafka-1",)),  # a leader: parked fetches reset
]


_SERVE_FETCH = Broker.serve_fetch


def _counting(answers: list):
    """``Broker.serve_fetch`` that notes what it answers (it changes nothing)."""
    serve = _SERVE_FETCH

    def serve_fetch(self, p, arrived):
        reply = serve(self, p, arrived)
        who = "follower" if p.get("replica") else "consumer"
        answers.append((who, "diverging" if "diverging" in reply[1] else reply[1].get("error", "ok")))
        return reply

    return serve_fetch


def _run(tmp: Path, seed: int, reference: bool, monkeypatch):
    if reference:
        monkeypatch.setattr(Broker, "start", _old_broker_start)
        monkeypatch.setattr(Worker, "start", _old_worker_start)
    answers: list = []
    monkeypatch.setattr(Broker, "serve_fetch", _counting(answers))
    scn = load_scenario("kafka-unclean-election")
    out = run(scenario=scn.name, seed=seed, cfg=scn.run_config("new"), faults=scn.fault_specs("new") + EXTRA,
              out=tmp / f"h{int(reference)}.jsonl")
    return out.history.read_bytes(), list(out.journal.rows), answers, next(out.sim.env._eid)


@pytest.mark.parametrize("seed", [1, 2])
def test_kafka_loops_as_callbacks_keep_the_process_order(tmp_path, monkeypatch, seed):
    fast = _run(tmp_path, seed, False, monkeypatch)
    with monkeypatch.context() as m:
        ref = _run(tmp_path, seed, True, m)
    history, journal, answers, events = ref
    # the case exercises what it claims: a returning leader truncated by its
    # fetcher, fetches answered NOT_LEADER to followers and consumers, fetches
    # lost to crashes and the partition, a worker crashed at ``persisted``
    assert ("follower", "diverging") in answers
    assert ("follower", "NOT_LEADER") in answers and ("consumer", "NOT_LEADER") in answers
    assert {"partition", "refused"} <= {row[7] for row in journal if row[3] == "kafka.fetch"}
    crashes = [line for line in history.decode().splitlines() if '"f":"crash"' in line]
    assert any("worker-" in line for line in crashes) and any("kafka-1" in line for line in crashes)
    assert fast[:3] == ref[:3]  # the history byte for byte, every message with its times, every answer
    assert fast[3] < events  # and fewer events: no processes to start, interrupt and end


def _truncating_cluster(reference: bool, monkeypatch):
    """test_kafka's hand-built truncation (a consumer ahead of the new
    leader's log, a follower whose log diverged), plus a follower crashed
    and restarted within one instant while its fetch is parked, and a pause."""
    from test_kafka import Record, chat, consumer_ahead_of_leader

    if reference:
        monkeypatch.setattr(Broker, "start", _old_broker_start)
        monkeypatch.setattr(Worker, "start", _old_worker_start)
    sim, ctl, brokers, w = consumer_ahead_of_leader()
    brokers[2].durable["logs"][0] = [Record(i, e, chat(i, e)) for i, e in enumerate([0, 0, 2, 2])]
    sim.start()

    def faults():
        yield sim.env.timeout(1.3)  # kafka-0's fetch is parked at the leader by now
        brokers[0].crash()
        brokers[0].restart()  # the same instant: one chain must run, not two
        yield sim.env.timeout(0.7)
        brokers[2].pause()
        w.pause()
        yield sim.env.timeout(0.9)
        brokers[2].resume()
        w.resume()
        yield sim.env.timeout(0.5)
        brokers[1].crash()  # the leader: an election (after election_delay), a role change
        yield sim.env.timeout(5.0)
        brokers[1].restart()  # a follower now, of a new epoch

    sim.env.process(faults())
    sim.env.run(until=14.0)
    ops = [(round(t, 9), p, ty, f, v) for t, p, ty, f, v in sim.history.ops]
    return ops, list(sim.network.journal.rows), [list(b.log(0)) for b in brokers], next(sim.env._eid)


def test_truncation_crash_restart_and_pause_keep_the_process_order(monkeypatch):
    fast = _truncating_cluster(False, monkeypatch)
    with monkeypatch.context() as m:
        ref = _truncating_cluster(True, m)
    ops, journal, logs, events = ref
    assert any(op[3] == "truncation" for op in ops)
    assert any(op[3] == "election" for op in ops)
    assert logs[2][2].epoch == 1  # kafka-2 cut its diverged tail and caught up
    # one fetch in flight per follower: kafka-0's restart made one chain
    starts = [row[5] for row in journal if row[1] == "kafka-0" and row[3] == "kafka.fetch"]
    assert len(starts) == len(set(starts))
    assert fast[:3] == ref[:3]
    assert fast[3] < events


def _old_advance_hw(self, p):
    durable = self.durable
    hw = len(durable["logs"][p])
    follower, me = self.follower[p], self.name
    pending = self.pending.get(p)
    for f in (self.isr[p] | pending if pending else self.isr[p]):
        if f != me:
            st = follower.get(f)
            leo = st[0] if st is not None else 0
            if leo < hw:
                hw = leo
    hws = durable["hw"]
    if hw > hws[p]:
        hws[p] = hw
        self.wake(self.parked_consumers, p)
    waiters = self.waiters.get(p)
    if waiters:
        self.release(p, waiters)


def test_advance_hw_skipping_an_idle_partition_is_the_full_computation():
    """Every leader state of a small partition: log length, HW, followers'
    LEOs (or none yet), ISR, a pending ISR change, waiting produces and a
    parked consumer — the HW, who is woken and who still waits agree."""
    from itertools import product

    from test_kafka import BROKERS, cluster

    sim, _ctl, brokers = cluster()
    b = brokers[0]

    def outcome(advance, n, hw, leos, isr, pending, offs):
        b.reset_volatile()
        b.durable["logs"][0] = [None] * n
        b.durable["hw"][0] = hw
        b.follower[0] = {f: [leo, 0.0] for f, leo in zip(BROKERS[1:], leos) if leo is not None}
        b.isr[0], b.pending[0] = set(isr), pending
        waiters = [(off, sim.env.event()) for off in offs]
        b.waiters[0] = list(waiters)
        parked = sim.env.event()
        b.parked_consumers[0] = [parked]
        advance(b, 0)
        return (b.durable["hw"][0], [ev.triggered for _, ev in waiters], [off for off, _ in b.waiters[0]],
                parked.triggered)

    cases = 0
    for n, hw, l1, l2, isr, pending in product(range(4), range(4), (None, 0, 1, 3), (None, 0, 2, 3),
                                               (("kafka-0",), ("kafka-0", "kafka-1"), tuple(BROKERS)),
                                               (None, frozenset({"kafka-2"}))):
        if hw > n:
            continue
        offs = [o for o in range(n + 1) if o >= hw]  # produces wait for offsets at or past the HW
        args = (n, hw, (l1, l2), isr, pending, offs)
        assert outcome(Broker.advance_hw, *args) == outcome(_old_advance_hw, *args), args
        cases += 1
    assert cases > 300
