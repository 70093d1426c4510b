"""The command line (DESIGN §8): the only module that wires sim, scenarios,
invariants and reports together.

Exit status: 0 every invariant holds (compare: report written), 1 an
invariant is violated, 2 bad usage or bad input (one line on stderr, no
traceback, nothing written), 3 nothing violated but something undecided.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.errors import ChatsimError

from .api import bench_storm, check_msg_id, default_out, explain_msg, run_one, staged_output
from .explore import SHRINK_BUDGET

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3

out = Console(highlight=False)


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def term(text) -> str:
    """Text from a file, safe for the terminal: C0/C1 control characters
    (escape sequences, NUL, carriage returns) shown as ``\\xNN``, rich markup
    escaped. Everything printed that came from a scenario, a history or the
    command line goes through it."""
    return escape(_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)))


def exit_code(valid) -> int:
    return EXIT_OK if valid is True else EXIT_VIOLATED if valid is False else EXIT_UNKNOWN


_STYLE = {"ok": "green", "bad": "red", "unk": "yellow", "muted": "dim"}


def _mark(valid) -> str:
    from reports.verdicts import verdict_word

    word, cls = verdict_word(valid)
    return f"[{_STYLE[cls]}]{word}[/]"


def verdict_table(result: dict, title: str, expected: dict | None = None) -> Table:
    t = Table(title=title)
    t.add_column("invariant")
    t.add_column("verdict")
    t.add_column("violations", justify="right")
    t.add_column("note")
    if expected is not None:
        t.add_column("expected")
    for name, r in result["invariants"].items():
        note = r.get("error") or r.get("reason") or ""
        row = [term(name), _mark(r["valid"]), str(len(r["violations"])), term(note)]
        if expected is not None:
            row.append(_mark(expected.get(name, True)))
        t.add_row(*row)
    return t


def print_explanations(result: dict, limit: int = 5) -> None:
    from invariants import explain

    for line in explain(result, limit):
        out.print(f"  [red]•[/] {term(line)}", soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="chatsim")
def cli() -> None:
    """chatsim: simulate chat messaging architectures under faults and check
    atomic-broadcast invariants on what every client saw."""


@cli.command()
def scenarios() -> None:
    """List the built-in scenarios and the registered architectures, one line each."""
    from scenarios import list_builtin
    from sim import architectures

    t = Table(title="scenarios")
    t.add_column("name")
    t.add_column("description")
    for name, desc in list_builtin():
        t.add_row(term(name), term(desc))
    out.print(t)
    a = Table(title="architectures")
    a.add_column("name")
    a.add_column("description")
    a.add_column("send-path steps")
    a.add_column("component faults")
    a.add_column("profiles")
    for arch in architectures.registry().values():
        a.add_row(escape(arch.name), escape(arch.description), " → ".join(arch.step_names()),
                  ", ".join(arch.faults) or "-", ", ".join(arch.profiles) or "-")
    out.print(a)
    p = Table(title="setting profiles (run/compare --profile NAME: applied before --set)")
    for col in ("profile", "architecture", "overrides"):
        p.add_column(col)
    for arch in architectures.registry().values():
        for name, overrides in arch.profiles.items():
            p.add_row(escape(name), escape(arch.name), escape(" ".join(overrides)))
    out.print(p)


class ArchType(click.ParamType):
    """A registered architecture (checked against the registry when used, so
    the registry is loaded only by commands that need it)."""

    name = "ARCH"

    def convert(self, value, param, ctx):
        from sim import architectures

        if value not in architectures.registry():
            self.fail(f"{value!r} is not a registered architecture ({', '.join(architectures.names())})",
                      param, ctx)
        return value


class ArchListType(click.ParamType):
    """A comma-separated list of registered architectures."""

    name = "A,B,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            self.fail("expected at least one architecture", param, ctx)
        seen = []
        for n in names:
            ArchType().convert(n, param, ctx)
            if n not in seen:
                seen.append(n)
        return seen


def all_archs(chosen: list[str] | None) -> list[str]:
    from sim import architectures

    return chosen or architectures.names()


SCENARIO_HELP = "A built-in scenario name (see `chatsim scenarios`) or a path to a scenario .toml file."


def _not_empty(ctx, param, value):
    # `--out "$DIR"` with DIR unset: refused, not silently the default directory
    if value is not None and not value.strip():
        raise click.BadParameter("an empty path (leave the option out for the default directory)")
    return value


def scenario_options(default_out: str):
    """--seed, --out, --set and --allow-large, shared by run, compare and sweep."""
    def wrap(f):
        f = click.option("--allow-large", is_flag=True,
                         help="Run a scenario past the size caps (clients, channels, memberships, sends; "
                              "docs/scenarios.md).")(f)
        f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                         help="Override a scenario setting, e.g. --set workload.rate=2 --set kafka.acks=1.")(f)
        f = click.option("--out", "out_dir", type=click.Path(file_okay=False), callback=_not_empty,
                         help=f"Output directory (default {default_out}).")(f)
        return click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
                            help="The run seed.")(f)
    return wrap


def profile_option(f):
    return click.option("--profile", metavar="NAME", default=None,
                        help="A named setting profile of the architecture (see `chatsim scenarios`), "
                             "applied before --set.")(f)


def profile_overrides(profile: str | None, archs: list[str]) -> tuple[str, ...]:
    """The ``--set`` overrides of ``profile`` from every chosen architecture
    that declares it; a profile none of them declares is bad usage."""
    from sim import architectures

    if profile is None:
        return ()
    reg = architectures.registry()
    found = [reg[a].profiles[profile] for a in archs if profile in reg[a].profiles]
    if not found:
        known = sorted({p for a in archs for p in reg[a].profiles})
        raise click.BadParameter(f"{profile!r} is not a profile of {', '.join(archs)} "
                                 f"(known: {', '.join(known) or 'none'})", param_hint="--profile")
    return tuple(o for overrides in found for o in overrides)


def _prepare(scenario_ref: str, overrides: tuple[str, ...], archs: list[str] = (), allow_large: bool = False):
    """Load and validate the scenario, and wire each of ``archs`` without
    running it (fault targets resolved): every input problem is found
    before the first run and before anything is written."""
    from scenarios import load_scenario

    scn = load_scenario(scenario_ref, list(overrides), allow_large=allow_large)
    for arch in archs:
        scn.check_wiring(arch)
    return scn


def print_run(result: dict, out_dir: Path) -> None:
    from reports.verdicts import team_rows

    r = result
    out.print(verdict_table(r, term(f"{r['scenario']} / {r['arch']} / seed {r['seed']}"), r["expected"]))
    m = r["metrics"]
    s = m["sends"]
    out.print(f"sends: {s['invoked']} invoked, {s['acked']} acked, {s['failed']} failed, {s['unknown']} unknown"
              f" ({r['sends']['recovered_unknown']} unknown took effect)")
    out.print(f"ack latency p50/p95/p99: {_lat(m['ack_latency'])}   live latency p50/p95/p99: {_lat(m['live_latency'])}")
    out.print(f"network messages per send: {m['network_messages_per_send']}   boots: {m['boots']} "
              f"({m['bytes_per_boot']:,} bytes each)   disconnects: {m['disconnects']}")
    for label, cells in team_rows([r]):  # several teams: their load, one line each
        out.print(f"{label}: {cells[0]}")
    print_explanations(r)
    out.print(f"wrote {term(out_dir / 'history.jsonl')} and {term(out_dir / 'result.json')}"
              + ("" if r["as_expected"] else "  [yellow](verdicts differ from the scenario's expectations)[/]"))


def compare_table(results: dict, name: str, seed: int) -> Table:
    from reports.verdicts import invariant_names, metric_rows

    t = Table(title=term(f"{name} / seed {seed}: {' vs '.join(results)}"))
    t.add_column("")
    for arch in results:
        t.add_column(term(arch))
    for inv in invariant_names(list(results.values())):
        t.add_row(inv, *(f"{_mark(r['invariants'][inv]['valid'])} ({len(r['invariants'][inv]['violations'])})"
                         if inv in r["invariants"] else "-" for r in results.values()))
    for label, cells in metric_rows(list(results.values())):
        t.add_row(label, *cells)
    return t


def progress(what: str):
    """A transient spinner on stderr for work that takes more than a moment;
    nothing at all when stderr is not a terminal (a log, a pipe, a test), so
    an error there stays the only line."""
    from contextlib import nullcontext

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not Console(stderr=True).is_terminal:
        return nullcontext()
    p = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                 console=Console(stderr=True), transient=True)
    p.add_task(term(what), total=None)
    return p


def _lat(p: dict) -> str:
    return " / ".join("-" if v is None else f"{v * 1000:.1f} ms" for v in p.values())


@cli.command("run")
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", type=ArchType(), required=True, help="Which registered architecture to simulate.")
@scenario_options("runs/<scenario>/<arch>-seed<N>/")
@click.option("--explain", "explain", metavar="MSG_ID", help="Also draw the message diagram of MSG_ID.")
@click.option("--no-plots", is_flag=True, help="Skip the timeline plot (faster).")
@profile_option
def run_cmd(scenario: str, arch: str, seed: int, out_dir: str | None, overrides: tuple[str, ...],
            allow_large: bool, explain: str | None, no_plots: bool, profile: str | None) -> None:
    """Run SCENARIO under one architecture and check the invariants.

    SCENARIO is a built-in name or a path to a scenario file. Every output
    file appears at the end, or none does (bad input, Ctrl-C, SIGTERM)."""
    if explain is not None:
        check_msg_id(explain)
    scn = _prepare(scenario, profile_overrides(profile, [arch]) + overrides, [arch], allow_large)
    path = Path(out_dir) if out_dir else default_out(scn.name, f"{arch}-seed{seed}")
    diagram = None
    with staged_output(path) as tmp:
        with progress(f"running {scn.name} / {arch} / seed {seed}"):
            result = run_one(scn, arch, seed, tmp, plots=not no_plots)
        if not no_plots:
            from reports.data import load_run
            from reports.timeline import write_timeline

            write_timeline(load_run(tmp))
        if explain:
            try:
                diagram = explain_msg(tmp, explain).name
            except ChatsimError as e:  # the run stands; its verdict decides the exit status
                diagram = e
    print_run(result, path)
    _index(path)
    if isinstance(diagram, ChatsimError):
        click.echo(f"chatsim: warning: {diagram}", err=True)
    elif diagram:
        out.print(f"message diagram: {term(path / diagram)} (and .svg)")
    sys.exit(exit_code(result["valid"]))


@cli.command()
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", "archs", type=ArchListType(), default=None,
              help="Architectures to compare, comma-separated (default: every registered one).")
@scenario_options("runs/<scenario>/compare-seed<N>/")
@profile_option
def compare(scenario: str, archs: list[str] | None, seed: int, out_dir: str | None,
            overrides: tuple[str, ...], allow_large: bool, profile: str | None) -> None:
    """Run SCENARIO under several architectures on the same seed, workload
    and fault schedule; write report.html and report.md (all of it, or
    nothing: every architecture is wired before the first run). ``--profile``
    applies to the architectures that declare it."""
    from reports.data import load_run
    from reports.report import write_reports

    archs = all_archs(archs)
    scn = _prepare(scenario, profile_overrides(profile, archs) + overrides, archs, allow_large)
    path = Path(out_dir) if out_dir else default_out(scn.name, f"compare-seed{seed}")
    results = {}
    with staged_output(path) as tmp:
        for arch in archs:
            with progress(f"running {scn.name} / {arch} / seed {seed}"):
                results[arch] = run_one(scn, arch, seed, tmp / arch, plots=True)
        with progress("drawing the report"):
            runs = [load_run(tmp / arch) for arch in archs]
            html_path, md_path = write_reports(runs, tmp, {"name": scn.name, "description": scn.description})
    out.print(compare_table(results, scn.name, seed))
    out.print(f"wrote {term(path / html_path.name)} and {term(path / md_path.name)}")
    _index(path)


def point_dir(name: str) -> str:
    """A sweep point's directory name: its name with anything outside the
    safe set (letters, digits, . _ + = -) replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._+=-]", "_", name)[:80]
    return "_" + safe if safe.startswith(".") or not safe else safe


@cli.command()
@click.argument("scenario", metavar="SCENARIO")
@scenario_options("runs/<scenario>/sweep-seed<N>/")
def sweep(scenario: str, seed: int, out_dir: str | None, overrides: tuple[str, ...], allow_large: bool) -> None:
    """Run SCENARIO at each value of its [sweep] (or each of its [[variants]])
    under every registered architecture; write sweep.json and the sweep's
    plots. Every point is loaded and wired before the first run."""
    from reports import plots as P
    from reports import sweep as S
    from reports.data import load_run
    from scenarios import load_scenario

    base = _prepare(scenario, overrides, allow_large=allow_large)
    if not base.points():
        raise ChatsimError(f"{base.source}: the scenario has no [sweep] or [[variants]] to run")
    archs = all_archs(None)
    planned = []
    for name, sets in base.points():  # validate every point before the first run
        scn = load_scenario(scenario, list(overrides) + sets, allow_large=allow_large)
        for arch in archs:
            scn.check_wiring(arch)
        planned.append((name, sets, scn))
    dirs = [point_dir(name) for name, _, _ in planned]
    if len(set(dirs)) < len(dirs):
        raise ChatsimError(f"{base.source}: two sweep points share the directory name "
                           f"{next(d for d in dirs if dirs.count(d) > 1)!r}")
    numeric = base.sweep is not None and base.sweep.numeric()
    path = Path(out_dir) if out_dir else default_out(base.name, f"sweep-seed{seed}")
    points, load = [], []
    with staged_output(path) as tmp:
        for (name, sets, scn), d in zip(planned, dirs):
            point = {"name": name, "dir": d, "set": sets}
            if numeric:
                point["value"] = float(sets[0].split("=", 1)[1])
            for arch in archs:
                with progress(f"{base.name}: {name} / {arch}"):
                    r = run_one(scn, arch, seed, tmp / d / arch)
                m = r["metrics"]
                point[arch] = {"valid": r["valid"], "bytes_per_boot": m["bytes_per_boot"],
                               "time_to_usable_p50": m["time_to_usable"]["p50"],
                               "time_to_usable_max": m["time_to_usable"]["p100"],
                               "webapp_cpu_per_boot": m["webapp_cpu_per_boot"], "backend": m["backend"]["webapp"],
                               "storm": m.get("storm"), "flannel": m["backend"].get("flannel")}
                load.append((name, arch, m["backend"]["series"]["webapp_requests"][:int(scn.workload.duration
                                                                                          + scn.workload.settle)]))
            points.append(point)
        doc = {"scenario": base.name, "seed": seed, "points": points}
        if numeric:
            doc["fits"] = S.boot_fits(points)
            P.save(S.boot_curve(points, base.sweep.key, doc["fits"]), tmp / "boot-curve")
        faults = load_run(tmp / dirs[0] / archs[0]).faults()
        P.save(S.backend_load(load, faults, f"{base.name}: web-app load"), tmp / "backend-load")
        (tmp / "sweep.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    out.print(sweep_table(doc))
    if "fits" in doc and base.sweep.key.endswith(".users"):  # a rate or a timeout is not a size to grow with
        for arch, f in doc["fits"].items():
            whole = f"size^{f['exponent_all']} over the whole range"
            out.print(f"{arch}: boot bytes grow as " + (whole if f["exponent_large"] is None else
                                                         f"size^{f['exponent_large']} for teams ≥ 10k ({whole})"))
    out.print(f"wrote {term(path / 'sweep.json')} and its plots")
    _index(path)


def _index(path: Path) -> None:
    """Regenerate runs/index.html when the output went under runs/."""
    from reports.index import write_index

    runs = Path("runs").resolve()
    if not path.resolve().is_relative_to(runs):
        return
    # the index is a convenience: the run's own files are written and its exit status stands
    index = runs / "index.html"
    problem = "a directory is in the way" if index.is_dir() else None
    if problem is None:
        try:
            write_index(runs)
        except OSError as e:
            problem = e.strerror or str(e)
    if problem:
        click.echo(f"chatsim: warning: {term(index)} not updated: {problem}", err=True)


def sweep_table(doc: dict) -> Table:
    t = Table(title=term(f"{doc['scenario']} sweep"))
    t.add_column("point")
    from reports.sweep import archs_of

    archs = archs_of(doc["points"])
    for arch in archs:
        t.add_column(term(f"{arch}: boot bytes"))
        t.add_column(f"{arch}: usable after (p50)")
        t.add_column(f"{arch}: backend peak req/s · boots/s · queue")
    for p in doc["points"]:
        row = [term(p["name"])]
        for arch in archs:
            a = p[arch]
            storm = a["storm"] or {}
            peak = (f"{storm['backend_peak_requests_per_s']} · {storm['backend_peak_boots_per_s']} · "
                    f"{storm['backend_peak_queue']}") if storm else \
                f"{a['backend']['peak_requests_per_s']} · {a['backend']['peak_boots_per_s']} · {a['backend']['peak_queue']}"
            usable = "-" if a["time_to_usable_p50"] is None else f"{a['time_to_usable_p50']:.2f} s"
            row += [f"{a['bytes_per_boot']:,}", usable, peak]
        t.add_row(*row)
    return t


@cli.command()
@click.argument("history", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the structure of result.json).")
@click.option("--explain", "explain_id", metavar="MSG",
              help="Tell MSG's story: every op that mentions it, in order, and the invariants it breaks.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse histories larger than N bytes (default 4 GiB).")
def check(history: str, as_json: bool, explain_id: str | None, max_bytes: int | None) -> None:
    """Judge any history file in the DESIGN §6 format."""
    from invariants import check_bytes, story, story_lines
    from sim.history import MAX_BYTES, parse_history, read_history_bytes

    data = read_history_bytes(history, max_bytes or MAX_BYTES)
    meta, result = check_bytes(data, history)
    if explain_id is not None:
        s = story(parse_history(data, history, slim=True), result, explain_id)
        if not s["ops"]:
            raise ChatsimError(f"--explain: no op of {history} mentions {explain_id!r}")
        if as_json:
            click.echo(json.dumps({**s, "valid": result["valid"]}, indent=2))
        else:
            out.print(term(f"{explain_id} in {history}:"), soft_wrap=True)
            for line in story_lines(s):
                out.print(f"  {term(line)}", soft_wrap=True)
        sys.exit(exit_code(result["valid"]))
    if as_json:
        doc = {"scenario": meta.scenario, "arch": meta.arch, "seed": meta.seed, **result}
        click.echo(json.dumps(doc, indent=2))
    else:
        out.print(verdict_table(result, term(f"{history}: {meta.scenario} / {meta.arch} / seed {meta.seed}")))
        s = result["sends"]
        out.print(f"sends: {s['ok']} acked, {s['fail']} failed, {s['unknown']} unknown "
                  f"({s['recovered_unknown']} of them took effect); {result['ops']} ops")
        print_explanations(result)
    sys.exit(exit_code(result["valid"]))


def engine_options(f):
    """--workers N | --scheduler ADDRESS: where many runs go (regress, explore,
    crashpoints). Pass both values to ``chatsim.tasks.make_engine``."""
    f = click.option("--scheduler", metavar="ADDRESS",
                     help="Run on an existing Dask cluster, e.g. tcp://127.0.0.1:8786.")(f)
    return click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Local worker processes (default: one per core; 1 runs in this process).")(f)


def run_many_or_exit(tasks, workers: int | None, scheduler: str | None, out_dir: Path, what: str, finding):
    """Run tasks on the chosen engine; on Ctrl-C / SIGTERM say how far it got
    and exit 128 + the signal number, with results.jsonl valid."""
    import signal

    from .tasks import Interrupted, make_engine, run_many

    if workers is not None and scheduler:
        raise click.UsageError("give --workers or --scheduler, not both")
    try:
        with make_engine(workers, scheduler) as engine:
            return engine.describe(), run_many(tasks, engine, out_dir, what=what, finding=finding)
    except Interrupted as e:
        click.echo(f"chatsim: {e}", err=True)
        sys.exit(128 + int(e.signum or signal.SIGINT))


@cli.command()
@click.argument("scenario_refs", nargs=-1, metavar="[SCENARIO ...]")
@click.option("--arch", "archs", metavar="A,B", help="Architectures (default: every registered one).")
@click.option("--seeds", default="1..20", show_default=True, metavar="A..B", help="Seeds (A..B, N, or a comma list).")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Compare \"maybe\" rates with this baseline.")
@click.option("--write-baseline", type=click.Path(dir_okay=False), help="Write this run's rates as a baseline.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@engine_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), callback=_not_empty,
              help="Output directory (default runs/regress/).")
def regress(scenario_refs, archs, seeds, baseline, write_baseline, junit, workers, scheduler, out_dir) -> None:
    """Run scenarios × architectures × seeds and compare each invariant with
    the scenario's [expect]: exit 1 on a regression (an expected-to-hold
    invariant broken on any seed, a known weakness no longer showing, or a
    "maybe" rate significantly changed from --baseline).

    SCENARIO: built-in names or .toml paths (default: every built-in)."""
    from reports.render import write_atomic

    from . import regress as R
    from .tasks import architectures, clear_outputs, parse_seeds

    seed_list = parse_seeds(seeds)
    for option, target in (("--junit", junit), ("--write-baseline", write_baseline)):
        if target is not None:
            R.check_output_file(target, option)
    arch_list = list(dict.fromkeys(a.strip() for a in archs.split(",") if a.strip())) if archs is not None \
        else architectures()
    if not arch_list:  # `--arch ""` (an unset variable in a CI script) is not "every architecture"
        raise ChatsimError(f"--arch {archs!r}: expected a comma list of architectures")
    base = R.read_baseline(baseline) if baseline else None
    tasks = R.plan(list(scenario_refs) or R.builtin_scenarios(), arch_list, seed_list)
    if base is not None:
        R.check_baseline(base, baseline, seed_list, tasks)
    path = Path(out_dir) if out_dir else Path("runs") / "regress"
    # the --write-baseline target stays: it is the committed baseline until this run replaces it
    clear_outputs(path, "regress.json", "regress.md", *([Path(junit)] if junit else []))
    engine, results = run_many_or_exit(tasks, workers, scheduler, path, "regress",
                                       finding=lambda r: r.error is not None or not r.as_expected)
    cells = R.judge(results, base)
    write_atomic(path / "regress.json", json.dumps(R.report(cells, seed_list, arch_list, engine), indent=2))
    write_atomic(path / "regress.md", R.markdown(cells, seed_list))
    if junit:
        write_atomic(Path(junit), R.junit_xml(cells))
    if write_baseline:
        write_atomic(Path(write_baseline), json.dumps(R.baseline_doc(cells, seed_list), indent=2))
    out.print(R.table(cells, f"chatsim regress: {len(tasks)} runs on {engine}"))
    for c in R.failures(cells):
        out.print(f"[red]•[/] {c.key} ({c.status}): {escape(c.message)}", soft_wrap=True)
        if c.explanation:
            out.print(f"    {escape(c.explanation)}", soft_wrap=True)
        if c.replay:
            out.print(f"    replay: {escape(c.replay)}", soft_wrap=True)
        for e in c.errors[:1]:
            out.print(f"    {escape(e.splitlines()[0])}", soft_wrap=True)
    written = [path / "regress.json", path / "regress.md", path / "results.jsonl"]
    written += [Path(p) for p in (junit, write_baseline) if p]
    out.print("wrote " + ", ".join(map(str, written)))
    _index(path)
    sys.exit(R.exit_status(cells))


def _interrupted(e) -> None:
    import signal

    click.echo(f"chatsim: {e}", err=True)
    sys.exit(128 + int(e.signum or signal.SIGINT))


@cli.command("explore")
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", type=ArchType(), required=True, help="Which registered architecture to search.")
@click.option("--budget", type=int, default=100, show_default=True, help="Search runs (shrinking runs more).")
@click.option("--invariant", "invariant_names", multiple=True, metavar="NAME",
              help="Only these invariants count as findings (repeatable; default all).")
@click.option("--faults", "fault_kinds", metavar="KIND,...",
              help="Fault kinds to draw from (default: every kind the architecture knows).")
@click.option("--shrink-budget", type=click.IntRange(min=0), default=SHRINK_BUDGET, show_default=True,
              help="Runs each finding's shrinking may use.")
@scenario_options("runs/<scenario>/explore-<arch>-seed<N>/")
@engine_options
def explore_cmd(scenario, arch, budget, invariant_names, fault_kinds, shrink_budget, seed, out_dir, overrides,
                allow_large, workers, scheduler) -> None:
    """Search ARCH's fault space on SCENARIO: random schedules (swarm
    testing) from its fault vocabulary; each distinct violation is shrunk to
    a minimal schedule and written as DIR/found-<n>.toml, a scenario that
    `chatsim run` replays. Exit 0 nothing found, 1 found."""
    from . import explore as X
    from .tasks import Interrupted, clear_outputs, make_engine

    X.check_budgets(budget, shrink_budget)
    if workers is not None and scheduler:
        raise click.UsageError("give --workers or --scheduler, not both")
    kinds = X.parse_kinds(fault_kinds, arch)
    invariants = X.parse_invariants(invariant_names)
    _no_large(allow_large, "explore")
    scn = _prepare(scenario, overrides)
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"explore-{arch}-seed{seed}"
    clear_outputs(path, "explore.json", "report.html", "found-*.toml", "error-*.toml")
    try:
        with make_engine(workers, scheduler) as engine:
            ex = X.explore(scenario, arch, budget=budget, seed=seed, kinds=kinds, invariants=invariants,
                           overrides=list(overrides), engine=engine, out_dir=path, shrink_budget=shrink_budget)
    except Interrupted as e:
        _interrupted(e)
    out.print(explore_table(ex))
    for f in ex.findings:
        out.print(f"[red]•[/] found-{f.n}: {escape(f.violation)}", soft_wrap=True)
        out.print(f"    replay: {escape(f.replay)}", soft_wrap=True)
    for e in ex.errors[:3]:
        out.print(f"[red]•[/] run {e['run']} (seed {e['seed']}) could not run: {escape(e['error'])}", soft_wrap=True)
        if e.get("replay"):
            out.print(f"    replay: {escape(e['replay'])}", soft_wrap=True)
    out.print(f"wrote {path / 'report.html'}, {path / 'explore.json'}, {path / 'results.jsonl'}"
              + (f" and {len(ex.findings)} found-<n>.toml" if ex.findings else ""))
    _index(path)
    sys.exit(EXIT_VIOLATED if ex.findings or ex.errors else EXIT_OK)


def _no_large(allow_large: bool, command: str) -> None:
    # the engine's tasks validate with the caps on: a large scenario would fail in every worker
    if allow_large:
        raise ChatsimError(f"--allow-large: not supported by {command} yet (its runs keep the size caps)")


def explore_table(ex) -> Table:
    from .explore import schedule_text

    t = Table(title=f"chatsim explore {ex.scenario} / {ex.arch} / seed {ex.seed}: {ex.runs} runs "
                    f"+ {ex.shrink_runs} shrinking on {ex.engine}")
    for c in ("#", "invariant", "violation", "shrunk schedule", "from", "replays"):
        t.add_column(c)
    for f in ex.findings:
        t.add_row(str(f.n), f.invariant, f.kind, escape("\n".join(schedule_text(f.faults))),
                  f"{len(f.original)} faults, run {f.found_by}", _mark(True) if f.reproduced else _mark(False))
    if not ex.findings:
        t.add_row("-", "[green]nothing found[/]", "", "", "", "")
    return t


@cli.command("crashpoints")
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", type=ArchType(), required=True, help="Which registered architecture.")
@click.option("--nth", "nth_range", default="1..3", show_default=True, metavar="A..B",
              help="Which occurrences of each step to crash at (A..B, N, or a comma list; ≥ 1).")
@scenario_options("runs/<scenario>/crashpoints-<arch>-seed<N>/")
@engine_options
def crashpoints_cmd(scenario, arch, nth_range, seed, out_dir, overrides, allow_large, workers, scheduler) -> None:
    """Crash each node of each role at each named step of ARCH's send path,
    for each nth; write the matrix (step × nth → invariants broken, messages)
    as a table, crashpoints.json and a heatmap. Exit 1 if anything broke or a run could not run."""
    from scenarios.loader import Fault, apply_overrides, load_raw

    from . import crashpoints as C
    from .tasks import clear_outputs, parse_seeds

    nths = parse_seeds(nth_range, option="--nth", lowest=1)
    if len(nths) > 1000:
        raise ChatsimError(f"--nth {nth_range!r}: at most 1000 occurrences")
    nth_cap = next(m.le for m in Fault.model_fields["nth"].metadata if hasattr(m, "le"))
    if nths[-1] > nth_cap:  # every run would be refused by the loader: a matrix of errors
        raise ChatsimError(f"--nth {nth_range!r}: a fault's nth is at most {nth_cap:,}")
    _no_large(allow_large, "crashpoints")
    scn = _prepare(scenario, overrides)
    raw, where = load_raw(scenario)
    raw = apply_overrides(raw, list(overrides), where) if overrides else raw
    tasks = C.plan(scenario, raw, scn, arch, seed, nths)
    if not tasks:
        raise ChatsimError(f"{arch}: no node of this scenario reaches any of its send-path steps")
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"crashpoints-{arch}-seed{seed}"
    clear_outputs(path, "crashpoints.json", "crashpoints.png", "crashpoints.svg", "replay/*.toml")
    engine, results = run_many_or_exit(tasks, workers, scheduler, path, "crashpoints",
                                       finding=lambda r: r.valid is False)
    cells = C.matrix(results, arch, nths)
    replays = C.write_replays(cells, results, raw, arch, path)
    doc = C.document(scn.name, arch, seed, nths, cells, engine)
    from reports.crashpoints import write_heatmap
    from reports.render import write_atomic

    write_atomic(path / "crashpoints.json", json.dumps(doc, indent=2))
    png, svg = write_heatmap(doc, path / "crashpoints")
    t = Table(title=f"chatsim crashpoints {scn.name} / {arch} / seed {seed}: {len(tasks)} runs on {engine}")
    t.add_column("step (role)")
    for n in nths:
        t.add_column(f"nth {n}")
    steps = list(dict.fromkeys((c.step, c.role) for c in cells))
    by = {(c.step, c.nth): c for c in cells}
    for step, role in steps:
        row = [f"{step} ({role})"]
        for n in nths:
            c = by.get((step, n))
            row.append("" if c is None else c.summary())
        t.add_row(*row)
    out.print(t)
    errors = [e for c in cells for e in c.errors]
    for e in errors[:3]:  # a run that could not run is not "ok"
        out.print(f"[red]•[/] could not run: {term(e.splitlines()[0])}", soft_wrap=True)
    for cmd in replays[:3]:
        out.print(f"    replay: {escape(cmd)}", soft_wrap=True)
    if len(replays) > 3:
        out.print(f"    ... and {len(replays) - 3} more in {path / 'replay'}/", soft_wrap=True)
    out.print(f"wrote {path / 'crashpoints.json'}, {png}, {svg}, {path / 'results.jsonl'}")
    _index(path)
    sys.exit(EXIT_VIOLATED if errors or any(c.broken for c in cells) else EXIT_OK)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--markdown", "as_md", is_flag=True, help="Print the table as markdown (docs/fidelity.md).")
@click.option("--quick", is_flag=True, help="Only the checks a test can afford (skips the 100k-user boot).")
def fidelity(as_json: bool, as_md: bool, quick: bool) -> None:
    """Measure the model against Slack's published figures: each row a
    figure, its source, chatsim's figure, the tolerance and whether it is
    within. Exit 1 if any is not."""
    from . import fidelity as F

    with progress("measuring"):
        rows = F.run_checks(quick=quick)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif as_md:
        click.echo(F.markdown(rows), nl=False)
    else:
        t = Table(title="model fidelity")
        for col in ("check", "published", "chatsim", "tolerance", "within"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["name"], escape(r["published"]), f"{r['chatsim']:g} {r['unit']}", r["tolerance"],
                      "[green]yes[/]" if r["within"] else "[red]no[/]")
        out.print(t)
        out.print("sources: " + "; ".join(sorted({escape(r["source"]) for r in rows})), soft_wrap=True)
    sys.exit(0 if all(r["within"] for r in rows) else 1)


BENCH_PARTS = ("network", "memory", "run", "check", "tasks", "pdes")


def _sizes(ctx, param, value):
    if value is None:
        return None
    try:
        sizes = [int(v.replace("_", "")) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give client counts, e.g. 10000 or 1000,10000,100000") from None
    if not sizes or min(sizes) < 100:
        raise click.BadParameter(f"{value!r}: each storm needs at least 100 clients")
    return sizes


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quick", is_flag=True, help="Smaller sizes and fewer pairs (for smoke tests).")
@click.option("--pairs", type=click.IntRange(min=1), default=None,
              help="Interleaved A/B pairs per ratio (default 7; 2 with --quick).")
@click.option("--only", type=click.Choice(BENCH_PARTS + ("none",)), multiple=True,
              help="Run only these parts (repeatable); 'none' runs only --storm.")
@click.option("--storm", "storm_sizes", callback=_sizes, default=None, metavar="N[,N...]",
              help="Also simulate reconnect storms of these sizes, e.g. 10000 or 1000,10000,100000 "
                   "(two sizes or more: growth exponents).")
@click.option("--arch", "archs", type=ArchListType(), default=None,
              help="Storm only these architectures, e.g. old,new (default: every registered one).")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="With --storm: write the growth plot to PATH.png and PATH.svg.")
def bench(as_json: bool, quick: bool, pairs: int | None, only: tuple[str, ...], storm_sizes: list[int] | None,
          archs: list[str] | None, plot: Path | None) -> None:
    """Run the performance benchmarks; every ratio is the median of interleaved pairs."""
    from sim.bench import bench_memory_per_client, bench_network, machine

    from .api import NEW_VS_OLD_SCENARIOS, bench_new_vs_old

    if plot is not None and not storm_sizes:
        raise click.UsageError("--plot draws the storm's growth: give --storm too")
    if plot is not None:  # checked before minutes of storms, not when the plot is saved after them
        from .regress import check_output_file

        for target in (plot.with_suffix(".png"), plot.with_suffix(".svg")):
            check_output_file(str(target), "--plot")
    parts = set(only or BENCH_PARTS)
    pairs = pairs or (2 if quick else 7)
    figures = machine()
    if "network" in parts:
        figures.update(bench_network(2000 if quick else 10000, pairs=pairs))
    if "memory" in parts:
        figures.update(bench_memory_per_client(200 if quick else 2000))
    if "run" in parts:
        figures.update(bench_new_vs_old(pairs=pairs, scenarios=("steady",) if quick else NEW_VS_OLD_SCENARIOS))
    if "check" in parts:
        from invariants.bench import bench_check

        figures.update(bench_check(20000 if quick else 1_000_000, repeat=1 if quick else 2))
    if storm_sizes:
        figures.update(bench_storm(storm_sizes, archs, plot,
                                   progress=lambda row: click.echo("storm: " + json.dumps(row), err=True)))
    if "tasks" in parts:
        from .tasks import bench_tasks

        figures.update(bench_tasks(runs=2 if quick else 8, pairs=1 if quick else 3))
    if "pdes" in parts:  # the parallel prototype: two regions, one process vs two (docs/scaling.md)
        from sim.pdes import Model, bench as bench_pdes

        model = Model(nodes_per_region=100 if quick else 1000, duration=3.0 if quick else 10.0)
        figures.update({k: v for k, v in bench_pdes(model, pairs=1 if quick else 3).items()
                        if not k.startswith("machine.")})
    figures["machine.load_1min_after"] = machine()["machine.load_1min"]
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    t = Table(title="chatsim bench")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures.items():
        if k != "storm.rows":
            t.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
    out.print(t)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so it unwinds like Ctrl-C:
    staged outputs are deleted, partial files removed."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _safe_streams() -> None:
    """Never fail on printing: a stream that cannot encode a character (an
    ASCII locale, ``LC_ALL=C PYTHONUTF8=0``) shows it as an escape instead."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if enc != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a detached or closed stream: nothing to fix
                pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and ChatsimError become one line and exit 2;
    Ctrl-C and SIGTERM remove what was being written and exit 128 + signal."""
    import signal
    import threading

    _safe_streams()
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        rv = cli.main(args=argv, prog_name="chatsim", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:  # bare `chatsim`: the help, readable, then the one line
        click.echo(e.ctx.get_help())
        click.echo("chatsim: error: give a command (listed above)", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        click.echo(f"chatsim: error: {_one_line(e.format_message())}", err=True)
        sys.exit(EXIT_USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        term_sig = isinstance(e, Terminated) or isinstance(e.__cause__ or e.__context__, Terminated)
        signum = signal.SIGTERM if term_sig else signal.SIGINT
        click.echo(f"chatsim: interrupted ({signal.Signals(signum).name}); nothing half-written was kept", err=True)
        sys.exit(128 + int(signum))
    except ChatsimError as e:
        click.echo(f"chatsim: error: {_one_line(str(e))}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as e:  # a file chatsim was told to read or write: the OS said no
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"chatsim: error: {_one_line(where + (e.strerror or str(e)))}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(text: str) -> str:
    """An error message as one line, control characters shown as escapes."""
    text = " ".join(text.split())
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


if __name__ == "__main__":
    main()
