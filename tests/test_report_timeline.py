"""The interactive timeline's data: every record survives the compact
encoding, and a 100k-op run stays under 10 MB."""

import json

from invariants.synth import reference_history, to_jsonl
from report_histories import crash_history, write_run
from reports.data import Run, load_run
from reports.timeline import render_standalone, role_key, timeline_data, write_timeline
from sim.history import parse_history


def decode(d: dict, i: int) -> dict:
    """What the page's script rebuilds on hover (templates/timeline.js ``record``)."""
    t, lane, kind, shape, *fields = d["ops"][i]

    def field(x):
        if isinstance(x, int):
            return d["strings"][x]
        return [d["strings"][j] for j in x["s"]] if "s" in x else x["j"]

    type_, f = d["kinds"][kind].split(" ")
    return {"index": i, "time": t, "process": d["lanes"][lane], "type": type_, "f": f,
            "value": dict(zip(d["shapes"][shape], map(field, fields)))}


def big_history() -> bytes:
    clients = [f"client-{i}" for i in range(1, 61)]
    members = {f"C{j}": clients[j * 6:(j + 1) * 6 + 10] for j in range(6)}
    sends = [(members[f"C{i % 6}"][i % 16 % len(members[f"C{i % 6}"])], f"C{i % 6}", "ok") for i in range(6500)]
    return to_jsonl(*reference_history(members, sends))


def test_every_record_round_trips(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    d = json.loads(json.dumps(timeline_data(run)))
    for op in run.ops:
        assert decode(d, op.index) == {"index": op.index, "time": op.time, "process": op.process,
                                       "type": op.type, "f": op.f, "value": op.value}


def test_lanes_faults_and_violations(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    d = timeline_data(run)
    assert d["lanes"] == ["nemesis", "webapp-0", "channel-server-0", "channel-server-1", "db", "client-1",
                          "client-2", "client-3"]
    (f,) = d["faults"]
    assert (f["id"], f["kind"], f["start"], f["end"]) == (1, "crash", 1.07, 4.85)
    assert d["lanes"][f["lanes"][0]] == "channel-server-0" and f["desc"].startswith("#1 crash channel-server-0")
    assert {v["msg"] for v in d["violations"]} == {"client-1:1", "client-2:1", "client-3:1"}
    assert all(v["indexes"] for v in d["violations"])
    page = write_timeline(run)
    assert page == run.path / "timeline.html"
    html = page.read_text()
    assert html.count("<script>") == 1 and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert 'href="#tl-op-6" data-op="6">#1 crash' in html  # the crash (op 6), a jump link


def test_client_lanes_sort_numerically():
    assert sorted(["client-10", "client-2", "db", "nemesis"], key=role_key) == ["nemesis", "db", "client-2",
                                                                                 "client-10"]


def test_100k_ops_fit_in_10_mb(tmp_path):
    h = parse_history(big_history())
    assert len(h.ops) > 100_000
    html = render_standalone(Run(tmp_path, h.meta, h.ops, {"invariants": {}, "valid": True}))
    assert len(html.encode()) <= 10_000_000
