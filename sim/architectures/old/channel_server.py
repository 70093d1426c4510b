"""The old architecture's channel server (``OldChannelServer``): stateful. It holds the team's
WebSocket connections, is the arbiter of each channel's order (it assigns
ts), broadcasts, acks the sender, and only then hands the message to the web
app through an in-memory buffer drained by a retry loop. The send path's
named steps, in order::

    received → broadcast → ack_sent → handoff → (later, in the flusher) persisted

A crash after ``ack_sent`` and before ``persisted`` loses an acked message:
the buffer is volatile. While the web app is down the buffer grows and chat
goes on ("degraded mode"). There is no deduplication: a client's resend gets
a new ts and becomes a second message.
"""

from __future__ import annotations

from ...kernel import Node
from ...nodes.protocol import Ack, Chat, Ephemeral, Hello, Post, Welcome, fmt_ts
from ...nodes.team import DirEvent

BATCH = 50
WELCOME = Welcome()


class OldChannelServer(Node):
    role = "channel-server"

    def __init__(self, sim, name: str, region: str, *, webapp: str, members: dict[str, list[str]],
                 retry: float, timeout: float):
        super().__init__(sim, name, region)
        self.webapp = webapp
        self.members = {ch: frozenset(ms) for ch, ms in members.items()}
        self.retry = retry
        self.timeout = timeout

    def reset_volatile(self):
        self.subs: dict[str, dict[str, object]] = {}  # channel -> user -> connection
        self.last_ts: dict[str, float] = {}
        self.seq: dict[str, int] = {}
        self.buffer: list[Chat] = []  # the hand-off buffer: volatile by design
        self.presence: dict[str, str] = {}
        # every client WebSocket of the team (ordered, not a set) -> the channels
        # its Hellos named (what on_closed must look at): the Hello's own tuple,
        # shared by the clients with the same channels, not a list per socket
        self.conns: dict = {}
        self.dir_log: list[DirEvent] = []  # directory events since this incarnation started

    def start(self):
        self.spawn(self.flusher())

    # -- WebSocket frames ------------------------------------------------------
    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Post):
            self.handle_send(conn, p)
        elif isinstance(p, Hello):
            conn.meta = p.user  # the client's interned name: no dict per socket
            named = self.conns.get(conn)
            self.conns[conn] = p.channels if named is None else named + p.channels
            for ch in p.channels:
                if p.user in self.members.get(ch, ()):
                    self.subs.setdefault(ch, {})[p.user] = conn
            for ev in self.dir_log:  # replay what the client's snapshot predates
                if ev.version > p.dir_version:
                    conn.send(self, "directory", ev, 80)
            # RTM's ``hello`` event: subscribed, so every message broadcast from
            # here on reaches this socket; the client is connected only then
            conn.send(self, "welcome", WELCOME, 40)
        elif isinstance(p, Ephemeral):
            self.fan_out_ephemeral(conn, p)

    def directory_event(self, req):
        """``directory.event`` from the web app: log it and push it to the team."""
        ev: DirEvent = req.payload
        self.dir_log.append(ev)
        for c in list(self.conns):
            c.send(self, "directory", ev, 80)
        return "ok", {}, 40

    HANDLERS = {"directory.event": directory_event}

    def on_closed(self, conn, reason):
        """Unsubscribe ``conn`` from the channels its Hellos named.

        Only those: ``subs[ch][user] is conn`` only after a Hello on ``conn``
        named ``ch`` (and the user is a member), and ``conns`` and ``subs``
        are filled by Hello and reset together, so looking at every channel
        (what this did, O(channels) per close: 1.2 s of a 3k-client storm)
        deletes exactly the same entries; which order they go in does not
        matter (a dict's order is that of the entries left)."""
        named = self.conns.pop(conn, ())
        user = conn.meta
        for ch in named:
            subs = self.subs.get(ch)
            if subs is not None and subs.get(user) is conn:
                del subs[user]

    def handle_send(self, conn, post: Post) -> None:
        ch = post.channel
        self.step("received", msg=post.msg)
        if post.sender not in self.members.get(ch, ()):
            return  # not a member: dropped (the client's ack times out)
        # The channel server is the arbiter of order: ts strictly increases per channel.
        t = max(self.clock(), self.last_ts.get(ch, 0.0) + 1e-6)
        self.last_ts[ch] = t
        self.seq[ch] = self.seq.get(ch, 0) + 1
        chat = Chat(ch, post.msg, post.text, post.sender, fmt_ts(t), self.seq[ch])
        for c in self.subs.get(ch, {}).values():
            c.send(self, "message", chat, chat.size, post.msg)
        self.step("broadcast", msg=post.msg)
        conn.send(self, "ack", Ack(ch, post.msg, chat.ts), 60, post.msg)
        self.step("ack_sent", msg=post.msg)
        self.buffer.append(chat)
        self.step("handoff", msg=post.msg)

    def fan_out_ephemeral(self, conn, e: Ephemeral) -> None:
        if e.kind == "presence":
            self.presence[e.user] = "active"
            targets = {u: c for subs in self.subs.values() for u, c in subs.items() if u != e.user}
        else:
            if e.user not in self.members.get(e.channel, ()):
                return  # never to non-members
            targets = {u: c for u, c in self.subs.get(e.channel, {}).items() if u != e.user}
        for c in targets.values():
            c.send(self, e.kind, e, 60)

    # -- hand-off to the web app ---------------------------------------------------
    def flusher(self):
        """Drain the buffer to the web app in order, in batches, retrying forever."""
        net = self.sim.network
        while True:
            if not self.buffer:
                yield from self.sleep(0.005)
                continue
            batch = self.buffer[:BATCH]
            reply = yield net.request(self, self.webapp, "persist", {"rows": batch},
                                      size=sum(c.size for c in batch), timeout=self.timeout,
                                      trace=",".join(c.msg for c in batch))
            if reply.status == "ok":
                del self.buffer[:len(batch)]
                for chat in batch:
                    self.step("persisted", msg=chat.msg)
            else:
                yield from self.sleep(self.retry)
