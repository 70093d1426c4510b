"""The RTM client of the old architecture."""

from __future__ import annotations

from ...nodes.client import Client, Pending
from ...nodes.protocol import Ack, Chat, Ephemeral, Welcome
from ...nodes.team import DirEvent


class OldClient(Client):
    """RTM client: boots with rtm.start, sends over the WebSocket, resends
    unacked messages after every reconnect (the server does not dedupe).
    Connected once every channel server it needs has answered its hello with
    RTM's ``hello`` event (``Welcome``): before that a broadcast can miss it."""

    __slots__ = ("server_of", "conns", "opening")

    def __init__(self, sim, name, region, *, servers: dict[str, str], **kw):
        super().__init__(sim, name, region, **kw)
        self.server_of = servers  # channel -> channel server

    def reset_volatile(self):
        super().reset_volatile()
        # its WebSockets, one per channel server in server order: a tuple (a
        # dict of one or two is ~200 bytes); ``conn.b`` is the server
        self.conns: tuple = ()
        # while opening: [the sockets whose Welcome has not come, the event the
        # wait for them is on (once every socket is open)]; None otherwise
        self.opening: list | None = None

    def conn_to(self, server: str):
        for c in self.conns:
            if c.b.name == server:
                return c
        return None

    def do_boot(self):
        return (yield from self.rtm_boot("rtm.start", self.webapps[0]))

    def open_streams(self):
        """Open a WebSocket to each channel server of the client's channels,
        say hello on each, and wait for every server's ``Welcome`` (sent once
        its subscriptions are in place); no welcome within the HTTP timeout,
        or a socket that breaks meanwhile: close them all and start over."""
        self.conns = ()
        self.opening = opening = [set(), None]
        for server in sorted({self.server_of[ch] for ch in self.channels}):
            conn = yield self.sim.network.connect(self, server, "ws")
            if isinstance(conn, str):
                return self.abandon_open()
            self.conns += (conn,)
            opening[0].add(conn)
            self.hello(conn)
        if opening[0]:
            opening[1] = self.env.event()
            yield from self.within_http_timeout(opening[1])
        if opening[0] or not all(c.open for c in self.conns):
            return self.abandon_open()
        self.opening = None
        return True

    def abandon_open(self) -> bool:
        for c in self.conns:
            c.close(self)
        self.conns = ()
        self.opening = None
        return False

    def on_usable(self) -> None:
        # resend everything still unacked, in the order it was first sent
        for msg in list(self.pending):
            self.transmit(self.pending[msg])

    def on_unusable(self) -> None:
        for c in self.conns:
            c.close(self)
        self.conns = ()

    def transmit(self, p: Pending) -> None:
        if not self.usable:
            return  # resent on reconnect
        conn = self.conn_to(self.server_of[p.post.channel])
        p.attempts += 1
        p.maybe_applied = True
        conn.send(self, "send", p.post, p.post.size, p.post.msg)
        attempt = p.attempts
        self.env.timeout(self.s.ack_timeout).callbacks.append(lambda _e: self.ack_timeout(p, attempt))

    def ack_timeout(self, p: Pending, attempt: int) -> None:
        if not self.up or p.post.msg not in self.pending or p.attempts != attempt:
            return
        # no ack: assume the socket is dead; reconnect and resend
        self.stream_broke("ack-timeout")

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Ack):
            self.acked(p.channel, p.msg, p.ts)
        elif isinstance(p, Welcome):
            opening = self.opening
            if opening is not None and conn in opening[0]:
                opening[0].discard(conn)
                if not opening[0] and opening[1] is not None and not opening[1].triggered:
                    opening[1].succeed()
        elif isinstance(p, Chat):
            self.display(p)
        elif isinstance(p, DirEvent):
            self.on_directory_event(p)

    def on_closed(self, conn, reason):
        if conn in self.conns:
            opening = self.opening
            if opening is not None and opening[1] is not None and not opening[1].triggered:
                opening[1].succeed()  # wake open_streams: it sees the closed socket
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        targets = self.conns if channel is None else [self.conn_to(self.server_of[channel])]
        for c in targets:
            if c is not None:
                c.send(self, kind, Ephemeral(kind, channel, self.name), 60)
