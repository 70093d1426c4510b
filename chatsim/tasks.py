"""Many runs: tasks, their results, and the engines that run them (DESIGN §11).

Theory of operation
-------------------
A :class:`Task` is plain data: which scenario (a reference, or the scenario
file's content as a dict, plus ``--set`` overrides and an optional fault
schedule that replaces the file's), which architecture, which seed, whether to
keep files, and what to keep in the result. :func:`run_task` is the one
function that turns a task into a :class:`TaskResult`, also plain data: the
verdict of each invariant, its first violations, the sends acked / failed /
unknown, the scenario's expectation, the paths written and the wall time.
Both are msgspec Structs, so they pickle (process pools, Dask) and encode to
JSON (``results.jsonl``) without a schema of their own.

An *engine* runs tasks and yields ``(task, result)`` pairs as they complete,
in completion order, behind one method, ``map(tasks)``:

- :class:`InProcess` runs them one after another in the calling process;
- :class:`LocalPool` (the default) runs one worker process per core. Each
  worker holds one task at a time, so when a worker dies (killed, out of
  memory, a crash in C code) the parent knows exactly which task it held,
  starts a fresh worker and gives the task to the next idle worker, up to
  ``retries`` times; then the task gets a result whose ``error`` says so;
- :class:`DaskEngine` submits them to an existing ``distributed`` cluster
  (``retries=`` for exceptions; Dask itself reschedules the tasks of a lost
  worker).

A run is a pure function of its task (one seed, per-component random
streams), so the verdicts are identical whichever engine ran it; only
``wall`` and ``worker`` differ. :func:`run_many` drives an engine, appends each
result to ``DIR/results.jsonl`` as one flushed JSON line as it arrives, shows a
progress bar, and on Ctrl-C or SIGTERM stops the engine, keeps what finished
and raises :class:`Interrupted` saying how far it got.

A worker pays only for what its task wants: no plots unless asked, and the
run's files go to a temporary directory that is removed when the task keeps
no files.
"""

from __future__ import annotations

import functools
import os
import shlex
import signal
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

import msgspec

from sim.errors import ChatsimError

WANTS = ("result", "plots", "all-violations")
"""What a task may ask to keep: ``result`` the whole result.json dict in
``TaskResult.detail``; ``plots`` the timeline plot (with ``out``);
``all-violations`` every violation instead of the first per invariant."""


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """One simulation to run, as plain data (picklable, JSON-encodable).

    ``scenario`` names the scenario (a built-in name or a path) for people
    and replay commands; ``raw``, when given, is its content (the TOML file as
    a dict) so that a worker on another machine need not read the file.
    ``faults`` replaces the file's fault schedule (fault tables in the
    scenario-file format). ``out`` is the directory to keep the run's files
    in, or None to keep none."""

    scenario: str
    arch: str
    seed: int
    overrides: tuple[str, ...] = ()
    raw: dict | None = None
    faults: tuple[dict, ...] | None = None
    out: str | None = None
    want: tuple[str, ...] = ()
    label: str = ""  # what the task is for, in results.jsonl (e.g. ``explore/17``, ``shrink/1/4``)

    def key(self) -> dict:
        """What identifies the task in results.jsonl (without the raw content)."""
        k: dict[str, Any] = {"scenario": self.scenario, "arch": self.arch, "seed": self.seed}
        if self.label:
            k["label"] = self.label
        if self.overrides:
            k["overrides"] = list(self.overrides)
        if self.faults is not None:
            k["faults"] = list(self.faults)
        return k

    def replay(self) -> str:
        """The ``chatsim run`` command that replays this task."""
        words = ["chatsim", "run", self.scenario, "--arch", self.arch, "--seed", str(self.seed)]
        for o in self.overrides:
            words += ["--set", o]
        cmd = " ".join(shlex.quote(w) for w in words)
        if self.faults is not None:
            cmd += "  # with the task's own fault schedule (see results.jsonl)"
        return cmd


class Violation(msgspec.Struct, frozen=True):
    invariant: str
    kind: str
    msg: str | None
    channel: str | None
    explanation: str


class TaskResult(msgspec.Struct, kw_only=True):
    """A task's outcome, as plain data. ``valid`` is True, False or
    "unknown" (as in result.json); ``verdicts`` maps each invariant found in
    the run to the same; ``error`` is set (and the rest empty) when the task
    could not run: bad input, or its worker died ``retries`` times.
    ``fired`` counts the faults the run started: a fault whose step was
    reached fewer than ``nth`` times (or only after the workload) never
    fires, and a run it did not touch proves nothing about it."""

    scenario: str
    arch: str
    seed: int
    valid: bool | str = "unknown"
    verdicts: dict[str, bool | str] = {}
    counts: dict[str, int] = {}
    violations: list[Violation] = []
    sends: dict[str, int] = {}
    expected: dict[str, bool | str] = {}
    as_expected: bool = False
    paths: list[str] = []
    fired: int = 0
    wall: float = 0.0
    worker: str = ""
    error: str | None = None
    detail: dict | None = None

    def same_verdicts(self) -> tuple:
        """Everything but where and how long it ran: equal across engines."""
        return (self.scenario, self.arch, self.seed, self.valid, self.verdicts, self.counts,
                self.violations, self.sends, self.expected, self.as_expected, self.fired, self.error)


# --- one task ------------------------------------------------------------------------------

def load_task_scenario(task: Task):
    """The validated Scenario of a task: its raw content (or its file), with
    the task's fault schedule and overrides applied."""
    from scenarios import Scenario, apply_overrides
    from scenarios.loader import load_raw
    from pydantic import ValidationError

    from sim.errors import ConfigError

    if task.raw is None and task.faults is None:
        from scenarios import load_scenario

        return load_scenario(task.scenario, list(task.overrides))
    raw, where = (dict(task.raw), task.scenario) if task.raw is not None else load_raw(task.scenario)
    if task.faults is not None:
        raw["faults"] = [dict(f) for f in task.faults]
    if task.overrides:
        raw = apply_overrides(raw, list(task.overrides), where)
    try:
        return Scenario.model_validate({**raw, "source": where})
    except ValidationError as e:
        from scenarios.loader import _fmt

        raise ConfigError(_fmt(e, where)) from None


def run_task(task: Task) -> TaskResult:
    """Run one task and reduce its result to plain data.

    The run goes through ``chatsim.api.run_one`` (the same code as
    ``chatsim run``), into ``task.out`` or a temporary directory removed
    afterwards. Bad input (ChatsimError) becomes a result with ``error``; so
    does an exception from the model (a bug, with the end of its traceback):
    in a farm of thousands of runs, one seed that trips a bug is a finding to
    report with its replay command, not a reason to lose the other runs."""
    from .api import run_one

    t0 = time.perf_counter()
    base = TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed, worker=_worker_name())
    try:
        scn = load_task_scenario(task)
        if task.out is not None:
            out = Path(task.out)
            out.mkdir(parents=True, exist_ok=True)
            result = run_one(scn, task.arch, task.seed, out, plots="plots" in task.want,
                             journal="journal" in task.want or "plots" in task.want)
            fired = faults_fired(out / "history.jsonl")
            paths = sorted(str(p) for p in out.iterdir() if p.is_file())
        else:
            with tempfile.TemporaryDirectory(prefix="chatsim-task-") as tmp:
                result = run_one(scn, task.arch, task.seed, Path(tmp), journal=False)
                fired = faults_fired(Path(tmp) / "history.jsonl")
            paths = []
    except ChatsimError as e:
        base.error = str(e)
        base.wall = round(time.perf_counter() - t0, 4)
        return base
    except Exception as e:  # recorded as the task's error, see the docstring
        import traceback

        tb = "".join(traceback.format_exception(e, limit=-6))
        base.error = f"{type(e).__name__} in the simulation: {e}\n{tb}"
        base.wall = round(time.perf_counter() - t0, 4)
        return base
    return reduce_result(result, task, paths, round(time.perf_counter() - t0, 4), base.worker, fired)


def faults_fired(history: Path) -> int:
    """How many faults a run started: the distinct ``fault`` ids of the
    nemesis's records (a start and its end share one; DESIGN §6). Only the
    lines that name the nemesis are decoded, so a large history costs a scan."""
    dec = msgspec.json.Decoder()
    ids = set()
    with open(history, "rb") as fh:
        for line in fh:
            if b'"nemesis"' in line:
                op = dec.decode(line)
                if op.get("process") == "nemesis" and isinstance(op.get("value"), dict):
                    ids.add(op["value"].get("fault"))
    ids.discard(None)
    return len(ids)


def reduce_result(result: dict, task: Task, paths: list[str], wall: float, worker: str = "",
                  fired: int = 0) -> TaskResult:
    """A run_one result → TaskResult: every invariant found in the run (not a
    fixed list: a new checker shows up by itself), its first violation(s)."""
    keep_all = "all-violations" in task.want
    violations = []
    for name, r in result["invariants"].items():
        for v in (r["violations"] if keep_all else r["violations"][:1]):
            violations.append(Violation(name, v.get("kind", ""), v.get("msg"), v.get("channel"),
                                        v.get("explanation", "")))
    s = result["metrics"]["sends"]
    return TaskResult(
        scenario=task.scenario, arch=task.arch, seed=task.seed, valid=result["valid"],
        verdicts={k: r["valid"] for k, r in result["invariants"].items()},
        counts={k: len(r["violations"]) for k, r in result["invariants"].items()},
        violations=violations,
        sends={"invoked": s["invoked"], "acked": s["acked"], "failed": s["failed"], "unknown": s["unknown"]},
        expected=dict(result["expected"]), as_expected=bool(result["as_expected"]),
        paths=paths, fired=fired, wall=wall, worker=worker,
        detail=result if "result" in task.want else None,
    )


def _worker_name() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


# --- engines -----------------------------------------------------------------------------------

class Engine:
    """Runs tasks; ``map`` yields (task, result) as each completes. Use as a
    context manager (or call ``close``) to release workers."""

    name = "engine"
    workers = 1

    def map(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, TaskResult]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class InProcess(Engine):
    """One task after another in the calling process (tests, debugging)."""

    name = "in-process"

    def __init__(self, run: Callable[[Task], TaskResult] = run_task):
        self._run = run

    def map(self, tasks):
        for t in tasks:
            yield t, self._run(t)


def _worker_main(conn, run) -> None:
    """A LocalPool worker: receive a task, send its result, until told to stop.
    Ctrl-C goes to the whole process group: the parent decides what to do."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        idx, task = item
        conn.send((idx, run(task)))


class LocalPool(Engine):
    """One worker process per core (or ``workers``), started with forkserver
    (spawn where that is missing) so a worker starts clean, whatever the
    parent imported. Each worker holds one task at a time; a worker that dies
    is replaced and its task retried elsewhere, at most ``retries`` times."""

    name = "local"

    def __init__(self, workers: int | None = None, retries: int = 2,
                 run: Callable[[Task], TaskResult] = run_task):
        import multiprocessing as mp

        self.workers = max(1, workers or os.cpu_count() or 1)
        self.retries = retries
        self._run = run
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(method)
        self._procs: list = []  # [process, conn, (idx, task, attempts) | None]

    def _start_worker(self) -> list:
        parent, child = self._ctx.Pipe()
        p = self._ctx.Process(target=_worker_main, args=(child, self._run), daemon=True)
        p.start()
        child.close()
        w = [p, parent, None]
        self._procs.append(w)
        return w

    def start(self) -> "LocalPool":
        """Start the workers now (``map`` starts them when needed)."""
        while len(self._procs) < self.workers:
            self._start_worker()
        return self

    def map(self, tasks):
        from multiprocessing.connection import wait

        pending = deque((i, t, 0) for i, t in enumerate(tasks))
        while len(self._procs) < min(self.workers, len(pending)):  # no idle workers for a short batch
            self._start_worker()
        busy = 0
        while pending or busy:
            for w in self._procs:
                if w[2] is None and pending:
                    w[2] = pending.popleft()
                    w[1].send(w[2][:2])
                    busy += 1
            ready = wait([w[1] for w in self._procs if w[2]] + [w[0].sentinel for w in self._procs if w[2]])
            for w in list(self._procs):
                if w[2] is None:
                    continue
                idx, task, attempts = w[2]
                if w[1] in ready:
                    try:
                        got, result = w[1].recv()
                    except (EOFError, OSError):
                        got = None  # died while sending: handled as a death below
                    if got is not None:
                        w[2] = None
                        busy -= 1
                        yield task, result
                        continue
                if w[0].sentinel in ready or not w[0].is_alive():
                    self._replace(w)
                    busy -= 1
                    if attempts < self.retries:
                        pending.appendleft((idx, task, attempts + 1))
                    else:
                        yield task, TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed,
                                               error=f"its worker died {attempts + 1} times "
                                                     f"(exit code {w[0].exitcode})")

    def _replace(self, w: list) -> None:
        w[0].join(timeout=1)
        w[1].close()
        self._procs.remove(w)
        self._start_worker()

    def close(self) -> None:
        for p, conn, _ in self._procs:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for p, conn, current in self._procs:
            p.join(timeout=0.5 if current is None else 0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
            conn.close()
        self._procs = []


PACKAGES = ("chatsim", "sim", "invariants", "scenarios", "reports")  # what chatsim ships (pyproject.toml)


@functools.cache
def code_fingerprint() -> str:
    """A digest of the Python sources chatsim runs (every module of the
    packages it ships, by path and content). Two processes with one
    fingerprint run the same model: the same task gives the same history
    and verdicts there. Read once per process (~200 files)."""
    import hashlib
    from importlib.util import find_spec

    h = hashlib.sha256()
    for package in PACKAGES:
        root = Path(find_spec(package).origin).parent
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _run_checked(run: Callable[[Task], TaskResult], fingerprint: str, task: Task) -> TaskResult:
    """``run(task)`` on a worker whose chatsim is the caller's; else an error
    result saying so (a worker that joined after the engine checked them)."""
    mine = code_fingerprint()
    if mine != fingerprint:
        return TaskResult(scenario=task.scenario, arch=task.arch, seed=task.seed, worker=_worker_name(),
                          error=f"worker {_worker_name()} runs other chatsim code ({mine}) than the caller "
                                f"({fingerprint}): its history would not be this seed's")
    return run(task)


class DaskEngine(Engine):
    """Tasks on an existing Dask cluster (``distributed.Client(address)``).
    The workers must have chatsim installed; tasks carry the scenario's
    content, so they need not see the caller's files (``out`` paths are
    written on the worker's file system).

    The workers must run the caller's chatsim, or "same seed, same history"
    quietly stops holding (and results, which travel as pickles, may not
    even decode): every worker's ``code_fingerprint`` is compared with the
    caller's when the engine starts (a mismatch is one ``ChatsimError``), and
    each task checks again where it runs, for workers that join later."""

    name = "dask"

    def __init__(self, address: str, retries: int = 2, run: Callable[[Task], TaskResult] = run_task,
                 timeout: float = 10):
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - a dependency
            raise ChatsimError(f"--scheduler needs dask distributed: {e}") from None
        from distributed.comm import get_address_host_port

        try:  # before Client(): one it half-built on a bad address blocks 20 s in __del__, printing a traceback
            get_address_host_port(address)
        except ValueError as e:
            raise ChatsimError(f"--scheduler {address}: not an address like tcp://host:8786 ({e})") from None
        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ChatsimError(f"--scheduler {address}: cannot connect: {e}") from None
        self.address = address
        self.retries = retries
        self._fingerprint = code_fingerprint()
        self._run = functools.partial(_run_checked, run, self._fingerprint)
        self._futures: list = []
        try:
            self._check_workers()
        except BaseException:
            self._client.close()
            raise
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def _check_workers(self) -> None:
        try:
            theirs = self._client.run(code_fingerprint)  # {worker address: fingerprint}
        except Exception as e:  # chatsim missing there (the function cannot be unpickled), a worker lost
            raise ChatsimError(f"--scheduler {self.address}: cannot ask the workers which chatsim they run: "
                               f"{type(e).__name__}: {e}") from None
        odd = sorted(w for w, f in theirs.items() if f != self._fingerprint)
        if odd:
            raise ChatsimError(f"--scheduler {self.address}: {len(odd)} of {len(theirs)} workers ({', '.join(odd[:3])}"
                               f"{', ...' if len(odd) > 3 else ''}) run other chatsim code than this one "
                               f"({theirs[odd[0]]} vs {self._fingerprint}): install this tree on them")

    def map(self, tasks):
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        self._futures = self._client.map(self._run, tasks, retries=self.retries, pure=False)
        index = {f.key: t for f, t in zip(self._futures, tasks)}
        for future in as_completed(self._futures, loop=self._client.loop):
            yield index[future.key], future.result()  # the future's own client, not a global default

    def close(self) -> None:
        if self._futures:
            self._client.cancel(self._futures)
            self._futures = []
        self._client.close()


# Each local worker is a process with a pipe: thousands of them exhaust the process and
# file-descriptor limits long before they help (runs are CPU-bound: one per core is the point).
MAX_WORKERS = 256


def make_engine(workers: int | None = None, scheduler: str | None = None, in_process: bool = False) -> Engine:
    """The engine the command-line options ask for (``--workers N`` or
    ``--scheduler ADDRESS``; the local pool by default; ``--workers 1`` runs
    in process)."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ChatsimError(f"--workers {workers}: expected 1 to {MAX_WORKERS} worker processes")
    if scheduler:
        return DaskEngine(scheduler)
    if in_process or workers == 1:
        return InProcess()
    return LocalPool(workers)


# --- many tasks: results.jsonl, progress, interruption ---------------------------------------

class Interrupted(Exception):
    """Ctrl-C or SIGTERM during run_many: ``done`` of ``total`` finished and
    are in ``results`` (and results.jsonl)."""

    def __init__(self, done: int, total: int, results: list, signum: int, log: Path | None):
        where = f"; kept in {log}" if log else ""
        super().__init__(f"interrupted: {done} of {total} runs finished{where}")
        self.done, self.total, self.results, self.signum, self.log = done, total, results, signum, log


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so both stop the same way."""


def _line(task: Task, result: TaskResult) -> bytes:
    doc = msgspec.to_builtins(result)
    doc.pop("detail", None)
    return msgspec.json.encode({"task": task.key(), "result": doc}) + b"\n"


def read_results(path: str | Path) -> list[tuple[dict, TaskResult]]:
    """results.jsonl → [(task key, TaskResult)]."""
    out = []
    dec = msgspec.json.Decoder()
    for line in Path(path).read_bytes().splitlines():
        doc = dec.decode(line)
        out.append((doc["task"], msgspec.convert(doc["result"], TaskResult)))
    return out


def clear_outputs(out_dir: Path, *patterns: str | Path) -> None:
    """Remove what an earlier command left in ``out_dir`` under these glob
    patterns (a ``Path`` is one file, wherever it is), before this command
    starts: if it is interrupted, the earlier verdicts must not sit beside its
    partial results.jsonl (a CI step publishing the JUnit file "if: always()"
    showed the old green run). Files only: a finding's run directory is
    rewritten when its number comes again, and nothing else is touched."""
    for pattern in patterns:
        found = [pattern] if isinstance(pattern, Path) else out_dir.glob(pattern)
        for path in found:
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)


def run_many(tasks: list[Task], engine: Engine, out_dir: Path | None = None, *, progress: bool = True,
             finding: Callable[[TaskResult], bool] = lambda r: r.valid is False,
             what: str = "runs", append: bool = False) -> list[tuple[Task, TaskResult]]:
    """Run ``tasks`` on ``engine``; append each result to
    ``out_dir/results.jsonl`` (one flushed JSON line each, the file replaced
    at the start unless ``append``: a command that runs several batches
    keeps them all in one file) as it arrives; show a progress bar on stderr (when it is a
    terminal) with runs done / total, findings so far and runs/s.

    Ctrl-C or SIGTERM stops the engine and raises :class:`Interrupted` with
    what finished; results.jsonl then holds exactly those, each line whole."""
    total = len(tasks)
    results: list[tuple[Task, TaskResult]] = []
    log = None
    fh = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        log = out_dir / "results.jsonl"
        fh = open(log, "ab" if append else "wb", buffering=0)  # unbuffered: one write(2) per line, nothing half-written in a buffer
    bar = _Progress(total, what, progress)
    old_term = signal.getsignal(signal.SIGTERM)
    in_main = _in_main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, _raise_terminated)
    signum = 0
    try:
        with bar:
            for task, result in engine.map(tasks):
                results.append((task, result))
                if fh is not None:
                    fh.write(_line(task, result))
                bar.advance(finding(result))
    except KeyboardInterrupt:
        signum = signal.SIGINT
    except _Terminated:
        signum = signal.SIGTERM
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
        if signum:
            _quietly(engine.close)
        if fh is not None:
            fh.close()
    if signum:
        raise Interrupted(len(results), total, results, signum, log)
    return results


def _quietly(f) -> None:
    """Stop an engine while a second Ctrl-C may already be on its way."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if _in_main_thread() else None
    try:
        f()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum, frame):
    raise _Terminated()


class _Progress:
    """A rich progress bar on stderr: runs done / total, findings, runs/s.
    Silent when stderr is not a terminal (CI logs stay readable)."""

    def __init__(self, total: int, what: str, enabled: bool):
        from rich.console import Console

        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal
        self.findings = 0
        self.t0 = time.perf_counter()
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[findings]} findings"),
                               TextColumn("{task.fields[rate]} runs/s"), TimeElapsedColumn(),
                               console=console, transient=True)
            self._id = self._p.add_task(what, total=total, findings=0, rate="-")

    def __enter__(self):
        if self.enabled:
            self._p.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._p.stop()

    def advance(self, found: bool) -> None:
        self.findings += bool(found)
        if self.enabled:
            done = self._p.tasks[0].completed + 1
            rate = done / max(1e-9, time.perf_counter() - self.t0)
            self._p.update(self._id, advance=1, findings=self.findings, rate=f"{rate:.1f}")


# --- benchmark: runs per second, and how they scale with workers -----------------------------

BENCH_SCENARIO = "steady"


def bench_tasks(workers: int | None = None, runs: int = 12, pairs: int = 3,
                arch: str = "old") -> dict[str, Any]:
    """``explore.runs_per_s`` (one worker process) and ``explore.scaling``
    (runs/s with N local workers ÷ (N × one worker's); target ≥ 0.8).

    Both pools are started (and warmed with one task per worker) before
    timing, so process start-up is not counted. The two sides run
    interleaved, A B A B ..., ``pairs`` times; the figure is the median of
    the paired ratios, with their min and max, so a noisy neighbour cannot
    decide it. Each batch runs ``runs`` × N tasks of a small scenario."""
    from scenarios.loader import load_raw

    n = max(1, workers or os.cpu_count() or 1)
    raw, _ = load_raw(BENCH_SCENARIO)

    def batch(size: int, start: int) -> list[Task]:
        return [Task(scenario=BENCH_SCENARIO, raw=raw, arch=arch, seed=start + i) for i in range(size)]

    def timed(engine: Engine, tasks: list[Task]) -> float:
        t0 = time.perf_counter()
        for _ in engine.map(tasks):
            pass
        return len(tasks) / (time.perf_counter() - t0)

    one_rates, ratios, n_rates = [], [], []
    with LocalPool(1) as one, LocalPool(n) as many:
        timed(one, batch(1, 10_000))
        timed(many, batch(n, 10_000))
        for k in range(pairs):
            a = timed(one, batch(runs, 1 + 2 * k * runs * n))
            b = timed(many, batch(runs * n, 1 + (2 * k + 1) * runs * n))
            one_rates.append(a)
            n_rates.append(b)
            ratios.append(b / (n * a))
    ratios.sort()
    med = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    return {
        "explore.runs_per_s": round(sorted(one_rates)[len(one_rates) // 2], 2),
        "explore.workers": n,
        "explore.runs_per_s_n_workers": round(sorted(n_rates)[len(n_rates) // 2], 2),
        "explore.scaling": round(med, 3),
        "explore.scaling_min": round(ratios[0], 3),
        "explore.scaling_max": round(ratios[-1], 3),
    }


def parse_seeds(text: str, option: str = "--seeds", lowest: int = 0) -> list[int]:
    """``1..20``, ``7``, or ``1,4,9`` → sorted distinct numbers (≥ ``lowest``);
    ``option`` names the option in the error (``--nth`` reads the same way)."""
    what = "seed" if option.endswith("seeds") else "number"
    err = ChatsimError(f"{option} {text!r}: expected A..B (e.g. {max(1, lowest)}..20), a {what}, "
                       f"or a comma list of {what}s (each ≥ {lowest})")
    out: set[int] = set()
    try:
        for part in text.split(","):
            a, sep, b = part.strip().partition("..")
            lo, hi = (int(a), int(b)) if sep else (int(a), int(a))
            if lo < lowest or hi < lo:
                raise err
            if hi - lo >= MAX_SEEDS or len(out) + (hi - lo + 1) > 2 * MAX_SEEDS:
                raise ChatsimError(f"{option} {text!r}: at most {MAX_SEEDS} {what}s")
            out.update(range(lo, hi + 1))
    except ValueError:
        raise err from None
    if len(out) > MAX_SEEDS:  # the whole list, not each range: a comma list of ranges was unbounded
        raise ChatsimError(f"{option} {text!r}: at most {MAX_SEEDS} {what}s")
    return sorted(out)


MAX_SEEDS = 100_000


def architectures() -> list[str]:
    """Every registered architecture, in the registry's order."""
    from sim import architectures as registry

    return registry.names()


Verdict = Literal[True, False, "unknown"]
__all__ = ["Task", "TaskResult", "Violation", "run_task", "reduce_result", "Engine", "InProcess", "LocalPool",
           "DaskEngine", "make_engine", "run_many", "read_results", "Interrupted", "bench_tasks", "parse_seeds",
           "architectures", "load_task_scenario"]
