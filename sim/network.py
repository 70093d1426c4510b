"""The simulated network (DESIGN §3): regions, links, two transports,
partitions, degradation, and a journal of every message.

Theory of operation
-------------------
Latency. Every node lives in a region. The one-way delay between two nodes
is half the region pair's round-trip time (the RTT table below, ~1 ms within
a region) plus each end's access-link latency, times a lognormal jitter
factor, plus any degradation in force. Each ordered pair of nodes has its own
``Link`` with its own random stream (``net/<src>><dst>``), so traffic on one
link never shifts the draws of another.

Datagrams are independent: each copy is lost with the link's loss
probability, duplicated with its duplication probability, and reordering
falls out of the jitter. A partition drops datagrams at send and in flight.

Streams (``Connection``: WebSocket, HTTP, Kafka client) are reliable and FIFO
while open. Loss becomes retransmission delay (each lost attempt adds an RTO
that doubles), and arrival times are forced monotonic per direction. While a
partition blocks a direction, arriving data is *held* (TCP keeps
retransmitting); when the partition heals within the keepalive window the
held data is delivered in order; otherwise the connection breaks and
everything in flight is lost. How ends learn of a break:

=====================  =========================================  ===========
cause                  who learns                                 when
=====================  =========================================  ===========
``close``/``reset``    the other end (the closer knows)           one-way delay
peer process crash     the surviving end (kernel sends FIN/RST    after the data
                       after flushing what was already written)   already sent
peer host vanishes     the surviving end                          keepalive
partition persists     both ends                                  keepalive
=====================  =========================================  ===========

HTTP is request/response over a short-lived stream with a client-side
timeout. The reply is a ``Reply`` whose ``status`` tells what the client can
know: ``ok`` (an answer), ``refused`` (nobody was listening: definitely no
effect), ``unreachable`` (no connection could be set up through a partition
within the connect timeout: the request was never sent, definitely no
effect), ``reset`` (the server died while handling it: outcome unknown),
``timeout`` (outcome unknown).

Hot path: message arrivals are timeout callbacks, never one SimPy process per
message. The server side of an HTTP request runs in place (``_serve_now``):
a plain handler answers at once, one that answers ``Later`` is a callback on
the event it waits for, and only generator handlers (which wait on other
nodes) get a process, started where it stands; the client's waiter resumes
at once when its reply is the next event (``kernel.fire``).
"""

from __future__ import annotations

from array import array
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from operator import attrgetter
from sys import getsizeof
import os
import tempfile
from math import copysign, cos, exp, log, sin, sqrt, tau
from types import GeneratorType
from typing import Any, Generator, Iterator, NamedTuple

from heapq import heappush

from simpy.events import NORMAL, Event, Timeout

from .errors import WiringError
from .kernel import Later, Node, NodeCrashed, Simulation, Stream, at_timeout_key, fire, woken

# Round-trip times between regions, seconds: every pair the model names
# (DESIGN §3 for the us-east rows; the rest are AWS inter-region ping medians,
# us-east-1, eu-west-1, us-west-1, sa-east-1, ap-northeast-1, ap-southeast-1,
# as cloudping.co and latency.bluegoat.net report them; docs/network.md).
DEFAULT_RTT: dict[tuple[str, str], float] = {
    ("us-east", "eu-west"): 0.080,
    ("us-east", "us-west"): 0.087,
    ("us-east", "sa-east"): 0.120,
    ("us-east", "ap-northeast"): 0.145,
    ("us-east", "ap-southeast"): 0.217,
    ("eu-west", "us-west"): 0.137,
    ("eu-west", "sa-east"): 0.180,
    ("eu-west", "ap-northeast"): 0.212,
    ("eu-west", "ap-southeast"): 0.170,
    ("us-west", "sa-east"): 0.180,
    ("us-west", "ap-northeast"): 0.108,
    ("us-west", "ap-southeast"): 0.170,
    ("sa-east", "ap-northeast"): 0.257,
    ("sa-east", "ap-southeast"): 0.327,
    ("ap-northeast", "ap-southeast"): 0.070,
}
INTRA_REGION_RTT = 0.001
FEW_CONNS = 8  # up to this many open connections a node's are a tuple, not a dict


def region_rtt(a: str, b: str, table: dict[tuple[str, str], float] = DEFAULT_RTT) -> float:
    """RTT between two regions, looked up in either order; a pair the table
    lacks is a wiring error (no guessing a route)."""
    if a == b:
        return INTRA_REGION_RTT
    rtt = table.get((a, b))
    if rtt is None:
        rtt = table.get((b, a))
    if rtt is None:
        known = sorted({r for pair in table for r in pair})
        raise WiringError(f"no RTT known between regions {a!r} and {b!r} (known regions: {', '.join(known)})")
    return rtt


@dataclass(frozen=True)
class NetConfig:
    jitter_sigma: float = 0.15  # lognormal sigma of the one-way delay factor
    loss: float = 0.0  # base loss probability on every link
    dup: float = 0.0  # base datagram duplication probability
    rto_min: float = 0.2  # TCP minimum retransmission timeout
    keepalive: float = 10.0  # time to notice a silent peer or a lasting partition
    connect_timeout: float = 3.0
    journal: bool = True
    rtt: dict = field(default_factory=lambda: dict(DEFAULT_RTT))


class Message(NamedTuple):
    """What travels. Immutable; ``trace`` is the logical message it serves."""

    id: int
    src: str
    dst: str
    kind: str
    payload: Any
    size: int
    trace: str | None


_new_tuple = tuple.__new__
_new_object = object.__new__
_SEQ = attrgetter("seq")
_ABSENT = object()  # a default no stored value is


class _Segment:
    """A segment in flight, scheduled as its own SimPy event: SimPy's loop
    needs only ``callbacks`` and ``_ok`` of what it pops (``_ok`` is always
    True, but a slot: the loop's read of a slot is specialised, of a class
    attribute it is not). Pushed on the queue exactly as ``Timeout`` would
    be (same time, priority and event id, so the same order), minus a
    Timeout's extra fields and calls.

    No ``__init__``: ``Connection.send`` calls the bare class and fills the
    slots itself, which costs about half of what a call through a Python
    ``__init__`` does (a second frame per message; measured with
    cachegrind, docs/performance.md)."""

    __slots__ = ("callbacks", "_ok", "conn", "d", "msg", "row")


class _Answered:
    """Stands for an HTTP exchange's event once answered (``triggered``)."""

    __slots__ = ()
    triggered = True


ANSWERED = _Answered()


class _Then:
    """The rest of a request whose handler answered ``Later``: answer
    ``then(node, request)`` (``Network._answer``) once the awaited event has
    fired, unless the node crashed meanwhile. What ``Wake(node,
    partial(answer_later, ...))`` did as a callback, in
    one slotted object (no partial); the incarnation and crash rule is
    ``woken``'s, as a ``Wake``'s.

    Two uses. Appended to the awaited event's callbacks, it runs where a
    process waiting on that event would resume (a paused node's process
    resumes too: a wait's end is not held). As its own event (``due``: a
    ``service_time`` wait) it is pushed with the key ``Timeout(env, delay)``
    gets — (now + delay, NORMAL, the next event id) — and SimPy's loop calls
    ``_Then.__call__(it)``, which is what the ``Wake`` on that timeout did
    when the timeout popped: one event fewer (the Timeout and its callback
    were one event; this is one too), same place in the order."""

    __slots__ = ("callbacks", "_ok", "net", "node", "inc", "conn", "msg", "then")

    def __init__(self, net: "Network", node: Node, conn: "Connection", msg: Message, then):
        self.net = net
        self.node = node
        self.inc = node.incarnation
        self.conn = conn
        self.msg = msg
        self.then = then

    @staticmethod
    def due(net: "Network", node: Node, conn: "Connection", msg: Message, delay: float) -> None:
        """Answer from ``node``'s table after ``delay`` (its service time)."""
        then = _Then(net, node, conn, msg, Node.from_table)
        then.callbacks = _THEN_CBS
        then._ok = True
        at_timeout_key(net.env, delay, then)

    def __call__(self, _event=None) -> None:
        # as a callback, never as a timer: a wait's end is not held for a pause
        woken(self.node, self.inc, self.answer, False)

    def answer(self, node: Node) -> None:
        self.net._answer(node, self.conn, self.msg, self.then(node, self.msg.payload))


_THEN_CBS = [_Then.__call__]  # shared, read (never mutated) by the run loop


class Reply(NamedTuple):
    """What a request's sender learns. ``status`` is one of:

    - ``ok``: the handler answered ``("ok", payload, size)``;
    - ``error``: the handler answered ``("error", payload, size)``; the
      payload's ``error`` code is looked up in the architecture's error table
      (``sim.nodes.protocol``) to tell definite from unknown;
    - ``refused``: nobody listening (definite: never received);
    - ``unreachable``: no connection within the connect timeout (definite);
    - ``reset``: the server died or the connection broke while handling it
      (unknown: it may have taken effect);
    - ``timeout``: no answer within the client's timeout (unknown).
    """

    status: str
    payload: Any = None
    size: int = 0


class _ReplyKinds(dict):
    """Request kind -> its reply's kind, one string per kind (not one per
    reply), made on first use: one subscript on the hot path."""

    def __missing__(self, kind: str) -> str:
        reply_kind = self[kind] = kind + ":reply"
        return reply_kind


_REPLY_KINDS: dict[str, str] = _ReplyKinds()


class Request(NamedTuple):
    src: str
    kind: str
    payload: Any
    trace: str | None


JOURNAL_CHUNK = 1 << 16  # messages per columnar chunk of the journal (see Journal)
ROW = 7  # values a message takes in the journal's tail: id, src, dst, kind, bytes, sent, trace


def _nans(n: int) -> array:
    return array("d", [float("nan")]) * n


class Journal:
    """Every message: [id, src, dst, kind, bytes, sent, received, dropped, trace].

    ``received`` is None until arrival; ``dropped`` names why it never
    arrived (loss, partition, closed, crashed, broken).

    Stored by column group, not as one list per message: millions of
    long-lived mutable rows would make every full collection walk them all
    (that was a third of the hot path's time), and a 100k-client run sends
    millions of messages. A message's handle is its id, which is its index
    (the network journals every id it draws, in order, right after drawing
    it); ``rows`` is a read-only view in the row shape above.

    - The immutable part — ``ROW`` plain values: id, src, dst, kind,
      bytes, sent, trace — is added to ``tail``, one flat list (``tail +=
      (...)``: no tuple per message is kept, and the columns are slices,
      ``tail[1::ROW]``, taken in C). Every ``JOURNAL_CHUNK`` messages the
      tail is moved into a ``_Chunk`` of columns — names, kinds and traces
      as codes, sizes and send times as machine numbers, the ids dropped
      (they are the row numbers) — ~36 bytes a message instead of ~120 in
      the tail, which are then spilled to an anonymous temporary file
      (``_Chunk.spill``), and the tail starts empty again. The hot path
      pays one ``len`` per message for it (``Network._tail_max``); a
      compaction costs ~0.5 µs a message. A small run (tens of thousands
      of messages) never compacts; the network benchmark as ``chatsim
      bench`` runs it (10,000 sends: 110,000 messages a side) compacts
      once, as a long run does every 65,536 messages; a 100k-client storm
      (millions) holds at most one chunk of tail (~8 MB) and the arrival
      times, 8 bytes a message.
    - ``received`` is one ``array('d')`` over all messages, NaN until the
      message arrives (arrivals come long after the send, so it cannot be
      chunked), kept one chunk ahead of the messages so sending appends
      nothing to it. Times are floats except where the clock was left on an
      integer (a run's ``until`` or a fault's whole-second time): the network
      notes those rows in ``received_int`` where it can be on one
      (``Network._stream_deliver``, ``_datagram_arrive``), so a row reads
      back exactly as it was written, int or float.
    - drops are few: a dict of row → reason.
    """

    __slots__ = ("tail", "chunk", "tail_max", "received", "received_int", "dropped", "enabled", "chunks", "_codes",
                 "_strings", "_file", "_end", "_loaded")

    def __init__(self, enabled: bool = True):
        self.tail: list = []  # ROW values a message: id, src, dst, kind, bytes, sent, trace
        # messages a chunk, read once (``JOURNAL_CHUNK``, which tests change
        # before they build a network); the tail's length that makes one
        self.chunk = JOURNAL_CHUNK
        self.tail_max = ROW * self.chunk
        self.received = _nans(self.chunk) if enabled else array("d")  # one chunk ahead: sending appends nothing
        self.received_int: set[int] = set()
        self.dropped: dict[int, str] = {}
        self.enabled = enabled
        self.chunks: list[_Chunk] = []  # ``chunk`` messages each, in order
        self._strings: list[Any] = []  # code -> name, kind or trace
        self._codes: dict[Any, int] = {}  # the chunks' names, kinds and traces -> code
        self._file = None  # where chunks spill: an anonymous temporary file, made at the first (False: none)
        self._end = 0  # where the next chunk's columns go in it
        self._loaded: tuple = (None, None)  # (chunk, its columns): the last chunk read back

    def add(self, mid, src, dst, kind, size, now, trace) -> int | None:
        """Journal message ``mid`` (the next index); its handle, or None when disabled."""
        if not self.enabled:
            return None
        tail = self.tail
        tail += (mid, src, dst, kind, size, now, trace)
        if len(tail) >= self.tail_max:
            self.compact()
        return mid

    def compact(self) -> None:
        """Move a full tail into a columnar chunk, spilled to the journal's
        file (``Connection.send`` calls this after each append, as ``add``
        does): every chunk holds exactly ``chunk`` messages, so row ``i``
        is in chunk ``i // chunk``."""
        tail = self.tail
        if len(tail) >= self.tail_max:
            chunk = _Chunk(tail, len(self.chunks) * self.chunk, self._codes, self._strings)
            if self._file is None:
                try:
                    self._file = tempfile.TemporaryFile(prefix="chatsim-journal-", buffering=0)
                except OSError:  # no temporary space: the chunks stay in memory, as they did
                    self._file = False
            if self._file:
                try:
                    self._end = chunk.spill(self._file.fileno(), self._end)
                except OSError:  # the disk filled up: this chunk stays in memory (the next one
                    pass  # overwrites what it wrote; nothing is left buffered to fail later reads)
            self.chunks.append(chunk)
            tail.clear()  # the same list: the network holds it
            self.received.extend(_nans(self.chunk))  # room for the next chunk's arrivals

    def _columns(self, chunk: _Chunk) -> tuple:
        loaded, cols = self._loaded
        if loaded is not chunk:
            cols = chunk.columns(self._file.fileno() if self._file else -1)
            self._loaded = (chunk, cols)
        return cols

    def _received(self, i: int):
        r = self.received[i]
        if r != r:
            return None
        return int(r) if i in self.received_int else r

    def row(self, i: int) -> list:
        n = len(self.chunks) * self.chunk
        if i < n:
            chunk = self.chunks[i // self.chunk]
            mid, src, dst, kind, size, sent, trace = chunk.row(self._columns(chunk), i % self.chunk)
        else:
            k = ROW * (i - n)
            if not 0 <= k < len(self.tail):
                raise IndexError(i)
            mid, src, dst, kind, size, sent, trace = self.tail[k:k + ROW]
        return [mid, src, dst, kind, size, sent, self._received(i), self.dropped.get(i), trace]

    def sent_rows(self) -> Iterator[tuple]:
        """Every message's ``(id, src, dst, kind, bytes, sent, trace)``, in order."""
        for chunk in self.chunks:
            yield from chunk.rows(self._columns(chunk))
        yield from _rows(self.tail)

    def summary(self) -> dict:
        """Counts over every message: total, bytes, those on some message's
        path (``trace`` set), by kind and by drop reason. Over a chunk's
        columns, without building its rows."""
        kinds: Counter = Counter()
        total = on_paths = 0
        none = self._codes.get(None)
        for chunk in self.chunks:
            _src, _dst, kind, size, _sent, trace = self._columns(chunk)
            total = sum(size, total)  # one running sum, as over rows: the same additions in order
            on_paths += len(chunk) - (trace.count(none) if none is not None else 0)
            kinds.update(map(self._strings.__getitem__, kind))
        tail = self.tail
        total = sum(tail[4::ROW], total)
        on_paths += len(tail) // ROW - tail[6::ROW].count(None)
        kinds.update(tail[3::ROW])
        dropped = Counter(self.dropped.values())
        return {"messages": len(self), "bytes": total, "on_message_paths": on_paths,
                "by_kind": dict(sorted(kinds.items())), "dropped": dict(sorted(dropped.items()))}

    def traced_rows(self) -> Iterator[list]:
        """The rows with a ``trace``, in order (what ``journal.jsonl`` holds)."""
        dropped = self.dropped
        none = self._codes.get(None)
        i = 0
        for chunk in [*self.chunks, self.tail]:
            if isinstance(chunk, _Chunk):
                cols = self._columns(chunk)
                rows = [(k, chunk.row(cols, k)) for k, t in enumerate(cols[5]) if t != none]
            else:
                rows = [(k, r) for k, r in enumerate(_rows(chunk)) if r[6] is not None]
            for k, (mid, src, dst, kind, size, sent, trace) in rows:
                yield [mid, src, dst, kind, size, sent, self._received(i + k), dropped.get(i + k), trace]
            i += len(chunk) if isinstance(chunk, _Chunk) else len(chunk) // ROW

    @property
    def rows(self) -> "JournalRows":
        return JournalRows(self)

    def __len__(self) -> int:
        return len(self.chunks) * self.chunk + len(self.tail) // ROW


class _Chunk:
    """``JOURNAL_CHUNK`` messages of the journal as columns; indexing or
    iterating gives back the exact tuples they were made of.

    Sizes and send times go into arrays (8 bytes a value instead of an
    object each) when every value fits exactly: sizes all ``int``, send
    times ``float`` or ``int`` — an int time (the clock stopped on a whole
    second) is flagged in ``sent_int`` and read back as an int. A column
    that does not fit stays a list. Names, kinds and traces are codes into
    the journal's table of them (``strings``), which gives back the very
    objects — and lets go of the equal copies messages carry (a reply's
    kind is a new string per message); a trace is None or a message id,
    one per message path. ``ids`` is None when the ids are the row numbers
    (always, today: the network journals every id it draws).

    A chunk of arrays only (every chunk a run makes) is then *spilled*:
    its columns written to the journal's anonymous temporary file and let
    go, ~30 bytes a message that a 100k-client storm (~8 million messages)
    no longer holds while it runs; what reads it (rows, the summary,
    journal.jsonl, all after the run or in tests) reads the columns back,
    the last chunk read kept (``Journal._loaded``) so a row-by-row walk
    reads each chunk once."""

    __slots__ = ("ids", "base", "n", "size_list", "sent_list", "sent_int", "strings", "at", "cols")

    def __init__(self, tail: list, base: int, codes: dict, strings: list):
        n = self.n = len(tail) // ROW
        self.base = base
        # ids only grow, so the first and the last in place means all of them are
        self.ids = None if tail[0] == base and tail[-ROW] == base + n - 1 else tail[0::ROW]
        src, dst, kind, size, sent, trace = (tail[k::ROW] for k in range(1, ROW))  # the columns: slices, in C
        self.strings = strings
        self.size_list = None if set(map(type, size)) == {int} else size
        types = set(map(type, sent))
        self.sent_int = None
        if types <= {float, int}:
            self.sent_list = None
            if int in types:
                self.sent_int = bytes(t.__class__ is int for t in sent)
        else:
            self.sent_list = sent
        self.at = None
        self.cols = (_encode(src, codes, strings), _encode(dst, codes, strings), _encode(kind, codes, strings),
                     array("q", size) if self.size_list is None else None,
                     array("d", sent) if self.sent_list is None else None,
                     _encode(trace, codes, strings, fresh=True))

    def spill(self, fd: int, at: int) -> int:
        """Write the columns at offset ``at`` of file ``fd`` and let them go
        (only a chunk of arrays: a list column keeps the chunk in memory);
        the offset after them. Positional, unbuffered writes: a full disk
        raises here while the columns are still held, and leaves no bytes
        in a buffer that a later read would try to flush first."""
        if self.size_list is not None or self.sent_list is not None:
            return at
        pos = at
        for col in self.cols:
            data = memoryview(col).cast("B")
            while data:
                n = os.pwrite(fd, data, pos)
                pos += n
                data = data[n:]
        self.at, self.cols = at, None
        return pos

    def columns(self, fd: int) -> tuple:
        """``(src, dst, kind, size, sent, trace)``: the arrays (size and sent
        as the lists when they did not fit), read back from file ``fd`` when
        spilled."""
        cols = self.cols
        if cols is None:
            pos = self.at
            cols = []
            for typecode in "IIIqdI":
                col = array(typecode)
                want = self.n * col.itemsize
                buf = bytearray()
                while len(buf) < want:
                    data = os.pread(fd, want - len(buf), pos + len(buf))
                    if not data:
                        raise OSError(f"the journal's file ends inside a chunk (offset {pos + len(buf)})")
                    buf += data
                col.frombytes(buf)
                pos += want
                cols.append(col)
        src, dst, kind, size, sent, trace = cols
        return (src, dst, kind, size if self.size_list is None else self.size_list,
                sent if self.sent_list is None else self.sent_list, trace)

    def __len__(self) -> int:
        return self.n

    def rows(self, cols: tuple) -> Iterator[tuple]:
        """The tuples, in order, from ``columns``."""
        src, dst, kind, size, sent, trace = cols
        if self.sent_int is not None:
            sent = [int(t) if f else t for t, f in zip(sent, self.sent_int)]
        ids = range(self.base, self.base + self.n) if self.ids is None else self.ids
        name = self.strings.__getitem__
        return zip(ids, map(name, src), map(name, dst), map(name, kind), size, sent, map(name, trace))

    def row(self, cols: tuple, k: int) -> tuple:
        src, dst, kind, size, sent, trace = cols
        t = sent[k]
        if self.sent_int is not None and self.sent_int[k]:
            t = int(t)
        s = self.strings
        return (self.base + k if self.ids is None else self.ids[k], s[src[k]], s[dst[k]], s[kind[k]], size[k], t,
                s[trace[k]])


def _encode(col: list, codes: dict, strings: list, fresh: bool = False) -> array:
    """A column of names, kinds or traces as their codes in ``strings``; a
    value not seen before takes the next code, in first-seen order. Names
    and kinds come back in every chunk, so their column is mapped at once
    and only a miss walks its distinct values; traces (one per message
    path) are mostly new in each chunk (``fresh``): walked first. (A plain
    dict: its own ``__getitem__`` maps ~40 % faster than a subclass's
    ``__missing__`` would.)"""
    if not fresh:
        try:
            return array("I", list(map(codes.__getitem__, col)))
        except KeyError:
            pass
    for value in dict.fromkeys(col):
        if value not in codes:
            codes[value] = len(strings)
            strings.append(value)
    return array("I", list(map(codes.__getitem__, col)))


def _rows(tail: list) -> Iterator[tuple]:
    """A journal tail's messages as ``(id, src, dst, kind, bytes, sent, trace)``."""
    return zip(*[iter(tail)] * ROW)


class JournalRows(Sequence):
    """The journal as rows ``[id, src, dst, kind, bytes, sent, received,
    dropped, trace]``, built on access (a view: nothing is copied)."""

    __slots__ = ("_j",)

    def __init__(self, journal: Journal):
        self._j = journal

    def __len__(self) -> int:
        return len(self._j)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._j.row(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._j.row(i)

    def __iter__(self):
        j = self._j
        dropped, received = j.dropped, j._received
        for i, (mid, src, dst, kind, size, sent, trace) in enumerate(j.sent_rows()):
            yield [mid, src, dst, kind, size, sent, received(i), dropped.get(i), trace]


class LinkParams:
    """What a link is — one-way base delay, loss, duplication, access
    latency, jitter sigma, RTO, and the degradation version it was built
    under. Immutable and shared: a run has a handful of distinct ones
    (region pair × access kind × degradations), and thousands of links."""

    __slots__ = ("base", "loss", "dup", "extra", "sigma", "rto", "version")

    def __init__(self, base, loss, dup, extra, sigma, rto, version):
        self.base = base
        self.loss = loss
        self.dup = dup
        self.extra = extra
        self.sigma = sigma
        self.rto = rto
        self.version = version


def _param(name: str) -> property:
    return property(lambda link: getattr(link.p, name), doc=f"``LinkParams.{name}`` of the link")


class Link(Stream):
    """One direction between two nodes: its parameters (``p``, shared) and
    its random stream, delay, loss and duplication drawn from it.

    A link with a low-traffic end (a client, ``light_rng``) is its own random
    stream (``rng`` is the link itself, the SplitMix64 state in the inherited
    slots) and is kept by that end, in its ``links`` tuple (``peer``: the
    other end's name, ``out``: whether it leads away from the holder), not in
    the network's dict: per link that saves the dict slot and the
    ``(src, dst)`` key, and the parameters are one shared record instead of
    seven slots — a link is ~80 bytes instead of ~260. Other links draw from
    a Mersenne Twister in ``rng`` and are the network's, keyed by names."""

    __slots__ = ("p", "rng", "peer", "out")

    def __init__(self, p: LinkParams, rng, peer: str | None = None, out: bool = True):
        self.p = p
        self.rng = rng
        self.peer = peer
        self.out = out
        self._s = self._g = None

    base, loss, dup, extra, sigma, rto, version = (_param(n) for n in LinkParams.__slots__)

    def delay(self) -> float:
        p = self.p
        return p.base * exp(self.rng.gauss(0.0, p.sigma)) + p.extra

    def stream_delay(self) -> float:
        """Delay of a reliable segment: loss shows as retransmission time."""
        p = self.p
        d = p.base * exp(self.rng.gauss(0.0, p.sigma)) + p.extra
        if p.loss:
            rto = p.rto
            rand = self.rng.random
            while rand() < p.loss:
                d += rto
                rto = min(rto * 2, 60.0)
        return d


@dataclass(frozen=True)
class Rule:
    """A partition (blocks src→dst) or a degradation window on node sets."""

    id: int
    srcs: frozenset[str]
    dsts: frozenset[str]
    latency: float = 0.0
    loss: float = 0.0
    dup: float = 0.0

    def covers(self, src: str, dst: str) -> bool:
        return src in self.srcs and dst in self.dsts


class Connection:
    """A stream between two nodes; FIFO and reliable while open.

    Per-direction state (direction 0 is a→b) lives in plain slots, not in
    small lists: there is a connection per connected client, and three
    two-element containers cost more than the connection itself."""

    __slots__ = ("net", "kind", "a", "b", "inc_a", "inc_b", "open", "last0", "last1", "held",
                 "keepalive", "http", "expiry", "meta", "_checking", "link0", "link1", "drain", "seq")

    # No ``__init__``: ``Network._open`` calls the bare class and fills every
    # slot (what each holds is said there). A class with a Python
    # ``__init__`` costs a C-to-Python call per connection, and the new
    # design opens one per HTTP request (as ``_Segment``, docs/performance.md).

    def last(self, d: int) -> float:
        return self.last1 if d else self.last0

    def set_last(self, d: int, t: float) -> None:
        if d:
            self.last1 = t
        else:
            self.last0 = t

    def peer(self, node: Node) -> Node:
        return self.b if node is self.a else self.a

    def send(self, sender: Node, kind: str, payload: Any, size: int = 100, trace: str | None = None) -> bool:
        """Queue data to the other end; False (and a journal drop) if closed.

        The hot path of every run, so flat: ``Journal.add``, ``Link.stream_delay``
        (its lossless case), ``Message(...)``, the ``_Segment`` and
        ``env.schedule`` are inlined."""
        net = self.net
        if sender is self.a:
            d, dst = 0, self.b
        else:
            d, dst = 1, self.a
        mid = next(net._ids)
        env = net.env
        now = env._now
        src_name, dst_name = sender.name, dst.name
        tail = net._tail
        if tail is None:
            row = None
        else:  # Journal.add, inlined: the row is the id
            row = mid
            tail += (mid, src_name, dst_name, kind, size, now, trace)
            if len(tail) >= net._tail_max:
                net.journal.compact()
        if not self.open:
            if row is not None:
                net._dropped[row] = "closed"
            return False
        link = self.link1 if d else self.link0
        if link is None or (p := link.p).version != net._version:
            link = net.link(sender, dst)
            if d:
                self.link1 = link
            else:
                self.link0 = link
            p = link.p
        if p.loss:
            t = now + link.stream_delay()
        else:  # Link.stream_delay, inlined for the common lossless case
            rng = link.rng
            if rng is link:  # a light link, its own stream
                z = link.gauss(0.0, p.sigma)
            else:
                # ``rng.gauss(0.0, p.sigma)`` (``random.Random.gauss``), inlined:
                # the same draws in the same order and the same float
                # expressions, so the same value, without a call per segment
                z = rng.gauss_next
                rng.gauss_next = None
                if z is None:
                    random = rng.random
                    x2pi = random() * tau
                    g2rad = sqrt(-2.0 * log(1.0 - random()))
                    z = cos(x2pi) * g2rad
                    rng.gauss_next = sin(x2pi) * g2rad
                z = 0.0 + z * p.sigma
            t = now + (p.base * exp(z) + p.extra)
        if d:  # FIFO: never before what was sent earlier this way
            if t < self.last1:
                t = self.last1
            self.last1 = t
        else:
            if t < self.last0:
                t = self.last0
            self.last0 = t
        ev = _Segment()  # filled slot by slot: no __init__ frame
        ev.callbacks = net._arrive_cbs
        ev._ok = True
        ev.conn = self
        ev.d = d
        ev.msg = _new_tuple(Message, (mid, src_name, dst_name, kind, payload, size, trace))  # Message(...), faster
        ev.row = row
        # env.schedule(Timeout(env, t - now)), inlined: the same key (``now`` is
        # ``env._now``: nothing here moves the clock), so the same order
        heappush(env._queue, (now + (t - now), NORMAL, next(env._eid), ev))
        return True

    def close(self, by: Node, reason: str = "closed") -> None:
        """Close from ``by``'s side; the peer learns after one-way delay."""
        if not self.open:
            return
        self.net._break(self, reason, notify_a=by is not self.a, notify_b=by is not self.b, delay="oneway")

    def __repr__(self) -> str:
        return f"<conn {self.kind} {self.a.name}<->{self.b.name}{'' if self.open else ' closed'}>"


class Network:
    """All transport between nodes of one simulation."""

    def __init__(self, sim: Simulation, config: NetConfig | None = None):
        self.sim = sim
        self.env = sim.env
        self.config = config or NetConfig()
        self.journal = Journal(self.config.journal)
        j = self.journal
        self._tail = j.tail if j.enabled else None
        self._tail_max = j.tail_max  # the tail's length at which it becomes a chunk
        self._received, self._received_int, self._dropped = j.received, j.received_int, j.dropped
        self._ids = count()
        self._rule_ids = count()
        self._links: dict[tuple[str, str], Link] = {}  # links without a light end
        self._params: dict[tuple, LinkParams] = {}  # one record per distinct parameter set
        self._version = 0
        self.partitions: list[Rule] = []
        self.degradations: list[Rule] = []
        # node -> its open streams, insertion-ordered (never a set of objects:
        # iteration order must not depend on memory addresses): a tuple while
        # the node has a few (a client: a dict is 224 bytes, a list of one
        # ~110 with its spare room, a tuple 48, none the shared ``()``), a
        # dict past that. A key is added at a node's first connection of
        # any kind and never removed (``heal`` walks the nodes in that order).
        self.conns: dict[str, tuple[Connection, ...] | dict[Connection, None]] = {}
        # the open HTTP exchanges, in creation order: not in ``conns`` (see ``held_by``)
        self.exchanges: dict[Connection, None] = {}
        self._exchanges_high = 0  # the most held since the last compaction
        self._conn_seq = count()  # every connection's ``seq``: the order they were made in
        # the hot path's callbacks, one list shared by every arrival: SimPy's
        # loop reads an event's list and drops its reference, it never mutates it
        self._arrive_cbs = [self._stream_timeout]
        sim.network = self

    # -- links --------------------------------------------------------------
    def link(self, src: Node, dst: Node) -> Link:
        """The link src→dst, built on first use and rebuilt (its stream
        carried on) when degradations changed since."""
        if src.light_rng or dst.light_rng:
            return self._light_link(src, dst)
        key = (src.name, dst.name)
        link = self._links.get(key)
        if link is None or link.p.version != self._version:
            link = self._make_link(src, dst, link)
            self._links[key] = link
        return link

    def _light_link(self, src: Node, dst: Node) -> Link:
        """A link with a light end, kept in that end's ``links`` (the
        source's if both are light): a few per client, found by a scan."""
        holder, peer, out = (src, dst.name, True) if src.light_rng else (dst, src.name, False)
        links = holder.links
        for i, link in enumerate(links):
            if link.out is out and link.peer == peer:
                if link.p.version != self._version:
                    link = self._make_link(src, dst, link)
                    holder.links = links[:i] + (link,) + links[i + 1:]
                return link
        link = self._make_link(src, dst, None)
        link.peer, link.out = peer, out
        holder.links = links + (link,)  # a tuple: a client makes two to four links in a run
        return link

    def _make_link(self, src: Node, dst: Node, old: Link | None) -> Link:
        cfg = self.config
        rtt = region_rtt(src.region, dst.region, cfg.rtt)
        base = rtt / 2
        keep = 1.0 - cfg.loss
        keep *= 1.0 - getattr(src, "access_loss", 0.0)
        keep *= 1.0 - getattr(dst, "access_loss", 0.0)
        dup = cfg.dup
        extra = getattr(src, "access_latency", 0.0) + getattr(dst, "access_latency", 0.0)
        for rule in self.degradations:
            if rule.covers(src.name, dst.name):
                keep *= 1.0 - rule.loss
                dup = 1.0 - (1.0 - dup) * (1.0 - rule.dup)
                extra += rule.latency
        rto = max(cfg.rto_min, 2 * (rtt + 2 * extra))
        link = Link(self._shared_params(base, 1.0 - keep, dup, extra, cfg.jitter_sigma, rto, self._version), None)
        if old is not None:
            link.peer, link.out = old.peer, old.out
        if src.light_rng or dst.light_rng:  # the link is its own stream; a rebuilt link carries the draws on
            link._s, link._g = (old._s, old._g) if old is not None else \
                (self.sim.rng(f"net/{src.name}>{dst.name}", True)._s, None)
            link.rng = link
        else:
            link.rng = old.rng if old is not None else self.sim.rng(f"net/{src.name}>{dst.name}")
        return link

    def _shared_params(self, *values) -> LinkParams:
        """The one ``LinkParams`` with these values; keyed with each value's
        sign as well, so that -0.0 stays itself."""
        key = tuple((x, copysign(1.0, x)) for x in values)
        p = self._params.get(key)
        if p is None:
            p = self._params[key] = LinkParams(*values)
        return p

    def one_way(self, src: Node, dst: Node) -> float:
        return self.link(src, dst).delay()

    def blocked(self, src: str, dst: str) -> bool:
        for rule in self.partitions:
            if src in rule.srcs and dst in rule.dsts:
                return True
        return False

    # -- datagrams ------------------------------------------------------------
    def send_datagram(self, src: Node, dst_name: str, kind: str, payload: Any,
                      size: int = 100, trace: str | None = None) -> None:
        dst = self.sim.nodes[dst_name]
        now = self.env.now
        mid = next(self._ids)
        row = self.journal.add(mid, src.name, dst_name, kind, size, now, trace)
        if self.partitions and self.blocked(src.name, dst_name):
            if row is not None:
                self._dropped[row] = "partition"
            return
        link = self.link(src, dst)
        if link.loss and link.rng.random() < link.loss:
            if row is not None:
                self._dropped[row] = "loss"
            return
        msg = Message(mid, src.name, dst_name, kind, payload, size, trace)
        copies = 2 if link.dup and link.rng.random() < link.dup else 1
        for _ in range(copies):
            Timeout(self.env, link.delay()).callbacks.append(
                partial(self._datagram_arrive, dst, dst.incarnation, msg, row))

    def _datagram_arrive(self, dst: Node, inc: int, msg: Message, row, _ev=None) -> None:
        if not dst.up or dst.incarnation != inc:
            if row is not None:
                self._dropped[row] = "crashed"
            return
        if self.partitions and self.blocked(msg.src, msg.dst):
            if row is not None:
                self._dropped[row] = "partition"
            return
        if row is not None:
            now = self.env.now
            self._received[row] = now
            if now.__class__ is int:  # the clock on a whole second: read back as written
                self._received_int.add(row)
        dst.run_or_hold(partial(self._deliver, dst, None, msg))

    @staticmethod
    def _deliver(dst: Node, conn, msg: Message) -> None:
        if not dst.up or (conn is not None and not conn.open):
            return
        try:
            dst.on_message(conn, msg)
        except NodeCrashed:
            pass

    # -- streams --------------------------------------------------------------
    def connect(self, src: Node, dst_name: str, kind: str = "ws", keepalive: float | None = None):
        """Open a stream; the returned event's value is a Connection or a
        failure reason string (``refused`` or ``timeout``)."""
        ev = self.env.event()
        dst = self.sim.nodes.get(dst_name)
        if dst is None:
            raise WiringError(f"{src.name} connects to unknown node {dst_name!r}")
        ka = self.config.keepalive if keepalive is None else keepalive
        rtt = self.link(src, dst).delay() + self.link(dst, src).delay()
        inc = src.incarnation

        def handshake(_e):
            if not src.up or src.incarnation != inc:
                return
            if self.blocked(src.name, dst.name) or self.blocked(dst.name, src.name):
                Timeout(self.env, max(0.0, self.config.connect_timeout - rtt)).callbacks.append(
                    lambda _e: ev.succeed("timeout"))
                return
            if not dst.up or dst.paused:
                if dst.paused or dst.host_down:
                    Timeout(self.env, max(0.0, self.config.connect_timeout - rtt)).callbacks.append(
                        lambda _e: ev.succeed("timeout"))
                else:
                    ev.succeed("refused")
                return
            conn = self._open(kind, src, dst, ka)
            try:
                accepted = dst.on_accept(conn)
            except NodeCrashed:
                accepted = False
            if not accepted:
                self._forget(conn)
                conn.open = False
                ev.succeed("refused")
                return
            ev.succeed(conn)

        Timeout(self.env, rtt).callbacks.append(handshake)
        return ev

    def _open(self, kind: str, a: Node, b: Node, keepalive: float) -> Connection:
        conn = Connection()  # every slot is set here (``Connection`` has no __init__)
        conn.net = self
        conn.kind = kind
        conn.a = a
        conn.b = b
        conn.inc_a = a.incarnation
        conn.inc_b = b.incarnation
        conn.open = True
        conn.last0 = conn.last1 = 0.0  # the latest arrival time sent each way (FIFO clamp)
        conn.held = None  # data waiting out a partition: a (deque, deque) while any is held
        conn.keepalive = keepalive
        conn.http = None  # the pending Event of an HTTP exchange
        conn.expiry = None  # an HTTP exchange's timeout (its ``Timers`` and handle), until answered
        conn.meta = None  # owner's notes (who, what for)
        conn._checking = False
        conn.link0 = conn.link1 = None  # the links each way, cached
        conn.drain = -1  # after a process crash: the direction whose in-flight data still arrives
        conn.seq = next(self._conn_seq)  # creation order, shared by streams and exchanges (``held_by``)
        if kind == "http":  # an exchange: one dict entry, not two table updates (``held_by``)
            conns = self.conns
            if a.name not in conns:  # the node order ``heal`` walks: a node's first connection
                conns[a.name] = ()
            if b.name not in conns:
                conns[b.name] = ()
            ex = self.exchanges
            ex[conn] = None
            if len(ex) > self._exchanges_high:
                self._exchanges_high = len(ex)
        else:
            self._hold(a.name, conn)
            self._hold(b.name, conn)
        return conn

    def held_by(self, name: str, by_node: dict[str, list[Connection]] | None = None) -> list[Connection]:
        """The open connections of node ``name``, in the order they were made:
        its streams (``conns``) and the HTTP exchanges it is an end of
        (``exchanges``; ``by_node``: those grouped by node, from
        ``_exchanges_by_node``, when many nodes are asked at once).

        Why exchanges have no place in ``conns``: the new designs open one
        per request, and two table updates to open it and two to close it
        were ~250 of an exchange's ~1,370 bytecodes. What read the tables —
        a crash, a partition, a heal — walks a node's connections in
        creation order, drawing random numbers and event ids per connection,
        so the order must be exactly the one a single table had. It is:
        a table keeps its connections in the order they were made (appended
        on open, removed on close, the tuple-to-dict switches keep the
        order), ``exchanges`` keeps its own likewise, and every connection
        has ``seq``, drawn from one counter as it is made: merging the two by
        ``seq`` gives the single table's order. The keys of ``conns`` (the
        order ``heal`` walks the nodes in) are still added at a node's first
        connection, exchange or stream."""
        streams = self.conns.get(name, ())
        if by_node is None:
            ex = [c for c in self.exchanges if c.a.name == name or c.b.name == name]
        else:
            ex = by_node.get(name)
        if not ex:
            return list(streams)
        if not streams:
            return list(ex)
        return sorted([*streams, *ex], key=_SEQ)

    def _exchanges_by_node(self) -> dict[str, list[Connection]]:
        """Every node's open exchanges, in creation order (for ``held_by``)."""
        by: dict[str, list[Connection]] = {}
        for c in self.exchanges:
            by.setdefault(c.a.name, []).append(c)
            by.setdefault(c.b.name, []).append(c)
        return by

    def _hold(self, name: str, conn: Connection) -> None:
        conns = self.conns
        s = conns.get(name)
        if s is None:
            conns[name] = (conn,)
        elif type(s) is dict:  # a server holding many streams (a gateway, a channel server)
            s[conn] = None
        elif len(s) < FEW_CONNS:
            conns[name] = s + (conn,)
        else:  # a server from now on: removal by key, not by scan
            s = conns[name] = dict.fromkeys(s)
            s[conn] = None

    def _forget(self, conn: Connection) -> None:
        if conn.kind == "http":
            ex = self.exchanges
            if ex.pop(conn, _ABSENT) is not _ABSENT and len(ex) * 4 < self._exchanges_high > 64:
                # a dict never shrinks: after a storm's boot wave (a request per
                # client in flight) its table would stay sized for all of them
                self.exchanges = dict(ex)  # same order
                self._exchanges_high = len(ex)
            return
        conns = self.conns
        for name in (conn.a.name, conn.b.name):
            s = conns.get(name)
            if type(s) is dict:
                if s.pop(conn, _ABSENT) is _ABSENT:
                    continue
                # A dict never shrinks as it empties: a web app's table after a
                # storm's boot wave (a connection per client at once) held ~110
                # bytes per client with none left. Back to a tuple when few
                # remain, a copy sized for what is left when mostly empty
                # (amortised: half the entries went since the last copy);
                # both keep the order.
                left = len(s)
                if left <= FEW_CONNS // 2:
                    conns[name] = tuple(s)
                elif left >= 64 and getsizeof(s) > 96 * left:
                    conns[name] = dict(s)
            elif s and conn in s:
                i = s.index(conn)
                conns[name] = s[:i] + s[i + 1:]  # () when none is left: the shared empty tuple

    def _stream_timeout(self, ev: _Segment) -> None:
        """A segment reaches the far end (the hot path: kept flat on purpose;
        the common case reads only what it needs of the arrival).

        Two common cases, each in as few checks as possible: a stream's
        data for a node that is up and not paused, and an HTTP request or
        reply for a node that is up — what ``_stream_deliver`` would do for
        them, without its call and its checks; anything else goes the long
        way."""
        conn = ev.conn
        if conn.open and conn.held is None and not self.partitions:
            if conn.http is None:
                dst = conn.a if ev.d else conn.b
                if dst.up and not dst.paused:
                    row = ev.row
                    if row is not None:
                        # always a float here (no received_int): an arrival's time is a send time plus a float delay
                        self._received[row] = self.env._now
                    try:
                        dst.on_message(conn, ev.msg)
                    except NodeCrashed:
                        pass
                    return
            else:
                d = ev.d
                dst = conn.a if d else conn.b
                if dst.up:
                    row = ev.row
                    if row is not None:  # a float, as above
                        self._received[row] = self.env._now
                    self._http_arrive(conn, d, dst, ev.msg)  # the callback's last act, as ``fire`` needs
                    return
        d, msg, row = ev.d, ev.msg, ev.row
        if not conn.open and conn.drain != d:
            if row is not None:
                self._dropped[row] = "broken"
            return
        held = conn.held
        if (held is not None and held[d]) or (self.partitions and self.blocked(msg.src, msg.dst)):
            if held is None:
                held = conn.held = (deque(), deque())
            held[d].append((msg, row))
            self._watch(conn)
            return
        self._stream_deliver(conn, d, msg, row)

    def _stream_deliver(self, conn: Connection, d: int, msg: Message, row) -> None:
        dst = conn.b if d == 0 else conn.a
        if not dst.up:
            refused = conn.http is not None and d == 0 and not dst.host_down
            if row is not None:
                self._dropped[row] = "refused" if refused else "crashed"
            if refused:
                self._http_arrive(conn, d, dst, msg)  # the host's kernel answers with a reset
            return
        if row is not None:
            now = self.env._now
            self._received[row] = now
            if now.__class__ is int:  # held data delivered at a heal on a whole second: read back as written
                self._received_int.add(row)
        if conn.http is not None:
            self._http_arrive(conn, d, dst, msg)
        elif dst.paused:
            dst.run_or_hold(partial(self._deliver, dst, conn, msg))
        elif dst.up:
            try:
                dst.on_message(conn, msg)
            except NodeCrashed:
                pass

    def _watch(self, conn: Connection) -> None:
        """A blocked connection breaks if the partition outlasts keepalive."""
        if conn._checking or not conn.open:
            return
        conn._checking = True

        def check(_e):
            conn._checking = False
            if not conn.open:
                return
            a, b = conn.a.name, conn.b.name
            if self.blocked(a, b) or self.blocked(b, a):
                self._break(conn, "timeout", True, True, delay=0.0)

        Timeout(self.env, conn.keepalive).callbacks.append(check)

    def _break(self, conn: Connection, reason: str, notify_a: bool, notify_b: bool, delay) -> None:
        conn.open = False
        self._forget(conn)
        for held in conn.held or ():
            for _msg, row in held:
                if row is not None:
                    self._dropped[row] = "broken"
            held.clear()
        if conn.http is not None:
            # The client end of an HTTP exchange: the server died or the path broke.
            if notify_a and not conn.http.triggered:
                status = "reset" if reason in ("reset", "closed") else "timeout"
                wait = self.one_way(conn.b, conn.a) if delay == "oneway" else delay
                ev = conn.http
                Timeout(self.env, wait).callbacks.append(
                    lambda _e: ev.triggered or ev.succeed(Reply(status)))
            return
        for end, inc, notify in ((conn.a, conn.inc_a, notify_a), (conn.b, conn.inc_b, notify_b)):
            if not notify:
                continue
            other = conn.peer(end)
            wait = self.one_way(other, end) if delay == "oneway" else delay
            Timeout(self.env, wait).callbacks.append(partial(self._notify_closed, end, inc, conn, reason))

    @staticmethod
    def _notify_closed(node: Node, inc: int, conn: Connection, reason: str, _ev=None) -> None:
        if not node.up or node.incarnation != inc:
            return
        try:
            node.on_closed(conn, reason)
        except NodeCrashed:
            pass

    # -- HTTP -----------------------------------------------------------------
    def request(self, src: Node, dst_name: str, kind: str, payload: Any = None, size: int = 500,
                timeout: float = 10.0, trace: str | None = None):
        """Send an HTTP request; the event's value is a ``Reply``."""
        dst = self.sim.nodes.get(dst_name)
        if dst is None:
            raise WiringError(f"{src.name} sends {kind} to unknown node {dst_name!r}")
        if dst is src:
            # a connection to oneself has no direction to tell a reply from a request
            raise WiringError(f"{src.name} sends {kind} to itself")
        env = self.env
        ev = _new_object(Event)  # Event(env) without its __init__ frame:
        ev.env = env  # the same object, attributes set in the same order (``_value``
        ev.callbacks = []  # is PENDING by the class); tests/test_speed_kernel.py compares
        if self.partitions and (self.blocked(src.name, dst_name) or self.blocked(dst_name, src.name)):
            # no connection can be set up: the request is never sent (definite)
            row = self.journal.add(next(self._ids), src.name, dst_name, kind, size, self.env.now, trace)
            if row is not None:
                self._dropped[row] = "partition"
            Timeout(self.env, min(timeout, self.config.connect_timeout)).callbacks.append(
                lambda _e: ev.succeed(Reply("unreachable")))
            return ev
        conn = self._open("http", src, dst, self.config.keepalive)
        conn.http = ev
        # the client's timeout: an entry of the run's timers of this delay,
        # keyed as Timeout(env, timeout) made here would be, and forgotten
        # when answered (``Timers``: most requests are answered, and their
        # timeouts used to stay queued for the whole delay)
        timers = self.sim.timers(timeout)
        conn.expiry = (timers, timers.add(self._http_expire, conn))
        conn.send(src, kind, _new_tuple(Request, (src.name, kind, payload, trace)), size, trace)  # Request(...)
        return ev

    def _http_expire(self, conn: Connection) -> None:
        conn.expiry = None
        ev = conn.http
        if not ev.triggered:
            ev.succeed(Reply("timeout"))
            if conn.open:
                conn.open = False
                self._forget(conn)

    def _http_arrive(self, conn: Connection, d: int, dst: Node, msg: Message) -> None:
        """The request reaches the server, or its reply the client. Always
        the last act of an event's only callback (an arrival, or a drain of
        held data that ends with it), which ``fire`` and ``spawn_now`` need."""
        ev = conn.http
        if d == 1:  # the response reached the client
            answer = not ev.triggered
            # Let the answered event (and its reply) go: what still reads
            # ``conn.http`` (a break of the connection, ``_break``) only needs to
            # know it was answered, and it stays an HTTP exchange's connection.
            conn.http = ANSWERED
            if conn.expiry is not None:  # the timeout is forgotten (``Timers.cancel``)
                conn.expiry[0].cancel(conn.expiry[1])
                conn.expiry = None
            conn.open = False
            self._forget(conn)
            if answer:  # last: the waiter may run right here (see ``fire``)
                fire(self.env, ev, msg.payload)
            return
        if not dst.up:
            # Nothing listening (the host is up, the process is not): a definite
            # refusal, the request had no effect.
            wait = self.one_way(dst, conn.a)
            Timeout(self.env, wait).callbacks.append(lambda _e: ev.triggered or ev.succeed(Reply("refused")))
            conn.open = False
            self._forget(conn)
            return
        if dst.paused:
            dst.run_or_hold(lambda: dst.spawn(self._serve(dst, conn, msg)))
        else:
            self._serve_now(dst, conn, msg)

    def _serve(self, dst: Node, conn: Connection, msg: Message):
        self._reply(dst, conn, msg, (yield from dst.on_request(msg.payload)))

    def _serve_now(self, dst: Node, conn: Connection, msg: Message) -> None:
        """Serve a request that just arrived, as a process ``_serve`` would,
        with no process where the handler needs none.

        - A plain-function handler (in the node's ``HANDLERS``, the node not
          overriding ``on_request``) runs here and its answer is sent.
        - One that answers ``Later`` is a ``_Then`` on the event it waits for
          (``_answer``): it runs where the process would have resumed, and
          not at all if the node crashed meanwhile, as the interrupted
          process would not have.
        - A ``service_time`` is such a wait, on a timer: the ``_Then`` is
          itself the event, pushed with the key ``Timeout(env,
          service_time())`` would get (``_Then.due``).
        - Generator handlers and nodes overriding ``on_request`` get a
          process started in place (``Node.spawn_now``).

        Same order as always spawning ``_serve``: its start event would be
        due at once with SimPy's urgent priority, and this runs as the last
        act of an event with no other callback (``_http_arrive``), so nothing
        could run in between; what the process would have done up to its
        first wait is done here, and each later step where the process would
        have resumed. The events left out (a process's start and end, the
        interruption of a process that no longer exists) do nothing else.
        A handler that crashes its node ends quietly, as ``_guard`` would end
        the process."""
        if type(dst).on_request is not Node.on_request:
            dst.spawn_now(self._serve(dst, conn, msg))
            return
        if dst.service_time is not None:
            _Then.due(self, dst, conn, msg, dst.service_time())
            return
        inc = dst.incarnation
        try:
            result = dst.from_table(msg.payload)
        except NodeCrashed:
            if dst.incarnation != inc:
                return
            raise
        self._answer(dst, conn, msg, result)

    def _answer(self, dst: Node, conn: Connection, msg: Message, result) -> None:
        kind = type(result)
        if kind is tuple:  # the common case first: an answer (``_reply``, inlined)
            _status, _payload, size = result
            if conn.open:
                conn.send(dst, _REPLY_KINDS[msg.kind], _new_tuple(Reply, result), size, msg.trace)
        elif kind is GeneratorType:
            dst.spawn_now(self._reply_after(dst, conn, msg, result))
        elif kind is Later:
            then = _Then(self, dst, conn, msg, result.then)
            if result.event.callbacks is None:  # already processed: a process would go on at once
                then(result.event)
            else:
                result.event.callbacks.append(then)
        else:
            self._reply(dst, conn, msg, result)

    def _reply_after(self, dst: Node, conn: Connection, msg: Message, handling: Generator):
        self._reply(dst, conn, msg, (yield from handling))

    @staticmethod
    def _reply(dst: Node, conn: Connection, msg: Message, result: tuple) -> None:
        _status, _payload, size = result
        if conn.open:
            conn.send(dst, _REPLY_KINDS[msg.kind], _new_tuple(Reply, result), size, msg.trace)

    # -- faults ------------------------------------------------------------------
    def node_crashed(self, node: Node, silent: bool = False) -> None:
        """Break every stream of a crashed node; peers learn per the table above.

        A process crash leaves the host's kernel alive: what the process had
        already written still reaches the peer, then the close. A vanished
        host loses everything in flight.
        """
        now = self.env.now
        for conn in self.held_by(node.name):
            if not conn.open:
                continue
            peer_is_a = conn.b is node
            if silent:
                self._break(conn, "timeout", peer_is_a, not peer_is_a, delay=conn.keepalive)
                continue
            out = 0 if conn.a is node else 1
            conn.drain = out
            peer = conn.a if peer_is_a else conn.b
            wait = max(conn.last(out) - now, 0.0) + self.one_way(node, peer) * 0.5 + 1e-6
            self._break(conn, "reset", peer_is_a, not peer_is_a, delay=wait)

    def partition(self, srcs: set[str], dsts: set[str], oneway: bool = False) -> list[Rule]:
        rules = [Rule(next(self._rule_ids), frozenset(srcs), frozenset(dsts))]
        if not oneway:
            rules.append(Rule(next(self._rule_ids), frozenset(dsts), frozenset(srcs)))
        self.partitions.extend(rules)
        by_node = self._exchanges_by_node()  # marking a connection (``_watch``) changes no table
        for rule in rules:
            for name in sorted(rule.srcs):
                for conn in self.held_by(name, by_node):
                    other = conn.b if conn.a.name == name else conn.a
                    if other.name in rule.dsts:
                        self._watch(conn)
        return rules

    def heal(self, rules: list[Rule] | None = None) -> None:
        """Lift the given partitions (all if None); held stream data flows again."""
        if rules is None:
            self.partitions.clear()
        else:
            ids = {r.id for r in rules}
            self.partitions = [r for r in self.partitions if r.id not in ids]
        by_node = self._exchanges_by_node()
        for name in list(self.conns):
            for conn in self.held_by(name, by_node):
                for d in (0, 1):
                    if conn.held is not None and conn.held[d]:
                        self._flush(conn, d)

    def _flush(self, conn: Connection, d: int) -> None:
        src, dst = (conn.a, conn.b) if d == 0 else (conn.b, conn.a)
        if self.blocked(src.name, dst.name):
            return
        # TCP notices the path is back at its next retransmission; until the
        # drain, newer arrivals queue behind the held data (FIFO).
        t = self.env.now + self.link(src, dst).rto / 2 + self.one_way(src, dst)
        conn.set_last(d, max(conn.last(d), t))
        Timeout(self.env, t - self.env.now).callbacks.append(partial(self._drain, conn, d))

    def _drain(self, conn: Connection, d: int, _ev=None) -> None:
        if not conn.open or conn.held is None or not conn.held[d]:
            return
        held = conn.held[d]
        msg0 = held[0][0]
        if self.blocked(msg0.src, msg0.dst):
            self._watch(conn)
            return
        while held and conn.open:
            msg, row = held.popleft()
            self._stream_deliver(conn, d, msg, row)

    def degrade(self, srcs: set[str], dsts: set[str], latency: float = 0.0, loss: float = 0.0,
                dup: float = 0.0, oneway: bool = False) -> list[Rule]:
        rules = [Rule(next(self._rule_ids), frozenset(srcs), frozenset(dsts), latency, loss, dup)]
        if not oneway:
            rules.append(Rule(next(self._rule_ids), frozenset(dsts), frozenset(srcs), latency, loss, dup))
        self.degradations.extend(rules)
        self._version += 1
        return rules

    def undegrade(self, rules: list[Rule] | None = None) -> None:
        if rules is None:
            self.degradations.clear()
        else:
            ids = {r.id for r in rules}
            self.degradations = [r for r in self.degradations if r.id not in ids]
        self._version += 1
