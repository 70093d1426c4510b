"""Reports: compare, timelines, message diagrams, CDFs, the HTML report in a
real headless Chromium."""

import json
from pathlib import Path

import pytest

from sim import architectures

from browser_helpers import page
from helpers import cli
from invariants.synth import reference_history, to_jsonl
from reports import plots
from reports.data import Run, load_run
from sim.history import parse_history


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "crash"
    code, stdout, err = cli("compare", "crash-mid-send", "--seed", "1", "--out", str(out))
    assert code == 0, err
    return out, stdout


def test_compare_writes_both_reports_side_by_side(compared):
    out, stdout = compared
    html = (out / "report.html").read_text()
    assert 'id="verdicts"' in html and "<th>old</th>" in html and "<th>new</th>" in html
    assert html.count("data:image/png;base64,") >= 3  # rates, CDFs, load (+ diagrams)
    assert html.count("<script>") == 1 and "src=" not in html.replace('src="data:', "")  # self-contained
    assert all(f'class="tl" id="tl-{i}"' in html for i in range(len(architectures.names())))
    md = (out / "report.md").read_text()
    assert "| validity |" in md and "[old](old/timeline.html)" in md
    for arch in architectures.names():
        for f in ("history.jsonl", "result.json", "journal.jsonl", "timeline.png", "timeline.svg", "timeline.html"):
            assert (out / arch / f).exists(), (arch, f)
    assert "old" in stdout and "new" in stdout and "VIOLATED" in stdout


def test_old_timeline_shows_the_crash_window_and_the_lost_message(compared):
    out, _ = compared
    result = json.loads((out / "old" / "result.json").read_text())
    lost = {v["msg"] for v in result["invariants"]["durability"]["violations"]}
    svg = (out / "old" / "timeline.svg").read_text()
    assert 'id="fault-crash-channel-server-0' in svg
    for msg in lost:
        assert f'id="violation-{msg}"' in svg
    new_svg = (out / "new" / "timeline.svg").read_text()
    assert 'id="violation-' not in new_svg


def test_message_diagram_shows_every_hop_and_the_crash(compared):
    out, _ = compared
    run = load_run(out / "old")
    msg = sorted(m for m, invs in run.violating_msgs().items() if "durability" in invs)[0]  # the lost one
    hops = [r for r in run.journal if r[8] and msg in r[8].split(",")]
    assert any(r[3] == "send" for r in hops) and any(r[3] == "message" for r in hops)
    assert not any(r[2] == "db" for r in hops)  # it never reached the store
    plots.save(plots.message_diagram(run, msg), out / "diagram")
    svg = (out / "diagram.svg").read_text()
    assert msg in svg and 'id="fault-crash-channel-server-0' in svg and "violates" in svg


def test_cdf_and_rates_overlay_both_architectures(compared):
    out, _ = compared
    cdf = (out / "latency-cdf.svg").read_text()
    rates = (out / "rates.svg").read_text()
    load = (out / "backend-load.svg").read_text()
    for arch in architectures.names():
        assert f'id="cdf-{arch}' in cdf
        assert f'id="rate-{arch}-invoke' in rates and f'id="rate-{arch}-ok' in rates
        assert f'id="load-{arch}-this run' in load


def test_run_explain_draws_one_message(tmp_path):
    out = tmp_path / "r"
    code, _, _ = cli("run", "crash-mid-send", "--arch", "old", "--out", str(out), "--explain", "client-1:1")
    assert code == 1
    assert (out / "explain-client-1_1.png").exists() and (out / "explain-client-1_1.svg").exists()
    assert (out / "timeline.png").exists()
    code, _, err = cli("run", "steady", "--arch", "old", "--out", str(tmp_path / "s"), "--explain", "nope")
    assert code == 2 and "not a message id" in err and not (tmp_path / "s").exists()


def test_timeline_stays_readable_at_100k_ops(tmp_path):
    clients = [f"client-{i}" for i in range(1, 61)]
    members = {f"C{j}": clients[j * 6:(j + 1) * 6 + 10] for j in range(6)}
    sends = [(members[f"C{i % 6}"][i % 16 % len(members[f"C{i % 6}"])], f"C{i % 6}", "ok") for i in range(6500)]
    meta, ops = reference_history(members, sends)
    h = parse_history(to_jsonl(meta, ops))
    assert len(h.ops) > 100_000
    run = Run(tmp_path, h.meta, h.ops, {"invariants": {}, "valid": True}, [])
    png, svg = plots.save(plots.timeline(run, max_clients=12), tmp_path / "big")
    assert svg.stat().st_size < 3_000_000  # aggregated, not a wall of ink
    text = svg.read_text()
    shown = len({op.process for op in h.ops if op.process.startswith("client-")})
    assert f"12 of {shown} clients shown" in text


def test_html_report_loads_in_headless_chromium_without_errors(compared):
    out, _ = compared
    with page() as (pg, errors):
        pg.goto(Path(out / "report.html").resolve().as_uri())
        table = pg.locator("#verdicts")
        assert table.is_visible()
        judged = json.loads((out / "old" / "result.json").read_text())["invariants"]
        assert table.locator("tbody tr").count() == len(judged) + 1  # each invariant and the overall verdict
        assert "VIOLATED" in table.inner_text()
        images = pg.locator("img")
        assert images.count() >= 3
        assert all(pg.evaluate("img => img.naturalWidth > 0", images.nth(i).element_handle())
                   for i in range(images.count()))
        # an interactive timeline per architecture
        assert pg.locator(".tl[data-ready]").count() == len(architectures.names())
    assert errors == []
