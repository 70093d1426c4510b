"""Message diagrams that show what never happened; fault windows paired by
id; templates that escape hostile names (HTML and Markdown)."""

import json
import re

from report_histories import crash_history, write_run
from reports.data import load_run
from reports.explain import message_path, order_views
from reports.report import report_context, write_reports
from sim.history import parse_history
from reports.data import Run


def test_lost_message_path_shows_the_handoff_that_never_happened(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    path = message_path(run, "client-1:1")
    (col,) = path["columns"]
    reached = {r["step"]: r for r in col["rows"] if r["reached"]}
    missing = {r["step"]: r for r in col["rows"] if not r["reached"]}
    assert list(reached) == ["received", "broadcast", "ack_sent"]
    assert reached["ack_sent"]["node"] == "channel-server-0" and reached["ack_sent"]["time"] == 1.06
    assert list(missing) == ["handoff", "persisted"]
    assert missing["handoff"]["why"] == ("hand-off to the web app (channel-server-0): never reached — "
                                         "channel-server-0 crashed at t=1.070 at step ack_sent (fault #1)")
    assert "(after handoff)" in missing["persisted"]["why"]
    assert set(path["invariants"]) == {"validity", "durability"}


def test_duplicate_copies_are_tied_to_the_attempt_that_made_them(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    path = message_path(run, "client-2:1")
    assert [c["title"].split(",")[0] for c in path["columns"]] == [
        "copy 1: from attempt 1 of 2", "copy 2: from attempt 2 of 2 (a retry)"]
    second = path["columns"][1]["rows"]
    assert all(r["reached"] for r in second) and second[0]["time"] == 1.65


def test_order_violation_puts_two_clients_views_beside_the_store(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    (v,) = run.result["invariants"]["total-order"]["violations"]
    o = order_views(run, v)
    assert o["pair"] == ["client-3:1", "client-3:2"]
    assert [c["who"] for c in o["columns"]] == ["store", "client-3 (live)", "client-2 (live)"]
    assert o["columns"][1]["seq"] == ["client-3:2", "client-3:1"]
    assert o["columns"][2]["seq"] == ["client-3:1", "client-3:2"]


def test_histories_without_steps_fall_back_to_the_journal_diagram(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history(steps=False)))
    assert run.steps == [] and message_path(run, "client-1:1") is None
    ctx = report_context([run], {}, {"name": "x"})
    (d, *_) = ctx["runs"][0]["diagrams"]
    assert d["path"] is None and d["png"].startswith("data:image/png;base64,")


def test_fault_windows_pair_by_id_and_fall_back_to_labels():
    with_ids = Run(None, *_parsed(crash_history()), {})
    (w,) = with_ids.faults()
    assert (w.fault, w.kind, w.start, w.end, w.step) == (1, "crash", 1.07, 4.85, "ack_sent")
    legacy = Run(None, *_parsed(crash_history(fault_ids=False)), {})
    (lw,) = legacy.faults()
    assert (lw.fault, lw.start, lw.end) == (None, 1.07, 4.85)
    # two overlapping crashes of the same node: labels cannot tell them apart, ids can
    ops = [{"index": 0, "time": 1.0, "process": "nemesis", "type": "info", "f": "crash", "value": {"node": "n", "fault": 1}},
           {"index": 1, "time": 2.0, "process": "nemesis", "type": "info", "f": "pause", "value": {"node": "n", "fault": 2}},
           {"index": 2, "time": 3.0, "process": "nemesis", "type": "info", "f": "resume", "value": {"node": "n", "fault": 2}},
           {"index": 3, "time": 4.0, "process": "nemesis", "type": "info", "f": "restart", "value": {"node": "n", "fault": 1}}]
    meta = {"type": "meta", "scenario": "s", "arch": "a", "seed": 1, "channels": {}}
    h = parse_history(b"\n".join(json.dumps(x).encode() for x in [meta, *ops]))
    windows = Run(None, h.meta, h.ops, {}).faults()
    assert [(w.fault, w.kind, w.start, w.end) for w in windows] == [(1, "crash", 1.0, 4.0), (2, "pause", 2.0, 3.0)]


def _parsed(data: bytes):
    h = parse_history(data)
    return h.meta, h.ops


HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "[x](javascript:alert(3))", "`tick`", "a|b"]


def test_hostile_names_are_escaped_in_html_and_markdown(tmp_path):
    data = crash_history(name=HOSTILE[0]).decode()
    # a channel name travels into explanations, diagrams and the timeline; a text into the timeline
    data = data.replace('"eng"', json.dumps(HOSTILE[1])).replace('"dup"', json.dumps(" ".join(HOSTILE[2:])))
    run = load_run(write_run(tmp_path / "r", data.encode()))
    html_path, md_path = write_reports([run], tmp_path / "out", {"name": HOSTILE[0], "description": " ".join(HOSTILE)})
    html = html_path.read_text()
    assert html.count("<script>") == 1  # the page's own script, nothing else
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    body = html.split('<script type="application/json" class="tl-data">')[1].split("</script>")[0]
    assert "<" not in body  # the timeline's data cannot close its block
    md = md_path.read_text()
    assert "<script" not in md and "<img" not in md
    assert "\\[x\\]\\(javascript:alert\\(3\\)\\)" in md and "\\`tick\\`" in md and "a\\|b" in md
    for line in md.splitlines():  # no table row gained a cell from a value's pipe
        if line.startswith("| validity"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 4
