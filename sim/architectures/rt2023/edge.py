"""The edge of rt2023: gateway servers (Flannel hosts: boot cache, client
WebSockets, channel subscriptions), presence servers and Kafkagate.

Presence goes its own way: a client's presence frame reaches its gateway,
which passes it to a presence server (``presence.update``), which fans it
out to every gateway; each gateway pushes it to its local clients. Best
effort, never stored, never recorded. Typing indicators are channel-scoped
and travel with the channel (through the channel server), to members only.

Kafkagate takes deferred jobs (index this message, unfurl its links) and
produces them to the job queue's partition leader with the queue's ``acks``;
nothing waits for it, and a lost job costs no message.
"""

from __future__ import annotations

from ...kernel import Node, stable_hash
from ...nodes.flannel import Flannel
from ...nodes.gateway import session_of
from ...nodes.protocol import Chat, Ephemeral, Post


class Gateway(Flannel):
    """A regional gateway server: the Flannel host, with presence sent to the presence servers."""

    def __init__(self, sim, name, region, *, presence: list[str], **kw):
        super().__init__(sim, name, region, **kw)
        self.presence = list(presence)

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Ephemeral) and p.channel is None:
            if conn is None:  # from a presence server: to this gateway's clients
                for c in {u: c for users in self.local.values() for u, c in users.items() if u != p.user}.values():
                    c.send(self, p.kind, p, 60)
            elif session_of(conn) is not None:
                server = self.presence[stable_hash(p.user) % len(self.presence)]
                self.sim.network.send_datagram(self, server, "presence", p, 60)
            return
        super().on_message(conn, msg)


class PresenceServer(Node):
    role = "presence"

    def __init__(self, sim, name, region, *, gateways: list[str]):
        super().__init__(sim, name, region)
        self.gateways = list(gateways)

    def reset_volatile(self):
        self.status: dict[str, float] = {}  # user -> when last active (volatile by design)

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Ephemeral) and p.kind == "presence":
            self.status[p.user] = self.env.now
            for gw in self.gateways:
                self.sim.network.send_datagram(self, gw, "presence", p, 60)


class Kafkagate(Node):
    role = "kafkagate"

    def __init__(self, sim, name, region, *, controller: str, partitions: int, timeout: float):
        super().__init__(sim, name, region)
        self.controller = controller
        self.partitions = partitions
        self.timeout = timeout
        self.enqueued = 0  # measurement: jobs the queue acknowledged
        self.lost = 0  # measurement: jobs it refused or never answered

    def reset_volatile(self):
        self.leaders: dict[int, str | None] = {}

    def enqueue(self, req):
        chat: Chat = req.payload
        part = stable_hash(chat.channel) % self.partitions
        for _ in range(2):
            if self.leaders.get(part) is None:
                meta = yield self.sim.network.request(self, self.controller, "kafka.metadata", {}, timeout=1.0)
                if meta.status == "ok":
                    self.leaders = {p: lead for p, (lead, _) in meta.payload["leaders"].items()}
            leader = self.leaders.get(part)
            if leader is None:
                break
            job = Post(chat.channel, chat.msg, chat.text, chat.sender)
            reply = yield self.sim.network.request(self, leader, "kafka.produce",
                                                   {"partition": part, "post": job, "ts": chat.ts},
                                                   size=chat.size, timeout=self.timeout)
            if reply.status == "ok":
                self.enqueued += 1
                return "ok", {"ok": True}, 40
            self.leaders[part] = None  # ask the controller again
        self.lost += 1
        return "error", {"ok": False, "error": "job_not_enqueued"}, 40

    HANDLERS = {"jobs.enqueue": enqueue}
