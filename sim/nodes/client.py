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


@dataclass
class Pending:
    post: Post
    attempts: int = 0
    maybe_applied: bool = False  # some attempt's outcome is unknown


class Client(Node):
    role = "client"

    def __init__(self, sim, name: str, region: str, *, kind: str, channels: list[str], settings: dict,
                 workload: dict, webapp: str | list[str]):
        super().__init__(sim, name, region)
        self.kind = kind
        self.channels = sorted(channels)
        self.s = settings
        self.w = workload
        self.webapps = [webapp] if isinstance(webapp, str) else list(webapp)
        if kind == "mobile":
            self.access_loss = settings["mobile_loss"]
            self.access_latency = settings["mobile_latency"]
        self.parse_rate = settings["parse_mobile" if kind == "mobile" else "parse_desktop"]
        self.durable["next"] = 0  # message counter: ids are never reused, even after a crash
        self.rng = sim.rng(f"node/{name}/client")
        self.wrng = sim.rng(f"node/{name}/workload")

    def reset_volatile(self):
        self.pending: dict[str, Pending] = {}
        self.usable = False
        self._broken = None
        self.reads_done = False

    def start(self):
        self.spawn(self.session())
        if self.channels:
            self.spawn(self.workload())

    # -- workload ---------------------------------------------------------------
    def workload(self):
        rate = self.w["rate"]
        while self.sim.phase == "workload":
            yield from self.sleep(self.wrng.expovariate(rate))
            if self.sim.phase != "workload" or not self.up:
                return
            if self.usable:
                self.new_send()
            if self.w["typing_rate"] and self.usable and self.wrng.random() < self.w["typing_rate"] / rate:
                self.ephemeral("typing", self.wrng.choice(self.channels))
            if self.w["presence_rate"] and self.usable and self.wrng.random() < self.w["presence_rate"] / rate:
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
        """Fetch a boot payload over HTTP and parse it; True when usable data arrived."""
        t0 = self.env.now
        reply = yield self.sim.network.request(self, target, method, {"user": self.name},
                                               size=300, timeout=self.s["http_timeout"])
        if reply.status != "ok":
            return False
        nbytes = reply.payload["bytes"]
        yield from self.sleep(nbytes / self.parse_rate)
        self.sim.record(self.name, "event", "boot",
                        {"method": method, "bytes": nbytes, "seconds": round(self.env.now - t0, 6)})
        return True

    def hello(self, conn) -> None:
        conn.send(self, "hello", Hello(self.name, tuple(self.channels)), 100)

    # -- final reads --------------------------------------------------------------------
    def final_reads(self):
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
        self.reads_done = True

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
        self.unacked_order: list[str] = []

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

    def on_closed(self, conn, reason):
        if conn in self.conns.values():
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        targets = self.conns.values() if channel is None else [self.conns.get(self.server_of[channel])]
        for c in targets:
            if c is not None:
                c.send(self, kind, Ephemeral(kind, channel, self.name), 60)
