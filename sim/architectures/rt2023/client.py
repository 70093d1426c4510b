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
from ...nodes.runs import Numbering, Runs
from ..new.client import Display, NewClient, display_fields


class Rt2023Display(Display):
    """The new client's display state and, per channel, the messages shown
    (as ``Runs`` of the run's per-channel message numbers, ``Numbering``:
    a channel's messages are shown in nearly the order they were first shown
    anywhere, so a few pairs hold what a set of ids held) and the highest ts
    shown."""

    __slots__ = ("shown", "last_ts")

    def __init__(self, fresh: bool = True):
        super().__init__(fresh)
        self.shown: dict[str, Runs] = {} if fresh else EMPTY  # channel -> numbers of the msgs displayed
        self.last_ts: dict[str, float] = {} if fresh else EMPTY  # channel -> highest ts displayed


class Rt2023Client(NewClient):
    __slots__ = ()
    DISPLAY = Rt2023Display
    NO_DISPLAY = Rt2023Display(fresh=False)
    shown, last_ts = display_fields(Rt2023Display)

    def numbering(self) -> Numbering:
        """The run's message numbers, one ``Numbering`` per simulation."""
        shared = self.sim.shared
        nums = shared.get((Numbering,))
        if nums is None:
            nums = shared[(Numbering,)] = Numbering()
        return nums

    def was_shown(self, ch: str, msg: str) -> bool:
        shown = self.shown.get(ch)
        if shown is None:
            return False
        n = self.numbering().get(ch, msg)
        return n is not None and n in shown

    def receive(self, chat: Chat) -> None:
        if self.was_shown(chat.channel, chat.msg):
            return
        super().receive(chat)

    def show(self, chat: Chat) -> None:
        ch = chat.channel
        if chat.seq:  # a live message: the display cursor moves past it even if shown already
            seen = self.seen.get(ch)
            if seen is None:
                seen = self.seen[ch] = Runs()
            seen.add(chat.seq)
            self.next_seq[ch] = max(self.next_seq.get(ch, 0), chat.seq + 1)
        shown = self.shown.get(ch)
        if shown is None:
            shown = self.shown[ch] = Runs()
        n = self.numbering().number(ch, chat.msg)
        if n in shown:
            return
        if float(chat.ts) < self.last_ts.get(ch, 0.0):
            # older than something already shown: the channel server's order
            # (arrival) disagrees with the store's (ts); showing it now would
            # break the order, so it is left to the channel's history
            self.sim.record(self.name, "event", "late", {"channel": ch, "msg": chat.msg, "seq": chat.seq})
            return
        shown.add(n)
        self.last_ts[ch] = max(self.last_ts.get(ch, 0.0), float(chat.ts))
        self.display(chat)

    def gap_rows(self, ch: str, rows: list[Chat], held: dict[int, Chat]) -> list[Chat]:
        """The stored messages the gap hides, in ts order (the store's order):
        newer than the last shown, older than the first held."""
        upto = float(held[min(held)].ts)
        since = self.last_ts.get(ch, 0.0)
        return [r for r in rows if since < float(r.ts) < upto and not self.was_shown(ch, r.msg)]
