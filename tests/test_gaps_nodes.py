"""Node behaviour the design documents and no test pinned, on a real kernel
and network with a stand-in peer where the peer does not matter:

- the new client's hold-back: a gap held, filled by the missing message, or
  filled from history after ``hold_timeout``; a message arriving behind the
  display cursor is not shown but recorded as a ``late`` event;
- Redis dedupe keys expire after their TTL (and not before);
- Kafka: after an unclean election the returning old leader ends with the
  new leader's log (what only it had is truncated away).
"""

import copy

import pytest

from conftest import make_net
from helpers import Recorder, raw, run_scenario
from sim.architectures.new.client import NewClient
from sim.config import ClientSettings, Workload
from sim.kernel import Node
from sim.nodes.protocol import Chat
from sim.nodes.redis import Redis


class History(Node):
    """A web app that answers ``conversations.history`` with the rows it holds."""

    role = "webapp"

    def reset_volatile(self):
        self.asked = []

    def on_request(self, req):
        self.asked.append((self.env.now, req.payload))
        yield self.env.timeout(0.001)
        return "ok", {"ok": True, "rows": list(self.durable.get("rows", []))}, 100


def chat(seq, ch="C1"):
    return Chat(ch, f"m{seq}", f"text {seq}", "c2", f"{seq:.6f}", seq)


def client(hold_back=True, rows=()):
    sim, _ = make_net()
    rec = sim.history = Recorder()
    web = History(sim, "webapp-0", "us-east")
    web.durable["rows"] = list(rows)
    c = NewClient(sim, "c1", "us-east", kind="desktop", channels=["C1"], settings=ClientSettings(),
                  workload=Workload(), webapp="webapp-0", gateway="flannel-0", hold_back=hold_back,
                  hold_timeout=2.0)
    for n in (web, c):  # volatile state only: no session or workload loops, the test drives
        n.reset_volatile()
    return sim, c, web, rec


def arrive(sim, c, *at_seq):
    """Deliver chats to the client at the given (time, seq) pairs, then run on."""
    def go(t, seq):
        yield sim.env.timeout(t)
        c.receive(chat(seq))
    for t, seq in at_seq:
        sim.env.process(go(t, seq))
    sim.env.run(until=10)


def shown(rec):
    return [(round(t, 3), v["msg"]) for t, p, typ, f, v in rec.ops if f == "deliver"]


def test_a_gap_that_fills_in_time_is_shown_in_order_without_asking_history():
    sim, c, web, rec = client()
    arrive(sim, c, (0.0, 1), (0.1, 3), (0.5, 2))
    assert shown(rec) == [(0.0, "m1"), (0.5, "m2"), (0.5, "m3")]
    assert web.asked == []


def test_a_gap_still_open_after_hold_timeout_is_filled_from_history():
    sim, c, web, rec = client(rows=[chat(1), chat(2), chat(3)])
    arrive(sim, c, (0.0, 1), (0.1, 3))
    msgs = [m for _, m in shown(rec)]
    assert msgs == ["m1", "m2", "m3"]
    (asked_at, payload), = web.asked
    assert asked_at == pytest.approx(2.1, abs=0.01)  # held for hold_timeout, then fetched
    assert payload == {"channel": "C1", "user": "c1", "rows": True}
    assert all(t > 2.1 for t, m in shown(rec) if m != "m1")


def test_what_history_lacks_is_skipped_and_shown_late_never_out_of_order():
    sim, c, web, rec = client(rows=[chat(1), chat(3)])  # m2 not stored yet
    arrive(sim, c, (0.0, 1), (0.1, 3), (5.0, 2))
    assert [m for _, m in shown(rec)] == ["m1", "m3"]
    late = [(round(t, 3), p, v) for t, p, typ, f, v in rec.ops if f == "late"]
    assert late == [(5.0, "c1", {"channel": "C1", "msg": "m2", "seq": 2})]


def test_the_same_log_entry_twice_is_shown_once():
    sim, c, web, rec = client()
    arrive(sim, c, (0.0, 1), (0.1, 2), (0.2, 2), (0.3, 1))
    assert [m for _, m in shown(rec)] == ["m1", "m2"]
    assert not [op for op in rec.ops if op[3] == "late"]


def test_without_hold_back_messages_show_as_they_arrive():
    sim, c, web, rec = client(hold_back=False)
    arrive(sim, c, (0.0, 1), (0.1, 3), (0.5, 2))
    assert [m for _, m in shown(rec)] == ["m1", "m3", "m2"] and web.asked == []


# -- Redis TTL ------------------------------------------------------------------
def redis():
    sim, _ = make_net()
    r = Redis(sim, "redis-0", "us-east", primary=True, peer=None, persistence=True, lag=0.1,
              discovery="discovery")
    r.reset_volatile()  # no heartbeat or replication loops: the test drives the commands
    return sim, r


def test_a_dedupe_key_expires_after_its_ttl_and_not_before():
    sim, r = redis()
    key = {"key": "dedupe:C1:m1", "value": "pending", "ttl": 5.0}
    assert r.cmd_setnx(key)[1] == {"set": True}
    sim.env.run(until=4.999)
    assert r.cmd_setnx(dict(key, value="again"))[1] == {"set": False, "value": "pending"}
    assert r.cmd_get(key)[1] == {"value": "pending"}
    sim.env.run(until=5.0)  # expired at exactly its deadline
    assert r.cmd_get(key)[1] == {"value": None}
    assert "dedupe:C1:m1" not in r.data  # an expired key is removed, not only hidden
    assert r.cmd_setnx(dict(key, value="second"))[1] == {"set": True}
    assert r.cmd_get(key)[1] == {"value": "second"}


def test_set_renews_the_ttl_and_a_key_without_ttl_never_expires():
    sim, r = redis()
    r.cmd_set({"key": "k", "value": "pending", "ttl": 1.0})
    r.cmd_set({"key": "forever", "value": "done:1", "ttl": None})
    sim.env.run(until=0.9)
    r.cmd_set({"key": "k", "value": "done:2", "ttl": 1.0})
    sim.env.run(until=1.5)
    assert r.cmd_get({"key": "k"})[1] == {"value": "done:2"}
    sim.env.run(until=1000.0)
    assert r.cmd_get({"key": "k"})[1] == {"value": None}
    assert r.cmd_get({"key": "forever"})[1] == {"value": "done:1"}


def test_a_short_dedupe_ttl_lets_a_late_retry_duplicate(tmp_path):
    """End to end: the retry-duplicate scenario holds with the default TTL;
    with a TTL shorter than the client's retry delay the retry's SETNX finds
    no key and the message is appended twice."""
    kept, _ = run_scenario("retry-duplicate", "new", 1, tmp_path / "kept")
    short, _ = run_scenario("retry-duplicate", "new", 1, tmp_path / "short", ["new.redis.ttl=0.5"])
    assert kept["invariants"]["no-duplicates"]["valid"] is True
    assert short["invariants"]["no-duplicates"]["valid"] is False


# -- Kafka: the returning old leader truncates to the new leader's log -------------------
def test_after_an_unclean_election_the_old_leader_ends_with_the_new_leaders_log(tmp_path, monkeypatch):
    """kafka-unclean-election: kafka-0 leads alone (acks=1) while cut off, dies;
    a stale follower is elected. When kafka-0 returns it must follow the new
    leader: each partition's logs end identical on every broker (what only
    kafka-0 had is gone), and kafka-0 had records the others never got."""
    import sim.runner as runner

    seen = {}
    real = runner.run

    def keep(**kw):
        out = real(**kw)
        seen["sim"] = out.sim
        return out

    monkeypatch.setattr(runner, "run", keep)  # chatsim.api imports it at call time
    r = copy.deepcopy(raw("kafka-unclean-election"))
    result, _ = run_scenario(r, "new", 1, tmp_path)
    assert result["invariants"]["durability"]["valid"] is False  # acked records were lost: the premise
    sim = seen["sim"]
    brokers = sorted((n for n in sim.nodes.values() if n.role == "kafka"), key=lambda n: n.name)
    assert [b.name for b in brokers] == ["kafka-0", "kafka-1", "kafka-2"] and all(b.up for b in brokers)

    def entries(b, p):
        return [(r.chat.channel, r.chat.msg, r.chat.seq) for r in b.log(p)]

    lost = result["invariants"]["durability"]["violations"]
    lost_msgs = {v["msg"] for v in lost}
    for p in sorted(brokers[0].replicas):
        logs = {b.name: entries(b, p) for b in brokers}
        assert logs["kafka-0"] == logs["kafka-1"] == logs["kafka-2"], p
        assert not lost_msgs & {m for _, m, _ in logs["kafka-0"]}  # the truncated records are gone


# -- the client's send bookkeeping: invoke, then exactly one ok / fail / info ---------------
def sends(rec):
    return [(typ, v) for t, p, typ, f, v in rec.ops if f == "send"]


def test_each_send_is_invoked_once_and_completed_once(monkeypatch):
    monkeypatch.setattr(NewClient, "transmit", lambda self, p: None)  # the test answers for the network
    sim, c, _, rec = client()
    for _ in range(4):
        c.new_send()
    msgs = [v["msg"] for typ, v in sends(rec)]
    assert msgs == ["c1:1", "c1:2", "c1:3", "c1:4"]
    first = sends(rec)[0][1]
    assert first["channel"] == "C1" and first["text"].startswith("c1:1 ") and len(first["text"]) == c.w.text_bytes
    c.acked("C1", "c1:1", "1.000000")
    c.acked("C1", "c1:1", "1.000000")  # a duplicate answer records nothing
    c.pending["c1:3"].maybe_applied = True
    c.failed("c1:2", "not_in_channel")
    c.failed("c1:3", "gave_up")
    c.failed("c1:9", "never sent")  # unknown id: nothing
    c.finish()
    assert sends(rec)[4:] == [
        ("ok", {"channel": "C1", "msg": "c1:1", "ts": "1.000000"}),
        ("fail", {"channel": "C1", "msg": "c1:2", "error": "not_in_channel"}),
        ("info", {"channel": "C1", "msg": "c1:3", "error": "gave_up"}),
        ("info", {"channel": "C1", "msg": "c1:4", "error": "indeterminate"})]
    assert c.pending == {} and c.sent == 4  # the durable message counter
    c.display(chat(7))
    assert rec.ops[-1][1:] == ("c1", "event", "deliver", {"channel": "C1", "msg": "m7", "text": "text 7",
                                                          "ts": "7.000000"})
