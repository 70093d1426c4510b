"""Retake the screenshots of docs/reports.md in Debian's headless Chromium.

    .venv/bin/python docs/img/screenshots.py

Runs ``chatsim compare crash-mid-send`` and ``chatsim run steady`` in a
temporary directory, renders the literal step-recording history of
``tests/report_histories.py`` (the format the architectures record once they
declare their steps) and a 100k-op synthetic history, and photographs the
pages after real hovers and clicks.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from playwright.sync_api import sync_playwright  # noqa: E402

from browser_helpers import FLAGS  # noqa: E402
from report_histories import crash_history, write_run  # noqa: E402
from reports.data import Run, load_run  # noqa: E402
from reports.index import write_index  # noqa: E402
from reports.report import write_reports  # noqa: E402
from reports.timeline import write_timeline  # noqa: E402
from sim.history import parse_history  # noqa: E402
from test_report_timeline import big_history  # noqa: E402

IMG = ROOT / "docs" / "img"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        chatsim = [sys.executable, "-m", "chatsim"]
        subprocess.run([*chatsim, "compare", "crash-mid-send", "--seed", "1"], cwd=tmp, check=True,
                       capture_output=True)
        subprocess.run([*chatsim, "run", "steady", "--arch", "new"], cwd=tmp, capture_output=True)
        index = write_index(tmp / "runs")
        syn = load_run(write_run(tmp / "syn", crash_history()))
        report, _ = write_reports([syn], tmp / "syn-report", {"name": "crash-mid-send (steps recorded)",
                                                              "description": ""})
        tl = write_timeline(syn)
        h = parse_history(big_history())
        big = write_timeline(Run(tmp, h.meta, h.ops, {"invariants": {}, "valid": True}), tmp / "big.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            pg = browser.new_page(viewport={"width": 1200, "height": 800})

            pg.goto(tl.as_uri())
            pg.wait_for_selector(".tl[data-ready]")
            pg.evaluate("(() => { const t = document.querySelector('#tl').chatsim; t.view.t0 = 0.98; t.view.t1 = 1.8; })()")
            pg.click("button[data-act=in]")
            pg.click("button[data-act=out]")
            crash = next(op.index for op in syn.ops if op.f == "crash")
            pt = pg.evaluate(f"document.querySelector('#tl').chatsim.point({crash})")
            pg.mouse.move(pt["x"], pt["y"])
            pg.locator("#tl").screenshot(path=IMG / "timeline-hover.png")
            deliver = next(op.index for op in syn.ops if op.f == "deliver")
            pt = pg.evaluate(f"document.querySelector('#tl').chatsim.point({deliver})")
            pg.mouse.click(pt["x"], pt["y"])
            pg.mouse.move(5, 5)
            pg.locator("#tl").screenshot(path=IMG / "timeline-highlight.png")

            pg.goto(report.as_uri())
            pg.wait_for_selector(".tl[data-ready]")
            pg.locator("h4.diagram[data-msg='client-1:1'] + svg.dg").screenshot(path=IMG / "diagram-lost.png")
            pg.locator("h4.diagram[data-msg='client-2:1'] + svg.dg").screenshot(path=IMG / "diagram-duplicate.png")
            pg.locator("table.order").first.screenshot(path=IMG / "diagram-order.png")

            pg.goto((tmp / "runs/crash-mid-send/compare-seed1/report.html").as_uri())
            pg.wait_for_selector(".tl[data-ready]")
            pg.locator("#tl-0").screenshot(path=IMG / "compare-timeline-old.png")

            pg.goto(big.as_uri())
            pg.wait_for_selector(".tl[data-ready]")
            pg.screenshot(path=IMG / "timeline-100k.png")

            pg.goto(index.as_uri())
            pg.screenshot(path=IMG / "runs-index.png", full_page=True)
            browser.close()


if __name__ == "__main__":
    main()
