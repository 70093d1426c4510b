"""The new client's send path (``NewClient.post_loop`` and the shared
bookkeeping of ``Client``: ``new_send``, ``acked``, ``failed``, ``finish``,
``display``) against a scripted web app, on a real kernel and network.

What is asserted is the history the client writes (every send an
``invoke`` and exactly one ``ok``/``fail``/``info``, with the documented
fields), and when each attempt reached the web app: the retry schedule
(backoff without jitter, ``retry_after`` of a 429), the same
``client_msg_id`` on every attempt, and the error table deciding
``fail`` (every attempt definite) against ``info`` (some attempt unknown)."""

import pytest

from conftest import make_net
from helpers import Recorder
from sim.architectures.new.client import NewClient
from sim.config import ClientSettings, Workload
from sim.kernel import Node
from sim.nodes.client import Pending
from sim.nodes.protocol import SLACK_WEB_API, Chat, Post


class ScriptedWebApp(Node):
    """Answers ``chat.postMessage`` from ``durable["script"]`` in turn, then
    ``ok``: ``ok`` (ts = the attempt's arrival time), ``hang`` (no answer),
    ``ratelimited:<s>`` (a 429 with that ``retry_after``; ``ratelimited``
    alone: none), or any other error code. ``got`` is (time, post) per attempt."""

    role = "webapp"

    def reset_volatile(self):
        self.got = []

    def on_request(self, req):
        self.got.append((self.env.now, req.payload))
        script = self.durable.setdefault("script", [])
        act = script.pop(0) if script else "ok"
        if act == "hang":
            yield self.env.timeout(1e6)
        yield self.env.timeout(0.001)
        if act == "ok":
            return "ok", {"ok": True, "ts": f"{self.env.now:.6f}"}, 60
        code, _, after = act.partition(":")
        extra = {"retry_after": float(after)} if after else {}
        return "error", {"ok": False, "error": code, **extra}, 60


SETTINGS = ClientSettings(jitter=False, backoff_base=0.25, backoff_cap=4.0, max_attempts=4, http_timeout=2.0)


def client(script=(), **settings):
    sim, _ = make_net()
    rec = sim.history = Recorder()
    web = ScriptedWebApp(sim, "webapp-0", "us-east")
    web.durable["script"] = list(script)
    c = NewClient(sim, "c1", "us-east", kind="desktop", channels=["C2", "C1"],
                  settings=SETTINGS.model_copy(update=settings), workload=Workload(text_bytes=40),
                  webapp="webapp-0", gateway="flannel-0", hold_back=True, hold_timeout=2.0, errors=SLACK_WEB_API)
    for n in (web, c):  # volatile state only: the test drives the sends
        n.reset_volatile()
    return sim, c, web, rec


def sends(rec):
    return [(typ, v) for _, p, typ, f, v in rec.ops if f == "send"]


def attempt_times(web):
    return [round(t, 2) for t, _ in web.got]


def send_one(script=(), until=60, **settings):
    sim, c, web, rec = client(script, **settings)
    c.new_send()
    sim.env.run(until=until)
    return c, web, rec


# -- new_send -------------------------------------------------------------------------
def test_new_send_records_the_invoke_and_posts_a_fresh_id_with_text_of_the_workload_size():
    sim, c, web, rec = client()
    c.new_send()
    c.new_send()
    sim.env.run(until=5)
    invokes = [v for typ, v in sends(rec) if typ == "invoke"]
    assert [v["msg"] for v in invokes] == ["c1:1", "c1:2"] and c.sent == 2
    posted = {post.msg: post for _, post in web.got}
    for v in invokes:
        assert posted[v["msg"]] == Post(v["channel"], v["msg"], v["text"], "c1")
        assert v["channel"] in ("C1", "C2") and len(v["text"]) == 40 and v["text"].startswith(v["msg"] + " x")
    assert c.pending == {}


def test_message_ids_are_never_reused_after_a_crash():
    sim, c, web, rec = client()
    c.new_send()
    c.crash()
    c.reset_volatile()
    c.new_send()
    sim.env.run(until=5)
    assert [v["msg"] for typ, v in sends(rec) if typ == "invoke"] == ["c1:1", "c1:2"]


def test_a_long_id_gets_no_padding_but_keeps_its_text():
    sim, c, web, rec = client()
    c.w = Workload(text_bytes=3)
    c.new_send()
    sim.env.run(until=5)
    assert [v["text"] for typ, v in sends(rec) if typ == "invoke"] == ["c1:1 "]


# -- outcomes -----------------------------------------------------------------------------
def test_an_answered_send_is_ok_with_the_web_apps_ts_after_one_attempt():
    c, web, rec = send_one()
    (_, post), = web.got
    assert sends(rec)[1] == ("ok", {"channel": post.channel, "msg": "c1:1", "ts": sends(rec)[1][1]["ts"]})
    assert float(sends(rec)[1][1]["ts"]) == pytest.approx(web.got[0][0] + 0.001, abs=1e-6)
    assert len(sends(rec)) == 2 and c.pending == {}


def test_definite_refusals_are_retried_with_backoff_and_the_same_id_then_ok():
    c, web, rec = send_one(["service_unavailable"] * 2)
    # every attempt is traced to the message and weighs the post (the diagrams and load figures read them)
    rows = [r for r in c.sim.network.journal.rows if r[3] == "chat.postMessage"]
    assert [(r[1], r[4], r[8]) for r in rows] == [("c1", web.got[0][1].size, "c1:1")] * 3
    # backoff without jitter: base·2^attempt after attempt 1 (0.5 s), attempt 2 (1.0 s)
    t = attempt_times(web)
    assert len(t) == 3 and t[1] - t[0] == pytest.approx(0.5, abs=0.02) and t[2] - t[1] == pytest.approx(1.0, abs=0.02)
    assert {p.msg for _, p in web.got} == {"c1:1"}
    assert [typ for typ, _ in sends(rec)] == ["invoke", "ok"]


def test_the_backoff_is_capped():
    c, web, rec = send_one(["service_unavailable"] * 3, backoff_cap=0.6)
    t = attempt_times(web)
    assert [round(b - a, 1) for a, b in zip(t, t[1:])] == [0.5, 0.6, 0.6]


def test_a_429_waits_its_retry_after_when_longer_than_the_backoff():
    c, web, rec = send_one(["ratelimited:3", "ratelimited:0.1", "ratelimited"])
    t = attempt_times(web)
    # 3 s (retry_after over the 0.5 s backoff), then 1.0 s (the backoff over 0.1 s),
    # then 2.0 s (the backoff over the 1 s default)
    assert [round(b - a, 1) for a, b in zip(t, t[1:])] == [3.0, 1.0, 2.0]
    assert [typ for typ, _ in sends(rec)] == ["invoke", "ok"]


def test_a_429_without_retry_after_waits_one_second_when_the_backoff_is_shorter():
    c, web, rec = send_one(["ratelimited"], backoff_base=0.05)
    t = attempt_times(web)
    assert round(t[1] - t[0], 1) == 1.0


@pytest.mark.parametrize("code", ["not_authed", "channel_not_found", "not_in_channel"])
def test_a_definite_refusal_that_is_not_retried_is_fail_after_one_attempt(code):
    c, web, rec = send_one([code])
    assert len(web.got) == 1
    (typ, v), = sends(rec)[1:]
    assert (typ, v) == ("fail", {"channel": web.got[0][1].channel, "msg": "c1:1", "error": code})
    assert c.pending == {}


def test_an_unknown_attempt_makes_a_later_refusal_info():
    c, web, rec = send_one(["internal_error", "not_in_channel"])
    assert sends(rec)[1:] == [("info", {"channel": web.got[0][1].channel, "msg": "c1:1", "error": "not_in_channel"})]


def test_every_attempt_definite_gives_up_as_fail_after_max_attempts():
    c, web, rec = send_one(["service_unavailable"] * 9)
    assert len(web.got) == 4
    assert sends(rec)[1:] == [("fail", {"channel": web.got[0][1].channel, "msg": "c1:1", "error": "gave_up"})]


@pytest.mark.parametrize("unknown", ["internal_error", "hang"])
def test_one_unknown_attempt_makes_giving_up_info(unknown):
    c, web, rec = send_one(["service_unavailable", unknown] + ["service_unavailable"] * 9)
    assert len(web.got) == 4
    assert sends(rec)[1:] == [("info", {"channel": web.got[0][1].channel, "msg": "c1:1", "error": "gave_up"})]
    if unknown == "hang":  # the attempt's timeout is the HTTP timeout
        t = attempt_times(web)
        assert round(t[2] - t[1], 1) == round(2.0 + 1.0, 1)  # 2 s unanswered, then 1 s backoff


def test_a_send_recorded_at_the_end_is_not_retried_after():
    sim, c, web, rec = client(["service_unavailable"] * 9)
    c.new_send()
    c.finish()  # the run ends while the first attempt is in flight
    sim.env.run(until=60)
    assert len(web.got) == 1
    assert sends(rec)[1:] == [("info", {"channel": web.got[0][1].channel, "msg": "c1:1", "error": "indeterminate"})]


def test_finish_records_every_send_in_doubt_as_info_in_id_order_once():
    sim, c, web, rec = client(["hang"] * 9)
    for _ in range(3):
        c.new_send()
    sim.env.run(until=1)
    c.finish()
    c.finish()
    infos = [(typ, v["msg"], v["error"]) for typ, v in sends(rec) if typ != "invoke"]
    assert {p for _, p, _, _, _ in rec.ops} == {"c1"}
    assert infos == [("info", f"c1:{k}", "indeterminate") for k in (1, 2, 3)]
    assert {v["channel"] for typ, v in sends(rec) if typ == "info"} <= {"C1", "C2"}
    chans = {v["msg"]: v["channel"] for typ, v in sends(rec)}
    assert all(chans[v["msg"]] == v["channel"] for typ, v in sends(rec))


def test_an_outcome_is_recorded_once_whatever_arrives_later():
    sim, c, web, rec = client()
    c.pending = {"m": Pending(Post("C1", "m", "t", "c1"))}  # a client has no dict of its own before its first send
    c.acked("C1", "m", "1.000000")
    c.acked("C1", "m", "2.000000")
    c.failed("m", "late")
    assert sends(rec) == [("ok", {"channel": "C1", "msg": "m", "ts": "1.000000"})]
    c.pending["n"] = Pending(Post("C2", "n", "t", "c1"), maybe_applied=True)
    c.failed("n", "boom")
    c.failed("n", "again")
    c.acked("C2", "n", "3.000000")
    assert sends(rec)[1:] == [("info", {"channel": "C2", "msg": "n", "error": "boom"})]


def test_display_records_the_chat_as_delivered():
    sim, c, web, rec = client()
    c.display(Chat("C1", "c2:7", "hello", "c2", "12.000001", 3))
    assert [(p, typ, f, v) for _, p, typ, f, v in rec.ops] == [
        ("c1", "event", "deliver", {"channel": "C1", "msg": "c2:7", "text": "hello", "ts": "12.000001"})]
