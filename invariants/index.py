"""One linear pass over a history, gathering what every checker needs.

The index is itself a pure function of the history; checkers read it instead
of each re-walking a million ops. Keys are ``(channel, msg)`` because the same
``client_msg_id`` may legitimately be sent in two channels. Live views are
kept as parallel lists (ids, texts, op indexes) so checkers can use set
operations and comprehensions on the ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.errors import HistoryError
from sim.history import History, Meta

class OpError(HistoryError):
    """An op lacks what its kind must carry; ``index`` is the op's, so the
    caller, which has the file, can name the line (``sim.history.line_of_op``)."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


# The value fields each op kind must carry (checked while indexing).
_REQUIRED = {"deliver": ("channel", "msg"), "send": ("channel", "msg"), "stored": ("channel", "msgs")}


@dataclass
class Send:
    """One logical message (a ``(channel, msg)``) and every attempt to send it.

    DESIGN §6: acked if any attempt was ok, failed only if every attempt
    definitely failed, unknown otherwise. ``done`` is the first ok when
    acked, else the last completion seen.
    """

    channel: str
    msg: str
    text: str | None
    process: str
    invoke: int  # history index of the first invoke
    # the texts of later attempts that differ from the first's: DESIGN §7's
    # "invoked by a send ... with that text" holds for any attempt's text
    other_texts: set[str] | None = None
    outcome: str = "unknown"  # ok | fail | unknown
    done: int | None = None
    # [invoke index, completing index or None, completing type or None, process, channel], in order
    attempts: list[list] = field(default_factory=list)

    def settle(self) -> None:
        """Fold the attempts into one outcome (called once, after the pass)."""
        oks = [a[1] for a in self.attempts if a[2] == "ok"]
        if oks:
            # the first ack in history order (not the first acked attempt's: two
            # processes may send one id, and the later invoke may be acked first)
            self.outcome, self.done = "ok", min(oks)
            return
        self.outcome = "fail" if all(a[2] == "fail" for a in self.attempts) else "unknown"
        ends = [a[1] for a in self.attempts if a[1] is not None]
        self.done = ends[-1] if ends else None


@dataclass
class Live:
    """One client's live view of one channel, in history order."""

    msgs: list[str] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)


@dataclass
class Index:
    members: dict[str, set[str]]
    sends: dict[tuple[str, str], Send] = field(default_factory=dict)
    live: dict[tuple[str, str], Live] = field(default_factory=dict)
    # (client, channel) -> (msgs, index) of the last ok read
    reads: dict[tuple[str, str], tuple[list[str], int]] = field(default_factory=dict)
    # (client, channel) -> index of that read's invoke (what was acked before it must be in it)
    read_invoked: dict[tuple[str, str], int] = field(default_factory=dict)
    # channel -> (msgs, index) of the last stored report
    stored: dict[str, tuple[list[str], int]] = field(default_factory=dict)
    # boot consistency: client -> (version, channels, index) of its final directory view
    dir_views: dict[str, tuple[int, dict[str, list[str]], int]] = field(default_factory=dict)
    dir_truth: tuple[int, dict[str, list[str]], int] | None = None
    reused_ids: int = 0  # a second invoke of an id already sent in that channel (a retry)
    # client -> [(index, True for connect / False for disconnect), ...] in history order
    sessions: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    ops: int = 0

    def outcome_counts(self) -> dict[str, int]:
        c = {"ok": 0, "fail": 0, "unknown": 0}
        for s in self.sends.values():
            c[s.outcome] += 1
        return c


def build(history: History) -> Index:
    """Index a history parsed with ``slim=True``."""
    return build_blocks(history.meta, [history.ops])


def build_blocks(meta: Meta, blocks: Iterable[list]) -> Index:
    """Index a history given as its header and its slim ops in blocks (a
    parsed history's list, or ``sim.history.stream_history``'s blocks: then
    only one block of ops exists at a time, and the index keeps what it
    needs of them)."""
    ix = Index(members={ch: set(ms) for ch, ms in meta.channels.items()})
    sends, live, reads, stored = ix.sends, ix.live, ix.reads, ix.stored
    # (process, msg) -> its attempts not yet completed, oldest first
    pending: dict[tuple[str, str], list[list]] = {}
    pending_reads: dict[tuple[str, str], int] = {}
    # One string object per distinct message id and text: every delivery
    # and read decodes its own copies, and a large history's index would
    # otherwise hold millions of equal strings (checkers compare by value).
    strs: dict = {}
    n = 0
    for ops in blocks:
        n += len(ops)
        for op in ops:
            f = op.f
            v = op.value
            # DESIGN §6: deliver, stored, connect and disconnect are events
            # (observations); an op of another type with such an f is none of
            # them, and is ignored like any op checkers do not use.
            if f == "deliver" and op.type == "event":
                key = (op.process, v.channel)
                lv = live.get(key)
                if lv is None:
                    if v.channel is None or v.msg is None:
                        _bad(op, f)
                    lv = live[key] = Live()
                m, t = v.msg, v.text
                lv.msgs.append(strs.setdefault(m, m))
                lv.texts.append(strs.setdefault(t, t))
                lv.indexes.append(op.index)
            elif f == "send" and op.type != "event":  # an observation is no attempt and completes none (§6)
                ch, m = v.channel, v.msg
                if m is None or (ch is None and op.type == "invoke"):
                    _bad(op, f)
                if op.type == "invoke":
                    s = sends.get((ch, m))
                    if s is None:
                        s = sends[(ch, m)] = Send(ch, m, v.text, op.process, op.index)
                    else:
                        ix.reused_ids += 1
                        if v.text is not None and v.text != s.text:
                            s.other_texts = (s.other_texts or set()) | {v.text}
                    attempt = [op.index, None, None, op.process, ch]
                    s.attempts.append(attempt)
                    pending.setdefault((op.process, m), []).append(attempt)
                else:
                    # DESIGN §6: a completion is the next op of the same
                    # process, f and msg, so each completes the oldest attempt
                    # still open (two open attempts then two fails: both
                    # failed). Its channel, when it names one an open attempt
                    # has, picks among attempts of the id in several channels.
                    waiting = pending.get((op.process, m))
                    if waiting:
                        at = next((i for i, a in enumerate(waiting) if a[4] == ch), 0)
                        attempt = waiting.pop(at)
                        attempt[1], attempt[2] = op.index, op.type
            elif f == "read":
                if op.type == "invoke":
                    pending_reads[(op.process, v.channel)] = op.index
                elif op.type == "ok":
                    if v.channel is None or v.msgs is None:
                        _bad(op, "read")
                    key = (op.process, v.channel)
                    reads[key] = ([strs.setdefault(m, m) for m in v.msgs], op.index)
                    ix.read_invoked[key] = pending_reads.get(key, op.index)
            elif f == "stored" and op.type == "event":
                if v.channel is None or v.msgs is None:
                    _bad(op, f)
                stored[v.channel] = (v.msgs, op.index)
            elif (f == "connect" or f == "disconnect") and op.type == "event":
                ix.sessions.setdefault(op.process, []).append((op.index, f == "connect"))
            elif f == "directory" or f == "directory-truth":
                if v.version is None or v.channels is None:
                    raise OpError(op.index, f"op {op.index} ({f}): value needs 'version' and 'channels'")
                if f == "directory":
                    ix.dir_views[op.process] = (v.version, v.channels, op.index)
                else:
                    ix.dir_truth = (v.version, v.channels, op.index)
    # a deliver of a new (client, channel) checks its fields above; later ones
    # share the key, so a missing msg there shows up as None ids:
    for lv in live.values():
        if None in lv.msgs:
            i = lv.indexes[lv.msgs.index(None)]
            raise OpError(i, f"op {i} (deliver): value has no 'msg'")
    for s in sends.values():
        s.settle()
    ix.ops = n
    return ix


def _bad(op, f: str) -> None:
    need = ("msg",) if f == "send" and op.type != "invoke" else _REQUIRED.get(f, ("channel", "msgs"))
    raise OpError(op.index, f"op {op.index} ({f} {op.type}): value needs {' and '.join(repr(k) for k in need)}")
