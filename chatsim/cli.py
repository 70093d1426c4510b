"""The command line (DESIGN §8): the only module that wires sim, scenarios,
invariants and reports together.

Exit status: 0 every invariant holds (compare: report written), 1 an
invariant is violated, 2 bad usage or bad input (one line on stderr, no
traceback, nothing written), 3 nothing violated but something undecided.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.errors import ChatsimError

from .api import bench_storm, explain_msg, run_one

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3

out = Console(highlight=False)


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
        row = [name, _mark(r["valid"]), str(len(r["violations"])), note]
        if expected is not None:
            row.append(_mark(expected.get(name, True)))
        t.add_row(*row)
    return t


def print_explanations(result: dict, limit: int = 5) -> None:
    from invariants import explain

    for line in explain(result, limit):
        out.print(f"  [red]•[/] {line}", soft_wrap=True)


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
        t.add_row(escape(name), escape(desc))
    out.print(t)
    a = Table(title="architectures")
    a.add_column("name")
    a.add_column("description")
    a.add_column("send-path steps")
    a.add_column("component faults")
    for arch in architectures.registry().values():
        a.add_row(escape(arch.name), escape(arch.description), " → ".join(arch.step_names()),
                  ", ".join(arch.faults) or "-")
    out.print(a)


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


def scenario_options(default_out: str):
    """--seed, --out and --set, shared by run, compare and sweep."""
    def wrap(f):
        f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                         help="Override a scenario setting, e.g. --set workload.rate=2 --set kafka.acks=1.")(f)
        f = click.option("--out", "out_dir", type=click.Path(file_okay=False),
                         help=f"Output directory (default {default_out}).")(f)
        return click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
                            help="The run seed.")(f)
    return wrap


def _prepare(scenario_ref: str, overrides: tuple[str, ...]):
    from scenarios import load_scenario

    return load_scenario(scenario_ref, list(overrides))


def print_run(result: dict, out_dir: Path) -> None:
    r = result
    out.print(verdict_table(r, f"{r['scenario']} / {r['arch']} / seed {r['seed']}", r["expected"]))
    m = r["metrics"]
    s = m["sends"]
    out.print(f"sends: {s['invoked']} invoked, {s['acked']} acked, {s['failed']} failed, {s['unknown']} unknown"
              f" ({r['sends']['recovered_unknown']} unknown took effect)")
    out.print(f"ack latency p50/p95/p99: {_lat(m['ack_latency'])}   live latency p50/p95/p99: {_lat(m['live_latency'])}")
    out.print(f"network messages per send: {m['network_messages_per_send']}   boots: {m['boots']} "
              f"({m['bytes_per_boot']:,} bytes each)   disconnects: {m['disconnects']}")
    print_explanations(r)
    out.print(f"wrote {out_dir / 'history.jsonl'} and {out_dir / 'result.json'}"
              + ("" if r["as_expected"] else "  [yellow](verdicts differ from the scenario's expectations)[/]"))


def compare_table(results: dict, name: str, seed: int) -> Table:
    from reports.verdicts import invariant_names, metric_rows

    t = Table(title=escape(f"{name} / seed {seed}: {' vs '.join(results)}"))
    t.add_column("")
    for arch in results:
        t.add_column(escape(arch))
    for inv in invariant_names(list(results.values())):
        t.add_row(inv, *(f"{_mark(r['invariants'][inv]['valid'])} ({len(r['invariants'][inv]['violations'])})"
                         if inv in r["invariants"] else "-" for r in results.values()))
    for label, cells in metric_rows(list(results.values())):
        t.add_row(label, *cells)
    return t


def progress(what: str):
    """A transient spinner on stderr for work that takes more than a moment."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    p = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                 console=Console(stderr=True), transient=True)
    p.add_task(what, total=None)
    return p


def _lat(p: dict) -> str:
    return " / ".join("-" if v is None else f"{v * 1000:.1f} ms" for v in p.values())


@cli.command("run")
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", type=ArchType(), required=True, help="Which registered architecture to simulate.")
@scenario_options("runs/<scenario>/<arch>-seed<N>/")
@click.option("--explain", "explain", metavar="MSG_ID", help="Also draw the message diagram of MSG_ID.")
@click.option("--no-plots", is_flag=True, help="Skip the timeline plot (faster).")
def run_cmd(scenario: str, arch: str, seed: int, out_dir: str | None, overrides: tuple[str, ...],
            explain: str | None, no_plots: bool) -> None:
    """Run SCENARIO under one architecture and check the invariants.

    SCENARIO is a built-in name or a path to a scenario file."""
    scn = _prepare(scenario, overrides)
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"{arch}-seed{seed}"
    with progress(f"running {scn.name} / {arch} / seed {seed}"):
        result = run_one(scn, arch, seed, path, plots=not no_plots)
    if not no_plots:
        from reports.data import load_run
        from reports.timeline import write_timeline

        write_timeline(load_run(path))
    print_run(result, path)
    _index(path)
    if explain:
        out.print(f"message diagram: {explain_msg(path, explain)} (and .svg)")
    sys.exit(exit_code(result["valid"]))


@cli.command()
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", "archs", type=ArchListType(), default=None,
              help="Architectures to compare, comma-separated (default: every registered one).")
@scenario_options("runs/<scenario>/compare-seed<N>/")
def compare(scenario: str, archs: list[str] | None, seed: int, out_dir: str | None,
            overrides: tuple[str, ...]) -> None:
    """Run SCENARIO under several architectures on the same seed, workload
    and fault schedule; write report.html and report.md."""
    from reports.data import load_run
    from reports.report import write_reports

    scn = _prepare(scenario, overrides)
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"compare-seed{seed}"
    archs = all_archs(archs)
    results = {}
    for arch in archs:
        with progress(f"running {scn.name} / {arch} / seed {seed}"):
            results[arch] = run_one(scn, arch, seed, path / arch, plots=True)
    with progress("drawing the report"):
        runs = [load_run(path / arch) for arch in archs]
        html_path, md_path = write_reports(runs, path, {"name": scn.name, "description": scn.description})
    out.print(compare_table(results, scn.name, seed))
    out.print(f"wrote {html_path} and {md_path}")
    _index(path)


@cli.command()
@click.argument("scenario", metavar="SCENARIO")
@scenario_options("runs/<scenario>/sweep-seed<N>/")
def sweep(scenario: str, seed: int, out_dir: str | None, overrides: tuple[str, ...]) -> None:
    """Run SCENARIO at each value of its [sweep] (or each of its [[variants]])
    under every registered architecture; write sweep.json and the sweep's plots."""
    from reports import plots as P
    from reports import sweep as S
    from reports.data import load_run
    from scenarios import load_scenario

    base = _prepare(scenario, overrides)
    if not base.points():
        raise ChatsimError(f"{base.source}: the scenario has no [sweep] or [[variants]] to run")
    path = Path(out_dir) if out_dir else Path("runs") / base.name / f"sweep-seed{seed}"
    points, load = [], []
    for name, sets in base.points():
        scn = load_scenario(scenario, list(overrides) + sets)
        point = {"name": name, "set": sets}
        if base.sweep is not None:
            point["value"] = float(sets[0].split("=", 1)[1])
        for arch in all_archs(None):
            safe = name.replace("/", "_").replace(" ", "_")
            with progress(f"{base.name}: {name} / {arch}"):
                r = run_one(scn, arch, seed, path / safe / arch)
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
    if base.sweep is not None:
        doc["fits"] = S.boot_fits(points)
        P.save(S.boot_curve(points, base.sweep.key, doc["fits"]), path / "boot-curve")
    faults = load_run(path / points[0]["name"].replace("/", "_").replace(" ", "_") / all_archs(None)[0]).faults()
    P.save(S.backend_load(load, faults, f"{base.name}: web-app load"), path / "backend-load")
    (path / "sweep.json").write_text(json.dumps(doc, indent=2))
    out.print(sweep_table(doc))
    if "fits" in doc:
        for arch, f in doc["fits"].items():
            out.print(f"{arch}: boot bytes grow as size^{f['exponent_large']} for teams ≥ 10k "
                      f"(size^{f['exponent_all']} over the whole range)")
    out.print(f"wrote {path / 'sweep.json'} and its plots")
    _index(path)


def _index(path: Path) -> None:
    """Regenerate runs/index.html when the output went under runs/."""
    from reports.index import write_index

    runs = Path("runs").resolve()
    if path.resolve().is_relative_to(runs):
        write_index(runs)


def sweep_table(doc: dict) -> Table:
    t = Table(title=f"{doc['scenario']} sweep")
    t.add_column("point")
    archs = [a for a in doc["points"][0] if a not in ("name", "set", "value")] if doc["points"] else []
    for arch in archs:
        t.add_column(f"{arch}: boot bytes")
        t.add_column(f"{arch}: usable after (p50)")
        t.add_column(f"{arch}: backend peak req/s · boots/s · queue")
    for p in doc["points"]:
        row = [p["name"]]
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
def check(history: str, as_json: bool) -> None:
    """Judge any history file in the DESIGN §6 format."""
    from invariants import check_file

    h, result = check_file(history)
    doc = {"scenario": h.meta.scenario, "arch": h.meta.arch, "seed": h.meta.seed, **result}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        out.print(verdict_table(result, f"{history}: {h.meta.scenario} / {h.meta.arch} / seed {h.meta.seed}"))
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
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output directory (default runs/regress/).")
def regress(scenario_refs, archs, seeds, baseline, write_baseline, junit, workers, scheduler, out_dir) -> None:
    """Run scenarios × architectures × seeds and compare each invariant with
    the scenario's [expect]: exit 1 on a regression (an expected-to-hold
    invariant broken on any seed, a known weakness no longer showing, or a
    "maybe" rate significantly changed from --baseline).

    SCENARIO: built-in names or .toml paths (default: every built-in)."""
    from . import regress as R
    from .tasks import architectures, parse_seeds

    seed_list = parse_seeds(seeds)
    arch_list = [a.strip() for a in archs.split(",") if a.strip()] if archs else architectures()
    base = R.read_baseline(baseline) if baseline else None
    tasks = R.plan(list(scenario_refs) or R.builtin_scenarios(), arch_list, seed_list)
    path = Path(out_dir) if out_dir else Path("runs") / "regress"
    engine, results = run_many_or_exit(tasks, workers, scheduler, path, "regress",
                                       finding=lambda r: r.error is not None or not r.as_expected)
    cells = R.judge(results, base)
    R.write_atomic(path / "regress.json", json.dumps(R.report(cells, seed_list, arch_list, engine), indent=2))
    R.write_atomic(path / "regress.md", R.markdown(cells, seed_list))
    if junit:
        R.write_atomic(Path(junit), R.junit_xml(cells))
    if write_baseline:
        R.write_atomic(Path(write_baseline), json.dumps(R.baseline_doc(cells, seed_list), indent=2))
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


BENCH_PARTS = ("network", "memory", "run", "check", "tasks")


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
    from sim.bench import NEW_VS_OLD_SCENARIOS, bench_memory_per_client, bench_network, bench_new_vs_old, machine

    if plot is not None and not storm_sizes:
        raise click.UsageError("--plot draws the storm's growth: give --storm too")
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and ChatsimError become one line and exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="chatsim", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"chatsim: error: {e.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("chatsim: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except ChatsimError as e:
        click.echo(f"chatsim: error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
