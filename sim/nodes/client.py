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

from dataclasses import dataclass

from ..kernel import Node
from .protocol import Ack, Chat, Ephemeral, Hello, Post
from .team import DirEvent, Snapshot, apply

RESYNC_AFTER = 3.0  # a directory gap older than this is repaired from a fresh snapshot


@dataclass
class Pending:
    post: Post
    attempts: int = 0
    maybe_applied: bool = False  # some attempt's outcome is unknown


class Client(Node):
    role = "client"
    light_rng = True

    def __init__(self, sim, name: str, region: str, *, kind: str, channels: list[str], settings: dict,
                 workload: dict, webapp: str | list[str], directory: list[str] = ()):
        super().__init__(sim, name, region)
        self.kind = kind
        self.channels = sorted(channels)
        self.dir_channels = list(directory)
        self.s = settings
        self.w = workload
        self.webapps = [webapp] if isinstance(webapp, str) else list(webapp)
        if kind == "mobile":
            self.access_loss = settings["mobile_loss"]
            self.access_latency = settings["mobile_latency"]
        self.parse_rate = settings["parse_mobile" if kind == "mobile" else "parse_desktop"]
        self.bandwidth = settings["bandwidth_mobile" if kind == "mobile" else "bandwidth_desktop"]
        self.durable["next"] = 0  # message counter: ids are never reused, even after a crash
        self.rng = sim.rng(f"node/{name}/client", light=True)
        self.wrng = sim.rng(f"node/{name}/workload", light=True)

    def reset_volatile(self):
        self.pending: dict[str, Pending] = {}
        self.usable = False
        self._first_usable = self.env.event()
        self.dir_version = -1  # no snapshot yet
        self.directory: dict[str, set[str]] = {}
        self.dir_pending: dict[int, DirEvent] = {}
        self.resyncing = False
        self._broken = None

    def start(self):
        self.spawn(self.session())
        if self.channels:
            self.spawn(self.workload())

    # -- workload ---------------------------------------------------------------
    def workload(self):
        """Poisson sends from the first moment the client is usable. Later
        sends are made whether or not the client is connected (the person
        types; the client queues or posts), so both architectures see the
        same sequence of sends from the same seed."""
        rate = self.w["rate"]
        yield self._first_usable
        while self.sim.phase == "workload":
            yield from self.sleep(self.wrng.expovariate(rate))
            if self.sim.phase != "workload" or not self.up:
                return
            self.new_send()
            if self.dir_channels:
                change, where_d = self.wrng.random(), self.wrng.choice(self.dir_channels)
                if change < self.w["directory_rate"] / rate:
                    self.change_directory(where_d)
            # draws are unconditional so that connection state never shifts the stream
            typing, presence, where = self.wrng.random(), self.wrng.random(), self.wrng.choice(self.channels)
            if self.usable and typing < self.w["typing_rate"] / rate:
                self.ephemeral("typing", where)
            if self.usable and presence < self.w["presence_rate"] / rate:
                self.ephemeral("presence", None)

    def new_send(self) -> None:
        k = self.durable["next"] = self.durable["next"] + 1
        msg = f"{self.name}:{k}"
        ch = self.wrng.choice(self.channels)
        text = f"{msg} " + "x" * max(0, self.w["text_bytes"] - len(msg) - 1)
        post = Post(ch, msg, text, self.name)
        self.sim.record(self.name, "invoke", "send", {"channel": ch, "msg": msg, "text": text})
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
        self.directory = snap.as_dict()
        self.dir_version = snap.version
        self.dir_pending = {v: e for v, e in self.dir_pending.items() if v > snap.version}
        self.apply_pending()

    def on_directory_event(self, ev: DirEvent) -> None:
        if ev.version <= self.dir_version:
            return
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
                                               "directory.get", {}, size=80, timeout=self.s["http_timeout"])
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
        self.pending.clear()

    # -- display --------------------------------------------------------------------
    def display(self, chat: Chat) -> None:
        self.sim.record(self.name, "event", "deliver",
                        {"channel": chat.channel, "msg": chat.msg, "text": chat.text, "ts": chat.ts})

    # -- session ----------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        ceiling = min(self.s["backoff_cap"], self.s["backoff_base"] * (2 ** attempt))
        return self.rng.uniform(0, ceiling) if self.s["jitter"] else ceiling

    def session(self):
        attempt = 0
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
            attempt = 0
            self._broken = self.env.event()
            self.usable = True
            if not self._first_usable.triggered:
                self._first_usable.succeed()
            self.sim.record(self.name, "event", "connect", {})
            self.on_usable()
            yield self._broken
            self.usable = False
            self.sim.record(self.name, "event", "disconnect", {"reason": self._broken.value})
            self.on_unusable()
            yield from self.sleep(self.backoff(attempt))
            attempt += 1

    def stream_broke(self, reason: str) -> None:
        if self._broken is not None and not self._broken.triggered:
            self._broken.succeed(reason)

    def rtm_boot(self, method: str, target: str):
        """Fetch a boot payload over HTTP, download and parse it; True when usable.

        The request's timeout covers the server's answer; the download then
        takes bytes / bandwidth and parsing bytes / parse rate (per client kind)."""
        t0 = self.env.now
        reply = yield self.sim.network.request(self, target, method, {"user": self.name},
                                               size=300, timeout=self.s["http_timeout"])
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

    def hello(self, conn) -> None:
        conn.send(self, "hello", Hello(self.name, tuple(self.channels), self.dir_version), 100)

    # -- final reads --------------------------------------------------------------------
    def final_reads(self):
        self.record_directory()
        for ch in self.channels:
            self.sim.record(self.name, "invoke", "read", {"channel": ch})
            target = self.webapps[self.rng.randrange(len(self.webapps))]
            reply = yield self.sim.network.request(self, target, "conversations.history",
                                                   {"channel": ch, "user": self.name}, size=120,
                                                   timeout=self.s["read_timeout"])
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


class OldClient(Client):
    """RTM client: boots with rtm.start, sends over the WebSocket, resends
    unacked messages after every reconnect (the server does not dedupe)."""

    def __init__(self, sim, name, region, *, servers: dict[str, str], **kw):
        super().__init__(sim, name, region, **kw)
        self.server_of = servers  # channel -> channel server

    def reset_volatile(self):
        super().reset_volatile()
        self.conns: dict[str, object] = {}

    def do_boot(self):
        return (yield from self.rtm_boot("rtm.start", self.webapps[0]))

    def open_streams(self):
        self.conns = {}
        for server in sorted({self.server_of[ch] for ch in self.channels}):
            conn = yield self.sim.network.connect(self, server, "ws")
            if isinstance(conn, str):
                for c in self.conns.values():
                    c.close(self)
                self.conns = {}
                return False
            self.conns[server] = conn
            self.hello(conn)
        return True

    def on_usable(self) -> None:
        # resend everything still unacked, in the order it was first sent
        for msg in list(self.pending):
            self.transmit(self.pending[msg])

    def on_unusable(self) -> None:
        for c in self.conns.values():
            c.close(self)
        self.conns = {}

    def transmit(self, p: Pending) -> None:
        if not self.usable:
            return  # resent on reconnect
        conn = self.conns.get(self.server_of[p.post.channel])
        p.attempts += 1
        p.maybe_applied = True
        conn.send(self, "send", p.post, p.post.size, p.post.msg)
        attempt = p.attempts
        self.env.timeout(self.s["ack_timeout"]).callbacks.append(lambda _e: self.ack_timeout(p, attempt))

    def ack_timeout(self, p: Pending, attempt: int) -> None:
        if not self.up or p.post.msg not in self.pending or p.attempts != attempt:
            return
        # no ack: assume the socket is dead; reconnect and resend
        self.stream_broke("ack-timeout")

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Ack):
            self.acked(p.channel, p.msg, p.ts)
        elif isinstance(p, Chat):
            self.display(p)
        elif isinstance(p, DirEvent):
            self.on_directory_event(p)

    def on_closed(self, conn, reason):
        if conn in self.conns.values():
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        targets = self.conns.values() if channel is None else [self.conns.get(self.server_of[channel])]
        for c in targets:
            if c is not None:
                c.send(self, kind, Ephemeral(kind, channel, self.name), 60)


NO_RETRY = {"not_authed", "not_in_channel", "channel_not_found"}


class NewClient(Client):
    """New-architecture client: boots small, holds a WebSocket to its regional
    gateway for live messages, and sends with ``chat.postMessage`` over HTTP,
    retrying with backoff and jitter and always the same ``client_msg_id``.

    Display: each message carries its channel sequence (the log order). With
    ``hold_back`` a message that arrives ahead of a gap is held until the gap
    fills or ``hold_timeout`` passes, then the gap is fetched from history;
    a message arriving behind the display cursor after that is not shown live
    (recorded as a ``late`` event; it is in the history). Without hold-back,
    messages are shown as they arrive.
    """

    def __init__(self, sim, name, region, *, gateway: str, hold_back: bool, hold_timeout: float, **kw):
        super().__init__(sim, name, region, **kw)
        self.gateway = gateway  # its Flannel host: boot, directory and WebSocket
        self.hold_back = hold_back
        self.hold_timeout = hold_timeout

    def reset_volatile(self):
        super().reset_volatile()
        self.conn = None
        self.next_seq: dict[str, int] = {}
        self.seen: dict[str, set[int]] = {}
        self.held: dict[str, dict[int, Chat]] = {}
        self.filling: set[str] = set()

    def webapp(self) -> str:
        return self.webapps[self.rng.randrange(len(self.webapps))]  # the load balancer's choice

    # -- session ------------------------------------------------------------------
    def do_boot(self):
        return (yield from self.rtm_boot("flannel.boot", self.gateway))

    def fetch_directory(self):
        reply = yield self.sim.network.request(self, self.gateway, "flannel.directory", {}, size=80,
                                               timeout=self.s["http_timeout"])
        return reply

    def open_streams(self):
        conn = yield self.sim.network.connect(self, self.gateway, "ws")
        if isinstance(conn, str):
            return False
        self.conn = conn
        self.hello(conn)
        return True

    def on_unusable(self) -> None:
        if self.conn is not None:
            self.conn.close(self)
        self.conn = None

    def on_closed(self, conn, reason):
        if conn is self.conn:
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        if self.conn is not None:
            self.conn.send(self, kind, Ephemeral(kind, channel, self.name), 60)

    # -- sending --------------------------------------------------------------------
    def transmit(self, p: Pending) -> None:
        self.spawn(self.post_loop(p))

    def post_loop(self, p: Pending):
        net = self.sim.network
        msg = p.post.msg
        while p.attempts < self.s["max_attempts"]:
            p.attempts += 1
            reply = yield net.request(self, self.webapp(), "chat.postMessage", p.post, size=p.post.size,
                                      timeout=self.s["http_timeout"], trace=msg)
            wait = self.backoff(p.attempts)
            if reply.status == "ok":
                self.acked(p.post.channel, msg, reply.payload["ts"])
                return
            if reply.status == "error":
                err = reply.payload.get("error")
                if err in NO_RETRY:
                    self.failed(msg, err)
                    return
                if err == "ratelimited":
                    wait = max(wait, reply.payload.get("retry_after", 1.0))
                elif err != "service_unavailable":
                    p.maybe_applied = True  # internal_error: the outcome is unknown
            elif reply.status in ("timeout", "reset"):
                p.maybe_applied = True
            # "refused", "unreachable" and service_unavailable are definite: nothing happened
            if msg not in self.pending:
                return
            yield from self.sleep(wait)
        self.failed(msg, "gave_up")

    # -- display ----------------------------------------------------------------------
    def on_message(self, conn, msg):
        if isinstance(msg.payload, Chat):
            self.receive(msg.payload)
        elif isinstance(msg.payload, DirEvent):
            self.on_directory_event(msg.payload)

    def receive(self, chat: Chat) -> None:
        ch = chat.channel
        if chat.seq in self.seen.setdefault(ch, set()):
            return  # the same log entry again
        nxt = self.next_seq.get(ch)
        if not self.hold_back or nxt is None or chat.seq == nxt:
            self.show(chat)
            self.drain(ch)
            return
        if chat.seq < nxt:
            # behind the display cursor (the hold timed out): showing it now would
            # break the order; it is in the channel's history instead
            self.sim.record(self.name, "event", "late", {"channel": ch, "msg": chat.msg, "seq": chat.seq})
            return
        self.held.setdefault(ch, {})[chat.seq] = chat
        if ch not in self.filling:
            self.filling.add(ch)
            self.spawn(self.fill_gap(ch))

    def show(self, chat: Chat) -> None:
        ch = chat.channel
        self.seen[ch].add(chat.seq)
        self.display(chat)
        self.next_seq[ch] = max(self.next_seq.get(ch, 0), chat.seq + 1)

    def drain(self, ch: str) -> None:
        held = self.held.get(ch)
        while held and self.next_seq[ch] in held:
            self.show(held.pop(self.next_seq[ch]))

    def fill_gap(self, ch: str):
        """Hold back, then fetch the missing range from history and move on."""
        yield from self.sleep(self.hold_timeout)
        held = self.held.get(ch)
        if held:
            reply = yield self.sim.network.request(self, self.webapp(), "conversations.history",
                                                   {"channel": ch, "user": self.name, "rows": True},
                                                   size=120, timeout=self.s["read_timeout"])
            if reply.status == "ok" and held:
                upto = min(held)
                missing = sorted((r for r in reply.payload["rows"]
                                  if self.next_seq[ch] <= r.seq < upto and r.seq not in self.seen[ch]),
                                 key=lambda r: r.seq)
                for r in missing:
                    self.show(r)
            if held:
                self.next_seq[ch] = max(self.next_seq[ch], min(held))  # give up on what is still missing
                self.drain(ch)
        self.filling.discard(ch)
        if self.held.get(ch):
            self.filling.add(ch)
            self.spawn(self.fill_gap(ch))
