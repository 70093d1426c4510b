"""Gateway servers: one per region, holding the clients' WebSockets.

A gateway subscribes, for every channel one of its clients belongs to, at
the channel server the ring assigns (polled from discovery every second) and
pushes what it receives to its local members (step ``pushed``). When a
channel server dies the subscription breaks; the gateway re-subscribes at
whichever server the ring names once discovery has replaced the dead one.
"""

from __future__ import annotations

from ..kernel import Node
from .discovery import ring_owner
from .protocol import Chat, Ephemeral, Hello, Subscribe, Subscribed, Welcome


class Session:
    """A client's WebSocket as its gateway knows it (``conn.meta``): whose it
    is, its channels, the channels its ``Welcome`` still waits for (None once
    welcomed) and — at a Flannel host — the senders whose profiles it was
    pushed (None until the first). A slotted record, not a dict: there is one
    per connected client, and a two-key dict is 180 bytes."""

    __slots__ = ("user", "channels", "pending", "known")

    def __init__(self, user: str, channels: tuple[str, ...]):
        self.user = user
        self.channels = channels
        self.pending: set[str] | None = None
        self.known: set[str] | None = None


def session_of(conn) -> Session | None:
    """The client session of ``conn``, or None (an upstream connection, a datagram)."""
    meta = conn.meta if conn is not None else None
    return meta if type(meta) is Session else None


class Gateway(Node):
    role = "gateway"

    def __init__(self, sim, name, region, *, discovery: str):
        super().__init__(sim, name, region)
        self.discovery = discovery

    def reset_volatile(self):
        self.local: dict[str, dict[str, object]] = {}  # channel -> user -> client connection
        self.upstream: dict[str, object] = {}  # channel server -> connection
        self.subscribed: dict[str, str] = {}  # channel -> channel server
        self.ring: tuple[str, ...] = ()
        self.connecting: dict[str, object] = {}  # channel server -> the connect in progress
        self.confirmed: dict[str, str] = {}  # channel -> the channel server that confirmed the subscription
        self.waiting: dict[str, list] = {}  # channel -> client connections whose Welcome waits for it

    def start(self):
        self.spawn(self.maintain())

    def maintain(self):
        net = self.sim.network
        while True:
            reply = yield net.request(self, self.discovery, "discovery.get", {}, timeout=1.0)
            if reply.status == "ok":
                self.ring = reply.payload["ring"]
            yield from self.resubscribe()
            # a gateway that knows no channel server yet (the ring forms as they
            # heartbeat in) asks again soon: its clients' first messages depend on it
            yield from self.sleep(1.0 if self.ring else 0.05)

    def resubscribe(self, channels=None):
        """Subscribe where the ring says, for ``channels`` (default: all local ones)."""
        want: dict[str, list[str]] = {}
        for ch in (self.local if channels is None else channels):
            if self.local.get(ch):
                owner = ring_owner(self.ring, ch)
                if owner is not None and self.subscribed.get(ch) != owner:
                    want.setdefault(owner, []).append(ch)
        for server, chans in sorted(want.items()):
            conn = self.upstream.get(server)
            if conn is None or not conn.open:
                pending = self.connecting.get(server)
                if pending is not None:  # another subscription is opening it: wait, then subscribe on it
                    conn = yield pending
                else:
                    pending = self.connecting[server] = self.sim.network.connect(self, server, "ws")
                    conn = yield pending
                    del self.connecting[server]
                if isinstance(conn, str):
                    continue
                self.upstream[server] = conn
            conn.send(self, "subscribe", Subscribe(self.name, tuple(sorted(chans))), 100)
            for ch in chans:
                if self.confirmed.get(ch) != server:
                    self.confirmed.pop(ch, None)
                self.subscribed[ch] = server

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Chat):
            for c in list(self.local.get(p.channel, {}).values()):
                c.send(self, "message", p, p.size, p.msg)
            self.step("pushed", msg=p.msg)
        elif isinstance(p, Hello):
            conn.meta = Session(p.user, p.channels)
            for ch in p.channels:
                self.local.setdefault(ch, {})[p.user] = conn
            pending = [ch for ch in p.channels if ch not in self.confirmed]
            if not pending:
                conn.send(self, "welcome", Welcome(), 40)
            else:
                conn.meta.pending = set(pending)
                for ch in pending:
                    self.waiting.setdefault(ch, []).append(conn)
            new = [ch for ch in p.channels if ch not in self.subscribed]
            if new:
                self.spawn(self.resubscribe(new))
        elif isinstance(p, Subscribed):
            for ch in p.channels:
                if self.subscribed.get(ch) is not None:
                    self.confirmed[ch] = self.subscribed[ch]
                for c in self.waiting.pop(ch, ()):
                    session = session_of(c)
                    left = session.pending if session is not None else None
                    if left is not None and ch in left:
                        left.discard(ch)
                        if not left:
                            session.pending = None  # an emptied set keeps its table: let it go
                            if c.open:
                                c.send(self, "welcome", Welcome(), 40)
        elif isinstance(p, Ephemeral) and p.channel is None:
            # presence: to this host's other clients (the team's clients of the region)
            if session_of(conn) is not None:
                targets = {u: c for users in self.local.values() for u, c in users.items() if u != p.user}
                for c in targets.values():
                    c.send(self, p.kind, p, 60)
        elif isinstance(p, Ephemeral):
            if session_of(conn) is not None:  # from a client: upstream
                server = self.subscribed.get(p.channel) if p.channel else None
                up = self.upstream.get(server) if server else None
                if up is not None and p.user in self.local.get(p.channel, {}):
                    up.send(self, p.kind, p, 60)
            else:  # from a channel server: to local members except the sender
                for user, c in self.local.get(p.channel, {}).items():
                    if user != p.user:
                        c.send(self, p.kind, p, 60)

    def on_closed(self, conn, reason):
        session = session_of(conn)
        if session is not None:
            for ch in session.channels:
                subs = self.local.get(ch, {})
                if subs.get(session.user) is conn:
                    del subs[session.user]
            return
        for server, c in list(self.upstream.items()):
            if c is conn:
                del self.upstream[server]
                for ch in [ch for ch, s in self.subscribed.items() if s == server]:
                    del self.subscribed[ch]
                    self.confirmed.pop(ch, None)
