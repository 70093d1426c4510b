"""Found by following the README and docs/reports.md as a newcomer: report
content that disagreed with the history it summarises."""

import json

from report_histories import write_run
from reports.data import load_run
from reports.explain import message_path
from reports.report import write_reports

FANOUT_STEPS = [
    {"step": "received", "role": "webapp", "label": "a web app takes the POST"},
    {"step": "persisted", "role": "webapp", "label": "stored on the shard"},
    {"step": "routed", "role": "admin-server", "label": "cs.route sent"},
    {"step": "broadcast", "role": "channel-server", "label": "fanned out to the gateways"},
    {"step": "pushed", "role": "flannel", "label": "a gateway pushed it to its members"},
]


def _history(stories) -> bytes:
    """One channel, three members; ``stories`` is a list of (msg, [(node, step), ...]);
    each story is one send attempt, a step list of None is a retry's timeout."""
    ops: list[dict] = []
    t = [1.0]

    def op(process, type_, f, value):
        t[0] = round(t[0] + 0.01, 6)
        ops.append({"index": len(ops), "time": t[0], "process": process, "type": type_, "f": f, "value": value})

    ch, stored = "general", []
    for msg, attempts in stories:
        sender = msg.split(":")[0]
        for n, path in enumerate(attempts):
            op(sender, "invoke", "send", {"channel": ch, "msg": msg, "text": "x"})
            for node, step in path:
                op(node, "event", "step", {"step": step, "msg": msg, "channel": ch})
            last = n == len(attempts) - 1
            op(sender, "ok" if last else "info", "send", {"channel": ch, "msg": msg, **({"ts": "1.5"} if last else {})})
        stored.append(msg)
    for c in ("client-1", "client-2", "client-3"):
        op(c, "invoke", "read", {"channel": ch})
        # client-3's final read lacks the first message: a validity violation, so the report draws its path
        op(c, "ok", "read", {"channel": ch, "msgs": stored[1:] if c == "client-3" else stored})
    op("db", "event", "stored", {"channel": ch, "msgs": stored})
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": "s", "arch": "rt2023", "seed": 1,
            "channels": {ch: ["client-1", "client-2", "client-3"]}, "config": {}, "steps": FANOUT_STEPS}
    return b"\n".join(json.dumps(x).encode() for x in [meta, *ops]) + b"\n"


def test_fan_out_and_a_retried_route_are_one_pass_not_a_phantom_copy(tmp_path):
    # rt2023 in `chatsim compare crash-mid-send --seed 1`: client-4:6 was routed twice
    # (the admin server retried) and pushed by two gateways; the report drew a
    # "copy 2" that never reached received/persisted/broadcast yet was pushed
    path = [("webapp-0", "received"), ("webapp-0", "persisted"), ("admin-0", "routed"), ("admin-0", "routed"),
            ("channel-server-0", "broadcast"), ("gateway-us-east-0", "pushed"), ("gateway-eu-west-0", "pushed")]
    run = load_run(write_run(tmp_path / "r", _history([("client-1:1", [path])])))
    p = message_path(run, "client-1:1")
    (col,) = p["columns"]
    assert col["title"].startswith("path: from attempt 1 of 1")
    assert all(r["reached"] for r in col["rows"])
    pushed = col["rows"][-1]
    assert pushed["node"] == "gateway-us-east-0" and "gateway-eu-west-0" in pushed["also"]
    assert "admin-0" in col["rows"][2]["also"] and col["rows"][0]["also"] == ""
    write_reports([run], tmp_path / "out", {"name": "s"})
    md = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "copy 2" not in md and "gateway-eu-west-0" in md and "gateway-eu-west-0" in html
    assert [line.split(" · ")[0] for line in md.splitlines() if line.startswith("1. ")] == [
        f"1. {s['step']}" for s in FANOUT_STEPS]


def test_a_resend_after_a_cut_pass_keeps_its_own_steps(tmp_path):
    # attempt 1 stopped after broadcast (the node crashed); attempt 2 went all the way.
    # Filing the k-th occurrence of each step under copy k gave attempt 2's later
    # steps to copy 1, so the cut pass looked complete and the resend looked cut
    cut = [("webapp-0", "received"), ("webapp-0", "persisted"), ("admin-0", "routed"), ("channel-server-0", "broadcast")]
    full = cut + [("gateway-us-east-0", "pushed")]
    run = load_run(write_run(tmp_path / "r", _history([("client-1:1", [cut, full])])))
    first, second = message_path(run, "client-1:1")["columns"]
    assert [r["reached"] for r in first["rows"]] == [True, True, True, True, False]
    assert all(r["reached"] for r in second["rows"]) and "(a retry)" in second["title"]


def test_reports_name_run_directories_relative_to_themselves(tmp_path):
    # `chatsim compare` builds its output in a hidden staging folder (.<out>.<random>.part)
    # and renames it: report.html and each timeline.html printed that folder's path,
    # which is gone after the rename and differs on every run (same seed, other bytes)
    stage = tmp_path / ".out.x1y2z3.part"
    run = load_run(write_run(stage / "rt2023", _history([("client-1:1", [[("webapp-0", "received")]])])))
    write_reports([run], stage, {"name": "s"})
    html = (stage / "report.html").read_text()
    timeline = (stage / "rt2023" / "timeline.html").read_text()
    for page in (html, timeline):
        assert ".part" not in page and str(tmp_path) not in page
    assert '<a href="rt2023/">rt2023/</a>' in html
    assert '<a href="history.jsonl">history.jsonl</a>' in timeline


def test_a_latency_cdf_without_live_deliveries_says_so_without_a_warning(tmp_path):
    # these runs ack but show nothing live: the empty panel called legend() with no lines,
    # and every compare of such runs printed matplotlib's "No artists with labels" warning
    import warnings

    from reports import plots

    run = load_run(write_run(tmp_path / "r", _history([("client-1:1", [[("webapp-0", "received")]])])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.latency_cdf([run])
    acks, live = fig.axes
    assert acks.get_legend() is not None and live.get_legend() is None
    assert [t.get_text() for t in live.texts] == ["no live-delivery in these runs"]
