"""Conservative parallel simulation, prototyped: regions as logical processes
(docs/scaling.md, "Past one process").

What this prototype shows, measured (``python -m sim.pdes``): a simulation
split into logical processes (LPs, one per region) that advance in
lock-step windows as long as the smallest cross-region delay (the
*lookahead*) produces the **same history, byte for byte**, whether the LPs
share one SimPy event queue (the sequential reference), take turns window by
window in one process, run in separate OS processes, or run as Dask actors
on workers. It does so on its own small model (below), not on chatsim's
nodes: those order simultaneous events by SimPy's one global event id, which
no set of processes can share (docs/scaling.md lists what has to change
first).

The model. Each region has ``nodes_per_region`` nodes. A node sends a
message every ``Exp(rate)`` seconds until ``duration``, to a node of another
region with probability ``cross`` and otherwise to one of its own; a node
that receives a message forwards it, with probability ``forward``, to
another node chosen the same way, up to ``max_hops`` hops. A message takes
``base × max(clamp, exp(N(0, sigma)))`` one way (``base`` is the in-region
or the cross-region delay), drawn from the sender's random stream — the
clamp is what bounds the lookahead from below: ``cross_delay × clamp``.
Every send and receipt is an op of the history.

How the order is made independent of the partition into processes:

- **Event key.** Every event is queued on SimPy's heap as ``(time,
  priority, (lp, seq), event)``: ``seq`` counts the events *its LP*
  scheduled. A cross-region message is keyed by its sender when sent and
  keeps that key in the receiver's queue. An LP's own sequence of events
  depends only on the events it processed before, so it is the same in every
  arrangement, and so is the global order (time, then key).
- **Windows.** All LPs process their events with time < ``T + L`` (``L`` the
  lookahead), then exchange the cross-region messages they produced; a
  message sent at ``t ≥ T`` arrives at ``≥ t + L ≥ T + L``, so nothing can
  arrive inside a window it was not in the inbox for. A message that would
  is a ``LookaheadViolation`` (the model's clamp guarantees it never
  happens; the test removes the clamp and sees it raised). The next window
  starts at the earliest pending event anywhere (empty stretches are
  skipped).
- **History.** Each LP records its ops with the key of the event that
  recorded them (and their position in it); the history is the merge of the
  LPs' ops by ``(time, key, position)``, numbered after the merge.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import random
import time
from dataclasses import asdict, dataclass
from heapq import heappush, merge
from itertools import count
from typing import Protocol

import msgspec
import simpy
from simpy.events import NORMAL

INF = float("inf")


class LookaheadViolation(RuntimeError):
    """A cross-region message would arrive inside the current window."""


@dataclass(frozen=True)
class Model:
    regions: tuple[str, ...] = ("us-east", "eu-west")
    nodes_per_region: int = 100
    rate: float = 2.0  # sends per node per second
    cross: float = 0.3  # share of sends and forwards to another region
    forward: float = 0.5  # chance a received message goes one hop further
    max_hops: int = 3
    duration: float = 10.0  # sends start before this time (forwards drain after it)
    local_delay: float = 0.001  # one way, within a region
    cross_delay: float = 0.040  # one way, between regions
    sigma: float = 0.15  # lognormal jitter of a delay
    clamp: float = 0.5  # the jitter factor's floor: what makes the lookahead positive

    @property
    def lookahead(self) -> float:
        return self.cross_delay * self.clamp


class _Event:
    """A callback on SimPy's heap (the technique of ``sim.kernel.Wake``):
    ``fn(*args)`` runs when it fires, with its LP told which key is running."""

    __slots__ = ("callbacks", "_ok", "lp", "key", "fn", "args")

    def __init__(self, lp: "LP", key: tuple, fn, args: tuple):
        self.callbacks = _FIRE
        self._ok = True
        self.lp, self.key, self.fn, self.args = lp, key, fn, args


def _fire(ev: _Event) -> None:
    lp = ev.lp
    lp.running, lp.position = ev.key, 0
    ev.fn(*ev.args)


_FIRE = [_fire]


class LP:
    """One region's nodes, its event counter, its ops and its outbox. Several
    LPs may share one SimPy environment (the sequential reference: then
    ``peers`` holds them all and messages between them go straight on the
    shared heap) or each own one (windowed: messages to other LPs wait in
    ``outbox`` for the barrier)."""

    def __init__(self, index: int, model: Model, seed: int, env: simpy.Environment | None = None):
        self.index = index
        self.model = model
        self.env = env or simpy.Environment()
        self.region = model.regions[index]
        self.seq = count()
        self.peers: dict[int, LP] = {index: self}
        self.outbox: list[tuple] = []
        self.ops: list[tuple] = []
        self.until = INF  # the current window's end (a cross-LP message must not arrive before it)
        self.running: tuple = (index, -1)
        self.position = 0
        self.nodes = [f"{self.region}-{i}" for i in range(model.nodes_per_region)]
        self.rng = {n: random.Random(f"{seed}/{n}") for n in self.nodes}
        self.msg_ids = {n: count() for n in self.nodes}
        for n in self.nodes:
            self._push(self.rng[n].expovariate(model.rate), self._tick, (n,))

    # -- the queue ---------------------------------------------------------
    def _push(self, t: float, fn, args: tuple, key: tuple | None = None) -> None:
        if key is None:
            key = (self.index, next(self.seq))
        heappush(self.env._queue, (t, NORMAL, key, _Event(self, key, fn, args)))

    def _record(self, node: str, f: str, value: dict) -> None:
        self.ops.append((self.env.now, self.running, self.position, node, f, value))
        self.position += 1

    # -- the model -----------------------------------------------------------
    def _tick(self, node: str) -> None:
        m, rng = self.model, self.rng[node]
        self._transmit(node, {"msg": f"{node}:{next(self.msg_ids[node])}", "hops": 0})
        t = self.env.now + rng.expovariate(m.rate)
        if t < m.duration:
            self._push(t, self._tick, (node,))

    def _transmit(self, src: str, msg: dict) -> None:
        m, rng = self.model, self.rng[src]
        n = len(m.regions)
        r = self.index
        if n > 1 and rng.random() < m.cross:
            r = (self.index + 1 + rng.randrange(n - 1)) % n
        dst = f"{m.regions[r]}-{rng.randrange(m.nodes_per_region)}"
        base = m.local_delay if r == self.index else m.cross_delay
        t = self.env.now + base * max(m.clamp, math.exp(rng.gauss(0.0, m.sigma)))
        key = (self.index, next(self.seq))
        self._record(src, "send", {"to": dst, **msg})
        peer = self.peers.get(r)
        if peer is not None:
            peer._push(t, peer._arrive, (dst, msg), key)
        elif t < self.until:
            raise LookaheadViolation(f"{src} → {dst} at t={t:.6f} arrives inside the window ending {self.until:.6f}")
        else:
            self.outbox.append((r, t, key, dst, msg))

    def _arrive(self, node: str, msg: dict) -> None:
        self._record(node, "recv", msg)
        if msg["hops"] < self.model.max_hops and self.rng[node].random() < self.model.forward:
            self._transmit(node, {**msg, "hops": msg["hops"] + 1})

    # -- windows ---------------------------------------------------------------
    def advance(self, until: float, inbox: list[tuple]) -> tuple[list[tuple], float, float]:
        """Take in the messages for this LP, run every event before ``until``;
        return the cross-region messages sent meanwhile, the time of the next
        pending event and the CPU seconds this window took here."""
        c0 = time.process_time()
        for _r, t, key, dst, msg in inbox:
            self._push(t, self._arrive, (dst, msg), key)
        self.until = until
        queue, step = self.env._queue, self.env.step
        while queue and queue[0][0] < until:
            step()
        out, self.outbox = self.outbox, []
        return out, queue[0][0] if queue else INF, time.process_time() - c0

    def take_ops(self) -> list[tuple]:
        ops, self.ops = self.ops, []
        return ops


def history_bytes(op_lists: list[list[tuple]]) -> bytes:
    """The history: every LP's ops merged by (time, event key, position), one
    JSON object a line, numbered after the merge."""
    enc = msgspec.json.Encoder()
    lines = []
    for i, (t, _key, _pos, node, f, value) in enumerate(merge(*op_lists, key=lambda o: o[:3])):
        lines.append(enc.encode({"index": i, "time": round(t, 9), "process": node, "type": "event",
                                 "f": f, "value": value}))
    return b"\n".join(lines) + b"\n" if lines else b""


# -- arrangements -----------------------------------------------------------------

def run_sequential(model: Model, seed: int = 1) -> bytes:
    """The reference: every LP on one SimPy heap, no windows."""
    env = simpy.Environment()
    lps = [LP(i, model, seed, env) for i in range(len(model.regions))]
    for lp in lps:
        lp.peers = {p.index: p for p in lps}
    while env._queue:
        env.step()
    return history_bytes([lp.take_ops() for lp in lps])


class Handle(Protocol):
    def send_advance(self, until: float, inbox: list[tuple]) -> None: ...
    def result(self) -> tuple[list[tuple], float]: ...
    def ops(self) -> list[tuple]: ...
    def close(self) -> None: ...


def run_windows(handles: list[Handle], model: Model, lookahead: float | None = None) -> tuple[bytes, dict]:
    """Advance the LPs window by window (all of them started before any is
    waited for, so separate processes run at once); route each window's
    outboxes to the next window's inboxes. ``lookahead`` overrides the
    model's (a wrong one is caught: ``LookaheadViolation``).

    Returns the history and the run's figures: ``windows``, ``cpu_seconds``
    (all LPs' CPU time in windows) and ``critical_cpu_seconds`` (per window,
    the slowest LP's, summed: what the run would take with a free core per LP
    and free barriers — the balance, whatever the machine's load)."""
    lookahead = model.lookahead if lookahead is None else lookahead
    if not lookahead > 0:
        raise ValueError("the lookahead (cross_delay × clamp) must be positive")
    inboxes: list[list[tuple]] = [[] for _ in handles]
    nxt = 0.0
    windows, cpu, critical = 0, 0.0, 0.0
    while nxt < INF:
        until = nxt + lookahead
        for h, inbox in zip(handles, inboxes):
            h.send_advance(until, inbox)
        inboxes = [[] for _ in handles]
        nxt = INF
        slowest = 0.0
        for h in handles:
            out, pending, seconds = h.result()
            nxt = min(nxt, pending)
            cpu += seconds
            slowest = max(slowest, seconds)
            for item in out:
                inboxes[item[0]].append(item)
                nxt = min(nxt, item[1])
        windows += 1
        critical += slowest
    return history_bytes([h.ops() for h in handles]), {
        "windows": windows, "cpu_seconds": cpu, "critical_cpu_seconds": critical}


class InProcess:
    """An LP in this process (the windowed run without parallelism)."""

    def __init__(self, index: int, model: Model, seed: int):
        self.lp = LP(index, model, seed)
        self._last = None

    def send_advance(self, until, inbox):
        self._last = self.lp.advance(until, inbox)

    def result(self):
        return self._last

    def ops(self):
        return self.lp.take_ops()

    def close(self):
        pass


def _serve(conn, index: int, model: dict, seed: int) -> None:
    lp = LP(index, Model(**{**model, "regions": tuple(model["regions"])}), seed)
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        if cmd[0] == "advance":
            conn.send(lp.advance(cmd[1], cmd[2]))
        else:
            conn.send(lp.take_ops())


class Subprocess:
    """An LP in its own OS process, driven over a pipe."""

    def __init__(self, index: int, model: Model, seed: int):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, index, asdict(model), seed), daemon=True)
        self.proc.start()
        child.close()

    def send_advance(self, until, inbox):
        self.conn.send(("advance", until, inbox))

    def result(self):
        return self._recv()

    def ops(self):
        self.conn.send(("ops",))
        return self._recv()

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"LP process {self.proc.pid} ended (exit code {self.proc.exitcode}): "
                               "see its error above") from None

    def close(self):
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()
        self.conn.close()


class LPActor:
    """An LP as a Dask actor (``client.submit(LPActor, ..., actor=True)``)."""

    def __init__(self, index: int, model: dict, seed: int):
        self.lp = LP(index, Model(**{**model, "regions": tuple(model["regions"])}), seed)

    def advance(self, until, inbox):
        return self.lp.advance(until, inbox)

    def ops(self):
        return self.lp.take_ops()


class DaskActor:
    """An LP on a Dask worker: one actor per LP, placed on the given worker."""

    def __init__(self, client, worker: str | None, index: int, model: Model, seed: int):
        kw = {"workers": [worker], "allow_other_workers": False} if worker else {}
        self.actor = client.submit(LPActor, index, asdict(model), seed, actor=True, pure=False, **kw).result()
        self._pending = None

    def send_advance(self, until, inbox):
        self._pending = self.actor.advance(until, inbox)

    def result(self):
        return self._pending.result()

    def ops(self):
        return self.actor.ops().result()


def run_parallel(model: Model, seed: int = 1, how: str = "processes", scheduler: str | None = None,
                 lookahead: float | None = None):
    """The windowed run with one LP per region, in this process (``inline``),
    in one OS process each (``processes``) or as Dask actors on the cluster
    at ``scheduler`` (``dask``, spread over its workers)."""
    n = len(model.regions)
    if how == "dask":
        from distributed import Client

        # actors find their client as the current one (get_client), so it is
        # made current for the run only, never the process-wide default
        with Client(scheduler, timeout=30, set_as_default=False) as client, client.as_current():
            workers = sorted(client.scheduler_info()["workers"])
            handles = [DaskActor(client, workers[i % len(workers)] if workers else None, i, model, seed)
                       for i in range(n)]
            return run_windows(handles, model, lookahead)
    if how == "inline":
        handles = [InProcess(i, model, seed) for i in range(n)]
    elif how == "processes":
        handles = [Subprocess(i, model, seed) for i in range(n)]
    else:
        raise ValueError(f"unknown arrangement {how!r} (inline, processes, dask)")
    try:
        return run_windows(handles, model, lookahead)
    finally:
        for h in handles:
            h.close()


def bench(model: Model, seed: int = 1, pairs: int = 3) -> dict:
    """Sequential vs one OS process per LP, interleaved, in wall seconds (the
    point of processes is more cores; this process's CPU time would hide it):
    the median paired speed-up with min and max, whether every history
    matched, and the load-independent figure: ``pdes.balance_speedup``, all
    LPs' CPU seconds over the critical path's (the speed-up with a free core
    per LP and free barriers)."""
    import os
    import statistics

    seq_s, par_s, same = [], [], True
    ref, stats = None, {}
    load0 = os.getloadavg()[0]
    for _ in range(pairs):
        t0 = time.perf_counter()
        a = run_sequential(model, seed)
        t1 = time.perf_counter()
        b, stats = run_parallel(model, seed, "processes")
        t2 = time.perf_counter()
        ref = ref or a
        same = same and a == ref and b == ref
        seq_s.append(t1 - t0)
        par_s.append(t2 - t1)
    ratios = [s / p for s, p in zip(seq_s, par_s)]
    return {"pdes.identical": same, "pdes.lps": len(model.regions), "pdes.ops": ref.count(b"\n"),
            "pdes.windows": stats["windows"], "pdes.lookahead": model.lookahead,
            "pdes.sequential_seconds": round(statistics.median(seq_s), 3),
            "pdes.parallel_seconds": round(statistics.median(par_s), 3),
            "pdes.speedup": round(statistics.median(ratios), 3),
            "pdes.speedup.min": round(min(ratios), 3), "pdes.speedup.max": round(max(ratios), 3),
            "pdes.balance_speedup": round(stats["cpu_seconds"] / stats["critical_cpu_seconds"], 3),
            "machine.cpus": os.cpu_count(), "machine.load_1min": round(load0, 2),
            "machine.load_1min_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":  # python -m sim.pdes [NODES_PER_REGION] [DURATION]
    import json
    import sys

    nodes = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    print(json.dumps(bench(Model(nodes_per_region=nodes, duration=duration)), indent=1))
