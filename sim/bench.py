"""Benchmark of the network hot path against bare SimPy (DESIGN §10).

The pattern, in both variants: a client sends N messages, one per simulated
millisecond, to a server, which fans each out to 10 receivers; every hop has a
lognormally jittered delay. The model variant goes through ``Network`` and
``Connection`` (journal, FIFO, per-link random streams, partition checks);
the bare variant schedules the same timeouts with callbacks and nothing
else. Both run in the same process, so the ratio cancels the machine's speed.
Wall-clock time is used here only, never in model code.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from math import exp
from functools import partial

import simpy

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


def run_model(n: int, seed: int = 1) -> tuple[float, int]:
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
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    return dt, sum(s.n for s in sinks)


def run_bare(n: int, seed: int = 1) -> tuple[float, int]:
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
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    return dt, got[0]


def bench_network(n: int = 20000, repeat: int = 3) -> dict:
    """Best of ``repeat`` for each variant; figures are deliveries per second."""
    model = min(run_model(n)[0] for _ in range(repeat))
    bare = min(run_bare(n)[0] for _ in range(repeat))
    deliveries = n * (FANOUT + 1)
    return {
        "network.messages": deliveries,
        "network.model_msgs_per_s": round(deliveries / model),
        "network.bare_simpy_msgs_per_s": round(deliveries / bare),
        "network.ratio_vs_simpy": round(bare / model, 3),
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
