"""Admin servers: the stateless interface between the web app tier and the
channel servers. ``admin.route`` finds the channel's channel server on the
consistent-hash ring (as the ring manager last told it, polled every second)
and asks it to sequence and broadcast the message (step ``routed``). A
failed attempt refreshes the ring and tries again, ``route_attempts`` times
``route_retry`` apart; then the message is given up: it stays durable, it
is only not broadcast. Nothing here survives a crash, and nothing needs to.
"""

from __future__ import annotations

from ...kernel import Node
from ...nodes.discovery import ring_owner
from ...nodes.protocol import Chat, api_error


class AdminServer(Node):
    role = "admin-server"

    def __init__(self, sim, name, region, *, ring_manager: str, attempts: int, retry: float):
        super().__init__(sim, name, region)
        self.ring_manager = ring_manager
        self.attempts = attempts
        self.retry = retry

    def reset_volatile(self):
        self.ring: tuple[str, ...] = ()

    def start(self):
        self.spawn(self.ring_loop())

    def refresh_ring(self):
        reply = yield self.sim.network.request(self, self.ring_manager, "discovery.get", {}, timeout=1.0)
        if reply.status == "ok":
            self.ring = reply.payload["ring"]

    def ring_loop(self):
        while True:
            yield from self.refresh_ring()
            yield from self.sleep(1.0)

    def route(self, req):
        chat: Chat = req.payload
        for attempt in range(self.attempts):
            if attempt:
                yield from self.sleep(self.retry)
                yield from self.refresh_ring()
            server = ring_owner(self.ring, chat.channel)
            if server is None:
                continue
            self.step("routed", msg=chat.msg)
            reply = yield self.sim.network.request(self, server, "cs.route", chat, size=chat.size, timeout=2.0,
                                                   trace=chat.msg)
            if reply.status == "ok":
                return "ok", {"ok": True, "seq": reply.payload["seq"]}, 40
        return api_error("internal_error")

    HANDLERS = {"admin.route": route}
