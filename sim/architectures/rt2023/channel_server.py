"""rt2023's channel servers: stateful, in memory, one per slice of the
consistent-hash ring.

A channel server keeps, per channel it serves, the recent messages (up to
``recent_messages``) and the channel's sequence: the order in which it
broadcast them. Gateways subscribe to the channels their clients are in
(``Subscribe``); ``cs.route`` from an admin server sequences the message
(step ``sequenced``) and fans it out to the subscribed gateways (step
``broadcast``). A message this incarnation already broadcast is answered
with its sequence and not sent again (an admin server's retry).

Cold start: the first time an incarnation touches a channel it loads the
channel's history from its shard's primary and numbers on from the count of
stored messages, plus one. The skip is deliberate: clients that saw the old
incarnation's sequence meet a gap, hold the message back and fill the gap
from history, which recovers what the old incarnation never broadcast (lost
with it, or never routed). Nothing here is durable.
"""

from __future__ import annotations

from dataclasses import replace

from ...nodes.protocol import Chat, api_error
from ..new.channel_server import NewChannelServer
from .shard import ShardView


class Rt2023ChannelServer(ShardView, NewChannelServer):
    def __init__(self, sim, name, region, *, ring_manager: str, orchestrator: str, recent: int):
        super().__init__(sim, name, region, discovery=ring_manager)
        self.orchestrator = orchestrator
        self.recent_max = recent

    def reset_volatile(self):
        super().reset_volatile()
        self.reset_shards()
        self.seq: dict[str, int] = {}
        self.recent: dict[str, list[Chat]] = {}
        self.sent: dict[str, dict[str, int]] = {}  # channel -> msg -> seq, this incarnation
        self.loading: dict[str, object] = {}  # channel -> event while its history loads

    def start(self):
        super().start()
        self.spawn(self.shard_loop())

    def warm(self, ch: str):
        """Load ``ch``'s recent history from the database once; True when warm."""
        if ch in self.seq:
            return True
        if ch in self.loading:
            return (yield self.loading[ch])
        done = self.loading[ch] = self.env.event()
        rows = yield from self.channel_rows(ch)
        del self.loading[ch]
        if rows is not None:
            self.recent[ch] = rows[-self.recent_max:]
            self.seq[ch] = len(rows) + 1
            self.sent[ch] = {}
        done.succeed(rows is not None)
        return rows is not None

    def route(self, req):
        chat: Chat = req.payload
        ch = chat.channel
        ok = yield from self.warm(ch)
        if not ok:
            return api_error("internal_error")
        seq = self.sent[ch].get(chat.msg)
        if seq is not None:
            return "ok", {"seq": seq}, 40
        seq = self.seq[ch] = self.seq[ch] + 1
        self.sent[ch][chat.msg] = seq
        out = replace(chat, seq=seq)
        self.recent[ch] = (self.recent[ch] + [out])[-self.recent_max:]
        self.step("sequenced", msg=chat.msg)
        for c in list(self.subs.get(ch, {}).values()):
            c.send(self, "message", out, out.size, out.msg)
        self.step("broadcast", msg=chat.msg)
        return "ok", {"seq": seq}, 40

    HANDLERS = {"cs.route": route}
