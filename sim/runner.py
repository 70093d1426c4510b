"""One run, start to finish: wire → fault schedule → workload → heal all →
settle → final reads → store report (DESIGN §6, STYLE 9).

The runner takes a typed ``RunConfig`` (``sim.config``) and a list of
``FaultSpec``: ``sim`` never imports ``scenarios``. The architecture comes
from the registry by name. Wiring is checked before time starts, so a fault
aimed at a node that does not exist, at a step the architecture does not
have, or of a kind it does not know, fails fast and names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from . import architectures
from .architectures import Architecture
from .config import RunConfig
from .errors import WiringError
from .faults import KERNEL_KINDS, FaultSpec, Nemesis
from .gcpause import gc_paused
from .history import HistoryWriter, Meta
from .kernel import Simulation
from .network import Journal, NetConfig, Network


JOURNAL_COLUMNS = ["id", "src", "dst", "kind", "bytes", "sent", "received", "dropped", "trace"]


@dataclass
class RunOutput:
    history: Path
    end_time: float
    sim: Simulation = field(repr=False)
    journal: Journal = field(repr=False)

    def write_journal(self, path: Path) -> Path:
        """The messages on some message's path (``trace`` set), one JSON array a line.

        Background traffic (heartbeats, replication and polling) is counted in
        ``network_summary`` but not written: it would dwarf the rest."""
        import msgspec

        enc = msgspec.json.Encoder()
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            fh.write(enc.encode({"columns": JOURNAL_COLUMNS}) + b"\n")
            for row in self.journal.traced_rows():
                fh.write(enc.encode(row) + b"\n")
        tmp.replace(path)
        return path

    def backend(self) -> dict:
        """What the web apps and Flannel hosts measured (their meters, not state)."""
        webapps = [n for n in self.sim.nodes.values() if n.role == "webapp"]
        end = int(self.end_time) + 1
        series = {"webapp_requests": [0] * end, "webapp_boots": [0] * end, "webapp_queue": [0] * end}
        total = {"requests": 0, "boots": 0, "cpu_seconds": 0.0, "boot_cpu_seconds": 0.0}
        for w in webapps:
            m = w.meter
            for key, counter in (("webapp_requests", m.requests), ("webapp_boots", m.boots)):
                for sec, n in counter.items():
                    if sec < end:
                        series[key][sec] += n
            for sec, q in m.queue.items():
                if sec < end:
                    series["webapp_queue"][sec] = max(series["webapp_queue"][sec], q)
            s = m.summary()
            for k in total:
                total[k] += s[k]
        total["cpu_seconds"] = round(total["cpu_seconds"], 6)
        total["boot_cpu_seconds"] = round(total["boot_cpu_seconds"], 6)
        total["peak_requests_per_s"] = max(series["webapp_requests"], default=0)
        total["peak_boots_per_s"] = max(series["webapp_boots"], default=0)
        total["peak_queue"] = max(series["webapp_queue"], default=0)
        out = {"webapp": total, "series": series}
        flannels = [n for n in self.sim.nodes.values() if n.role == "flannel"]
        if flannels:
            out["flannel"] = {k: sum(f.stats()[k] for f in flannels)
                              for k in ("hits", "misses", "loads", "profile_pushes")}
            # per host: its region, totals and each team it served (reports.metrics.team_metrics)
            out["flannel_hosts"] = {f.name: {"region": f.region, **f.stats()} for f in flannels}
        return out

    def network_summary(self) -> dict:
        """Every message counted: total, bytes, on a message's path, by kind and by drop reason."""
        return self.journal.summary()


def fault_kinds(arch: Architecture) -> dict:
    """The fault kinds of a run under ``arch``: the kernel's and its own."""
    return {**KERNEL_KINDS, **arch.faults}


def check_specs(arch: Architecture, faults: list[FaultSpec], cfg: RunConfig | None = None) -> None:
    """What can be checked of a fault schedule without building a system:
    each kind known to ``arch``, each step one of its steps, each param
    declared by the kind with the declared type, and the kind's own ``check``
    (targets present, an index param in range of ``cfg``'s settings)."""
    steps = arch.step_names()
    kinds = fault_kinds(arch)
    for f in faults:
        if f.kind not in kinds:
            raise WiringError(f"unknown fault kind {f.kind!r} for architecture {arch.name} "
                              f"(known: {', '.join(sorted(kinds))})")
        kind = kinds[f.kind]
        if f.step is not None and f.step not in steps:
            raise WiringError(f"fault {f.kind} at step {f.step!r}: {arch.name}'s steps are {', '.join(steps)}")
        for name, value in f.params.items():
            want = kind.params.get(name)
            if want is None:
                known = ", ".join(kind.params) or "none"
                raise WiringError(f"fault {f.kind}: unknown param {name!r} (its params: {known})")
            if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
                raise WiringError(f"fault {f.kind}: params.{name} must be {want.__name__} (got {value!r})")
        problem = kind.check(f, cfg) if kind.check is not None and cfg is not None else None
        if problem:
            raise WiringError(f"fault {f.kind} ({arch.name}): {problem}")


def dry_wire(cfg: RunConfig, faults: list[FaultSpec]) -> None:
    """Build ``cfg``'s system in a throwaway simulation (nothing recorded,
    nothing written, no time passes) and check the schedule's wiring against
    its nodes. Skipped when no fault names a node (nothing to resolve)."""
    arch = architectures.get(cfg.arch_name)
    check_specs(arch, faults, cfg)
    if not any(f.targets or f.a or f.b or f.step is not None for f in faults):
        return
    sim = Simulation(0)
    Network(sim, NetConfig(**cfg.network.model_dump(), journal=False))
    arch.build(sim, cfg)
    check_wiring(sim, arch, faults)


def check_wiring(sim: Simulation, arch: Architecture, faults: list[FaultSpec]) -> None:
    check_specs(arch, faults)
    for f in faults:
        if f.step is not None:
            if not any(fnmatchcase(n, f.node) for n in sim.nodes):
                raise WiringError(f"fault {f.kind} at step {f.step}: node {f.node!r} matches no node")
        for group in (f.targets, f.a, f.b):
            if group:
                sim.select(group)


def run(*, scenario: str, seed: int, cfg: RunConfig, faults: list[FaultSpec], out: Path,
        probe_at: float | None = None, probe=None, journal: bool = True) -> RunOutput | None:
    """Run ``cfg.arch_name`` to the end, or — with ``probe_at`` — only until
    then, call ``probe(sim)`` and stop without writing anything (benchmarks
    use it). ``journal=False`` keeps no per-message journal (many-run farms)."""
    arch = architectures.get(cfg.arch_name)
    if not isinstance(cfg.arch, arch.settings):
        raise WiringError(f"{arch.name} needs {arch.settings.__name__}, got {type(cfg.arch).__name__}")
    meta = Meta(scenario=scenario, arch=arch.name, seed=seed, channels=cfg.members, config=cfg.as_json(),
                steps=arch.steps_meta())
    with gc_paused():  # see sim.gcpause: the model leaves almost no cycles to find
        return _run(scenario, seed, cfg, arch, meta, faults, out, probe_at, probe, journal)


def _run(scenario, seed, cfg, arch, meta, faults, out, probe_at, probe, journal) -> RunOutput | None:
    sim = Simulation(seed)
    Network(sim, NetConfig(**cfg.network.model_dump(), journal=journal))
    system = arch.build(sim, cfg)
    check_wiring(sim, arch, faults)
    nemesis = Nemesis(sim, faults, fault_kinds(arch))

    writer = HistoryWriter(out, meta)
    sim.history = writer
    try:
        env = sim.env
        w = cfg.workload
        sim.start()
        nemesis.start()
        if probe_at is not None:
            sim.run(until=probe_at)
            probe(sim)
            writer.abort()
            return None
        sim.run(until=w.duration)
        sim.phase = "settle"
        nemesis.heal_all()
        sim.run(until=w.duration + w.settle)
        sim.phase = "final"
        reads = system.final_reads()
        deadline = env.now + 4 * cfg.clients.read_timeout
        while env.now < deadline and not all(not p.is_alive for p in reads):
            sim.run(until=min(deadline, env.now + 0.5))
        system.finish()
        system.store_report()
        sim.phase = "done"
        end = env.now
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    return RunOutput(path, end, sim, sim.network.journal)


def topology(cfg: RunConfig) -> list[tuple[str, str, str]]:
    """The nodes a run under ``cfg`` wires, as ``(name, role, region)`` in
    wiring order, without running anything: what a fault search may aim at."""
    arch = architectures.get(cfg.arch_name)
    sim = Simulation(0)
    Network(sim, NetConfig(**cfg.network.model_dump(), journal=False))
    arch.build(sim, cfg)
    return [(n.name, n.role, n.region) for n in sim.nodes.values()]
