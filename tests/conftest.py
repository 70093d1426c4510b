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


def make_net(seed=1, **cfg):
    sim = Simulation(seed)
    net = Network(sim, NetConfig(**cfg))
    return sim, net


@pytest.fixture
def probe_cls():
    return Probe
