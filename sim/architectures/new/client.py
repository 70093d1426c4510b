"""The new architecture's client: boots from Flannel, posts over HTTP, displays in log order."""

from __future__ import annotations

from operator import attrgetter

from ...nodes.client import EMPTY, Client, Pending
from ...nodes.protocol import Chat, Ephemeral, Welcome, outcome
from ...nodes.runs import Runs
from ...nodes.team import DirEvent


class Display:
    """A new client's display state (its ``view``): per channel the next
    sequence to show (``next_seq``), the sequences seen, the messages held
    back and whether a gap fill runs (``filling``; an empty set is 216
    bytes; the sequences seen are ``Runs``, a few pairs where a set held
    every number). One record, and
    until the first live message the shared ``NO_DISPLAY`` whose fields are
    all ``EMPTY``: one slot per client instead of four."""

    __slots__ = ("next_seq", "seen", "held", "filling")

    def __init__(self, fresh: bool = True):
        self.next_seq: dict[str, int] = {} if fresh else EMPTY
        self.seen: dict[str, Runs] = {} if fresh else EMPTY  # channel -> sequences seen
        self.held: dict[str, dict[int, Chat]] = {} if fresh else EMPTY
        self.filling: dict[str, None] = {} if fresh else EMPTY


def display_fields(cls: type) -> tuple[property, ...]:
    """Read-only properties for the fields ``cls`` adds to its base's."""
    return tuple(property(attrgetter(f"view.{n}")) for n in cls.__slots__)


class NewClient(Client):
    """New-architecture client: boots small, holds a WebSocket to its regional
    gateway for live messages, and sends with ``chat.postMessage`` over HTTP,
    retrying with backoff and jitter and always the same ``client_msg_id``.

    Display: each message carries its channel sequence (the log order). With
    ``hold_back`` a message that arrives ahead of a gap is held until the gap
    fills or ``hold_timeout`` passes, then the gap is fetched from history;
    a message arriving behind the display cursor after that is not shown live
    (recorded as a ``late`` event; it is in the history). Without hold-back,
    messages are shown as they arrive.
    """

    __slots__ = ("gateway", "hold_back", "hold_timeout", "conn", "welcomed", "view")
    DISPLAY = Display
    NO_DISPLAY = Display(fresh=False)
    next_seq, seen, held, filling = display_fields(Display)

    def __init__(self, sim, name, region, *, gateway: str, hold_back: bool, hold_timeout: float, **kw):
        super().__init__(sim, name, region, **kw)
        self.gateway = gateway  # its Flannel host: boot, directory and WebSocket
        self.hold_back = hold_back
        self.hold_timeout = hold_timeout

    def reset_volatile(self):
        super().reset_volatile()
        self.conn = None
        self.welcomed = None  # the welcome event of the open in progress
        self.view = self.NO_DISPLAY  # until the first live message (``own_display``)

    def own_display(self) -> None:
        """Give the client a display record of its own: every write to it
        follows a live message's ``receive``, so that is where."""
        self.view = self.DISPLAY()

    def webapp(self) -> str:
        return self.webapps[self.rng.randrange(len(self.webapps))]  # the load balancer's choice

    # -- session ------------------------------------------------------------------
    def do_boot(self):
        return (yield from self.rtm_boot("flannel.boot", self.gateway))

    def fetch_directory(self):
        reply = yield self.sim.network.request(self, self.gateway, "flannel.directory", {}, size=80,
                                               timeout=self.s.http_timeout)
        return reply

    def open_streams(self):
        """Open the WebSocket, say hello, and wait for the gateway's
        ``Welcome`` (every channel subscribed upstream): connected only then.
        No welcome within the HTTP timeout: close and start over."""
        conn = yield self.sim.network.connect(self, self.gateway, "ws")
        if isinstance(conn, str):
            return False
        self.conn = conn
        self.welcomed = self.env.event()
        self.hello(conn)
        yield from self.within_http_timeout(self.welcomed)
        if not self.welcomed.triggered or conn is not self.conn or not conn.open:
            conn.close(self)
            if conn is self.conn:
                self.conn = None
            return False
        self.welcomed = None  # welcomed: nothing waits on it any more (a fired event grows a dict)
        return True

    def on_unusable(self) -> None:
        if self.conn is not None:
            self.conn.close(self)
        self.conn = None

    def on_closed(self, conn, reason):
        if conn is self.conn:
            if self.welcomed is not None and not self.welcomed.triggered:
                self.welcomed.succeed()  # wake open_streams: it sees the closed socket
            self.stream_broke(reason)

    def ephemeral(self, kind: str, channel: str | None) -> None:
        if self.conn is not None:
            self.conn.send(self, kind, Ephemeral(kind, channel, self.name), 60)

    # -- sending --------------------------------------------------------------------
    def transmit(self, p: Pending) -> None:
        self.spawn(self.post_loop(p))

    def post_loop(self, p: Pending):
        net = self.sim.network
        msg = p.post.msg
        while p.attempts < self.s.max_attempts:
            p.attempts += 1
            reply = yield net.request(self, self.webapp(), "chat.postMessage", p.post, size=p.post.size,
                                      timeout=self.s.http_timeout, trace=msg)
            wait = self.backoff(p.attempts)
            if reply.status == "ok":
                self.acked(p.post.channel, msg, reply.payload["ts"])
                return
            err = reply.payload.get("error") if reply.status == "error" else None
            meaning = outcome(self.errors, reply.status, err)  # the error table decides, not branches here
            if not meaning.definite:
                p.maybe_applied = True  # this attempt may have taken effect
            if not meaning.retry:
                self.failed(msg, meaning.code)
                return
            if err == "ratelimited":
                wait = max(wait, reply.payload.get("retry_after", 1.0))
            if msg not in self.pending:
                return
            yield from self.sleep(wait)
        self.failed(msg, "gave_up")

    # -- display ----------------------------------------------------------------------
    def on_message(self, conn, msg):
        if isinstance(msg.payload, Welcome):
            if conn is self.conn and self.welcomed is not None and not self.welcomed.triggered:
                self.welcomed.succeed()
        elif isinstance(msg.payload, Chat):
            self.receive(msg.payload)
        elif isinstance(msg.payload, DirEvent):
            self.on_directory_event(msg.payload)

    def receive(self, chat: Chat) -> None:
        ch = chat.channel
        if self.seen is EMPTY:
            self.own_display()
        seen = self.seen.get(ch)
        if seen is None:
            seen = self.seen[ch] = Runs()
        elif chat.seq in seen:
            return  # the same log entry again
        nxt = self.next_seq.get(ch)
        if not self.hold_back or nxt is None or chat.seq == nxt:
            self.show(chat)
            self.drain(ch)
            return
        if chat.seq < nxt:
            # behind the display cursor (the hold timed out): showing it now would
            # break the order; it is in the channel's history instead
            self.sim.record(self.name, "event", "late", {"channel": ch, "msg": chat.msg, "seq": chat.seq})
            return
        self.held.setdefault(ch, {})[chat.seq] = chat
        if ch not in self.filling:
            self.filling[ch] = None
            self.spawn(self.fill_gap(ch))

    def show(self, chat: Chat) -> None:
        ch = chat.channel
        self.seen[ch].add(chat.seq)
        self.display(chat)
        self.next_seq[ch] = max(self.next_seq.get(ch, 0), chat.seq + 1)

    def drain(self, ch: str) -> None:
        held = self.held.get(ch)
        while held and self.next_seq[ch] in held:
            self.show(held.pop(self.next_seq[ch]))

    def gap_rows(self, ch: str, rows: list[Chat], held: dict[int, Chat]) -> list[Chat]:
        """Which of the channel's stored ``rows`` fill the gap before the held
        messages, in display order: here, the missing sequence numbers."""
        upto = min(held)
        return sorted((r for r in rows if self.next_seq[ch] <= r.seq < upto and r.seq not in self.seen[ch]),
                      key=lambda r: r.seq)

    def fill_gap(self, ch: str):
        """Hold back, then fetch the missing range from history and move on."""
        yield from self.sleep(self.hold_timeout)
        held = self.held.get(ch)
        if held:
            reply = yield self.sim.network.request(self, self.webapp(), "conversations.history",
                                                   {"channel": ch, "user": self.name, "rows": True},
                                                   size=120, timeout=self.s.read_timeout)
            if reply.status == "ok" and held:
                for r in self.gap_rows(ch, reply.payload["rows"], held):
                    self.show(r)
            if held:
                self.next_seq[ch] = max(self.next_seq[ch], min(held))  # give up on what is still missing
                self.drain(ch)
        self.filling.pop(ch, None)
        if self.held.get(ch):
            self.filling[ch] = None
            self.spawn(self.fill_gap(ch))
