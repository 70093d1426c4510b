"""The Kafka model against Kafka's semantics (issue 14): ISR changes through
the controller, leader-epoch truncation to any depth, consumers that detect
truncation, definite refusals, and idle partitions that cost (almost)
nothing. Small clusters built by hand; each test fails on the model before
the fix it names."""

from types import SimpleNamespace

import pytest

from helpers import Recorder, raw, run_scenario, verdicts
from sim.architectures.new.settings import KafkaSettings, WorkerSettings
from sim.architectures.new.worker import Worker
from sim.kernel import Node, Simulation
from sim.network import NetConfig, Network
from sim.nodes.db import DB
from sim.nodes.discovery import Discovery
from sim.nodes.kafka import PRODUCE_ERRORS, Broker, Controller, Record, diverging, epoch_end
from sim.nodes.protocol import Chat, Post

BROKERS = ["kafka-0", "kafka-1", "kafka-2"]


def cluster(seed=1, **kafka):
    sim = Simulation(seed, Recorder())
    Network(sim, NetConfig())
    cfg = KafkaSettings(**kafka)
    replicas = {0: list(BROKERS)}
    ctl = Controller(sim, "kafka-controller", "us-east", brokers=BROKERS, replicas=replicas, cfg=cfg)
    brokers = [Broker(sim, b, "us-east", controller="kafka-controller", replicas=replicas, cfg=cfg) for b in BROKERS]
    return sim, ctl, brokers


def chat(i, epoch=0):
    return Chat("C1", f"m{i}-e{epoch}", "x", "client-1", f"{i}.000000", i + 1)


class Producer(Node):
    """Produces to partition 0 every 0.1 s, to whoever it believes leads."""

    role = "producer"

    def start(self):
        self.acked: list[str] = []
        self.spawn(self.loop())

    def loop(self):
        i = 0
        while True:
            yield self.env.timeout(0.1)
            i += 1
            leader = self.sim.node("kafka-controller").durable["state"][0][0]
            if leader is None:
                continue
            post = Post("C1", f"p{i}", "x", "client-1")
            reply = yield self.sim.network.request(self, leader, "kafka.produce",
                                                   {"partition": 0, "post": post, "ts": None}, timeout=1.0)
            if reply.status == "ok":
                self.acked.append(post.msg)


def test_leader_cut_off_from_controller_cannot_shrink_the_isr_and_ack_alone():
    """acks=all, min_insync=1, replica.lag.time.max=1 s: the leader loses its
    followers and the controller. Before the fix it dropped them from its
    ISR on its own, acked alone, and the controller's clean election (from
    its own, larger ISR) lost those acks. Now the shrink needs the
    controller, so nothing is acked that the new leader lacks."""
    sim, ctl, brokers = cluster(acks="all", min_insync=1, replica_lag_max=1.0)
    prod = Producer(sim, "producer", "us-east")
    sim.start()
    sim.env.run(until=2.0)
    assert prod.acked, "the healthy cluster acks"
    sim.network.partition({"kafka-0"}, {"kafka-1", "kafka-2", "kafka-controller"})
    sim.env.run(until=12.0)
    leader, epoch, isr, _ = ctl.durable["state"][0]
    assert leader in ("kafka-1", "kafka-2") and epoch >= 1
    new_log = {r.chat.msg for r in sim.node(leader).log(0)}
    lost = [m for m in prod.acked if m not in new_log]
    assert not lost, f"acked but not in the clean leader's log: {lost}"
    assert any(f == "election" and v["clean"] for _, _, _, f, v in sim.history.ops)


def test_stale_alter_partition_is_rejected():
    sim, ctl, brokers = cluster()
    sim.start()
    sim.env.run(until=1.0)
    st = ctl.durable["state"][0]
    req = SimpleNamespace(payload={"partition": 0, "leader": st[0], "epoch": st[1], "pepoch": st[3] - 1 if st[3]
                                   else -1, "isr": [st[0]]})
    status, body, _ = ctl.alter_partition(req)
    assert (status, body["error"]) == ("error", "INVALID_UPDATE_VERSION")
    req.payload.update(pepoch=st[3], epoch=st[1] + 1)
    assert ctl.alter_partition(req)[1]["error"] == "FENCED_LEADER_EPOCH"
    req.payload.update(epoch=st[1])
    assert ctl.alter_partition(req)[0] == "ok" and ctl.durable["state"][0][2] == [st[0]]


def test_divergence_lookup_is_by_epoch_ranges():
    leader = [Record(i, e, chat(i, e)) for i, e in enumerate([0, 1, 1, 3])]
    assert epoch_end(leader, 2) == 3 and epoch_end(leader, 0) == 1 and epoch_end(leader, None) == 0
    assert diverging(leader, 4, 3) is None
    assert diverging(leader, 4, 2) == (1, 3)
    assert diverging(leader, 2, 0) == (0, 1)


def test_follower_truncates_a_log_that_diverged_several_epochs_deep():
    """Follower [e0 e0 e2 e2] against leader [e0 e1 e1 e3]: a single
    epoch_end round (the old model) kept the follower's e0 record at offset 1
    and its e2 record at offset 2; KIP-279's rounds cut back to offset 1."""
    sim, ctl, brokers = cluster()
    lead, foll = brokers[1], brokers[0]
    lead.durable["logs"][0] = [Record(i, e, chat(i, e)) for i, e in enumerate([0, 1, 1, 3])]
    foll.durable["logs"][0] = [Record(i, e, chat(i, e)) for i, e in enumerate([0, 0, 2, 2])]
    ctl.durable["state"][0] = ["kafka-1", 3, ["kafka-1", "kafka-0"], 7]
    brokers[2].crash()
    sim.start()
    brokers[2].crash()
    sim.env.run(until=3.0)
    assert [r.chat.msg for r in foll.log(0)] == [r.chat.msg for r in lead.log(0)]


def consumer_ahead_of_leader():
    """A cluster and a worker that consumed offsets 0-3 in epoch 0, whose
    new leader's log kept only 0-1 of them and was written over from offset
    2 in epoch 1: ``(sim, controller, brokers, worker)``, not started."""
    sim, ctl, brokers = cluster()
    DB(sim, "db", "us-east")
    Discovery(sim, "discovery", "us-east", servers=[], redis=[], health=None, failover_delay=2.0)
    w = Worker(sim, "worker-0", "us-east", partitions=[0], controller="kafka-controller", discovery="discovery",
               db="db", settings=WorkerSettings(offset_reset="latest"))
    w.durable["offsets"][0], w.durable["epochs"][0] = 4, 0
    log = [Record(i, e, chat(i, e)) for i, e in enumerate([0, 0, 1, 1, 1])]
    for b in brokers:
        b.durable["logs"][0] = list(log)
        b.durable["hw"][0] = 5
    ctl.durable["state"][0] = ["kafka-1", 1, list(BROKERS), 3]
    return sim, ctl, brokers, w


def test_consumer_detects_truncation_and_resets_to_the_divergence_point():
    sim, ctl, brokers, w = consumer_ahead_of_leader()
    sim.start()
    sim.env.run(until=4.0)
    events = [v for _, _, _, f, v in sim.history.ops if f == "truncation"]
    assert events and events[0]["position"] == 4 and events[0]["reset_to"] == 2
    stored = {c.msg for c in sim.node("db").channel("C1")}
    assert {"m2-e1", "m3-e1", "m4-e1"} <= stored
    assert w.durable["offsets"][0] == 5


def test_not_enough_replicas_is_definite_and_frees_the_dedupe_key(tmp_path):
    """min_insync = replication = 3 and one broker down for the whole run:
    once the ISR has shrunk, every append is refused before it happens, so
    those sends fail definitely (never "unknown")."""
    assert PRODUCE_ERRORS["NOT_ENOUGH_REPLICAS"] and not PRODUCE_ERRORS["NOT_ENOUGH_REPLICAS_AFTER_APPEND"]
    scn = raw("steady")
    scn["new"] = {"kafka": {"min_insync": 3, "replication": 3, "replica_lag_max": 1.0}}
    scn["faults"] = [{"kind": "crash", "at": 0.0, "targets": ["kafka-2"], "arch": "new"}]
    scn["clients"] = {"max_attempts": 1}  # no retry after the heal at the workload's end
    r, _ = run_scenario(scn, "new", 1, tmp_path)
    s = r["metrics"]["sends"]
    assert s["acked"] == 0
    # only sends appended before the ISR shrank (the first ~1 s) may be unknown
    assert s["failed"] >= 0.9 * s["invoked"] > 0


def test_idle_cluster_costs_a_fetch_per_wait_not_per_poll(tmp_path):
    """(Almost) no sends: each follower and consumer costs about one fetch round trip
    per replica.fetch.wait.max / fetch.max.wait (0.5 s), not one per 50 ms."""
    r, out = run_scenario("steady", "new", 1, tmp_path, ["workload.rate=0.001"])
    fetches = r["metrics"]["network"]["by_kind"]["kafka.fetch"]
    seconds = r["metrics"]["simulated_seconds"]
    fetchers = 4 * 2 + 4  # two followers and one worker per partition
    assert fetches <= 1.2 * fetchers * seconds / 0.5


@pytest.mark.parametrize("seed", [1, 2])
def test_kafka_unclean_election_still_loses_acked_messages(seed, tmp_path):
    r, _ = run_scenario("kafka-unclean-election", "new", seed, tmp_path)
    v = verdicts(r)
    assert v["validity"] is False and v["durability"] is False
