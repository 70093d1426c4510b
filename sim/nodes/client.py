"""Clients: the people typing. They send, display, reconnect and finally read.

``Client`` holds what both architectures share: the workload (Poisson sends
over the client's channels while the workload phase lasts), the bookkeeping
of each send from invoke to ok / fail / info, the session loop (boot → open
the WebSocket(s) → usable → wait for a break → back off with full jitter →
again), display of live messages, and the final reads through the web app's
history API. Subclasses supply ``do_boot``, ``open_streams`` and
``transmit``.

The client records; it never judges. Every send is an ``invoke`` followed by
exactly one ``ok`` (acked), ``fail`` (definitely not applied) or ``info``
(outcome unknown: recorded at the end for sends still in doubt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from heapq import heappush
from operator import attrgetter
from types import MappingProxyType

from simpy.events import URGENT

from ..config import ClientSettings, Workload
from ..kernel import Draws, Node, Wake, at_timeout_key, stream_seed, woken
from .protocol import ApiError, Chat, Hello, Post
from .team import DirEvent, Snapshot, apply

RESYNC_AFTER = 3.0  # a directory gap older than this is repaired from a fresh snapshot
NO_ERRORS: Mapping[str, ApiError] = MappingProxyType({})
# Per-client state that stays empty for most clients (the directory, its
# pending events, a new client's display cursors) is this shared read-only
# mapping until the first write replaces it with a dict of the client's own:
# an empty dict is 64 bytes, and a connected client had seven of them.
EMPTY: Mapping = MappingProxyType({})
ARMED = "armed"  # ``_broken`` of a usable client: no break yet (a break stores its reason there)
_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {}  # equal web-app tuples, one object


@dataclass(frozen=True, slots=True)
class Profile:
    """What a group of clients shares: kind, settings, workload, error table,
    web tier, and the kind's access loss, latency, bandwidth and parse rate.
    One record per distinct group in a run (``Simulation.shared``), read by
    the clients through properties: nine slots per client become one."""

    kind: str
    s: ClientSettings
    w: Workload
    errors: Mapping[str, ApiError]
    webapps: tuple[str, ...]
    access_loss: float
    access_latency: float
    parse_rate: float
    bandwidth: float

    @classmethod
    def of(cls, sim, kind: str, s: ClientSettings, w: Workload, errors: Mapping[str, ApiError],
           webapps: tuple[str, ...]) -> "Profile":
        # keyed by identity (settings are unhashable models); the run's
        # record keeps them alive, so an id cannot be reused meanwhile
        key = (cls, kind, id(s), id(w), id(errors), webapps)
        p = sim.shared.get(key)
        if p is None:
            mobile = kind == "mobile"
            # a desktop client has no access loss or latency: 0.0, what the
            # network read for a client without the attribute
            p = sim.shared[key] = cls(kind, s, w, errors, webapps,
                                      s.mobile_loss if mobile else 0.0, s.mobile_latency if mobile else 0.0,
                                      s.parse_mobile if mobile else s.parse_desktop,
                                      s.bandwidth_mobile if mobile else s.bandwidth_desktop)
        return p


def _profile(name: str) -> property:
    def set_(client: "Client", value) -> None:  # this client alone gets a changed copy (tests)
        client.profile = replace(client.profile, **{name: value})

    return property(attrgetter(f"profile.{name}"), set_, doc=f"``Profile.{name}`` of the client's group")


@dataclass(slots=True)
class Pending:
    post: Post
    attempts: int = 0
    maybe_applied: bool = False  # some attempt's outcome is unknown


class Client(Node, Draws):
    role = "client"
    light_rng = True
    __slots__ = ("profile", "channels", "dir_channels", "_rng", "_s", "_g", "pending", "usable",
                 "_first_usable", "dir_version", "directory", "dir_pending", "resyncing", "_broken", "sent",
                 "links", "callbacks", "_due_inc")
    _ok = True  # as a SimPy event (its own workload timer: ``workload_after``)
    kind, s, w, errors, webapps, access_loss, access_latency, parse_rate, bandwidth = (
        _profile(n) for n in Profile.__slots__)

    def __init__(self, sim, name: str, region: str, *, kind: str, channels: list[str], settings: ClientSettings,
                 workload: Workload, webapp: str | list[str], directory: list[str] = (),
                 errors: dict[str, ApiError] | None = None):
        super().__init__(sim, name, region)
        self.durable = EMPTY  # a client keeps no durable state but its counter (below): no 64-byte dict
        chans = tuple(sorted(channels))
        # a sorted tuple given (``make_clients`` shares one per membership) is kept, not copied
        self.channels = channels if chans == channels else chans
        self.dir_channels = tuple(directory)  # () is shared: most clients change no directory
        webapps = (webapp,) if isinstance(webapp, str) else tuple(webapp)
        # errors: the architecture's API error table (definite or unknown)
        self.profile = Profile.of(sim, kind, settings, workload, errors or NO_ERRORS,
                                  _SHARED.setdefault(webapps, webapps))  # one tuple for all the clients of a web tier
        # message counter: ids are never reused, even after a crash. Durable
        # state in a slot (reset_volatile leaves it alone), not in ``durable``:
        # a dict holding one counter is 224 bytes per client.
        self.sent = 0
        self.links = ()  # the network's links to and from this client (``light_rng``: see ``sim.network.Link``)
        self._rng = None  # made on first use: an idle client may never draw from it
        self.callbacks = None  # queued as its workload timer while not None (``workload_after``)
        self._due_inc = 0
        # the workload stream (``wrng``) is the client itself, as a link is
        # its own stream: its state in two slots, not a 48-byte object
        self._s = stream_seed(sim.stream_key(f"node/{name}/workload"))  # as sim.rng(..., light=True) seeds it
        self._g = None

    @property
    def wrng(self) -> Draws:
        """The workload's stream: the client itself (``Draws`` over its slots)."""
        return self

    @property
    def rng(self):
        """The client's stream (backoff jitter, load-balancer choices), made
        the first time it is needed: seeded by its name alone, so its draws
        are the same whenever that is; ~90 bytes a client that never draws
        from it (an idle one) does not hold."""
        r = self._rng
        if r is None:
            r = self._rng = self.sim.rng(f"node/{self.name}/client", light=True)
        return r

    def reset_volatile(self):
        self.pending: Mapping[str, Pending] = EMPTY  # a dict of its own from the first send
        self.usable = False
        self._first_usable = self.env.event()
        self.dir_version = -1  # no snapshot yet
        self.directory: Mapping[str, set[str]] = EMPTY  # a dict of its own once an event is applied
        self.dir_pending: Mapping[int, DirEvent] = EMPTY
        self.resyncing = False
        self._broken = None

    def start(self):
        self.spawn(self.session())
        if self.channels:
            # the workload is a chain of timers, not a process: see workload_step
            self._first_usable.callbacks.append(Wake(self, Client.workload_loop))

    # -- workload ---------------------------------------------------------------
    # Poisson sends from the first moment the client is usable. Later sends are
    # made whether or not the client is connected (the person types; the client
    # queues or posts), so both architectures see the same sequence of sends
    # from the same seed.
    #
    # Written as timers (``wake_after``) rather than a generator process: an
    # idle client would otherwise hold a parked process for the whole run. The
    # timers are scheduled exactly where the process's ``sleep`` would have
    # scheduled its timeouts, so every event keeps its place in the order.
    def workload_loop(self) -> None:
        """Loop head: sleep an exponential gap while the workload lasts."""
        if self.sim.phase == "workload":
            self.workload_after(self.wrng.expovariate(self.w.rate))

    def workload_after(self, delay: float) -> None:
        """``wake_after(delay, Client.workload_step)`` with the client itself
        as the timer: the client is pushed on SimPy's queue with the key the
        ``Wake`` would get (same time expression, NORMAL, the next id), so
        the step runs at the same point of the order, and ``workload_due``
        does what ``Wake.__call__`` does for a timer (nothing if the client
        crashed since, 50 ms steps while paused). An idle client is asleep
        here for most of a run: this saves the ``Wake`` (64 bytes) for two
        slots. A client already queued (a timer set before a crash and
        restart is still due) gets a ``Wake`` as before — SimPy's loop
        drops an event's callbacks when it pops it, so one object can be
        on the queue only once."""
        if self.callbacks is not None:
            self.wake_after(delay, Client.workload_step)
            return
        self.callbacks = _DUE_CBS
        self._due_inc = self.incarnation
        at_timeout_key(self.env, delay, self)

    def workload_due(self, _event=None) -> None:
        """The workload timer fired: what a ``Wake`` timer does (``kernel.woken``)."""
        woken(self, self._due_inc, Client.workload_step, True)

    def workload_step(self) -> None:
        """One send (and the typing, presence and directory draws), then loop."""
        rate = self.w.rate
        if self.sim.phase != "workload" or not self.up:
            return
        self.new_send()
        if self.dir_channels:
            change, where_d = self.wrng.random(), self.wrng.choice(self.dir_channels)
            if change < self.w.directory_rate / rate:
                self.change_directory(where_d)
        # draws are unconditional so that connection state never shifts the stream
        typing, presence, where = self.wrng.random(), self.wrng.random(), self.wrng.choice(self.channels)
        if self.usable and typing < self.w.typing_rate / rate:
            self.ephemeral("typing", where)
        if self.usable and presence < self.w.presence_rate / rate:
            self.ephemeral("presence", None)
        self.workload_loop()

    def new_send(self) -> None:
        k = self.sent = self.sent + 1
        msg = f"{self.name}:{k}"
        ch = self.wrng.choice(self.channels)
        text = f"{msg} " + "x" * max(0, self.w.text_bytes - len(msg) - 1)
        post = Post(ch, msg, text, self.name)
        self.sim.record(self.name, "invoke", "send", {"channel": ch, "msg": msg, "text": text})
        if self.pending is EMPTY:
            self.pending = {}
        p = self.pending[msg] = Pending(post)
        self.transmit(p)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        """Presence and typing: best effort, counted in load, never recorded."""

    # -- the team directory ------------------------------------------------------
    def change_directory(self, channel: str) -> None:
        """Join or leave a directory channel (as this client believes it stands)."""
        op = "leave" if self.name in self.directory.get(channel, ()) else "join"
        target = self.webapps[self.rng.randrange(len(self.webapps))]
        self.sim.network.request(self, target, "directory.change", {"op": op, "channel": channel, "user": self.name},
                                 size=100, timeout=5.0)

    def load_snapshot(self, snap: Snapshot | None) -> None:
        if snap is None or snap.version < self.dir_version:
            return
        self.directory = snap.as_dict() if snap.channels else EMPTY
        self.dir_version = snap.version
        self.dir_pending = {v: e for v, e in self.dir_pending.items() if v > snap.version} or EMPTY
        self.apply_pending()

    def on_directory_event(self, ev: DirEvent) -> None:
        if ev.version <= self.dir_version:
            return
        if self.dir_pending is EMPTY:
            self.dir_pending = {}
        self.dir_pending[ev.version] = ev
        self.apply_pending()
        if self.dir_pending and self.dir_version >= 0 and not self.resyncing:
            self.resyncing = True
            self.spawn(self.resync())

    def apply_pending(self) -> None:
        if self.dir_version < 0:
            return
        while self.dir_version + 1 in self.dir_pending:
            ev = self.dir_pending.pop(self.dir_version + 1)
            if self.directory is EMPTY:
                self.directory = {}
            apply(self.directory, ev)
            self.dir_version = ev.version

    def resync(self):
        """A gap that does not fill: fetch a fresh snapshot."""
        yield from self.sleep(RESYNC_AFTER)
        if self.dir_pending and min(self.dir_pending) > self.dir_version + 1:
            reply = yield from self.fetch_directory()
            if reply is not None and reply.status == "ok":
                self.load_snapshot(reply.payload["snapshot"])
        self.resyncing = False
        if self.dir_pending:
            self.resyncing = True
            self.spawn(self.resync())

    def fetch_directory(self):
        reply = yield self.sim.network.request(self, self.webapps[self.rng.randrange(len(self.webapps))],
                                               "directory.get", {}, size=80, timeout=self.s.http_timeout)
        return reply

    def record_directory(self) -> None:
        if self.dir_channels:
            self.sim.record(self.name, "event", "directory",
                            {"version": self.dir_version,
                             "channels": {ch: sorted(ms) for ch, ms in sorted(self.directory.items())}})

    # -- outcomes ------------------------------------------------------------------
    def acked(self, channel: str, msg: str, ts: str) -> None:
        if self.pending.pop(msg, None) is not None:
            self.sim.record(self.name, "ok", "send", {"channel": channel, "msg": msg, "ts": ts})

    def failed(self, msg: str, error: str) -> None:
        p = self.pending.pop(msg, None)
        if p is not None:
            ch = p.post.channel
            if p.maybe_applied:  # an earlier attempt may have taken effect
                self.sim.record(self.name, "info", "send", {"channel": ch, "msg": msg, "error": error})
            else:
                self.sim.record(self.name, "fail", "send", {"channel": ch, "msg": msg, "error": error})

    def finish(self) -> None:
        """End of run: every send still in doubt is recorded as unknown."""
        for msg, p in sorted(self.pending.items()):
            self.sim.record(self.name, "info", "send",
                            {"channel": p.post.channel, "msg": msg, "error": "indeterminate"})
        self.pending = EMPTY

    # -- display --------------------------------------------------------------------
    def display(self, chat: Chat) -> None:
        self.sim.record(self.name, "event", "deliver",
                        {"channel": chat.channel, "msg": chat.msg, "text": chat.text, "ts": chat.ts})

    # -- session ----------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        ceiling = min(self.s.backoff_cap, self.s.backoff_base * (2 ** attempt))
        return self.rng.uniform(0, ceiling) if self.s.jitter else ceiling

    def session(self, attempt: int = 0):
        """Boot, open the streams, become usable; on failure back off and
        retry. Once usable the process ends: ``_broken`` is ``ARMED``, and
        the break (``stream_broke``) schedules ``disconnected`` rather than
        waking a parked process; a fresh session process starts after the
        backoff."""
        while True:
            if self.sim.phase == "done":
                return
            ok = yield from self.do_boot()
            if ok:
                ok = yield from self.open_streams()
            if not ok:
                yield from self.sleep(self.backoff(attempt))
                attempt += 1
                continue
            self._broken = ARMED
            self.usable = True
            if self._first_usable is not None:  # the workload waits for it
                first, self._first_usable = self._first_usable, None
                first.succeed()
            self.sim.record(self.name, "event", "connect", {})
            self.on_usable()
            return

    def disconnected(self) -> None:
        """The break, where the parked session would have resumed: back off
        (attempt 0), then a new session with attempt 1. The new process's
        first step runs right after the backoff timer, as the old loop did:
        its start event is due at once with SimPy's urgent priority, and
        nothing else can be due before it."""
        self.usable = False
        self.sim.record(self.name, "event", "disconnect", {"reason": self._broken})
        self.on_unusable()
        self.wake_after(self.backoff(0), Client.reconnect)

    def reconnect(self) -> None:
        self.spawn(self.session(1))

    def stream_broke(self, reason: str) -> None:
        """The first break of a usable session: ``disconnected`` runs where a
        ``_broken`` event's callback would. That event (its ``Wake``
        callback, its callbacks list: ~250 bytes per connected client) is
        not kept; ``_broken`` holds ``ARMED``, then the reason. Same order:
        ``event.succeed()`` would push (now, NORMAL, next id) and its
        callback would run when that entry is popped; ``wake_after(0, …)``
        pushes a ``Wake`` with that very key (creating an event draws no
        id), and the ``Wake`` carries the incarnation the callback's would
        have had (a crash in between resets ``_broken``, so no break of an
        older incarnation gets here). Later breaks are ignored, as a
        triggered event's were."""
        if self._broken is ARMED:
            self._broken = reason
            self.wake_after(0, Client.disconnected)

    def rtm_boot(self, method: str, target: str):
        """Fetch a boot payload over HTTP, download and parse it; True when usable.

        The request's timeout covers the server's answer; the download then
        takes bytes / bandwidth and parsing bytes / parse rate (per client kind)."""
        t0 = self.env.now
        reply = yield self.sim.network.request(self, target, method, {"user": self.name},
                                               size=300, timeout=self.s.http_timeout)
        if reply.status != "ok":
            if reply.status == "error" and reply.payload.get("error") == "ratelimited":
                yield from self.sleep(reply.payload.get("retry_after", 1.0) * self.rng.uniform(0.5, 1.5))
            return False
        nbytes = reply.payload["bytes"]
        yield from self.sleep(nbytes / self.bandwidth + nbytes / self.parse_rate)
        self.load_snapshot(reply.payload.get("snapshot"))
        self.sim.record(self.name, "event", "boot",
                        {"method": method, "bytes": nbytes, "seconds": round(self.env.now - t0, 6)})
        return True

    def within_http_timeout(self, event):
        """``yield event | env.timeout(http_timeout)`` (a welcome's wait), the
        timeout a ``Timers`` entry that is forgotten once the wait is over: a
        Timeout would stay queued, and held, for the rest of its delay."""
        timers = self.sim.timers(self.s.http_timeout)
        timeout, handle = timers.timeout()
        yield event | timeout
        timers.cancel(handle)

    def hello(self, conn) -> None:
        conn.send(self, "hello", Hello(self.name, tuple(self.channels), self.dir_version), 100)

    # -- final reads --------------------------------------------------------------------
    def final_reads(self):
        """The last act of a run: read every channel, one after another. Run
        as ``FinalReads`` (no process) unless a subclass overrides this."""
        self.record_directory()
        for ch in self.channels:
            self.final_read_done(ch, (yield self.final_read(ch)))

    def final_read(self, ch: str):
        """One final read's invoke and its request (to a web app the load
        balancer picks): the request's event, whose value ``final_read_done`` takes."""
        self.sim.record(self.name, "invoke", "read", {"channel": ch})
        target = self.webapps[self.rng.randrange(len(self.webapps))]
        return self.sim.network.request(self, target, "conversations.history", {"channel": ch, "user": self.name},
                                        size=120, timeout=self.s.read_timeout)

    def final_read_done(self, ch: str, reply) -> None:
        """Record how a final read of ``ch`` ended."""
        if reply.status == "ok":
            self.sim.record(self.name, "ok", "read", {"channel": ch, "msgs": reply.payload["msgs"]})
        else:
            err = reply.payload.get("error") if reply.payload else reply.status
            self.sim.record(self.name, "fail", "read", {"channel": ch, "error": err})

    # -- subclass hooks -------------------------------------------------------------------
    def do_boot(self):
        raise NotImplementedError
        yield  # pragma: no cover

    def open_streams(self):
        raise NotImplementedError
        yield  # pragma: no cover

    def transmit(self, p: Pending) -> None:
        raise NotImplementedError

    def on_usable(self) -> None:
        pass

    def on_unusable(self) -> None:
        pass


class FinalReads:
    """``Client.final_reads`` without a process: every client reads at once
    when the run ends, and at 100k clients a process each (its ``Process``,
    ``Initialize``, guard and generator frames: ~0.7 KB) was a tenth of the
    run's peak memory. Its own start event, then a callback on each reply.

    Why the order is the same. ``spawn`` queued ``Initialize`` at (now,
    URGENT, the next event id); this object is queued with that key and, when
    popped, runs what the generator's first step ran (the directory record,
    the first read's invoke, the web app drawn, the request). Where the
    generator yielded the request's event, the process appended its
    ``_resume`` to the event's callbacks; this appends itself at the same
    point, and runs the next step where ``_resume`` did. The process's end
    (its completion event) drew one more event id and ran nothing: ids only
    order events drawn after it, among which the order is unchanged. A crash
    interrupted the process; here each step first checks the incarnation it
    began in (``Wake``'s rule). Pauses never held a final read back (a
    callback resumes a process paused or not), nor do they here.

    ``is_alive`` is what the runner polls (``Process.is_alive`` for a
    subclass's own ``final_reads``)."""

    __slots__ = ("client", "inc", "i", "done", "callbacks")
    _ok = True  # read by SimPy's loop when the start event pops

    def __init__(self, client: "Client"):
        self.client = client
        self.inc = client.incarnation
        self.i = 0  # the channel being read
        self.done = False
        self.callbacks = _FINAL_START
        env = client.env
        heappush(env._queue, (env._now, URGENT, next(env._eid), self))

    @property
    def is_alive(self) -> bool:
        return not self.done and self.client.incarnation == self.inc

    def begin(self) -> None:
        c = self.client
        if c.incarnation != self.inc:
            return
        c.record_directory()
        self.ask(c)

    def ask(self, c: "Client") -> None:
        if self.i == len(c.channels):
            self.done = True
            return
        c.final_read(c.channels[self.i]).callbacks.append(self)

    def __call__(self, event) -> None:  # the reply
        c = self.client
        if c.incarnation != self.inc:
            return
        c.final_read_done(c.channels[self.i], event._value)
        self.i += 1
        self.ask(c)


def final_reads(client: Client):
    """Start ``client``'s final reads: a ``FinalReads``, or the subclass's own
    ``final_reads`` generator as a process. Either has ``is_alive``."""
    if type(client).final_reads is Client.final_reads:
        return FinalReads(client)
    return client.spawn(client.final_reads())


_FINAL_START = [FinalReads.begin]  # read (and dropped) by SimPy's loop, never mutated


_DUE_CBS = [Client.workload_due]  # read (and dropped) by SimPy's loop, never mutated
