"""The RTM client of the old architecture."""

from __future__ import annotations

from ...nodes.client import Client, Pending
from ...nodes.protocol import Ack, Chat, Ephemeral
from ...nodes.team import DirEvent


class OldClient(Client):
    """RTM client: boots with rtm.start, sends over the WebSocket, resends
    unacked messages after every reconnect (the server does not dedupe)."""

    __slots__ = ("server_of", "conns")

    def __init__(self, sim, name, region, *, servers: dict[str, str], **kw):
        super().__init__(sim, name, region, **kw)
        self.server_of = servers  # channel -> channel server

    def reset_volatile(self):
        super().reset_volatile()
        # its WebSockets, one per channel server in server order: a tuple (a
        # dict of one or two is ~200 bytes); ``conn.b`` is the server
        self.conns: tuple = ()

    def conn_to(self, server: str):
        for c in self.conns:
            if c.b.name == server:
                return c
        return None

    def do_boot(self):
        return (yield from self.rtm_boot("rtm.start", self.webapps[0]))

    def open_streams(self):
        self.conns = ()
        for server in sorted({self.server_of[ch] for ch in self.channels}):
            conn = yield self.sim.network.connect(self, server, "ws")
            if isinstance(conn, str):
                for c in self.conns:
                    c.close(self)
                self.conns = ()
                return False
            self.conns += (conn,)
            self.hello(conn)
        return True

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
        elif isinstance(p, Chat):
            self.display(p)
        elif isinstance(p, DirEvent):
            self.on_directory_event(p)

    def on_closed(self, conn, reason):
        if conn in self.conns:
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        targets = self.conns if channel is None else [self.conn_to(self.server_of[channel])]
        for c in targets:
            if c is not None:
                c.send(self, kind, Ephemeral(kind, channel, self.name), 60)
