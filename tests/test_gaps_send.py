"""The send paths' documented behaviour that no other test pinned: the web
app's rate limit (admitted sends per window, refusals, ``retry_after``),
definite Web API errors recorded as ``fail`` after one attempt, and the
client's bookkeeping of them. Hostile sends are injected into a real run
through the wiring hook (``sim.runner.check_wiring``), so the real client,
web app and error table handle them."""

import collections

import pytest

import sim.runner as runner
from helpers import history_ops, run_scenario
from sim import architectures
from sim.nodes.client import Pending
from sim.nodes.protocol import Post

RATE = ["workload.rate=4", "workload.duration=10"]


def steps_of(ops, step):
    return [o for o in ops if o["f"] == "step" and o["value"]["step"] == step]


def rate_limited_run(tmp_path, limit):
    """One short busy run of the new design (rate_limit 0: off); its ops and result."""
    result, out = run_scenario("steady", "new", 1, tmp_path, RATE + [f"new.rate_limit={limit}"])
    return history_ops(out), result


def test_without_a_rate_limit_every_attempt_is_admitted(tmp_path):
    ops, result = rate_limited_run(tmp_path, 0)
    assert len(steps_of(ops, "received")) == len(steps_of(ops, "deduped")) == result["metrics"]["sends"]["invoked"]


def test_rate_limit_refuses_over_the_limit_per_window_and_clients_retry_after(tmp_path):
    """One run (each test of its own: mutation testing attributes a run to the
    test that made it), three properties:

    - sends over the limit are refused (a ``received`` step with no
      ``deduped``), and every send is admitted once later and acked;
    - no web app admits more than the limit per sender in any second;
    - a refused send's next attempt comes ``retry_after`` (1 s) later."""
    ops, result = rate_limited_run(tmp_path, 2)
    received, deduped = steps_of(ops, "received"), steps_of(ops, "deduped")
    assert len(received) - len(deduped) > 20  # 4 sends/s against 2/s per sender: many are refused
    assert len(deduped) == result["metrics"]["sends"]["invoked"]  # ... and every send is admitted once
    sends = result["metrics"]["sends"]
    assert sends["acked"] == sends["invoked"] and sends["failed"] == sends["unknown"] == 0

    last_received: dict = {}
    admitted = collections.defaultdict(list)  # (web app, sender) -> times the rate check admitted a send
    attempts = collections.defaultdict(list)  # msg -> times its attempts reached a web app
    for o in ops:
        if o["f"] != "step":
            continue
        key = (o["process"], o["value"]["msg"])
        if o["value"]["step"] == "received":
            last_received[key] = o["time"]
            attempts[key[1]].append(o["time"])
        elif o["value"]["step"] == "deduped":
            admitted[(key[0], key[1].split(":")[0])].append(last_received[key])
    assert admitted
    for (node, sender), times in admitted.items():
        for a, c in zip(times, times[2:]):
            assert c - a >= 1.0, (node, sender, times)  # a third send within a second was refused
    retried = {m: ts for m, ts in attempts.items() if len(ts) > 1}
    assert retried
    for m, ts in retried.items():
        # retry_after is 1 s; the request and its answer take a little more
        assert all(b - a >= 1.0 for a, b in zip(ts, ts[1:])), (m, ts)


# -- definite errors: fail after one attempt -------------------------------------------
HOSTILE = {  # code -> (msg, channel, sender) sent by client-1 (steady: client-1 is not in "random")
    "not_authed": ("client-1:9001", "general", "mallory"),
    "channel_not_found": ("client-1:9002", "nowhere", "client-1"),
    "not_in_channel": ("client-1:9003", "random", "client-1"),
}


def inject(monkeypatch, sends, at=5.0):
    """Have client-1 send each ``(msg, channel, sender)`` at ``at``, through
    its own send path, in every run wired while this patch holds."""
    real = runner.check_wiring

    def wiring(sim, arch, faults):
        real(sim, arch, faults)

        def go():
            yield sim.env.timeout(at)
            c = sim.node("client-1")
            for msg, ch, sender in sends:
                post = Post(ch, msg, "hostile", sender)
                sim.record(c.name, "invoke", "send", {"channel": ch, "msg": msg, "text": post.text})
                if not isinstance(c.pending, dict):  # no send yet: the shared empty mapping
                    c.pending = {}
                p = c.pending[msg] = Pending(post)
                c.transmit(p)

        sim.env.process(go())

    monkeypatch.setattr(runner, "check_wiring", wiring)


DEFINITE = [a.name for a in architectures.registry().values() if all(code in a.errors and a.errors[code].definite
                                                       for code in HOSTILE)]


@pytest.mark.parametrize("arch", DEFINITE)
def test_definite_api_errors_are_recorded_fail_after_one_attempt(arch, monkeypatch, tmp_path):
    inject(monkeypatch, list(HOSTILE.values()))
    result, out = run_scenario("steady", arch, 1, tmp_path, ["workload.duration=8", "workload.settle=5"])
    ops = history_ops(out)
    for code, (msg, ch, _) in HOSTILE.items():
        mine = [o for o in ops if o["f"] == "send" and o["value"]["msg"] == msg]
        assert [o["type"] for o in mine] == ["invoke", "fail"], (code, mine)
        assert mine[1]["value"] == {"channel": ch, "msg": msg, "error": code}
        assert len([o for o in steps_of(ops, "received") if o["value"]["msg"] == msg]) <= 1  # never retried
        assert not steps_of([o for o in ops if o["value"].get("msg") == msg], "deduped")  # refused first
    # a failed send is in nobody's view, and the checkers agree
    assert result["invariants"]["integrity"]["valid"] is True
    assert result["sends"]["fail"] == len(HOSTILE)


def test_every_registered_design_with_http_posts_is_covered():
    """The parametrization above is not empty: the designs that post over
    HTTP declare the three definite refusals."""
    assert {"new", "rt2023"} <= set(DEFINITE)
