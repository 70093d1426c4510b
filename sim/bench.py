"""Benchmark of the network hot path against bare SimPy (DESIGN §10).

The pattern, in both variants: a client sends N messages, one per simulated
millisecond, to a server, which fans each out to 10 receivers; every hop has a
lognormally jittered delay. The model variant goes through ``Network`` and
``Connection`` (journal, FIFO, per-link random streams, partition checks);
the bare variant schedules the same timeouts with callbacks and nothing
else. Both run in the same process, so the ratio cancels the machine's speed.
Wall-clock time is used here only, never in model code.

Method (DESIGN §10): the two sides of every ratio run interleaved, A B A B
..., ``pairs`` times; the figure is the median of the paired ratios, with
their min and max. A noisy neighbour slows both halves of a pair alike, so it
moves the spread, not the median. Here a pair is interleaved further: both
sides are built, then run to the end in ``SEGMENTS`` slices of simulated time,
A B A B ... (``interleaved``), so the halves of a pair share the machine's
moments at a grain of tens of milliseconds; and with the cyclic collector
paused for both, as every run pauses it (``sim.gcpause``). Each pair still
runs every message of both sides, the journal's compactions included. Both
sides are timed in CPU seconds of this process (``time.process_time``;
single-threaded, no I/O worth counting), so
waiting for a core another job holds is not counted at all; what neighbours
still cost (caches, memory bandwidth) lands on both halves. The machine's load average is reported
with the figures (``machine.*``): the ratios mean something on a loaded
machine, the absolute rates do not.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
import tracemalloc
from math import exp
from functools import partial
from typing import Callable

import simpy

from .gcpause import gc_paused
from .kernel import Node, Simulation
from .network import Network, NetConfig

FANOUT = 10


class _Server(Node):
    role = "server"

    def reset_volatile(self):
        self.out = []

    def on_message(self, conn, msg):
        for c in self.out:
            c.send(self, "push", msg.payload, msg.size, msg.trace)


class _Sink(Node):
    role = "sink"

    def reset_volatile(self):
        self.n = 0

    def on_message(self, conn, msg):
        self.n += 1


def _driver(env, n, send):
    for i in range(n):
        send(i)
        yield env.timeout(0.001)


def _end(n: int) -> float:
    """When a side is done: the last send is at (n - 1) ms and each hop
    takes about 1 ms, so every arrival is in a second later (the counts
    say so)."""
    return n * 0.001 + 1.0


def build_model(n: int, seed: int = 1) -> tuple[Callable[[float], None], Callable[[], int]]:
    """The model side, built and not yet run: ``(run_until(t), delivered())``.
    It runs in the event loop every run uses (``Simulation.run``, as the
    runner calls it)."""
    sim = Simulation(seed)
    net = Network(sim, NetConfig())
    client = _Sink(sim, "client", "us-east")
    server = _Server(sim, "server", "us-east")
    sinks = [_Sink(sim, f"r{i}", "us-east") for i in range(FANOUT)]
    sim.start()
    env = sim.env
    up = net._open("ws", client, server, 10.0)
    server.out = [net._open("ws", server, s, 10.0) for s in sinks]
    env.process(_driver(env, n, lambda i: up.send(client, "send", i, 200, f"m{i}")))
    return sim.run, lambda: sum(s.n for s in sinks)


def build_bare(n: int, seed: int = 1) -> tuple[Callable[[float], None], Callable[[], int]]:
    """The bare SimPy side, built and not yet run: ``(run_until(t), delivered())``."""
    env = simpy.Environment()
    rng = random.Random(f"{seed}/bare")
    got = [0]

    gauss = rng.gauss

    def hop(_e=None):
        return 0.0005 * exp(gauss(0.0, 0.15))

    def arrive_sink(_e):
        got[0] += 1

    def arrive_server(i, _e):
        for _ in range(FANOUT):
            env.timeout(hop()).callbacks.append(arrive_sink)

    env.process(_driver(env, n, lambda i: env.timeout(hop()).callbacks.append(partial(arrive_server, i))))
    return (lambda until: env.run(until=until)), lambda: got[0]


def _timed(build, n: int) -> tuple[float, int]:
    run_until, delivered = build(n)
    t0 = time.process_time()
    run_until(_end(n))
    return time.process_time() - t0, delivered()


def run_model(n: int, seed: int = 1) -> tuple[float, int]:
    """The model side run whole: (CPU seconds, messages delivered)."""
    return _timed(partial(build_model, seed=seed), n)


def run_bare(n: int, seed: int = 1) -> tuple[float, int]:
    """The bare side run whole: (CPU seconds, messages delivered)."""
    return _timed(partial(build_bare, seed=seed), n)


def interleaved(a: Callable[[float], None], b: Callable[[float], None], end: float, segments: int,
                clock: Callable[[], float] = time.process_time) -> tuple[float, float]:
    """Run two built sides to ``end`` in ``segments`` equal slices of
    simulated time, alternating A B A B ...; the CPU seconds each took in
    all. A pair's two halves then run side by side at the grain of a slice
    (tens of milliseconds), not one after the other (half a second each):
    what a neighbour does to the machine for a moment falls on both."""
    ta = tb = 0.0
    for k in range(1, segments + 1):
        until = end * k / segments
        t0 = clock()
        a(until)
        t1 = clock()
        b(until)
        t2 = clock()
        ta += t1 - t0
        tb += t2 - t1
    return ta, tb


def paired(a: Callable[[int], float], b: Callable[[int], float], pairs: int = 5) -> dict:
    """Run ``a(k)`` and ``b(k)`` interleaved (A B A B ...) for pairs ``k`` =
    0 .. ``pairs`` - 1; each returns seconds. Summed up by ``summary``."""
    ta, tb = [], []
    for k in range(pairs):
        ta.append(a(k))
        tb.append(b(k))
    return summary(ta, tb)


def summary(ta: list[float], tb: list[float]) -> dict:
    """Pairs of times, A's and B's, as a paired measurement. The ratio of a
    pair is ``b / a`` (how much longer B took, or — with A the model and B the
    reference — A's throughput relative to B's). Returns the median ratio,
    its min and max, and both sides' median times."""
    if not ta:
        raise ValueError("pairs must be at least 1")
    ratios = [y / x for x, y in zip(ta, tb)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "a_seconds": statistics.median(ta), "b_seconds": statistics.median(tb), "pairs": len(ratios)}


def spread(prefix: str, p: dict, digits: int = 3) -> dict:
    """A paired measurement as figures: ``prefix`` (the median),
    ``prefix.min``, ``prefix.max`` and ``prefix.pairs``."""
    return {prefix: round(p["median"], digits), f"{prefix}.min": round(p["min"], digits),
            f"{prefix}.max": round(p["max"], digits), f"{prefix}.pairs": p["pairs"]}


def machine() -> dict:
    """The conditions of a measurement: cores and the 1-minute load average."""
    return {"machine.cpus": os.cpu_count() or 1, "machine.load_1min": round(os.getloadavg()[0], 2)}


SEGMENTS = 20  # slices a pair of the network benchmark alternates in


def network_pair(n: int, segments: int = SEGMENTS) -> tuple[float, float]:
    """One pair of the network benchmark: both sides built, then run
    interleaved slice by slice (``interleaved``) with the cyclic collector
    paused, as every run has it (``sim.gcpause``; the garbage of earlier
    pairs collected first, so neither side pays for it). Returns the model's
    and bare SimPy's CPU seconds; both must have delivered every message."""
    (model, model_got), (bare, bare_got) = build_model(n), build_bare(n)
    gc.collect()
    with gc_paused():
        ta, tb = interleaved(model, bare, _end(n), segments)
    if not model_got() == bare_got() == n * FANOUT:
        raise RuntimeError(f"network benchmark: delivered {model_got()} (model) and {bare_got()} (bare) "
                           f"of {n * FANOUT}")
    return ta, tb


def bench_network(n: int = 20000, pairs: int = 5, segments: int = SEGMENTS) -> dict:
    """Model vs bare SimPy: ``pairs`` pairs, each run interleaved in
    ``segments`` slices (``network_pair``); rates are deliveries per second."""
    network_pair(min(n, 2000), 1)  # warm both paths before timing
    runs = [network_pair(n, segments) for _ in range(pairs)]
    p = summary([ta for ta, _ in runs], [tb for _, tb in runs])
    deliveries = n * (FANOUT + 1)
    return {
        "network.messages": deliveries,
        "network.model_msgs_per_s": round(deliveries / p["a_seconds"]),
        "network.bare_simpy_msgs_per_s": round(deliveries / p["b_seconds"]),
        **spread("network.ratio_vs_simpy", p),
    }


def bench_memory_per_client(clients: int = 2000) -> dict:
    """Bytes per connected simulated client (a node plus its open stream)."""
    tracemalloc.start()
    sim = Simulation(1)
    net = Network(sim, NetConfig())
    server = _Server(sim, "server", "us-east")
    base = tracemalloc.get_traced_memory()[0]
    for i in range(clients):
        c = _Sink(sim, f"c{i}", "us-east")
        c.boot()
        net._open("ws", c, server, 10.0)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"memory.bytes_per_connected_client": round(used / clients)}
