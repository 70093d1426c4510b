"""chatsim's pytest plugin: a team's own scenario files as tests.

Registered with the ``pytest11`` entry point, so pytest loads it wherever
chatsim is installed; it does nothing unless asked:

``pytest --chatsim-scenarios DIR [--chatsim-seeds 1..3] [--chatsim-arch A,B]``
collects every ``*.toml`` under DIR as one test item per architecture × seed
(ids like ``DIR/crash-mid-send.toml::old-seed2``), each a ``chatsim run``
judged against the file's ``[expect]``: an invariant expected to hold must
hold, one expected broken must break, ``"maybe"`` accepts either. A failure
shows the run's verdict table, the first explanations and the ``chatsim
run`` command that replays it. A malformed file is a collection error naming
the file and key. Items are independent, so ``pytest -n`` (xdist) spreads
them over workers.

The ``chatsim_run`` fixture runs a scenario (a path, a built-in name, or the
scenario as a dict) for custom assertions and returns its result.json dict.

Only pytest is imported at load time; chatsim is imported when a scenario is
collected or run, so the plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_addoption(parser) -> None:
    g = parser.getgroup("chatsim", "chatsim scenarios as tests")
    g.addoption("--chatsim-scenarios", metavar="DIR", default=None,
                help="collect every *.toml scenario under DIR as tests (one per architecture × seed)")
    g.addoption("--chatsim-seeds", metavar="A..B", default="1..3",
                help="seeds to run each scenario with (default 1..3; also 7 or 1,4,9)")
    g.addoption("--chatsim-arch", metavar="A,B", default=None,
                help="architectures to run (default: every registered one)")


def _root(config) -> Path | None:
    d = config.getoption("chatsim_scenarios", None)
    if d is None:
        return None
    if not d.strip():  # `--chatsim-scenarios "$DIR"` with DIR unset: not "no scenarios, all passed"
        raise pytest.UsageError("--chatsim-scenarios '': an empty path (give the directory of scenario files)")
    return (Path(config.invocation_params.dir) / d).resolve()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "chatsim: a chatsim scenario run judged against its [expect]")
    root = _root(config)
    if root is None:
        return
    if not root.is_dir():
        raise pytest.UsageError(f"--chatsim-scenarios {config.getoption('chatsim_scenarios')}: not a directory")
    from sim.errors import ChatsimError

    from .tasks import architectures, parse_seeds

    try:  # once, as a usage error naming the plugin's own option (it was a collection error per file)
        parse_seeds(config.getoption("chatsim_seeds"), option="--chatsim-seeds")
        _archs(config.getoption("chatsim_arch"), architectures())
    except ChatsimError as e:
        raise pytest.UsageError(str(e)) from None
    base = Path(config.invocation_params.dir)
    # collect DIR even when it is outside the paths pytest was given (or its testpaths)
    given = [(base / a.split("::")[0]).resolve() for a in config.args]
    if not any(root == g or root.is_relative_to(g) for g in given):
        config.args.append(str(root))


def pytest_collect_file(file_path: Path, parent):
    root = _root(parent.config)
    if root is not None and file_path.suffix == ".toml" and file_path.resolve().is_relative_to(root):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one item per architecture × seed."""

    def collect(self):
        from scenarios.loader import load_raw, load_scenario

        from .tasks import architectures, parse_seeds
        from sim.errors import ChatsimError

        config = self.config
        try:
            seeds = parse_seeds(config.getoption("chatsim_seeds"))
            archs = _archs(config.getoption("chatsim_arch"), architectures())
            load_scenario(str(self.path))
            raw, _ = load_raw(str(self.path))
        except ChatsimError as e:
            raise self.CollectError(str(e)) from None  # pytest shows just the message
        ref = os.path.relpath(self.path, config.invocation_params.dir)
        for arch in archs:
            for seed in seeds:
                yield ScenarioItem.from_parent(self, name=f"{arch}-seed{seed}", ref=ref, raw=raw,
                                               arch=arch, seed=seed)


def _archs(option: str | None, known: list[str]) -> list[str]:
    from sim.errors import ChatsimError

    if option is None:
        return list(known)
    archs = [a.strip() for a in option.split(",") if a.strip()]
    if not archs:  # `--chatsim-arch ,` or "": nothing would run and every test would "pass"
        raise ChatsimError(f"--chatsim-arch {option!r}: expected a comma list of architectures")
    for a in archs:
        if a not in known:
            raise ChatsimError(f"--chatsim-arch {a!r}: unknown architecture (registered: {', '.join(known)})")
    return archs


class ScenarioFailure(Exception):
    """A run not as its scenario expects; repr_failure shows it."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class ScenarioItem(pytest.Item):
    """One run of a scenario file: an architecture and a seed."""

    def __init__(self, *, ref: str, raw: dict, arch: str, seed: int, **kw):
        super().__init__(**kw)
        self.ref, self.raw, self.arch, self.seed = ref, raw, arch, seed
        self.add_marker("chatsim")

    def runtest(self) -> None:
        from .regress import run_problems, verdict_lines
        from .tasks import Task, run_task

        task = Task(scenario=self.ref, raw=self.raw, arch=self.arch, seed=self.seed)
        r = run_task(task)
        problems = run_problems(r)
        if problems:
            lines = [f"{r.scenario} / {self.arch} / seed {self.seed}: not as the scenario's [expect] says", ""]
            if r.error is None:
                lines += verdict_lines(r) + [""]
            lines += [f"  • {p}" for p in problems]
            shown = [v for v in r.violations if r.expected.get(v.invariant, True) is True][:3]
            lines += [f"  • {v.invariant}: {v.explanation}" for v in shown if v.explanation not in "\n".join(problems)]
            lines += ["", f"replay: {task.replay()}"]
            raise ScenarioFailure("\n".join(lines))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.ref} / {self.arch} / seed {self.seed}"


@pytest.fixture
def chatsim_run(tmp_path):
    """Run a scenario and return its result.json dict (plus ``dir``, where
    its history.jsonl and result.json are)::

        def test_no_loss(chatsim_run):
            r = chatsim_run("crash-mid-send", "new", seed=3, overrides=["new.kafka.acks=all"])
            assert r["invariants"]["durability"]["valid"] is True

    ``scenario`` is a built-in name, a path, or the scenario as a dict (the
    TOML file's tables); ``faults`` replaces its fault schedule (a list of
    fault tables). Bad input raises ``sim.errors.ChatsimError``."""
    from sim.errors import ChatsimError

    from .tasks import Task, run_task

    def run(scenario, arch: str, seed: int = 1, overrides=(), faults=None) -> dict:
        if isinstance(scenario, dict):
            ref, raw = str(scenario.get("name", "scenario")), scenario
        else:
            ref, raw = str(scenario), None
        out = tmp_path / f"{Path(ref).stem}-{arch}-seed{seed}"
        task = Task(scenario=ref, raw=raw, arch=arch, seed=seed, overrides=tuple(overrides),
                    faults=None if faults is None else tuple(faults), out=str(out), want=("result",))
        r = run_task(task)
        if r.error is not None:
            raise ChatsimError(r.error)
        return {**r.detail, "dir": str(out)}

    return run
