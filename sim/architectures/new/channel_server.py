"""The new architecture's channel server: stateless fan-out to subscribed gateways."""

from __future__ import annotations

from ...kernel import Node
from ...nodes.protocol import Chat, Ephemeral, Subscribe, Subscribed

class NewChannelServer(Node):
    """New architecture: stateless (discovery health-checks it; any answer
    to ``health`` passes, see ``sim.nodes.discovery``). Gateways subscribe to the channels the
    consistent-hash ring gives this server; a web app's ``broadcast`` request
    fans the message out to them (step ``broadcast``). Nothing here is
    durable: a crash loses only broadcasts in flight, which clients recover
    by gap detection and history reads."""

    role = "channel-server"

    def __init__(self, sim, name: str, region: str, *, discovery: str):
        super().__init__(sim, name, region)
        self.discovery = discovery

    def reset_volatile(self):
        self.subs: dict[str, dict[str, object]] = {}  # channel -> gateway -> connection

    def on_message(self, conn, msg):
        p = msg.payload
        if isinstance(p, Subscribe):
            for ch in p.channels:
                self.subs.setdefault(ch, {})[p.gateway] = conn
            conn.send(self, "subscribed", Subscribed(p.channels), 60)
        elif isinstance(p, Ephemeral) and p.channel is not None:
            for c in self.subs.get(p.channel, {}).values():
                c.send(self, p.kind, p, 60)

    def on_closed(self, conn, reason):
        for subs in self.subs.values():
            for gw in [g for g, c in subs.items() if c is conn]:
                del subs[gw]

    def broadcast(self, req):
        chat: Chat = req.payload
        for c in list(self.subs.get(chat.channel, {}).values()):
            c.send(self, "message", chat, chat.size, chat.msg)
        self.step("broadcast", msg=chat.msg)
        return "ok", {}, 40

    HANDLERS = {"broadcast": broadcast}
