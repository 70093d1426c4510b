"""runs/index.html lists every run, compare, sweep, explore and regress
output, with links that resolve."""

import json
from html.parser import HTMLParser
from pathlib import Path

from sim import architectures

from report_histories import crash_history, write_run
from reports.index import scan, write_index


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


ARCHS = architectures.names()[:2]  # a compare of two of them


def make_tree(root: Path) -> None:
    write_run(root / "crash-mid-send" / "old-seed7", crash_history())
    cmp = root / "crash-mid-send" / "compare-seed7"
    for arch in ARCHS:
        write_run(cmp / arch, crash_history())
    (cmp / "report.html").write_text("<!doctype html><title>r</title>")
    sweep = root / "large-team-boot" / "sweep-seed1"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text(json.dumps({"scenario": "large-team-boot", "seed": 1, "points": [
        {"name": "users=100", "old": {"valid": True}, "new": {"valid": True}}]}))
    explore = root / "explore-1"
    explore.mkdir()
    (explore / "results.jsonl").write_text(  # the engine's lines, the last cut short by an interruption
        json.dumps({"task": {"scenario": "steady", "arch": "old", "seed": 3},
                    "result": {"valid": False}}) + "\n{cut short")
    (explore / "explore.json").write_text(json.dumps({"scenario": "steady", "findings": 1}))
    (explore / "report.html").write_text("<!doctype html><title>e</title>")
    (explore / "found-1.toml").write_text('name = "found-1"\n')
    regress = root / "regress"
    regress.mkdir()
    (regress / "results.jsonl").write_text("")  # a regress keeps its runs too: not an explore
    (regress / "regress.json").write_text(json.dumps({"scenarios": ["steady", "crash-mid-send"],
                                                      "archs": ARCHS, "seeds": [1, 2, 3],
                                                      "regressions": []}))


def test_index_lists_every_kind_of_output_and_links_resolve(tmp_path):
    root = tmp_path / "runs"
    make_tree(root)
    rows = scan(root)
    kinds = [r["kind"] for r in rows]
    assert kinds == ["compare", "sweep", "explore", "regress", "run", "run", "run"]
    by_path = {r["path"]: r for r in rows}
    assert by_path["crash-mid-send/compare-seed7"]["verdict"] == "VIOLATED"
    assert by_path["crash-mid-send/compare-seed7"]["archs"] == "old, old"  # both synthetic runs say old
    assert by_path["crash-mid-send/compare-seed7/new"]["parent"] == "crash-mid-send/compare-seed7"
    assert by_path["explore-1"]["verdict"] == "VIOLATED" and "1 runs, 1 found" in by_path["explore-1"]["note"]
    assert by_path["explore-1"]["scenario"] == "steady" and by_path["explore-1"]["seed"] == "3"
    assert by_path["explore-1"]["link"] == "explore-1/report.html"
    assert by_path["regress"]["verdict"] == "ok" and by_path["regress"]["seed"] == "1..3"
    assert by_path["large-team-boot/sweep-seed1"]["archs"] == "old, new"
    page = write_index(root)
    assert page == root / "index.html" and not list(root.glob(".*.part"))
    parser = Links()
    parser.feed(page.read_text())
    assert len(parser.hrefs) >= len(rows)
    for href in parser.hrefs:
        assert (root / href).is_file(), href


def test_empty_or_missing_runs_dir(tmp_path):
    page = write_index(tmp_path / "runs")
    assert "Nothing under" in page.read_text()


def test_index_and_timeline_do_not_import_the_simulation():
    import subprocess
    import sys

    code = "import sys, reports.index, reports.timeline, reports.explain; print(' '.join(sorted(sys.modules)))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent.parent).stdout.split())
    assert "simpy" not in mods and not any(m.startswith(("sim.kernel", "sim.nodes", "sim.network")) for m in mods)


def test_chatsim_run_under_runs_regenerates_the_index(tmp_path):
    from helpers import cli

    code, _, err = cli("run", "crash-mid-send", "--arch", "old", "--seed", "2", cwd=tmp_path)
    assert code == 1, err
    run_dir = tmp_path / "runs" / "crash-mid-send" / "old-seed2"
    assert (run_dir / "timeline.html").is_file()
    index = (tmp_path / "runs" / "index.html").read_text()
    assert 'href="crash-mid-send/old-seed2/timeline.html"' in index and "VIOLATED" in index
    code, _, err = cli("run", "steady", "--arch", "new", "--no-plots", "--out", str(tmp_path / "elsewhere"),
                       cwd=tmp_path)
    assert code == 0, err
    assert "elsewhere" not in (tmp_path / "runs" / "index.html").read_text()  # not under runs/: untouched
    assert not (tmp_path / "elsewhere" / "timeline.html").exists()  # --no-plots
