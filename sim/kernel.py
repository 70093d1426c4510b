"""The simulation kernel: one SimPy environment, one seed, named random
streams, the history recorder, nodes with durable and volatile state.

Theory of operation
-------------------
``Simulation`` owns the clock (``env.now``, simulated seconds), the run seed
and the history. Every component asks for its own random stream with
``sim.rng(scope)``, seeded by the string ``f"{seed}/{scope}"``: adding a
component never shifts another's draws, and string seeding is stable across
processes and Python versions. Low-volume streams (clients, their links) use
``Stream``, a SplitMix64 generator a few dozen bytes large, instead of the
Mersenne Twister's 2.5 KB: that is what keeps 10k clients in memory.

A ``Node`` keeps two kinds of state. ``durable`` survives a crash (a database's
rows, a Kafka log, Redis with persistence). Everything else is volatile and is
rebuilt by ``reset_volatile`` on boot and on restart. A crash interrupts the
node's processes, breaks its connections (through the network) and bumps its
``incarnation`` so that timers and messages addressed to the old incarnation
are ignored. Nodes never call each other: they only talk through
``sim.network``.

Named protocol steps
--------------------
Node code marks the points of its protocols with ``self.step("ack_sent", ...)``.
The nemesis listens and may crash the node right there; ``step`` then raises
``NodeCrashed`` in the running code, which the process guard (``spawn``) and
the network's delivery path swallow. A process cannot interrupt itself in
SimPy, which is why the running one learns of its death by exception.

Running
-------
``Simulation.run`` is SimPy's event loop, inlined: same queue, same order.
Where a process would only cost events that do nothing else, the kernel
offers cheaper equivalents that keep every event's place in that order:
``Wake`` (a timer or continuation instead of a sleeping process),
``Node.spawn_now`` (a process started in place when its start event would
be the next one), ``fire`` (an event's callbacks run at once when it would be
the next one) and ``Later`` (a request handler's answer after an event,
served as a callback). Each docstring says why the order is unchanged.

Correctness is never asserted here: nodes act and record, checkers judge.
"""

from __future__ import annotations

import hashlib
import math
import random
import zlib
from collections import OrderedDict
from heapq import heappop, heappush
from sys import getsizeof
from types import GeneratorType
from typing import Any, Callable, Generator, Iterable

import simpy
from simpy.events import NORMAL, PENDING, URGENT

from .errors import WiringError
from .history import HistoryWriter, OpType


_MASK = (1 << 64) - 1


def stream_seed(key: str) -> int:
    """The first state of the ``Stream`` seeded by ``key`` (a stable hash)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class Draws:
    """SplitMix64 draws over the ``_s`` (state) and ``_g`` (the spare normal
    deviate of Box–Muller) slots of whoever holds them: a ``Stream``, a
    link that is its own stream, a client that is its own workload stream.
    No slots of its own, so a slotted class can mix it in."""

    __slots__ = ()

    def _next(self) -> int:
        s = self._s = (self._s + 0x9E3779B97F4A7C15) & _MASK
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self._next() >> 11) * (1.0 / 9007199254740992.0)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def randrange(self, n: int) -> int:
        return (self._next() * n) >> 64

    def choice(self, seq):
        return seq[self.randrange(len(seq))]

    def expovariate(self, lambd: float) -> float:
        return -math.log(1.0 - self.random()) / lambd

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        if self._g is not None:
            z, self._g = self._g, None
            return mu + z * sigma
        # ``self.random()`` twice, with ``_next`` inlined (a client link's
        # jitter, a storm's most common draw): the same steps, no calls
        s = (self._s + 0x9E3779B97F4A7C15) & _MASK
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        u1 = ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0)
        s = self._s = (s + 0x9E3779B97F4A7C15) & _MASK
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        u2 = ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0)
        r = math.sqrt(-2.0 * math.log(1.0 - u1))
        theta = 2.0 * math.pi * u2
        self._g = r * math.sin(theta)
        return mu + r * math.cos(theta) * sigma


class Stream(Draws):
    """A compact deterministic random stream (SplitMix64) for the many
    low-volume streams of clients and their links: 2 slots instead of the
    Mersenne Twister's 2.5 KB of state, so ten thousand clients stay small.
    Seeded like ``random.Random`` by a string, through a stable hash."""

    __slots__ = ("_s", "_g")

    def __init__(self, key: str):
        self._s = stream_seed(key)
        self._g = None


def stable_hash(key: str) -> int:
    """A hash that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(key.encode())


class NodeCrashed(Exception):
    """Raised inside a node's running code when the node crashed under it."""


CRASH = object()  # Interrupt cause used for crashes


class Simulation:
    """A run: environment, seed, random streams, nodes, history, step hooks."""

    def __init__(self, seed: int, history: HistoryWriter | None = None):
        self.env = simpy.Environment()
        self.seed = seed
        self.history = history
        self.nodes: dict[str, Node] = {}
        self.network = None  # set by Network.__init__
        self.step_listeners: list[Callable[[Node, str, dict[str, Any]], None]] = []
        self.phase = "setup"
        self.shared: dict[tuple, Any] = {}  # records many nodes share (``sim.nodes.client.Profile``)
        self._timers: dict[tuple[type, float], Timers] = {}

    def timers(self, delay: float) -> "Timers":
        """The queue of this run's timers of ``delay`` (see ``Timers``): one
        per distinct delay (and its type: ``now + 10`` and ``now + 10.0``
        differ while the clock is an int)."""
        key = (type(delay), delay)
        t = self._timers.get(key)
        if t is None:
            t = self._timers[key] = Timers(self.env, delay)
        return t

    # -- randomness -------------------------------------------------------
    def rng(self, scope: str, light: bool = False) -> random.Random | Stream:
        """The stream of ``scope``: a Mersenne Twister, or a compact ``Stream``
        for low-volume scopes (clients and their links)."""
        key = self.stream_key(scope)
        return Stream(key) if light else random.Random(key)

    def stream_key(self, scope: str) -> str:
        """What the stream of ``scope`` is seeded with."""
        return f"{self.seed}/{scope}"

    # -- recording --------------------------------------------------------
    def record(self, process: str, type: OpType, f: str, value: dict[str, Any]) -> None:
        if self.history is not None:
            self.history.append(self.env.now, process, type, f, value)

    # -- nodes ------------------------------------------------------------
    def add(self, node: "Node") -> "Node":
        if node.name in self.nodes:
            raise WiringError(f"duplicate node name {node.name!r}")
        self.nodes[node.name] = node
        return node

    def node(self, name: str) -> "Node":
        try:
            return self.nodes[name]
        except KeyError:
            raise WiringError(f"no node named {name!r}") from None

    def select(self, patterns: Iterable[str]) -> list["Node"]:
        """Nodes matching names, globs (``client-*``), ``region:NAME`` or
        ``role:NAME``; ``a&b`` is the intersection (``region:eu-west&role:client``)."""
        from fnmatch import fnmatchcase

        def one(pat: str) -> list[Node]:
            if pat.startswith("region:"):
                return [n for n in self.nodes.values() if n.region == pat.split(":", 1)[1]]
            if pat.startswith("role:"):
                return [n for n in self.nodes.values() if n.role == pat.split(":", 1)[1]]
            return [n for n in self.nodes.values() if fnmatchcase(n.name, pat)]

        out: dict[str, Node] = {}
        for pat in patterns:
            parts = pat.split("&")
            names = set.intersection(*({n.name for n in one(p)} for p in parts))
            hits = [self.nodes[n] for n in sorted(names)]
            if not hits:
                raise WiringError(f"fault target {pat!r} matches no node")
            for n in hits:
                out[n.name] = n
        return list(out.values())

    def notify_step(self, node: "Node", step: str, ctx: dict[str, Any]) -> None:
        for listener in self.step_listeners:
            listener(node, step, ctx)

    def start(self) -> None:
        self.phase = "workload"
        for node in self.nodes.values():
            node.boot()

    def run(self, until: float) -> None:
        """``env.run(until=until)``, inlined: SimPy's loop (``Environment.run``
        and ``step``) without a method call and an exception handler per event.

        Identical semantics, so identical order: the stop mark is scheduled as
        ``run`` schedules its ``until`` event (same time expression, URGENT
        priority, the next event id), and events are popped from the same
        queue by the same key until the mark comes out; each event's
        callbacks are taken and run as ``step`` does, and a failed event no
        process defused crashes the run with a copy of its exception, as in
        ``step``. The hot loop of every run (tens of thousands of events for
        a small one, tens of millions for a storm), so it is kept flat."""
        env = self.env
        at = until if isinstance(until, int) else float(until)
        if at <= env._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = _STOP
        queue = env._queue
        heappush(queue, (env._now + (at - env._now), URGENT, next(env._eid), stop))
        pop = heappop
        while True:
            try:
                now, _, _, event = pop(queue)
            except IndexError:  # unreachable: the stop mark is in the queue
                raise RuntimeError(f"no events left before {at}") from None
            env._now = now
            if event is stop:
                return
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc


def at_timeout_key(env: simpy.Environment, delay: float, event: Any) -> None:
    """Queue ``event`` (triggered and ok, its ``callbacks`` set) with the key
    a ``Timeout(env, delay)`` made here and now would get — (``env._now +
    delay``, the same expression; NORMAL; the next event id) — so it pops
    exactly where that Timeout would have (a delay of 0: where an event
    ``succeed``ed now would). The one place that key is written for the
    slotted stand-ins that replace a Timeout and its callback."""
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), event))


def fire(env: simpy.Environment, event: simpy.Event, value: Any = None) -> None:
    """``event.succeed(value)``, its callbacks run at once when it would be
    the very next event processed. Only for the tail of an event's only
    callback (nothing of the caller runs after it).

    Why the order is the same: ``succeed`` schedules it at (now, NORMAL, a
    new id); with nothing queued at ``now`` (the head of the queue is later)
    it pops next, and nothing runs in between. Running its callbacks here is
    what ``Simulation.run`` would do next, minus a push and a pop; otherwise
    it is scheduled as ``succeed`` does."""
    q = env._queue
    if q and q[0][0] <= env._now:
        event.succeed(value)
        return
    if event._value is not PENDING:
        raise RuntimeError(f"{event} has already been triggered")
    event._ok = True
    event._value = value
    active = env._active_proc  # None from an event's callback; kept whatever it is
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)
    env._active_proc = active


class Timers:
    """Timers of one fixed ``delay`` (HTTP timeouts, the welcome wait), kept
    in creation order with a single entry on SimPy's queue: the head's.

    Each timer keeps the exact queue key a ``Timeout(env, delay)`` made at
    the same moment would have had: its time (``env._now + delay``, the same
    expression) and an event id drawn with ``next(env._eid)`` right where
    the Timeout would have drawn it (priority: NORMAL). Timers of one delay
    fall due in creation order — ``now`` never decreases, float addition is
    monotone and ids only grow — so their keys are in creation order too.
    Only the earliest is pushed; when it pops, the next one's saved key is
    pushed *before* its function runs (so that while any code runs the
    queue holds the earliest pending timer, as it held all of them). Hence
    every timer runs at its own key, exactly where its Timeout would have.

    ``cancel`` forgets a timer at once (an answered request's timeout): its
    bytes go now instead of when it would have expired. Its Timeout would
    still have popped, as an event with no callback; leaving that event out
    changes nothing observable: no callback runs, the stop mark of
    ``Simulation.run`` is a key of its own, and the queue's head — read by
    ``fire`` and ``Node.spawn_now`` — changes only when such dead entries
    were all that was due at ``now``. ``spawn_now`` then sees the same
    answer (it asks for an URGENT head at ``now``, and an URGENT event at
    ``now`` would sort before a NORMAL dead entry anyway). ``fire`` runs the
    callbacks at once instead of scheduling the event behind the dead
    entries: but those would have popped with no effect right before it,
    and ``fire`` is the last act of an event's only callback, so the same
    callbacks run at the same time with nothing in between. (The event id
    ``succeed`` would have drawn is not drawn: later ids are one lower, in
    the same order.)

    A dict of ~1 KB per client's worth of dead ``Timeout``s (or slotted
    arrivals) at a storm's probe becomes nothing: only pending timers are
    held, one ``OrderedDict`` entry each."""

    __slots__ = ("env", "delay", "due", "armed", "high", "callbacks")
    _ok = True  # read by SimPy's loop

    def __init__(self, env: simpy.Environment, delay: float):
        self.env = env
        self.delay = delay
        self.due: OrderedDict[int, tuple] = OrderedDict()  # event id -> (time, func, arg), in key order
        self.armed: int | None = None  # the id of the entry whose key is on the queue
        self.high = 0  # the most entries held since the last compaction
        self.callbacks = None  # set on each push (SimPy's loop takes and drops it)

    def add(self, func: Callable[[Any], None], arg: Any) -> int:
        """Call ``func(arg)`` after ``delay``, as a callback of a
        ``Timeout(env, delay)`` made now would run; returns its handle."""
        env = self.env
        t = env._now + self.delay
        eid = next(env._eid)
        due = self.due
        due[eid] = (t, func, arg)
        if len(due) > self.high:
            self.high = len(due)
        if self.armed is None:
            self._push(t, eid)
        return eid

    def timeout(self) -> tuple[simpy.Event, int]:
        """A stand-in for ``env.timeout(delay)`` to wait on (in a condition):
        an event in a Timeout's state (triggered, ok, value None) that is
        processed — its callbacks run as SimPy's loop runs them — when its
        timer falls due; and the handle to ``cancel`` it with once the wait
        is over (a Timeout nobody waits on any more pops with no callback)."""
        ev = simpy.Event(self.env)
        ev._ok = True
        ev._value = None
        return ev, self.add(_process, ev)

    def cancel(self, handle: int) -> None:
        """Forget a timer (fired or not)."""
        due = self.due
        if due.pop(handle, None) is not None and len(due) * 4 < self.high > 64:
            self._compact()

    def _compact(self) -> None:
        # A dict never shrinks as it empties: after a storm's boot wave (a
        # timeout per client in flight) its table alone was ~120 bytes per
        # client. A copy is sized for what is left; order is kept.
        self.due = OrderedDict(self.due)
        self.high = len(self.due)

    def _push(self, t: float, eid: int) -> None:
        self.armed = eid
        self.callbacks = TIMERS_CBS
        heappush(self.env._queue, (t, NORMAL, eid, self))

    def _fire(self, _event=None) -> None:
        due = self.due
        entry = due.pop(self.armed, None)  # None: cancelled meanwhile
        if len(due) * 4 < self.high > 64:
            self._compact()
            due = self.due
        if due:
            eid = next(iter(due))
            self._push(due[eid][0], eid)
        else:
            self.armed = None
        if entry is not None:
            entry[1](entry[2])


TIMERS_CBS = [Timers._fire]


def _process(event: simpy.Event) -> None:
    """What ``Simulation.run`` does with an event it pops (a triggered, ok one)."""
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)


class Later:
    """A request handler's answer that is not ready yet: answer
    ``then(node, req)`` (a result, or another ``Later``) once ``event`` has
    fired — unless the node crashed meanwhile, as an interrupted process
    would never have answered. A plain-function handler that returns one is
    served without a process (``Network._serve_now``): a long poll parked at
    a broker is one callback on its park event, not a process, its start
    event, its generator frames and its end event. In a process (a paused
    node's held request, ``dispatch``) it is a ``yield event``."""

    __slots__ = ("event", "then")

    def __init__(self, event: simpy.Event, then: Callable[["Node", Any], Any]):
        self.event = event
        self.then = then


class _Started:
    """Stands for a process's Initialize event once processed."""

    __slots__ = ()
    _ok = True
    _value = None


_STARTED = _Started()
_new_process = object.__new__


class _Stop:
    """The mark ``Simulation.run`` stops at (never given callbacks)."""

    __slots__ = ()


_STOP = _Stop()


class Wake:
    """A node's timer or continuation without a process: ``func(node)`` runs
    when it fires, unless the node crashed since it was set (the incarnation
    changed), as an interrupted process would not resume.

    Used two ways. As a timer (``Node.wake_after``) it is its own SimPy event,
    pushed on the queue with the key ``Timeout(env, delay)`` would get (time,
    priority, event id), so it fires in the same order a sleeping process
    would wake; then, like ``Node.sleep``, it waits in 50 ms steps while the
    node is paused. As a callback (``event.callbacks.append(Wake(...))``) it
    runs where a process waiting on that event would resume.

    Why: an idle client parked in a generator costs a ``Process``, its guard
    frame, its own frames, a ``Timeout`` with a ``__dict__`` and a bound
    method — about a kilobyte; a ``Wake`` is one small slotted object."""

    __slots__ = ("callbacks", "node", "inc", "func")
    _ok = True  # read by SimPy's loop, never written: a class attribute, not a slot

    def __init__(self, node: "Node", func: Callable[["Node"], None]):
        self.callbacks = WAKE_CBS  # read (and dropped) by SimPy's loop, never mutated
        self.node = node
        self.inc = node.incarnation
        self.func = func

    def __call__(self, _event=None) -> None:
        # ``_event is None``: a timer (its own event: SimPy calls Wake.__call__(it))
        woken(self.node, self.inc, self.func, _event is None)


WAKE_CBS = [Wake.__call__]


def woken(node: "Node", inc: int, func: Callable[["Node"], None], timer: bool) -> None:
    """Run ``func(node)`` for a wake-up set in incarnation ``inc``: nothing
    if the node crashed since; a ``timer`` of a paused node tries again in
    50 ms (a paused node makes no progress); a crash inside ``func`` of an
    older incarnation is not this one's. What a ``Wake`` does, and anything
    that is its own wake-up (a client as its workload timer)."""
    if node.incarnation != inc:
        return
    if timer and node.paused:
        node.wake_after(0.05, func)
        return
    try:
        func(node)
    except NodeCrashed:
        if node.incarnation == inc:
            raise


class Node:
    """A simulated process on a host in a region.

    Subclasses set ``role``, override ``reset_volatile`` (build volatile
    state), ``start`` (spawn processes; runs at boot and on every restart)
    and the message hooks ``on_message``, ``on_request``, ``on_accept``,
    ``on_closed``. ``durable`` is the only state that survives ``crash``.
    """

    role = "node"
    light_rng = False  # many low-traffic nodes (clients) use compact random streams
    # Slots, not a per-instance dict: a node's dict is ~1.5 KB once its
    # attributes are set, and there is one node per simulated client. A
    # subclass without ``__slots__`` simply gets a dict back.
    __slots__ = ("sim", "env", "name", "region", "up", "host_down", "paused", "incarnation", "skew",
                 "durable", "_procs", "_held")

    def __init__(self, sim: Simulation, name: str, region: str):
        self.sim = sim
        self.env = sim.env
        self.name = name
        self.region = region
        self.up = True
        self.host_down = False  # crashed silently: nothing answers, not even a reset
        self.paused = False
        self.incarnation = 0
        self.skew = 0.0
        self.durable: dict[str, Any] = {}
        # insertion-ordered (a dict, not a set): crash interrupts them in a
        # deterministic order, whatever the objects' addresses. None while the
        # node runs no process (most clients, most of the time): an emptied
        # dict keeps its table.
        self._procs: dict[simpy.Process, None] | None = None
        self._held: list[Callable[[], None]] | None = None  # work that arrived while paused
        sim.add(self)

    # -- life cycle -------------------------------------------------------
    def boot(self) -> None:
        self.reset_volatile()
        self.start()

    def reset_volatile(self) -> None:
        """Rebuild every piece of volatile state (override, call super)."""

    def start(self) -> None:
        """Spawn the node's background processes (override)."""

    def crash(self, silent: bool = False) -> None:
        """Lose volatile state, stop every process, break every connection.

        ``silent``: the host vanished, so peers only notice at keepalive
        (otherwise the kernel resets the connections and peers learn at once).
        """
        if not self.up:
            return
        self.up = False
        self.host_down = silent
        self.paused = False
        self._held = None
        self.incarnation += 1
        active = self.env.active_process
        for proc in list(self._procs or ()):
            if proc.is_alive and proc is not active:
                proc.interrupt(CRASH)
        self._procs = None
        if self.sim.network is not None:
            self.sim.network.node_crashed(self, silent)
        self.reset_volatile()

    def restart(self) -> None:
        if self.up:
            return
        self.up = True
        self.host_down = False
        self.boot()

    def pause(self) -> None:
        """Hang: state kept, nothing processed until ``resume``."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        held, self._held = self._held or (), None
        for work in held:
            if not self.up or self.paused:
                break
            work()

    def run_or_hold(self, work: Callable[[], None]) -> None:
        """Run ``work`` now, or when the node resumes if it is paused."""
        if self.paused:
            if self._held is None:
                self._held = []
            self._held.append(work)
        else:
            work()

    # -- time -------------------------------------------------------------
    def clock(self) -> float:
        """The node's local clock: simulated time plus its skew."""
        return self.env.now + self.skew

    # -- processes --------------------------------------------------------
    def spawn(self, gen: Generator) -> simpy.Process:
        """Run ``gen`` as one of this node's processes; a crash ends it quietly."""
        proc = self.env.process(self._guard(gen, self.incarnation))
        self._track(proc)
        proc.callbacks.append(self._procs_discard)
        return proc

    def _track(self, proc: simpy.Process) -> None:
        """Count ``proc`` among the processes a crash interrupts."""
        if self._procs is None:
            self._procs = {}
        self._procs[proc] = None

    def spawn_now(self, gen: Generator) -> simpy.Process:
        """``spawn(gen)``, its first step run here and now instead of at its
        start event; for the tail of an event's only callback (the network's
        request serving), where that start event would be the very next one.

        Why the order is the same: ``spawn`` schedules ``Initialize`` at
        (now, URGENT, a new id), and ids only grow, so it pops before
        everything queued except an URGENT event already due now — in which
        case this falls back to ``spawn`` — and nothing runs between the
        caller's last act and it. Running its body here runs the same code at
        the same point of the order, minus one event that does nothing else."""
        env = self.env
        q = env._queue
        if q and q[0][0] == env._now and q[0][1] == URGENT:
            return self.spawn(gen)
        # Process.__init__ without its Initialize (SimPy inlines Event.__init__ likewise)
        proc = _new_process(simpy.Process)
        proc.env = env
        proc.callbacks = [self._procs_discard]
        proc._generator = self._guard(gen, self.incarnation)
        proc._target = None
        self._track(proc)
        active = env._active_proc  # None from an event's callback; kept whatever it is
        proc._resume(_STARTED)  # what Initialize's callback does
        env._active_proc = active
        return proc

    def _procs_discard(self, event: simpy.Event) -> None:
        procs = self._procs
        if procs is not None:
            procs.pop(event, None)
            if not procs:
                self._procs = None
            elif len(procs) < 8 and getsizeof(procs) > 1024:
                # a dict never shrinks: a Flannel host that served a storm's
                # boots at once kept a 36 KB table for its one process left
                self._procs = dict(procs)  # same order

    def _guard(self, gen: Generator, inc: int) -> Generator:
        # ``inc`` is the incarnation that spawned it: a process spawned just
        # before its node crashed belongs to the dead incarnation
        try:
            return (yield from gen)
        except simpy.Interrupt as i:
            if i.cause is CRASH:
                return None
            raise
        except NodeCrashed:
            if self.incarnation != inc:
                return None
            raise

    def wake_after(self, delay: float, func: Callable[["Node"], None]) -> None:
        """Call ``func(self)`` after ``delay`` (then after any pause), as a
        process sleeping ``delay`` would resume; never if the node crashed
        meanwhile. See ``Wake``."""
        at_timeout_key(self.env, delay, Wake(self, func))

    def sleep(self, delay: float) -> Generator:
        """Sleep, then wait while paused (a paused node makes no progress)."""
        yield self.env.timeout(delay)
        while self.paused:
            yield self.env.timeout(0.05)

    def step(self, name: str, **ctx: Any) -> None:
        """Mark a named protocol step; the nemesis may crash the node here.

        A step taken for a message (``msg`` in ``ctx``) is recorded as an
        ``event`` op ``step`` ({step, msg}) before the nemesis hears of it, so
        a message's path — and where it stopped — can be read off the history."""
        inc = self.incarnation
        msg = ctx.get("msg")
        if msg is not None:
            self.sim.record(self.name, "event", "step", {"step": name, "msg": msg})
        self.sim.notify_step(self, name, ctx)
        if self.incarnation != inc or not self.up:
            raise NodeCrashed(f"{self.name} crashed at step {name}")

    # -- network hooks (override) ----------------------------------------
    def on_message(self, conn, msg) -> None:
        """A message arrived on ``conn`` (a stream) or as a datagram (conn None)."""

    def on_accept(self, conn) -> bool:
        """A peer opened a stream to us; return False to refuse it."""
        return True

    def on_closed(self, conn, reason: str) -> None:
        """A stream we hold broke or was closed (reason: reset, timeout, closed)."""

    # Request kind → handler ``(self, req) -> (status, payload, size)``, a
    # plain function or a generator that waits on other nodes. One table per
    # node class: the protocol a role speaks, read in one place (STYLE 5).
    HANDLERS: dict[str, Callable] = {}

    # ``service_time() -> seconds`` every request waits before its handler
    # runs (a Redis command, a DB query), drawn as the request arrives; None:
    # no wait. Served as a ``Later`` on a timeout, not a process.
    service_time: Callable[[], float] | None = None

    def on_request(self, req) -> Generator:
        """Handle an HTTP request; return ``(status, payload, size)``. The
        default waits ``service_time()`` if the node has one, then serves it
        from ``HANDLERS``; nodes that spend time before any handler in other
        ways (a worker pool) override this and then call ``dispatch``."""
        if self.service_time is not None:
            yield self.env.timeout(self.service_time())
        return (yield from self.dispatch(req))

    def dispatch(self, req) -> Generator:
        """Serve ``req`` from the class's handler table (``from_table``),
        waiting on what it waits on."""
        result = self.from_table(req)
        if type(result) is GeneratorType:  # not typing's ABC check: ~1 µs each
            result = yield from result
        while type(result) is Later:
            yield result.event
            result = result.then(self, req)
            if type(result) is GeneratorType:
                result = yield from result
        return result

    def from_table(self, req):
        """Call ``req``'s handler from ``HANDLERS``: a result, a generator
        or a ``Later``; a kind the table lacks is answered ``unknown_method``."""
        if not self.HANDLERS:
            raise WiringError(f"{self.name} ({self.role}) serves no HTTP requests")
        handler = self.HANDLERS.get(req.kind)
        if handler is None:
            return "error", {"ok": False, "error": "unknown_method"}, 40
        return handler(self, req)

    def __repr__(self) -> str:
        return f"<{self.role} {self.name}@{self.region}{'' if self.up else ' DOWN'}>"


def start_soon(node: Node, func: Callable[[Node], None]) -> None:
    """Call ``func(node)`` where a process spawned here and now would take
    its first step — the loop of a node that ``start`` used to ``spawn``,
    run as callbacks (``Wake``s) instead of a process.

    Why the order is the same: ``spawn`` schedules the process's
    ``Initialize`` at (now, URGENT, the next event id) and its first step
    runs when that pops; this pushes a ``Wake`` with that very key. Like the
    process's first step it runs even if the node is paused (the ``Wake``
    is called with itself as the event, i.e. as a callback, not as a timer),
    and not at all if the node crashed since (its incarnation changed)."""
    wake = Wake(node, func)
    wake.callbacks = _START_CBS
    env = node.env
    heappush(env._queue, (env._now + 0, URGENT, next(env._eid), wake))


_START_CBS = [lambda wake: wake(wake)]  # shared, read (never mutated) by the run loop
