"""The rt2023 client: the new design's client (Flannel boot, WebSocket to
its regional gateway, ``chat.postMessage`` with retries reusing the
``client_msg_id``, hold-back on sequence gaps) with one difference in how a
gap is filled. The sequence is the channel server's, in memory, and the
stored rows do not carry it: a gap is filled with the stored messages whose
ts lies between the last message shown in the channel and the first one
held back, that were not shown yet. A message is shown at most once, whatever
sequence numbers it arrives with (a cold channel server renumbers), and
never after a message with a later ts: the channel server sequences in
arrival order, the store orders by ts, and when the two disagree (two sends
racing through different web apps, an admin server's retry) the late one is
recorded ``late`` and left to history rather than shown out of order."""

from __future__ import annotations

from ...nodes.client import EMPTY
from ...nodes.protocol import Chat
from ..new.client import Display, NewClient, display_fields


class Rt2023Display(Display):
    """The new client's display state and, per channel, the messages shown
    and the highest ts shown."""

    __slots__ = ("shown", "last_ts")

    def __init__(self, fresh: bool = True):
        super().__init__(fresh)
        self.shown: dict[str, set[str]] = {} if fresh else EMPTY  # channel -> msgs displayed
        self.last_ts: dict[str, float] = {} if fresh else EMPTY  # channel -> highest ts displayed


class Rt2023Client(NewClient):
    __slots__ = ()
    DISPLAY = Rt2023Display
    NO_DISPLAY = Rt2023Display(fresh=False)
    shown, last_ts = display_fields(Rt2023Display)

    def receive(self, chat: Chat) -> None:
        if chat.msg in self.shown.get(chat.channel, ()):
            return
        super().receive(chat)

    def show(self, chat: Chat) -> None:
        ch = chat.channel
        if chat.seq:  # a live message: the display cursor moves past it even if shown already
            self.seen.setdefault(ch, set()).add(chat.seq)
            self.next_seq[ch] = max(self.next_seq.get(ch, 0), chat.seq + 1)
        shown = self.shown.setdefault(ch, set())
        if chat.msg in shown:
            return
        if float(chat.ts) < self.last_ts.get(ch, 0.0):
            # older than something already shown: the channel server's order
            # (arrival) disagrees with the store's (ts); showing it now would
            # break the order, so it is left to the channel's history
            self.sim.record(self.name, "event", "late", {"channel": ch, "msg": chat.msg, "seq": chat.seq})
            return
        shown.add(chat.msg)
        self.last_ts[ch] = max(self.last_ts.get(ch, 0.0), float(chat.ts))
        self.display(chat)

    def gap_rows(self, ch: str, rows: list[Chat], held: dict[int, Chat]) -> list[Chat]:
        """The stored messages the gap hides, in ts order (the store's order):
        newer than the last shown, older than the first held."""
        upto = float(held[min(held)].ts)
        since = self.last_ts.get(ch, 0.0)
        return [r for r in rows if since < float(r.ts) < upto and r.msg not in self.shown.get(ch, ())]
