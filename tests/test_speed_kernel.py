"""The kernel's shortcuts keep the order of events: ``Simulation.run`` (the
inlined loop), ``Node.spawn_now``, ``fire``, ``Later`` handlers and
``service_time`` — each against the plain SimPy / process version it
replaces, on hand-built cases where many things happen at one instant."""

import pytest
import simpy

import sim.network as network_mod
from conftest import Scripted, make_net
from sim.kernel import Later, Node, Simulation, fire


# -- Simulation.run against SimPy's own loop ------------------------------------------


def _ticking(env, log):
    """Processes and callbacks that collide in time and priority."""

    def proc(name, delays):
        for d in delays:
            yield env.timeout(d)
            log.append((env.now, name))
            ev = env.event()
            ev.callbacks.append(lambda e, n=name: log.append((env.now, n + ":cb")))
            ev.succeed()

    for i, delays in enumerate([(0.5, 0.5, 1.0), (1.0, 0.0, 1.0), (0.25, 0.75, 0.0, 1.0)]):
        env.process(proc(f"p{i}", delays))
    for t in (1.0, 2.0):
        env.timeout(t).callbacks.append(lambda e: log.append((env.now, "timer")))


def test_run_pops_events_in_simpys_order():
    plain = simpy.Environment()
    want: list = []
    _ticking(plain, want)
    plain.run(until=1.0)
    plain.run(until=2.0)
    plain.run(until=5.0)

    sim = Simulation(1)
    got: list = []
    _ticking(sim.env, got)
    sim.run(until=1.0)  # stops before the NORMAL events due at 1.0, as env.run does
    assert got == want[:len(got)] and (1.0, "timer") not in got
    sim.run(until=2.0)
    sim.run(until=5.0)
    assert got == want and sim.env.now == plain.now == 5.0


def test_run_refuses_the_past_and_raises_a_failed_event():
    sim = Simulation(1)
    sim.run(until=1.0)
    with pytest.raises(ValueError):
        sim.run(until=1.0)
    sim.env.event().fail(KeyError("boom"))
    with pytest.raises(KeyError):
        sim.run(until=2.0)


# -- fire and spawn_now ----------------------------------------------------------


def test_fire_runs_at_once_only_when_nothing_else_is_due_now():
    sim = Simulation(1)
    env = sim.env
    log = []
    alone = env.event()
    alone.callbacks.append(lambda e: log.append(("alone", e.value)))
    fire(env, alone, 1)
    assert log == [("alone", 1)]  # nothing queued: it ran here
    queued = env.event()
    queued.callbacks.append(lambda e: log.append(("queued", e.value)))
    queued.succeed(2)  # due now, scheduled first: must run first
    late = env.event()
    late.callbacks.append(lambda e: log.append(("late", e.value)))
    fire(env, late, 3)
    assert log == [("alone", 1)]
    sim.run(until=1.0)
    assert log == [("alone", 1), ("queued", 2), ("late", 3)]


class Spawner(Node):
    role = "spawner"

    def __init__(self, sim, name, log, now):
        super().__init__(sim, name, "us-east")
        self.log, self.now = log, now

    def body(self, tag):
        self.log.append((self.env.now, tag, "start"))
        yield self.env.timeout(0.5)
        self.log.append((self.env.now, tag, "end"))


@pytest.mark.parametrize("urgent_first", [False, True])
def test_spawn_now_runs_where_the_spawned_process_would_start(urgent_first):
    """From the last act of a timer's callback, ``spawn_now`` runs the body in
    place; with another process's start already due (URGENT, now) it defers,
    as that start comes first either way."""

    def trace(now: bool):
        sim = Simulation(1)
        log: list = []
        node = Spawner(sim, "n", log, now)
        sim.start()

        def at_one(_e):
            if urgent_first:
                node.spawn(node.body("first"))  # its start is queued: URGENT, now
            log.append((sim.env.now, "timer"))
            (node.spawn_now if now else node.spawn)(node.body("second"))

        sim.env.timeout(1.0).callbacks.append(at_one)
        sim.env.timeout(1.5).callbacks.append(lambda e: log.append((sim.env.now, "other")))
        sim.run(until=3.0)
        return log

    assert trace(True) == trace(False)


# -- requests served without processes ----------------------------------------------


class Server(Node):
    """Answers ``get`` at once, ``poll`` when ``put`` changes the value (a long
    poll as a ``Later``), ``slow`` from a generator; ``put`` is a named step
    the test's nemesis may crash it at."""

    role = "server"

    def reset_volatile(self):
        self.value = 0
        self.watchers: list = []

    def get(self, req):
        return "ok", self.value, 40

    def poll(self, req):
        if req.payload == self.value:
            ev = self.env.event()
            self.watchers.append(ev)
            self.env.timeout(2.0).callbacks.append(lambda _e: ev.triggered or ev.succeed())
            return Later(ev, Server.get)
        return self.get(req)

    def put(self, req):
        self.step("put")
        self.value += 1
        watchers, self.watchers = self.watchers, []
        for ev in watchers:
            ev.succeed()
        return "ok", self.value, 40

    def slow(self, req):
        yield self.env.timeout(req.payload)
        return "ok", "slow", 40

    HANDLERS = {"get": get, "poll": poll, "put": put, "slow": slow}


class Cache(Server):
    """The same table behind a service time (as Redis)."""

    role = "cache"

    def service_time(self):
        return 0.01


class Client(Scripted):
    """Requests on a script of (server, kind, payload, pause); logs each answer."""

    def run(self):
        net = self.sim.network
        for dst, kind, payload, pause in self.script:
            if kind == "poll":
                payload = (yield net.request(self, dst, "get", None, timeout=1.0)).payload
            reply = yield net.request(self, dst, kind, payload, timeout=3.0)
            self.log.append((round(self.env.now, 9), self.name, dst, kind, reply.status, reply.payload))
            yield self.env.timeout(pause)


def _served_run(reference: bool, monkeypatch):
    """A busy hand-built run; ``reference`` serves every request in a process
    (``_serve``) and schedules every reply, as the code did before."""
    if reference:
        monkeypatch.setattr(network_mod.Network, "_serve_now",
                            lambda self, dst, conn, msg: dst.spawn(self._serve(dst, conn, msg)))
        monkeypatch.setattr(network_mod, "fire", lambda env, ev, value=None: ev.succeed(value))
    sim, net = make_net(seed=7)
    log: list = []
    Server(sim, "s", "us-east")
    Cache(sim, "r", "eu-west")
    puts = [("s", "put", None, 0.3), ("r", "put", None, 0.2)] * 12
    polls = [("s", "poll", None, 0.0), ("r", "poll", None, 0.0), ("s", "slow", 0.4, 0.1)] * 10
    gets = [("s", "get", None, 0.05), ("r", "get", None, 0.05)] * 40
    for i, script in enumerate([puts, polls, polls, gets]):
        Client(sim, f"c{i}", "us-east" if i % 2 else "eu-west", script, log)
    puts_seen = []

    def nemesis(node, step, ctx):  # crash the server in the middle of its 4th put
        puts_seen.append(node.name)
        if node.name == "s" and puts_seen.count("s") == 4:
            node.crash()

    sim.step_listeners.append(nemesis)
    sim.start()

    def faults():
        yield sim.env.timeout(1.5)
        sim.node("s").restart()
        yield sim.env.timeout(1.0)
        for n in ("s", "r"):
            sim.node(n).pause()
        yield sim.env.timeout(0.7)
        for n in ("s", "r"):
            sim.node(n).resume()
        yield sim.env.timeout(0.5)
        sim.node("r").crash()
        yield sim.env.timeout(0.3)
        sim.node("r").restart()

    sim.env.process(faults())
    sim.run(until=30.0)
    return log, list(net.journal.rows), next(sim.env._eid)


def test_requests_served_without_processes_keep_the_process_order(monkeypatch):
    fast_log, fast_journal, fast_events = _served_run(False, monkeypatch)
    with monkeypatch.context() as m:
        ref_log, ref_journal, ref_events = _served_run(True, m)
    # the case exercises what it claims: crashes mid-handler, pauses, parked
    # polls woken together, service times, generator handlers
    statuses = {(dst, kind, status) for _, _, dst, kind, status, _ in ref_log}
    assert {("s", "put", "reset"), ("s", "poll", "ok"), ("r", "poll", "ok"), ("s", "slow", "ok")} <= statuses
    assert any(status != "ok" for _, _, dst, _, status, _ in ref_log if dst == "r")
    assert fast_log == ref_log
    assert fast_journal == ref_journal
    assert fast_events < ref_events  # and it did take the shortcuts


def test_a_crash_while_parked_answers_nothing_and_a_pause_holds_the_work():
    sim, net = make_net(seed=3)
    s = Server(sim, "s", "us-east")
    c = Client(sim, "c", "us-east", [], [])
    sim.start()
    parked = net.request(c, "s", "poll", 0, timeout=5.0)
    sim.run(until=0.5)
    assert len(s.watchers) == 1 and not parked.triggered
    s.crash()
    s.restart()
    sim.run(until=3.0)  # the old incarnation's park fired at 2.0 s: nothing answered it
    assert parked.triggered and parked.value.status == "reset"

    s.pause()
    held = net.request(c, "s", "get", None, timeout=5.0)
    sim.run(until=4.0)
    assert not held.triggered and s._held
    s.resume()
    sim.run(until=5.0)
    assert held.value.status == "ok"


def test_service_time_delays_the_handler_and_a_crash_meanwhile_drops_it():
    sim, net = make_net(seed=3)
    r = Cache(sim, "r", "us-east")
    c = Client(sim, "c", "us-east", [], [])
    sim.start()
    t0 = sim.env.now
    quick = net.request(c, "r", "put", None, timeout=5.0)
    sim.run(until=1.0)
    served_at = quick.value  # the reply carries the value; timing below
    assert served_at.status == "ok" and r.value == 1
    assert sim.env.now - t0 >= 0.01
    lost = net.request(c, "r", "put", None, timeout=5.0)
    # crash once the request is in service (after the ~1 ms arrival, before 10 ms)
    sim.env.timeout(0.005).callbacks.append(lambda _e: r.crash())
    sim.run(until=8.0)
    assert lost.value.status == "reset" and r.value == 0  # volatile state reset, handler never ran


def test_events_built_without_init_are_events_as_simpy_makes_them():
    """``Network.request`` and ``discovery.park`` build their events
    without ``Event.__init__``: exactly what ``simpy.Event(env)`` builds."""
    import simpy

    from conftest import Probe, make_net
    from sim.nodes.discovery import park

    sim, net = make_net()
    ref = simpy.Event(sim.env)
    a, _b = Probe(sim, "a", "us-east"), Probe(sim, "b", "us-east")
    sim.start()
    req, parked = net.request(a, "b", "ping", 1), park(a, [], 1.0)
    for ev in (req, parked):
        assert type(ev) is simpy.Event and vars(ev) == vars(ref) and list(vars(ev)) == list(vars(ref))
        assert not ev.triggered and ev.callbacks == []
    sim.env.run(until=sim.env.now + 2)
    assert req.processed and req.value.status == "ok" and parked.processed  # answered; the park expired
