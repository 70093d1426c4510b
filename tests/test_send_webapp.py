"""The new web app's ``chat.postMessage`` (``NewWebApp.post_message``), one
request at a time, on a real kernel and network: a real Redis, and stand-ins
for the Kafka controller, the brokers, discovery and the channel server, each
scripted and each keeping what reached it. What is asserted is what a client
or an operator sees: the answer, the dedupe key in Redis, what reached the
log and the channel server, the named steps, and which message each request
was made for (the trace the message diagrams draw).

The module docstring of sim/architectures/new/webapp.py is the contract:
auth and membership refused first; the rate limit; dedupe (replay,
pending, Redis down or read-only); the append with its retries (a new leader
after ``NOT_LEADER`` or a refused connection, no retry after a definite
refusal, ``internal_error`` when the append may have happened); the key
marked done and the broadcast only after the append."""

from types import SimpleNamespace

import pytest

from conftest import make_net
from helpers import Recorder
from sim.architectures.new.settings import NewSettings
from sim.architectures.new.webapp import NewWebApp
from sim.kernel import Node, stable_hash
from sim.network import Request
from sim.nodes.db import DB
from sim.nodes.protocol import Chat, Post
from sim.nodes.redis import Redis
from sim.nodes.team import Teams, TeamSize, snapshot_of

MEMBERS = {"C1": ["alice", "bob"], "C2": ["bob"]}
USERS = ["alice", "bob", "carol"]  # carol is in no channel
TTL = 30.0


class Lookup(Node):
    """A view service stand-in: answers every request at once (never a
    blocking wait) with ``view()`` and a fresh version; ``asked`` is when."""

    def reset_volatile(self):
        self.asked = []

    def on_request(self, req):
        self.asked.append(self.env.now)
        yield self.env.timeout(0.001)
        return "ok", {"version": len(self.asked), **self.view()}, 100


class Controller(Lookup):
    """``kafka.metadata``: every partition led by ``durable["leader"]`` (None:
    no leader); a list is answered in turn, its last entry for good."""

    role = "kafka-controller"

    def view(self):
        lead = self.durable["leader"]
        if isinstance(lead, list):
            lead = lead.pop(0) if len(lead) > 1 else lead[0]
        return {"leaders": {p: (lead, ()) for p in range(4)}}


class Discovery(Lookup):
    """``discovery.get``: ``durable["ring"]`` and ``durable["redis"]``."""

    role = "discovery"

    def view(self):
        return {"ring": self.durable["ring"], "redis": self.durable["redis"]}


class Broker(Node):
    """``kafka.produce``: answers from ``durable["script"]`` in turn (``ok``
    appends; ``hang`` never answers; anything else is that produce error),
    then ``ok``. The log survives a crash; ``produced`` is every request."""

    role = "kafka-broker"

    def __init__(self, sim, name, region):
        super().__init__(sim, name, region)
        self.durable.update(script=[], log=[])
        self.produced = []

    def on_request(self, req):
        p = req.payload
        self.produced.append(p)
        act = self.durable["script"].pop(0) if self.durable["script"] else "ok"
        yield self.env.timeout(0.001)
        if act == "hang":
            yield self.env.timeout(1e6)
        if act != "ok":
            return "error", {"error": act}, 40
        post, log = p["post"], self.durable["log"]
        chat = Chat(post.channel, post.msg, post.text, post.sender, p["ts"] or f"{1000 + len(log):.6f}", len(log) + 1)
        log.append(chat)
        return "ok", {"offset": len(log) - 1, "ts": chat.ts, "seq": chat.seq, "chat": chat}, 60


class ChannelServer(Node):
    """Takes each ``broadcast`` and answers after ``durable["delay"]`` (1 ms)."""

    role = "channel-server"

    def reset_volatile(self):
        self.broadcasts = []

    def on_request(self, req):
        self.broadcasts.append(req.payload)
        yield self.env.timeout(self.durable.get("delay", 0.001))
        return "ok", {}, 40


def cluster(**settings):
    """A web app that has asked the controller and discovery once, broker-0 leading every partition, redis-0 primary with
    redis-1 its replica, channel server cs-0 the whole ring."""
    sim, _ = make_net()
    rec = sim.history = Recorder()
    s = NewSettings(**{"redis": {"ttl": TTL}, **settings})
    web = NewWebApp(sim, "webapp-0", "us-east", db="db", members=MEMBERS, users=USERS, teams=Teams.single(TeamSize.derive(3), 3),
                    controller="controller", discovery="discovery", settings=s)
    ctl, disc = Controller(sim, "controller", "us-east"), Discovery(sim, "discovery", "us-east")
    ctl.durable["leader"] = "broker-0"
    disc.durable.update(ring=("cs-0",), redis="redis-0")
    brokers = [Broker(sim, f"broker-{i}", "us-east") for i in range(2)]
    redis = [Redis(sim, f"redis-{i}", "us-east", primary=i == 0, peer=None, persistence=True, lag=0.2,
                   discovery="discovery") for i in range(2)]
    cs = ChannelServer(sim, "cs-0", "us-east")
    db = DB(sim, "db", "us-east", directory={"D": {"alice"}})
    for n in sim.nodes.values():  # volatile state only: no background loops, the test drives
        n.reset_volatile()
    c = SimpleNamespace(sim=sim, rec=rec, web=web, ctl=ctl, disc=disc, brokers=brokers, redis=redis, cs=cs, db=db)
    relook(c)
    return c


def relook(c):
    """The web app learns the current view (as its blocking queries would)."""
    c.sim.env.run(until=c.sim.env.process(c.web.refresh_view()))


def call(c, kind, body, trace=None, at=None):
    """Hand request ``kind`` to the web app's handler (now, or at time
    ``at``); the process (its value: the answer)."""
    def go():
        if at is not None:
            yield c.sim.env.timeout(at - c.sim.env.now)
        return (yield from NewWebApp.HANDLERS[kind](c.web, Request("client", kind, body, trace)))

    return c.sim.env.process(go())


def post(c, msg, sender="alice", channel="C1", at=None):
    """``chat.postMessage`` of ``msg``; the process (its value: the answer)."""
    return call(c, "chat.postMessage", Post(channel, msg, f"text of {msg}", sender), msg, at)


def call_value(c, kind, body):
    """Run request ``kind`` until answered: ``(status, payload, size)``."""
    proc = call(c, kind, body)
    c.sim.env.run(until=proc)
    return proc.value


def answered(c, proc):
    """Run until ``proc`` answers: ``(status, payload, time answered)``."""
    c.sim.env.run(until=proc)
    status, payload, _ = proc.value
    return status, payload, c.sim.env.now


def answer(c, msg, **kw):
    return answered(c, post(c, msg, **kw))


def key(msg, channel="C1"):
    return f"dedupe:{channel}:{msg}"


def steps(c, msg):
    return [v["step"] for _, _, _, f, v in c.rec.ops if f == "step" and v["msg"] == msg]


def produced(c, broker=0):
    return [p["post"].msg for p in c.brokers[broker].produced]


# -- the path that works ------------------------------------------------------------------
def test_an_accepted_send_is_appended_marked_done_broadcast_and_answered_with_the_logs_ts():
    c = cluster()
    status, body, _ = answer(c, "m1")
    (chat,) = c.brokers[0].durable["log"]
    assert (status, body) == ("ok", {"ok": True, "ts": chat.ts})
    assert (chat.channel, chat.msg, chat.text, chat.sender) == ("C1", "m1", "text of m1", "alice")
    (req,) = c.brokers[0].produced
    assert req["partition"] == stable_hash("C1") % 4 and req["ts"] is None  # ts_source kafka: the leader assigns
    assert steps(c, "m1") == ["received", "deduped", "appended", "responded"]
    c.sim.env.run(until=c.sim.env.now + 1)  # the done mark and the broadcast are fire and forget
    assert c.cs.broadcasts == [chat]
    assert c.redis[0].data[key("m1")] == (f"done:{chat.ts}", pytest.approx(TTL, abs=0.1))


def made_for(c, msg):
    """The requests the web app made for ``msg`` (by trace), as ``(kind, to, bytes)``, sorted."""
    return sorted((r[3], r[2], r[4]) for r in c.sim.network.journal.rows if r[8] == msg and r[1] == "webapp-0")


def test_every_request_made_for_a_send_carries_its_message_as_trace_and_its_size():
    """The message diagram (``--explain``) follows a message by the trace of
    the requests made for it: the dedupe SETNX, the produce, the done mark
    and the broadcast; the produce and the broadcast weigh what they carry
    (``Post.size``, ``Chat.size``: the load figures count them)."""
    c = cluster()
    answer(c, "m1")
    c.sim.env.run(until=c.sim.env.now + 1)
    (chat,) = c.cs.broadcasts
    assert made_for(c, "m1") == [("broadcast", "cs-0", chat.size),
                                 ("kafka.produce", "broker-0", c.brokers[0].produced[0]["post"].size),
                                 ("redis.cmd", "redis-0", 80), ("redis.cmd", "redis-0", 80)]  # SETNX, done mark


@pytest.mark.parametrize("delay, answered", [(1.9, True), (2.1, False)])
def test_the_broadcast_is_fire_and_forget_its_answer_waited_for_two_seconds(delay, answered):
    """The message is durable once appended: the web app answers the client
    at once and stops listening to a slow channel server after 2 s (the
    journal carries the channel server's answer only within that time)."""
    c = cluster()
    c.cs.durable["delay"] = delay
    status, _, t = answer(c, "m1")
    assert status == "ok" and t < 0.1
    c.sim.env.run(until=c.sim.env.now + 12)
    assert len(c.cs.broadcasts) == 1
    assert any(r[3] == "broadcast:reply" for r in c.sim.network.journal.rows) is answered


def test_ts_source_webapp_stamps_the_web_apps_own_clock():
    c = cluster(ts_source="webapp")
    c.web.skew = -7.25  # a web app's clock behind: its ts is what goes into the log
    status, body, _ = answer(c, "m1", at=3.0)
    (req,) = c.brokers[0].produced
    assert req["ts"] == body["ts"] == c.brokers[0].durable["log"][0].ts
    assert float(req["ts"]) == pytest.approx(3.0 - 7.25 + 0.002, abs=0.01)  # after the SETNX round trip


def test_without_a_ring_the_send_is_appended_and_answered_but_not_broadcast():
    c = cluster()
    c.disc.durable["ring"] = ()  # every channel server out of the ring, and the web app hears of it
    relook(c)
    assert answer(c, "m1")[0] == "ok"
    c.sim.env.run(until=c.sim.env.now + 1)
    assert c.cs.broadcasts == [] and len(c.brokers[0].durable["log"]) == 1


# -- refused before any work ----------------------------------------------------------------
@pytest.mark.parametrize("sender, channel, code", [("mallory", "C1", "not_authed"),
                                                   ("alice", "C9", "channel_not_found"),
                                                   ("carol", "C1", "not_in_channel"),
                                                   ("alice", "C2", "not_in_channel")])
def test_auth_and_membership_are_refused_before_dedupe_or_append(sender, channel, code):
    c = cluster()
    status, body, _ = answer(c, "m1", sender=sender, channel=channel)
    assert (status, body) == ("error", {"ok": False, "error": code})
    assert steps(c, "m1") == ["received"]
    assert c.redis[0].data == {} and produced(c) == [] and len(c.disc.asked) == len(c.ctl.asked) == 1


# -- the rate limit -------------------------------------------------------------------------
def test_the_rate_limit_admits_that_many_per_sender_in_any_second_and_refused_sends_do_not_count():
    c = cluster(rate_limit=2)
    times = {"a1": 0.0, "a2": 0.0, "a3": 0.5, "a4": 0.6, "b1": 0.6, "a5": 1.0, "a6": 1.0, "a7": 1.5, "a8": 2.1}
    procs = {m: post(c, m, sender="bob" if m[0] == "b" else "alice", at=10 + t) for m, t in times.items()}
    c.sim.env.run(until=15)
    got = {m: p.value[1].get("error", "ok") for m, p in procs.items()}
    # (seconds after 10) a1, a2 fill alice's window; a3, a4 are over it; bob has his
    # own; at 1.0 the sends of 0.0 have left it (strictly more than a second ago is out, exactly
    # a second ago too), so a5 and a6 go in and a7 is over again; by 2.1 it is empty
    assert got == {"a1": "ok", "a2": "ok", "a3": "ratelimited", "a4": "ratelimited", "b1": "ok", "a5": "ok",
                   "a6": "ok", "a7": "ratelimited", "a8": "ok"}
    assert procs["a3"].value[1] == {"ok": False, "error": "ratelimited", "retry_after": 1.0}
    assert steps(c, "a3") == ["received"] and key("a3") not in c.redis[0].data
    assert sorted(produced(c)) == ["a1", "a2", "a5", "a6", "a8", "b1"]


def test_a_fractional_rate_limit_admits_whole_sends_below_it():
    c = cluster(rate_limit=1.5)
    procs = [post(c, f"m{i}", at=10 + 0.1 * i) for i in range(3)]
    c.sim.env.run(until=15)
    assert [p.value[1].get("error", "ok") for p in procs] == ["ok", "ok", "ratelimited"]


# -- dedupe ---------------------------------------------------------------------------------
def test_a_retry_of_an_appended_send_is_answered_with_the_first_ts_and_nothing_new_happens():
    c = cluster()
    _, first, _ = answer(c, "m1")
    c.sim.env.run(until=c.sim.env.now + 1)
    status, again, _ = answer(c, "m1")
    c.sim.env.run(until=c.sim.env.now + 1)
    assert (status, again) == ("ok", {"ok": True, "ts": first["ts"], "replayed": True})
    assert produced(c) == ["m1"] and len(c.cs.broadcasts) == 1
    assert steps(c, "m1") == ["received", "deduped", "appended", "responded", "received"]


def test_a_retry_while_the_first_attempt_is_pending_is_internal_error_and_not_appended_twice():
    c = cluster()
    c.brokers[0].durable["script"] = ["hang"]
    first = post(c, "m1")
    c.sim.env.run(until=0.5)  # the first attempt's produce hangs: its key is pending
    status, body, _ = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "internal_error"})
    assert produced(c) == ["m1"] and c.redis[0].data[key("m1")][0] == "pending"
    c.sim.env.run(until=first)
    assert first.value[1]["error"] == "internal_error"  # the produce timed out: it may be in the log
    assert c.redis[0].data[key("m1")][0] == "pending"  # ... so the key is kept: no second append
    c.sim.env.run(until=TTL - 1)
    assert answer(c, "m1")[1]["error"] == "internal_error" and produced(c) == ["m1"]


def test_a_pending_key_expires_after_its_ttl_and_the_send_can_go_through():
    c = cluster()
    c.brokers[0].durable["script"] = ["NOT_LEADER_OR_FOLLOWER"]
    assert answer(c, "m1")[1]["error"] == "internal_error"
    c.sim.env.run(until=TTL + 1)
    assert answer(c, "m1")[0] == "ok" and produced(c) == ["m1", "m1"]


def test_without_dedupe_redis_is_never_asked_and_a_retry_is_appended_again():
    c = cluster(dedupe=False)
    assert answer(c, "m1")[0] == answer(c, "m1")[0] == "ok"
    c.sim.env.run(until=c.sim.env.now + 1)
    assert produced(c) == ["m1", "m1"] and len(c.cs.broadcasts) == 2
    assert not any(r[3] == "redis.cmd" for r in c.sim.network.journal.rows)


def test_without_dedupe_a_refused_append_touches_no_redis_key():
    c = cluster(dedupe=False)
    c.brokers[0].durable["script"] = ["NOT_ENOUGH_REPLICAS"]
    assert answer(c, "m1")[1]["error"] == "service_unavailable"
    assert not any(r[3] == "redis.cmd" for r in c.sim.network.journal.rows)


def test_redis_down_is_service_unavailable_before_any_append():
    c = cluster()
    c.redis[0].crash()
    status, body, t = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "service_unavailable"})
    assert produced(c) == [] and steps(c, "m1") == ["received"]
    assert len(c.disc.asked) == 1  # not asked again: a refused connection is no sign of a failover


def test_redis_hung_is_service_unavailable_after_the_one_second_command_timeout():
    c = cluster()
    c.redis[0].pause()
    t0 = c.sim.env.now
    status, body, t = answer(c, "m1")
    assert body["error"] == "service_unavailable" and t - t0 == pytest.approx(1.0) and produced(c) == []


def test_no_redis_primary_known_is_service_unavailable():
    c = cluster()
    c.disc.durable["redis"] = None  # no primary, and the web app hears of it
    relook(c)
    assert answer(c, "m1")[1]["error"] == "service_unavailable"
    assert produced(c) == [] and not any(r[3] == "redis.cmd" for r in c.sim.network.journal.rows)


def test_a_read_only_redis_answer_refreshes_the_view_so_the_next_send_uses_the_new_primary():
    c = cluster()
    answer(c, "m0")
    c.redis[0].durable["primary"] = False  # failed over: redis-1 is the primary now
    c.redis[1].durable["primary"] = True
    c.disc.durable["redis"] = "redis-1"
    asked = len(c.disc.asked)
    assert answer(c, "m1")[1]["error"] == "service_unavailable"  # READONLY: definite, nothing done
    assert len(c.disc.asked) == asked + 1 and produced(c) == ["m0"]
    assert answer(c, "m1")[0] == "ok" and key("m1") in c.redis[1].data and key("m1") not in c.redis[0].data


# -- the append ----------------------------------------------------------------------------
def test_not_leader_refreshes_the_view_and_appends_at_the_new_leader():
    c = cluster()
    c.ctl.durable["leader"] = ["broker-1"]  # the web app still believes broker-0 leads
    c.brokers[0].durable["script"] = ["NOT_LEADER"]
    status, body, _ = answer(c, "m1")
    assert status == "ok" and body["ts"] == c.brokers[1].durable["log"][0].ts
    assert produced(c, 0) == produced(c, 1) == ["m1"] and c.brokers[0].durable["log"] == []
    assert len(c.ctl.asked) == 2  # the first view, then the refresh after NOT_LEADER


@pytest.mark.parametrize("fail", ["refused", "unreachable"])
def test_a_leader_that_cannot_be_reached_is_looked_up_again_and_the_send_goes_to_the_new_one(fail):
    c = cluster()
    if fail == "refused":
        c.brokers[0].crash()
    else:
        c.sim.network.partition({"webapp-0"}, {"broker-0"})
    c.ctl.durable["leader"] = "broker-1"
    asked = len(c.ctl.asked)
    status, body, _ = answer(c, "m1")
    assert status == "ok" and [ch.msg for ch in c.brokers[1].durable["log"]] == ["m1"]
    assert len(c.ctl.asked) == asked + 1


def test_not_leader_three_times_gives_up_service_unavailable_and_frees_the_key():
    c = cluster()
    c.brokers[0].durable["script"] = ["NOT_LEADER"] * 3
    status, body, _ = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "service_unavailable"})
    assert produced(c) == ["m1"] * 3 and len(c.ctl.asked) == 4  # one view, three refreshes
    assert key("m1") not in c.redis[0].data and "appended" not in steps(c, "m1")
    assert answer(c, "m1")[0] == "ok"  # the key is gone: a retry is appended


@pytest.mark.parametrize("code", ["NOT_ENOUGH_REPLICAS"])
def test_a_definite_produce_refusal_is_not_retried_and_frees_the_key(code):
    c = cluster()
    c.brokers[0].durable["script"] = [code]
    status, body, _ = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "service_unavailable"})
    assert produced(c) == ["m1"] and len(c.ctl.asked) == 1 and key("m1") not in c.redis[0].data
    c.sim.env.run(until=c.sim.env.now + 1)
    assert c.cs.broadcasts == [] and steps(c, "m1") == ["received", "deduped"]
    assert [k for k, _, _ in made_for(c, "m1")] == ["kafka.produce", "redis.cmd", "redis.cmd"]  # SETNX, DEL
    assert answer(c, "m1")[0] == "ok" and produced(c) == ["m1", "m1"]


@pytest.mark.parametrize("code", ["NOT_LEADER_OR_FOLLOWER", "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "hang"])
def test_an_append_that_may_have_happened_is_internal_error_and_keeps_the_key_pending(code):
    c = cluster()
    c.brokers[0].durable["script"] = [code]
    status, body, t = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "internal_error"})
    assert produced(c) == ["m1"] and c.redis[0].data[key("m1")][0] == "pending"
    if code == "hang":  # the produce's timeout is the Kafka request timeout (5 s)
        assert 5.0 <= t < 5.1
    c.sim.env.run(until=c.sim.env.now + 1)
    assert c.cs.broadcasts == [] and "appended" not in steps(c, "m1")


def test_no_leader_for_the_partition_is_service_unavailable_without_a_produce():
    c = cluster()
    c.ctl.durable["leader"] = None
    relook(c)
    status, body, _ = answer(c, "m1")
    assert (status, body) == ("error", {"ok": False, "error": "service_unavailable"})
    assert produced(c) == produced(c, 1) == [] and len(c.ctl.asked) == 3  # one more look, no leader: give up
    assert key("m1") not in c.redis[0].data
    c.ctl.durable["leader"] = "broker-1"
    assert answer(c, "m1")[0] == "ok" and produced(c, 1) == ["m1"]


# -- the other requests of the new web app: gap-fill history, Flannel's boot data -----------------
def stored(c, *msgs):
    chats = [Chat("C1", m, f"text of {m}", "bob", f"{i + 1:.6f}", i + 1) for i, m in enumerate(msgs)]
    c.db.durable["rows"]["C1"] = [(float(x.ts), x.seq, x) for x in chats]
    return chats


def test_history_with_rows_answers_the_channels_whole_messages_in_order():
    c = cluster()
    chats = stored(c, "m1", "m2")
    assert answered(c, call(c, "conversations.history", {"channel": "C1", "user": "alice", "rows": True}))[:2] == (
        "ok", {"ok": True, "rows": chats})
    assert answered(c, call(c, "conversations.history", {"channel": "C1", "user": "alice"}))[:2] == (
        "ok", {"ok": True, "msgs": ["m1", "m2"]})  # without rows: the ids, as the old web app answers
    # both reads ask the store with a request of the same weight (the load figures add them up)
    rows, ids = [r[4] for r in c.sim.network.journal.rows if r[3] == "db.history"]
    assert rows == ids and isinstance(rows, int)


@pytest.mark.parametrize("user, channel", [("carol", "C1"), ("alice", "C9")])
def test_history_rows_for_a_non_member_is_not_in_channel_without_reading_the_store(user, channel):
    c = cluster()
    stored(c, "m1")
    assert answered(c, call(c, "conversations.history", {"channel": channel, "user": user, "rows": True}))[:2] == (
        "error", {"ok": False, "error": "not_in_channel"})
    assert not any(r[2] == "db" for r in c.sim.network.journal.rows)


@pytest.mark.parametrize("fault", ["crash", "pause"])
def test_history_rows_when_the_store_fails_is_internal_error(fault):
    c = cluster()
    stored(c, "m1")
    getattr(c.db, fault)()
    t0 = c.sim.env.now
    status, body, t = answered(c, call(c, "conversations.history", {"channel": "C1", "user": "bob", "rows": True}))
    assert (status, body) == ("error", {"ok": False, "error": "internal_error"})
    if fault == "pause":  # the store's timeout is 5 s
        assert t - t0 == pytest.approx(5.0)


def test_flannel_team_is_the_teams_directory_at_the_full_boot_size():
    c = cluster()
    status, body, size = call_value(c, "flannel.team", {})
    assert (status, body) == ("ok", {"ok": True, "snapshot": snapshot_of(0, {"D": {"alice"}})})
    assert size == TeamSize.derive(3).rtm_start_bytes()


def test_flannel_team_when_the_store_is_down_is_internal_error():
    c = cluster()
    c.db.crash()
    assert call_value(c, "flannel.team", {})[:2] == ("error", {"ok": False, "error": "internal_error"})
