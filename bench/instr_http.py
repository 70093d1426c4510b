"""Instructions of one HTTP exchange, for A/B between trees (cachegrind):

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        python bench/instr_http.py N

With the collector off (a run pauses it). Four clients each make N sequential requests to one server whose handler
answers at once (a plain function in ``HANDLERS``), over the journaled
network: request, arrival, service, reply, arrival, the waiter resumed. The
instructions of one exchange are (count at 3N - count at N) / (8N)."""

import sys

from sim.kernel import Node, Simulation
from sim.network import NetConfig, Network


class Server(Node):
    role = "server"

    def get(self, req):
        return "ok", req, 40

    HANDLERS = {"get": get}


class Client(Node):
    role = "client"

    def __init__(self, sim, name, region, n):
        super().__init__(sim, name, region)
        self.n = n

    def start(self):
        self.spawn(self.run())

    def run(self):
        request = self.sim.network.request
        for i in range(self.n):
            yield request(self, "s", "get", i, timeout=10.0, trace="t")


def main(n: int) -> int:
    sim = Simulation(1)
    net = Network(sim, NetConfig())
    Server(sim, "s", "us-east")
    for i in range(4):
        Client(sim, f"c{i}", "us-east" if i % 2 else "eu-west", n)
    sim.start()
    sim.run(until=1e9)
    return len(net.journal)


if __name__ == "__main__":
    import gc

    gc.disable()  # as a run: the collector is paused (sim.gcpause)
    print(main(int(sys.argv[1])))
