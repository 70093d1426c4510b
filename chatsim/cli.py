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


def _mark(valid) -> str:
    if valid == "maybe":
        return "[yellow]maybe[/]"
    return {True: "[green]ok[/]", False: "[red]VIOLATED[/]"}.get(valid, "[yellow]unknown[/]")


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
    from reports.report import INVARIANTS

    t = Table(title=f"{name} / seed {seed}: {' vs '.join(results)}")
    t.add_column("")
    for arch in results:
        t.add_column(arch)
    for inv in INVARIANTS:
        t.add_row(inv, *(f"{_mark(r['invariants'][inv]['valid'])} ({len(r['invariants'][inv]['violations'])})"
                         for r in results.values()))
    ms = [r["metrics"] for r in results.values()]
    t.add_row("sends acked / failed / unknown",
              *(f"{m['sends']['acked']} / {m['sends']['failed']} / {m['sends']['unknown']}" for m in ms))
    t.add_row("ack latency p50/p95/p99", *(_lat(m["ack_latency"]) for m in ms))
    t.add_row("live latency p50/p95/p99", *(_lat(m["live_latency"]) for m in ms))
    t.add_row("network messages per send", *(str(m["network_messages_per_send"]) for m in ms))
    t.add_row("bytes per boot", *(f"{m['bytes_per_boot']:,}" for m in ms))
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
@profile_option
def run_cmd(scenario: str, arch: str, seed: int, out_dir: str | None, overrides: tuple[str, ...],
            explain: str | None, no_plots: bool, profile: str | None) -> None:
    """Run SCENARIO under one architecture and check the invariants.

    SCENARIO is a built-in name or a path to a scenario file."""
    scn = _prepare(scenario, profile_overrides(profile, [arch]) + overrides)
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"{arch}-seed{seed}"
    with progress(f"running {scn.name} / {arch} / seed {seed}"):
        result = run_one(scn, arch, seed, path, plots=not no_plots)
    print_run(result, path)
    if explain:
        out.print(f"message diagram: {explain_msg(path, explain)} (and .svg)")
    sys.exit(exit_code(result["valid"]))


@cli.command()
@click.argument("scenario", metavar="SCENARIO")
@click.option("--arch", "archs", type=ArchListType(), default=None,
              help="Architectures to compare, comma-separated (default: every registered one).")
@scenario_options("runs/<scenario>/compare-seed<N>/")
@profile_option
def compare(scenario: str, archs: list[str] | None, seed: int, out_dir: str | None,
            overrides: tuple[str, ...], profile: str | None) -> None:
    """Run SCENARIO under several architectures on the same seed, workload
    and fault schedule; write report.html and report.md. ``--profile``
    applies to the architectures that declare it."""
    from reports.data import load_run
    from reports.report import write_reports

    archs = all_archs(archs)
    scn = _prepare(scenario, profile_overrides(profile, archs) + overrides)
    path = Path(out_dir) if out_dir else Path("runs") / scn.name / f"compare-seed{seed}"
    results = {}
    for arch in archs:
        with progress(f"running {scn.name} / {arch} / seed {seed}"):
            results[arch] = run_one(scn, arch, seed, path / arch, plots=True)
    with progress("drawing the report"):
        runs = [load_run(path / arch) for arch in archs]
        html_path, md_path = write_reports(runs, path, {"name": scn.name, "description": scn.description})
    out.print(compare_table(results, scn.name, seed))
    out.print(f"wrote {html_path} and {md_path}")


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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quick", is_flag=True, help="Smaller sizes (for smoke tests).")
@click.option("--storm", "storm_clients", type=click.IntRange(min=100), default=None,
              help="Also simulate a reconnect storm of this many clients (e.g. 10000).")
def bench(as_json: bool, quick: bool, storm_clients: int | None) -> None:
    """Run the performance benchmarks; figures are ratios measured in one run."""
    from invariants.bench import bench_check
    from sim.bench import bench_memory_per_client, bench_network

    figures = {}
    figures.update(bench_network(2000 if quick else 20000, repeat=1 if quick else 3))
    figures.update(bench_memory_per_client(200 if quick else 2000))
    figures.update(bench_check(20000 if quick else 1_000_000, repeat=1 if quick else 2))
    if storm_clients:
        figures.update(bench_storm(storm_clients))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    t = Table(title="chatsim bench")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures.items():
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
