"""CI regression on invariants: ``chatsim regress`` (DESIGN §11).

Theory of operation
-------------------
``plan`` turns scenarios × architectures × seeds into tasks (each carrying
its scenario's content, so any engine can run it). ``judge`` folds the
results into one *cell* per scenario × architecture × invariant and compares
each with the scenario's ``[expect]``:

- expected to hold (``true``): a violation on any seed is a **regression**,
  reported with the seeds, the first violation's explanation and the
  ``chatsim run`` command that replays the first such seed;
- expected broken (``false``): it must break on every seed; a seed where it
  held is a regression too (the known weakness no longer shows: the scenario
  stopped testing what it says it tests);
- ``"maybe"`` (breaks on some seeds): the violation rate with a 95% Wilson
  interval; given a baseline (written by ``--write-baseline``), Fisher's
  exact test (two-sided) against the baseline's counts flags a significant
  change either way (p < ``alpha``) as a regression: a baseline pins a
  behaviour, and a change needs a person to look and rewrite it. A baseline
  written with other seeds, or for other scenarios × architectures, is
  refused before anything runs (``check_baseline``); a "maybe" cell it lacks
  says so in its message;
- a seed where the checker could not decide makes the cell **undecided**;
  a run that could not run at all (bad wiring, a crash in the model, a worker
  that died too often) makes every cell of its scenario × architecture an
  **error**.

Runs are deterministic, so with the same seeds and unchanged code every
count equals the baseline's and no test can flag by chance; a flag means
the behaviour changed.

Outputs: a rich table (``table``), ``regress.json`` (``report``),
``regress.md`` for a CI comment (``markdown``), JUnit XML (``junit_xml``:
one test case per cell). Exit status: 0 no regression, 1 a regression or
an error, 3 nothing failed but a cell is undecided.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from sim.errors import ChatsimError

from .tasks import Task, TaskResult, architectures

BASELINE_FORMAT = "chatsim-regress-baseline/1"
ALPHA = 0.05
FAILING = ("regression", "changed", "error")


@dataclass
class Cell:
    """One scenario × architecture × invariant over every seed."""

    scenario: str          # the reference as given (built-in name or path): what replay commands use
    name: str              # the scenario's name (what baselines are keyed by)
    arch: str
    invariant: str
    expected: bool | str
    runs: int = 0
    violated: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    undecided: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    status: str = "ok"
    message: str = ""
    explanation: str = ""
    replay: str = ""
    rate: float | None = None
    interval: tuple[float, float] | None = None
    baseline: dict | None = None
    wall: float = 0.0      # seconds its runs took, shared by the cells of one scenario × architecture (JUnit's time)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.arch}/{self.invariant}"


# --- input ------------------------------------------------------------------------------------------

def plan(scenarios: list[str], archs: list[str], seeds: list[int]) -> list[Task]:
    """Tasks for every scenario × architecture × seed, validated up front:
    an unknown scenario or architecture, or a malformed file, raises
    ChatsimError before anything runs."""
    from scenarios.loader import load_raw, load_scenario

    known = architectures()
    for a in archs:
        if a not in known:
            raise ChatsimError(f"--arch {a!r}: unknown architecture (registered: {', '.join(known)})")
    if not seeds:
        raise ChatsimError("--seeds: no seeds to run")
    archs = list(dict.fromkeys(archs))  # `--arch old,old` is old once, not every cell counted twice
    tasks, named = [], {}
    for ref in scenarios:
        name = load_scenario(ref).name  # validates: names the file and key on error
        raw, _ = load_raw(ref)
        if name in named:  # cells, JUnit cases and baselines are keyed by the scenario's name
            if named[name][1] == raw:
                continue  # the same scenario twice (given twice, or as a name and as its path)
            raise ChatsimError(f"{named[name][0]} and {ref} are both named {name!r}: regress keys its results "
                               f"by scenario name; rename one")
        named[name] = (ref, raw)
        for arch in archs:
            tasks += [Task(scenario=ref, raw=raw, arch=arch, seed=s) for s in seeds]
    return tasks


def builtin_scenarios() -> list[str]:
    from scenarios import list_builtin

    return [name for name, _ in list_builtin()]


def read_baseline(path: str | Path) -> dict:
    """A baseline file (from ``--write-baseline``) → its cells; a missing,
    unreadable or malformed file raises ChatsimError."""
    from scenarios.loader import read_text

    p = Path(path)
    try:  # bounded, and refused at once if not a regular file: /dev/zero was read until memory ran out
        doc = json.loads(read_text(p, "baseline", MAX_BASELINE_BYTES, ".json"))
    except ChatsimError as e:
        raise ChatsimError(f"--baseline {e}") from None
    except ValueError as e:
        raise ChatsimError(f"--baseline {p}: not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT or not isinstance(doc.get("cells"), dict):
        raise ChatsimError(f"--baseline {p}: not a chatsim regress baseline (write one with --write-baseline)")
    for key, c in doc["cells"].items():
        if not (isinstance(c, dict) and _count(c.get("violated")) and _count(c.get("runs"))
                and c["violated"] <= c["runs"]):
            raise ChatsimError(f"--baseline {p}: cell {key!r}: needs integer 'violated' ≤ 'runs' "
                               f"(at most {MAX_BASELINE_RUNS:,})")
    seeds = doc.get("seeds")
    if not (isinstance(seeds, list) and all(type(s) is int for s in seeds)):
        raise ChatsimError(f"--baseline {p}: 'seeds' must be the list of seeds it was written with")
    return doc


def check_baseline(doc: dict, path: str, seeds: list[int], tasks: list[Task]) -> None:
    """Refuse, before anything runs, a baseline this run cannot be compared
    with: one written with other seeds (the same seeds are what make equal
    counts certain and a flag mean a change in behaviour, not in the draw),
    or one that has no cell of any planned scenario × architecture (written
    for another scenario or architecture set: every rate would go unpinned
    and the check pass, comparing nothing)."""
    if doc["seeds"] != seeds:
        raise ChatsimError(f"--baseline {path}: written with seeds {_seed_range(doc['seeds'])}, this run has "
                           f"{_seed_range(seeds)}; use the same --seeds, or rewrite it with --write-baseline")
    planned = {f"{_scenario_name(t)}/{t.arch}/" for t in tasks}
    if not any(key.startswith(p) for key in doc["cells"] for p in planned):
        pairs = sorted({key.rsplit("/", 1)[0] for key in doc["cells"]})
        shown = ", ".join(pairs[:5]) + (f" (+{len(pairs) - 5} more)" if len(pairs) > 5 else "")
        raise ChatsimError(f"--baseline {path}: has no cell of these scenarios × architectures (it has "
                           f"{shown or 'none'}); written for another set? rewrite it with --write-baseline")


MAX_BASELINE_BYTES = 16 << 20  # a baseline holds one small cell per scenario × architecture × invariant
MAX_BASELINE_RUNS = 10**9  # Fisher's test counts in int64; no regress runs more than this per cell


def _count(x) -> bool:
    # not a bool (true is an int to Python: it was read as 1 run), not past int64's reach
    return type(x) is int and 0 <= x <= MAX_BASELINE_RUNS


# --- judging -------------------------------------------------------------------------------------

def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (scipy.stats)."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return _sig(ci.low), _sig(ci.high)


def _sig(x: float) -> float:
    # four significant digits, not four decimals: 0/100,000's upper bound 3.8e-05 was "0.0",
    # an interval [0, 0] that claims certainty
    return float(f"{float(x):.4g}")


def fisher_p(k: int, n: int, k0: int, n0: int) -> float:
    """Two-sided Fisher exact test: is k/n different from the baseline k0/n0?"""
    from scipy.stats import fisher_exact

    return float(fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="two-sided").pvalue)


def judge(results: Iterable[tuple[Task, TaskResult]], baseline: dict | None = None,
          alpha: float = ALPHA) -> list[Cell]:
    """Fold results into cells (sorted by scenario, architecture, invariant)
    and judge each against its expectation (and the baseline)."""
    by_run: dict[tuple[str, str], list[tuple[Task, TaskResult]]] = {}
    for task, r in results:
        by_run.setdefault((task.scenario, task.arch), []).append((task, r))
    cells = []
    for (ref, arch), runs in sorted(by_run.items()):
        runs.sort(key=lambda tr: tr[0].seed)
        ok = [(t, r) for t, r in runs if r.error is None]
        name = _scenario_name(runs[0][0])
        expected = ok[0][1].expected if ok else _expected_of(runs[0][0])
        # every invariant found in the results (a new checker shows up by itself); when no run
        # ran, those of its expectation, or one "run" cell, so an error never goes unreported
        invariants = list(dict.fromkeys([inv for _, r in ok for inv in r.verdicts] or list(expected) or ["run"]))
        errors = [f"seed {t.seed}: {r.error}" for t, r in runs if r.error is not None]
        for inv in invariants:
            c = Cell(ref, name, arch, inv, expected.get(inv, True), runs=len(ok), errors=errors,
                     wall=round(sum(r.wall for _, r in runs), 3))
            for t, r in ok:
                v = r.verdicts.get(inv, "unknown")
                (c.violated if v is False else c.held if v is True else c.undecided).append(t.seed)
            _judge_cell(c, ok, baseline, alpha)
            cells.append(c)
    return cells


def _judge_cell(c: Cell, ok: list[tuple[Task, TaskResult]], baseline: dict | None, alpha: float) -> None:
    by_seed = {t.seed: (t, r) for t, r in ok}
    if c.expected == "maybe" and c.runs - len(c.undecided) > 0:
        k, n = len(c.violated), c.runs - len(c.undecided)
        c.rate, c.interval = _sig(k / n), wilson(k, n)
    if c.errors:
        c.status = "error"
        c.message = f"{len(c.errors)} run(s) could not run: {c.errors[0].splitlines()[0]}"
        return
    if c.expected is True and c.violated:
        c.status = "regression"
        c.message = f"expected to hold, violated on seed{_s(c.violated)} {_seeds(c.violated)}"
        _point_at(c, *by_seed[c.violated[0]], violation=True)
    elif c.expected is False and c.held:
        c.status = "regression"
        c.message = (f"expected broken (a known weakness), held on seed{_s(c.held)} {_seeds(c.held)}: "
                     f"the scenario no longer shows it")
        _point_at(c, *by_seed[c.held[0]], violation=False)
    elif c.expected == "maybe" and baseline is not None and c.rate is not None:
        base = baseline["cells"].get(c.key)
        if base is None or base["runs"] == 0:  # said, not silently skipped: this rate is not pinned
            c.message = (f"not in the baseline{'' if base is None else ' (no decided run there)'}: "
                         f"nothing to compare with; rewrite it with --write-baseline to pin this rate")
        else:
            k, n = len(c.violated), c.runs - len(c.undecided)
            p = fisher_p(k, n, base["violated"], base["runs"])
            b_rate = base["violated"] / base["runs"]
            c.baseline = {"violated": base["violated"], "runs": base["runs"], "rate": _sig(b_rate),
                          "p": _sig(p), "significant": p < alpha}
            if p < alpha:
                c.status = "changed"
                way = "rose" if k / n > b_rate else "fell"
                c.message = (f"violation rate {way} from {base['violated']}/{base['runs']} to {k}/{n} "
                             f"(Fisher exact p = {p:.2g} < {alpha}); if intended, rewrite the baseline "
                             f"with --write-baseline")
                seeds = c.violated if c.violated else c.held
                _point_at(c, *by_seed[seeds[0]], violation=bool(c.violated))
    if c.status == "ok" and c.undecided:
        c.status = "undecided"
        c.message = f"undecided on seed{_s(c.undecided)} {_seeds(c.undecided)}"
        _point_at(c, *by_seed[c.undecided[0]], violation=False)


def _point_at(c: Cell, task: Task, r: TaskResult, violation: bool) -> None:
    c.replay = task.replay()
    if violation:
        first = next((v for v in r.violations if v.invariant == c.invariant), None)
        c.explanation = first.explanation if first else ""


def _s(xs) -> str:
    return "s" if len(xs) > 1 else ""


def _seeds(xs: list[int]) -> str:
    shown = ", ".join(map(str, xs[:10]))
    return shown + (f" (+{len(xs) - 10} more)" if len(xs) > 10 else "")


def _scenario_name(task: Task) -> str:
    if task.raw is not None and isinstance(task.raw.get("name"), str):
        return task.raw["name"]
    return Path(task.scenario).stem


def _expected_of(task: Task) -> dict:
    from .tasks import load_task_scenario

    try:
        return load_task_scenario(task).expected(task.arch)
    except ChatsimError:
        return {}


def exit_status(cells: list[Cell]) -> int:
    if any(c.status in FAILING for c in cells):
        return 1
    return 3 if any(c.status == "undecided" for c in cells) else 0


# --- outputs -------------------------------------------------------------------------------------

def report(cells: list[Cell], seeds: list[int], archs: list[str], engine: str) -> dict:
    """regress.json: every cell, and a summary."""
    counts: dict[str, int] = {}
    for c in cells:
        counts[c.status] = counts.get(c.status, 0) + 1
    return {"seeds": seeds, "archs": archs, "engine": engine, "exit": exit_status(cells),
            "summary": counts, "cells": [_cell_doc(c) for c in cells]}


def _cell_doc(c: Cell) -> dict:
    d = asdict(c)
    d["interval"] = list(c.interval) if c.interval else None
    return d


def baseline_doc(cells: list[Cell], seeds: list[int]) -> dict:
    """What ``--write-baseline`` writes: each cell's violation count."""
    return {"format": BASELINE_FORMAT, "seeds": seeds,
            "cells": {c.key: {"expected": c.expected, "violated": len(c.violated),
                              "runs": c.runs - len(c.undecided)} for c in cells}}


def check_output_file(path: str, option: str) -> Path:
    """``path`` as a file ``reports.render.write_atomic`` may replace, checked before any
    run: not a directory (nor a name ending in ``/``), not a device, FIFO or
    socket — the rename would put a regular file in its place (as root,
    ``--junit /dev/null`` replaced the device) — and its directory a directory,
    or the nearest folder that exists one a file can be created in (else the
    runs went first and the write failed after them)."""
    p = Path(path)
    if path.endswith(("/", os.sep)) or p.is_dir():
        raise ChatsimError(f"{option} {path}: names a directory; give a file path")
    if p.exists() and not p.is_file():
        raise ChatsimError(f"{option} {path}: exists and is not a regular file; give a file path")
    parent = next((a for a in p.absolute().parents if a.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ChatsimError(f"{option} {path}: {parent} is not a directory")
    if parent is not None:
        # a file created and removed where the path's folders would go: permissions say
        # nothing to root, and /proc or a read-only mount refuse only the write itself
        try:
            fd, probe = tempfile.mkstemp(dir=parent, prefix=".chatsim-probe-")
        except OSError as e:
            raise ChatsimError(f"{option} {path}: cannot write in {parent} ({e.strerror})") from None
        os.close(fd)
        os.unlink(probe)
    return p


def _cell_text(c: Cell) -> str:
    n = c.runs
    if c.status == "error":
        return "ERROR"
    if c.expected == "maybe":
        if c.rate is None:
            return "maybe: undecided"
        lo, hi = c.interval
        base = f", baseline {c.baseline['violated']}/{c.baseline['runs']} p={c.baseline['p']:.2g}" if c.baseline \
            else ", not in the baseline" if c.message.startswith("not in the baseline") else ""
        return f"maybe {len(c.violated)}/{n - len(c.undecided)} = {c.rate:.0%} [{lo:.0%}–{hi:.0%}]{base}"
    if c.expected is False:
        return f"broken {len(c.violated)}/{n} (expected)"
    return f"holds {len(c.held)}/{n}" if not c.violated else f"violated {len(c.violated)}/{n}"


def _rows(cells: list[Cell]) -> list[tuple[str, str, int, str, list[Cell]]]:
    """One row per scenario × architecture: (scenario, arch, runs, verdict, the cells worth showing)."""
    rows: dict[tuple[str, str], list[Cell]] = {}
    for c in cells:
        rows.setdefault((c.name, c.arch), []).append(c)
    out = []
    for (name, arch), cs in rows.items():
        worst = next((s for s in ("error", "regression", "changed", "undecided") if any(c.status == s for c in cs)), "ok")
        shown = [c for c in cs if c.status != "ok" or c.expected is not True]
        out.append((name, arch, max(c.runs for c in cs), worst, shown))
    return out


STATUS_STYLE = {"ok": "[green]ok[/]", "regression": "[red]REGRESSION[/]", "changed": "[red]CHANGED[/]",
                "undecided": "[yellow]undecided[/]", "error": "[red]ERROR[/]"}


def table(cells: list[Cell], title: str):
    """The rich table: one row per scenario × architecture, naming only the
    invariants that are expected broken, "maybe", or not as expected."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title)
    t.add_column("scenario")
    t.add_column("arch")
    t.add_column("runs", justify="right")
    t.add_column("verdict")
    t.add_column("invariants (the rest hold on every seed)", overflow="fold")
    for name, arch, runs, worst, shown in _rows(cells):
        notes = "\n".join(f"{c.invariant}: {escape(_cell_text(c))}"
                          + (f" [red]{STATUS_STYLE[c.status]}[/]" if c.status != "ok" else "") for c in shown)
        t.add_row(escape(name), arch, str(runs), STATUS_STYLE[worst], notes or "all hold")
    return t


def failures(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if c.status != "ok"]


def md_escape(text: str) -> str:
    """Escape text for a markdown table cell or line (CI comments render it):
    markup characters get a backslash, a line break or tab is a space, and
    other control characters (an ANSI escape or a NUL in a model crash's
    message, which a terminal would act on and a renderer drops or chokes on)
    are spelled ``\\xNN``, as in the JUnit file."""
    out = []
    for ch in str(text):
        if ch in "\\`*_{}[]<>()#+!|~":
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append(" ")
        elif ch < " " or "\x7f" <= ch <= "\x9f":
            out.append(_spelled(ch))
        else:
            out.append(ch)
    return "".join(out)


def markdown(cells: list[Cell], seeds: list[int]) -> str:
    """regress.md: a summary to paste as a CI comment."""
    status = exit_status(cells)
    head = {0: "no regression", 1: "REGRESSION", 3: "undecided (no regression)"}[status]
    lines = [f"## chatsim regress: {head}", "",
             f"{len({(c.name, c.arch) for c in cells})} scenario × architecture pairs, seeds "
             f"{_seed_range(seeds)}, {len(cells)} invariant cells.", "",
             "| scenario | arch | runs | verdict | invariants (others hold on every seed) |",
             "|---|---|---:|---|---|"]
    for name, arch, runs, worst, shown in _rows(cells):
        notes = "<br>".join(f"{md_escape(c.invariant)}: {md_escape(_cell_text(c))}"
                            + (f" **{c.status}**" if c.status != "ok" else "") for c in shown)
        lines.append(f"| {md_escape(name)} | {md_escape(arch)} | {runs} | {worst} | {notes or 'all hold'} |")
    bad = failures(cells)
    if bad:
        lines += ["", "### Not as expected", ""]
        for c in bad:
            lines.append(f"- **{md_escape(c.key)}** ({c.status}): {md_escape(c.message)}")
            if c.explanation:
                lines.append(f"  - {md_escape(c.explanation)}")
            if c.replay:
                lines.append(f"  - replay: `{c.replay.replace('`', '')}`")
            for e in c.errors[:1]:
                lines.append(f"  - {md_escape(e.splitlines()[0])}")
    return "\n".join(lines) + "\n"


def _seed_range(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}..{seeds[-1]}"
    return _seeds(seeds) if seeds else "none"


def junit_xml(cells: list[Cell]) -> str:
    """JUnit XML: one <testcase> per cell (classname chatsim.<scenario>.<arch>,
    name = the invariant); a regression or change is a <failure> whose text
    holds the explanation and the replay command; an error an <error>; an
    undecided cell is <skipped>."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="chatsim regress")
    by_scn: dict[str, list[Cell]] = {}
    for c in cells:
        by_scn.setdefault(c.name, []).append(c)
    for name, cs in by_scn.items():
        suite = ET.SubElement(suites, "testsuite", name=f"chatsim.{name}", tests=str(len(cs)),
                              failures=str(sum(c.status in ("regression", "changed") for c in cs)),
                              errors=str(sum(c.status == "error" for c in cs)),
                              skipped=str(sum(c.status == "undecided" for c in cs)),
                              # each architecture's runs once: its cells share them (summed per cell,
                              # a suite of 7 invariants claimed 7 times the time its runs took)
                              time=f"{sum({c.arch: c.wall for c in cs}.values()):.3f}")
        for c in cs:
            tc = ET.SubElement(suite, "testcase", classname=f"chatsim.{name}.{c.arch}", name=c.invariant,
                           time=f"{c.wall:.3f}")
            body = "\n".join(x for x in (c.message, c.explanation, f"replay: {c.replay}" if c.replay else "") if x)
            if c.status in ("regression", "changed"):
                f = ET.SubElement(tc, "failure", message=f"{c.key}: {c.message}", type=c.status)
                f.text = body
            elif c.status == "error":
                e = ET.SubElement(tc, "error", message=f"{c.key}: {c.message}", type="error")
                e.text = "\n".join(c.errors)
            elif c.status == "undecided":
                ET.SubElement(tc, "skipped", message=f"{c.key}: {c.message}")
            out = ET.SubElement(tc, "system-out")
            out.text = _cell_text(c)
    ET.indent(suites)
    # ElementTree writes characters XML 1.0 forbids (an ANSI escape or a NUL in a model crash's
    # message) as they are, and every JUnit reader then refuses the whole file: spell them out
    return _NOT_XML.sub(lambda m: _spelled(m[0]), ET.tostring(suites, encoding="unicode", xml_declaration=True)) + "\n"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _spelled(ch: str) -> str:
    """A character a report must not carry as it is, spelled as Python would: ``\\x1b``, ``\\ud800``."""
    return f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"


# --- one run against its expectation (the pytest plugin judges seed by seed) -------------------------

def run_problems(r: TaskResult) -> list[str]:
    """What is not as expected in one run: a held expectation violated, or a
    known weakness (``false``) that did not show; "maybe" accepts either."""
    if r.error is not None:
        return [f"the run could not run: {r.error}"]
    out = []
    for inv, v in r.verdicts.items():
        want = r.expected.get(inv, True)
        if want == "maybe":
            continue
        if v == "unknown":
            out.append(f"{inv}: undecided (expected {'to hold' if want else 'broken'})")
        elif v is not want:
            first = next((x.explanation for x in r.violations if x.invariant == inv), "")
            out.append(f"{inv}: expected to hold, VIOLATED: {first}" if want is True
                       else f"{inv}: expected broken (a known weakness), but it held")
    return out


def verdict_lines(r: TaskResult) -> list[str]:
    """A plain-text verdict table of one run (for pytest's failure report)."""
    w = max([len(k) for k in r.verdicts] + [9])
    lines = [f"{'invariant':<{w}}  {'verdict':<9}  {'violations':>10}  expected"]
    for inv, v in r.verdicts.items():
        shown = {True: "ok", False: "VIOLATED"}.get(v, "unknown")
        want = r.expected.get(inv, True)
        exp = {True: "ok", False: "VIOLATED"}.get(want, str(want))
        lines.append(f"{inv:<{w}}  {shown:<9}  {r.counts.get(inv, 0):>10}  {exp}")
    return lines


__all__ = ["Cell", "plan", "judge", "read_baseline", "baseline_doc", "report", "markdown", "junit_xml", "table",
           "exit_status", "wilson", "fisher_p", "check_baseline", "run_problems", "verdict_lines", "builtin_scenarios"]
