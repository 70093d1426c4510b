"""The report pages in Debian's headless Chromium: hover, click, jump, zoom,
a 100k-op timeline within its limits, and the runs index's links."""

from pathlib import Path

from browser_helpers import page
from report_histories import crash_history, write_run
from reports.data import Run, load_run
from reports.index import write_index
from reports.report import write_reports
from reports.timeline import write_timeline
from sim.history import parse_history
from test_report_index import make_tree
from test_report_timeline import big_history


def _lanes_mentioning(run, msg: str) -> set[str]:
    return {op.process for op in run.ops if op.value.get("msg") == msg or msg in (op.value.get("msgs") or [])}


def _point(pg, root: str, index: int) -> dict:
    return pg.evaluate(f"document.querySelector('{root}').chatsim.point({index})")


def test_hover_shows_the_record_and_click_highlights_the_message_in_every_lane(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    url = write_timeline(run).resolve().as_uri()
    crash = next(op for op in run.ops if op.f == "crash")
    deliver = next(op for op in run.ops if op.f == "deliver" and op.process == "client-2")
    with page() as (pg, errors):
        pg.goto(url)
        pg.wait_for_selector(".tl[data-ready]")
        tip = pg.locator(".tl-tip")
        assert tip.is_hidden()
        # zoom in around the ops so neighbours 10 ms apart are distinct marks
        pg.evaluate("(() => { const v = document.querySelector('#tl').chatsim.view; v.t0 = 0.95; v.t1 = 1.35; })()")
        pg.click("button[data-act=in]")
        pg.click("button[data-act=out]")
        p = _point(pg, "#tl", crash.index)
        pg.mouse.move(p["x"], p["y"])
        assert tip.is_visible()
        text = tip.inner_text()
        assert f"#{crash.index}" in text and "nemesis" in text and "info crash" in text
        assert '"step": "ack_sent"' in text and '"fault": 1' in text and '"msg": "client-1:1"' in text
        p = _point(pg, "#tl", deliver.index)
        pg.mouse.click(p["x"], p["y"])
        assert pg.get_attribute("#tl", "data-selected") == deliver.value["msg"]
        highlighted = set(pg.eval_on_selector_all("#tl path.hl", "els => els.map(e => e.dataset.lane)"))
        assert highlighted == _lanes_mentioning(run, deliver.value["msg"])
        assert {"client-1", "client-2", "channel-server-0", "nemesis"} <= highlighted
        assert "client-3" not in highlighted
        assert "ops in 4 lanes" in pg.inner_text("#tl .tl-status")
    assert errors == []


def test_violation_links_jump_to_the_op_and_zoom_works(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    with page() as (pg, errors):
        pg.goto(write_timeline(run).resolve().as_uri())
        pg.wait_for_selector(".tl[data-ready]")
        span = pg.evaluate("(() => { const v = document.querySelector('#tl').chatsim.view; return v.t1 - v.t0; })()")
        pg.click("button[data-act=in]")
        pg.wait_for_timeout(50)
        zoomed = pg.evaluate("(() => { const v = document.querySelector('#tl').chatsim.view; return v.t1 - v.t0; })()")
        assert abs(zoomed - span / 2) < 1e-9
        link = pg.locator(".tl-violations a[data-op]").first
        target = int(link.get_attribute("data-op"))
        link.click()
        view = pg.evaluate("document.querySelector('#tl').chatsim.view")
        assert view["t0"] <= run.ops[target].time <= view["t1"]
        assert f"jumped to op #{target}" in pg.inner_text("#tl .tl-status")
        assert pg.locator("#tl path.tl-vio").count() >= 2  # violating ops are marked
    assert errors == []


def test_report_draws_the_missing_step_dashed_with_its_cause(tmp_path):
    run = load_run(write_run(tmp_path / "r", crash_history()))
    html, _ = write_reports([run], tmp_path / "out", {"name": "crash-mid-send", "description": ""})
    with page() as (pg, errors):
        pg.goto(html.resolve().as_uri())
        pg.wait_for_selector(".tl[data-ready]")
        lost = pg.locator("h4.diagram[data-msg='client-1:1'] + svg.dg")
        assert lost.is_visible()
        assert lost.locator("circle.missing").count() == 2 and lost.locator("circle.reached").count() == 3
        assert lost.locator("circle[data-step=handoff]").get_attribute("stroke-dasharray")
        assert "channel-server-0 crashed at t=1.070 at step ack_sent (fault #1)" in lost.text_content()
        dup = pg.locator("h4.diagram[data-msg='client-2:1'] + svg.dg")
        assert "copy 2: from attempt 2 of 2 (a retry)" in dup.text_content()
        assert pg.locator("table.order td.pair").count() >= 4
    assert errors == []


def test_a_100k_op_timeline_loads_within_the_limits(tmp_path):
    h = parse_history(big_history())
    path = write_timeline(Run(tmp_path, h.meta, h.ops, {"invariants": {}, "valid": True}), tmp_path / "t.html")
    assert path.stat().st_size <= 10_000_000
    with page() as (pg, errors):
        pg.goto(path.resolve().as_uri())
        pg.wait_for_selector(".tl[data-ready]", timeout=10_000)
        ready_ms = int(pg.get_attribute(".tl", "data-ready"))  # navigation start → drawn, measured by the page
        assert ready_ms < 3000, ready_ms
        assert pg.locator("#tl path.tl-dense").count() > 0  # dense lanes are strips, not a wall of marks
        op = next(op for op in h.ops[50_000:] if op.process == "client-1")  # a lane in the viewport
        pg.evaluate(f"document.querySelector('#tl').chatsim.jump({op.index})")
        p = _point(pg, "#tl", op.index)
        pg.mouse.move(p["x"], p["y"])
        assert pg.locator(".tl-tip").is_visible() and f"#{op.index}" in pg.inner_text(".tl-tip")
    assert errors == []


def test_runs_index_links_resolve(tmp_path):
    root = tmp_path / "runs"
    make_tree(root)
    index = write_index(root)
    with page() as (pg, errors):
        pg.goto(index.resolve().as_uri())
        hrefs = pg.eval_on_selector_all("a", "els => els.map(a => a.href)")
        assert len(hrefs) >= 7
        for href in hrefs:
            assert href.startswith("file://") and Path(href[len("file://"):]).is_file(), href
        pg.click("table[data-kind=compare] a")
        assert pg.url.endswith("compare-seed7/report.html")
    assert errors == []
