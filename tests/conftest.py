import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.kernel import Node, Simulation
from sim.network import NetConfig, Network


class Probe(Node):
    """A test node: records what it receives and when its streams break."""

    role = "probe"

    def reset_volatile(self):
        self.got = []
        self.closed = []
        self.accepted = []

    def on_message(self, conn, msg):
        self.got.append((self.env.now, msg.payload, conn))

    def on_accept(self, conn):
        self.accepted.append(conn)
        return True

    def on_closed(self, conn, reason):
        self.closed.append((self.env.now, reason, conn))

    def on_request(self, req):
        if req.kind == "slow":
            yield self.env.timeout(req.payload)
        self.durable.setdefault("served", []).append(req.payload)
        return "ok", {"echo": req.payload}, 50


class Scripted(Node):
    """A client node that plays ``script`` in one process (its ``run``) and
    appends what it sees to ``log``."""

    role = "client"

    def __init__(self, sim, name, region, script, log):
        super().__init__(sim, name, region)
        self.script, self.log = script, log

    def start(self):
        self.spawn(self.run())

    def run(self):
        raise NotImplementedError
        yield  # pragma: no cover


def make_net(seed=1, **cfg):
    sim = Simulation(seed)
    net = Network(sim, NetConfig(**cfg))
    return sim, net


@pytest.fixture
def probe_cls():
    return Probe


@contextlib.contextmanager
def dask_processes(tmp_path, worker_envs=({}, {})):
    """`dask scheduler` and a `dask worker` per entry of ``worker_envs`` (extra
    environment variables for it) from this venv, on 127.0.0.1 only, no
    dashboards, on free ports the OS picks; yields the scheduler's address
    once every worker has joined; always stopped."""
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists() or shutil.which(str(dask)) is None:
        pytest.skip("the dask command is not installed in this environment")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = []
    try:
        procs.append(subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                       "--no-dashboard", "--scheduler-file", str(sched_file)],
                                      stdout=subprocess.DEVNULL, stderr=open(tmp_path / "scheduler.log", "w"),
                                      env=env, cwd=tmp_path))
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i, extra in enumerate(worker_envs):
            procs.append(subprocess.Popen([str(dask), "worker", "--scheduler-file", str(sched_file),
                                           "--host", "127.0.0.1", "--no-dashboard", "--nthreads", "1",
                                           "--no-nanny", "--name", f"w{i}"],
                                          stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"worker{i}.log", "w"),
                                          env={**env, **extra}, cwd=tmp_path))
        from distributed import Client

        with Client(address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(len(worker_envs), timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two workers (``dask_processes``)."""
    with dask_processes(tmp_path) as address:
        yield address
