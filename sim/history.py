"""The history format (DESIGN §6, a contract): JSON Lines, a header then ops.

Theory of operation
-------------------
A history is written *streaming*: ``HistoryWriter.append`` encodes one op and
hands the bytes to a buffered file, so a run of a million ops never holds a
million dicts. The writer fills in ``index`` (ops counted from 0) and rounds
``time`` to the microsecond, which keeps files byte-identical across runs and
readable by people. It writes to ``<path>.part`` and renames on ``close`` so a
crashed or refused run never leaves a half-written history behind.

Reading validates everything a checker relies on: each non-blank line is
one JSON object of the right shape (msgspec typed decoding), ``index``
counts from 0, and ``time`` never decreases. Errors name the file and the line number. The fast path
decodes the whole buffer at once; only on failure do we walk line by line to
find the culprit, so valid histories pay nothing for good error messages.

This module imports neither SimPy nor any node: ``invariants`` depends on it.
"""

from __future__ import annotations

import operator
import os
import stat
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Literal

import msgspec

from .errors import HistoryError
from .gcpause import gc_paused

FORMAT_VERSION = "0.1.0"

OpType = Literal["invoke", "ok", "fail", "info", "event"]


class Meta(msgspec.Struct, frozen=True, kw_only=True):
    """Line 1 of a history: what ran, with which seed and which members."""

    type: Literal["meta"] = "meta"
    chatsim: str = FORMAT_VERSION
    scenario: str
    arch: str
    seed: int
    channels: dict[str, list[str]]
    config: dict[str, Any] = {}
    steps: list[dict[str, str]] = []  # the architecture's named send-path steps, in order


class Op(msgspec.Struct, frozen=True):
    """One operation or observation. Immutable; ``value`` is the op's payload."""

    index: int
    time: float
    process: str
    type: OpType
    f: str
    value: dict[str, Any]


class SlimValue(msgspec.Struct, frozen=True):
    """The fields of ``value`` that checkers use; others are skipped unread."""

    channel: str | None = None
    msg: str | None = None
    text: str | None = None
    msgs: list[str] | None = None
    version: int | None = None  # directory views (boot consistency)
    channels: dict[str, list[str]] | None = None


class SlimOp(msgspec.Struct, frozen=True):
    """An op as checkers see it: typed, so decoding is several times faster."""

    index: int
    time: float
    process: str
    type: OpType
    f: str
    value: SlimValue


class History(msgspec.Struct, frozen=True):
    meta: Meta
    ops: list[Op] | list[SlimOp]


_encoder = msgspec.json.Encoder()
_meta_decoder = msgspec.json.Decoder(Meta)
_op_decoder = msgspec.json.Decoder(Op)
_slim_decoder = msgspec.json.Decoder(SlimOp)


class HistoryWriter:
    """Append-only, streaming writer of one history file.

    ``listeners`` are called with each op as it is written; in-run metrics use
    them instead of re-reading the file.
    """

    def __init__(self, path: str | os.PathLike[str], meta: Meta):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._part = self.path.with_name(self.path.name + ".part")
        self._fh = open(self._part, "wb", buffering=1 << 16)
        self._fh.write(_encoder.encode(meta) + b"\n")
        self.count = 0
        self.last_time = 0.0
        self.listeners: list = []

    def append(self, time: float, process: str, type: OpType, f: str, value: dict[str, Any]) -> Op:
        t = round(time, 6)
        if t < self.last_time:  # pragma: no cover - the kernel's clock never goes back
            raise HistoryError(f"{self.path}: time went backwards at op {self.count}")
        op = Op(self.count, t, process, type, f, value)
        self._fh.write(_encoder.encode(op) + b"\n")
        self.count += 1
        self.last_time = t
        for listener in self.listeners:
            listener(op)
        return op

    def close(self) -> Path:
        """Flush and atomically publish the file."""
        self._fh.close()
        os.replace(self._part, self.path)
        return self.path

    def abort(self) -> None:
        """Throw the partial file away (the run failed)."""
        self._fh.close()
        self._part.unlink(missing_ok=True)


def parse_history(data: bytes, name: str = "<history>", slim: bool = False) -> History:
    """Parse and validate a whole history held in memory.

    ``slim`` decodes values as ``SlimValue`` (what checkers need) instead of
    free dicts: same validation of the op shape, a fraction of the cost.
    With ``slim``, an op checkers do not read may carry any JSON value
    (another tool's nemesis op with ``null`` or a string): it is ignored.

    Blank (whitespace-only) lines are skipped; every other line must hold
    exactly one JSON object, and errors name the line in the file.
    """
    if _blank(data):
        raise HistoryError(f"{name}: empty file, expected a meta header on line 1")
    head, start = split_header(data)
    body = data[start:]
    try:
        meta = _meta_decoder.decode(head)
    except msgspec.DecodeError as e:
        raise HistoryError(f"{name}: line 1: bad meta header: {e}") from None
    except RecursionError:
        raise HistoryError(f"{name}: line 1: bad meta header: JSON nested too deeply") from None
    decoder = _slim_decoder if slim else _op_decoder
    with gc_paused():  # millions of small acyclic objects: collection passes are pure cost
        try:
            ops = decoder.decode_lines(body)
        except RecursionError:
            _find_bad_line(body, name, decoder)
            raise  # pragma: no cover - _find_bad_line always raises
        except msgspec.DecodeError:
            if not slim:
                _find_bad_line(body, name, decoder)
            # Another tool's event may use a field name checkers know with another
            # type; only the ops checkers read must have the slim shape.
            ops = _slim_from_full(body, name)
    if plain_lines(data, start) != len(ops):
        # decode_lines reads whitespace-separated values, not lines: a line
        # holding two ops, or one op spread over several lines (pretty-printed),
        # decodes too. Rare (blank lines, CRLF and spaced layouts also land
        # here): walk the lines.
        _one_value_per_line(body, name)
    # Checked with C-level list operations; the slow walk only names the culprit.
    if [op.index for op in ops] != list(range(len(ops))):
        i = next(i for i, op in enumerate(ops) if op.index != i)
        raise HistoryError(f"{name}: line {line_of_op(data, i)}: index {ops[i].index}, expected {i}")
    times = [op.time for op in ops]
    if any(map(operator.gt, times, islice(times, 1, None))):
        i = next(i for i in range(1, len(times)) if times[i] < times[i - 1])
        raise HistoryError(f"{name}: line {line_of_op(data, i)}: time {times[i]} goes backwards "
                           f"(previous {times[i - 1]})")
    return History(meta, ops)


_WS = b" \t\r\n"


def _blank(data: bytes) -> bool:
    """Empty or whitespace only (``not data.strip()``, without copying a
    history of hundreds of MB to find out)."""
    return not data or data.isspace()


def plain_lines(data: bytes, start: int = 0) -> int | None:
    """The number of lines of ``data[start:]`` (whole lines, the last with
    or without its newline) when every one of them is exactly ``{...}`` —
    chatsim's own layout: no blank line, no whitespace around an op — else
    None. Counted in C: the first byte, the last, and every line break
    being ``}\\n{``.

    Why that settles "one op per line" once the ops are counted: JSON has no
    raw newline inside a string and needs a comma or colon between two
    values of one object, so an op cannot run on from a line ending in ``}``
    into one starting with ``{``; each such line holds at least one op, and
    as many ops as lines means exactly one each."""
    end = len(data)
    if end > start and data[end - 1] == 0x0A:
        end -= 1
    if end <= start:
        return 0 if len(data) <= start else None  # nothing, or a blank line
    breaks = data.count(b"\n", start, end)
    if data[start] != 0x7B or data[end - 1] != 0x7D or data.count(b"}\n{", start, end) != breaks:
        return None
    return breaks + 1


def _lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number in the file, line) of each non-blank op line."""
    for lineno, line in enumerate(body.split(b"\n"), start=2):
        if line.strip(_WS):  # JSON's whitespace only: a form feed is not blank
            yield lineno, line


def line_of_op(data: bytes, i: int) -> int:
    """The line number in the file of op ``i`` (blank lines skipped); only
    for naming a line in an error, so a walk over the lines is fine."""
    return _nth_line(data[split_header(data)[1]:], i)


_one_value = msgspec.json.Decoder(msgspec.Raw)  # validates JSON, converts nothing


def _one_value_per_line(body: bytes, name: str) -> None:
    """Raise naming the first line that is not exactly one JSON value."""
    _raise_at_bad_line(body, name, _one_value, " (a history has one JSON object per line)")


BLOCK_BYTES = 1 << 22  # what one decode_lines call sees when a history is streamed


Source = bytes | str | os.PathLike  # a history in memory, or the path of its file


def split_header(data: Source) -> tuple[bytes, int]:
    """The header line of a history and the offset of its first op line
    (of a file: its first line, read alone)."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as fh:
            head = fh.readline()
        return (head[:-1], len(head)) if head.endswith(b"\n") else (head, len(head))
    nl = data.find(b"\n")
    return (data, len(data)) if nl < 0 else (data[:nl], nl + 1)


def line_pieces(data: Source, start: int, block: int | None = None) -> Iterator[bytes | memoryview]:
    """``data`` from offset ``start`` in pieces of about ``block`` bytes,
    each ending at a line end (the last at the end of the data): views of a
    history in memory, or reads of its file — which is then never whole in
    memory, only a piece and the part line carried over to the next."""
    block = block or BLOCK_BYTES
    if not isinstance(data, (str, os.PathLike)):
        view = memoryview(data)
        n = len(data)
        while start < n:
            end = data.find(b"\n", start + block)
            end = n if end < 0 else end + 1
            yield view[start:end]
            start = end
        return
    with open(data, "rb") as fh:
        fh.seek(start)
        parts: list[bytes] = []  # a line longer than a block, in parts (joined once, not re-copied per read)
        while chunk := fh.read(block):
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                parts.append(chunk)
                continue
            parts.append(chunk[:cut])
            yield b"".join(parts)
            parts = [chunk[cut:]] if cut < len(chunk) else []
        if parts:
            yield b"".join(parts)


def iter_op_blocks(data: Source, decoder: msgspec.json.Decoder, start: int,
                   block: int | None = None) -> Iterator[list]:
    """The op lines of ``data`` (bytes, or a file's path) from offset
    ``start``, decoded ``block`` bytes at a time (``line_pieces``): a pass
    over a large history holds one block's objects at a time, not one per op
    of the whole file. Lines are not validated beyond what ``decoder``
    checks."""
    for piece in line_pieces(data, start, block):
        yield decoder.decode_lines(piece)


class Unstreamable(Exception):
    """``stream_history`` met something ``parse_history`` would reject or
    take its slow path for; re-read the whole history with it."""


def stream_history(data: Source, slim: bool = True) -> tuple[Meta, Iterator[list]]:
    """The header and the ops of a history a block at a time
    (``iter_op_blocks``), validated as ``parse_history`` validates them
    (typed decoding, ``index`` counting from 0, ``time`` never going back),
    so a pass holds one block's ops instead of all of them.

    Only for the common case, a well-formed history: anything else — an
    empty file, a bad header or line, a value of another shape, a wrong
    index or time, a blank line or a line not holding exactly one op —
    raises ``Unstreamable`` (from here or while iterating), and the caller
    re-reads the history with ``parse_history``, which names the problem or
    takes the slow path exactly as it always has.

    ``data`` may be the path of a history file (a run's own, written whole):
    it is then read a block at a time too, and never held whole."""
    head, start = split_header(data)
    if _blank(head if isinstance(data, (str, os.PathLike)) else data):
        raise Unstreamable  # empty, or (a file) a blank first line: parse_history says what it is
    try:
        meta = _meta_decoder.decode(head)
    except (msgspec.DecodeError, RecursionError):
        raise Unstreamable from None

    def blocks() -> Iterator[list]:
        n, last = 0, float("-inf")
        decoder = _slim_decoder if slim else _op_decoder
        try:
            for piece in line_pieces(data, start):
                ops = decoder.decode_lines(piece)
                if plain_lines(bytes(piece)) != len(ops):  # a blank line, spaces, or not one op a line
                    raise Unstreamable
                if [op.index for op in ops] != list(range(n, n + len(ops))):
                    raise Unstreamable
                times = [op.time for op in ops]
                if times and (times[0] < last or any(map(operator.gt, times, islice(times, 1, None)))):
                    raise Unstreamable
                n += len(ops)
                last = times[-1] if times else last
                yield ops
        except (msgspec.DecodeError, RecursionError):
            raise Unstreamable from None

    return meta, blocks()


CHECKED_OPS = frozenset({"send", "read", "deliver", "stored", "directory", "directory-truth"})
_slim_value_decoder = msgspec.json.Decoder(SlimValue)


def _read_by_checkers(f: str, type: str) -> bool:
    """Whether checkers read this op's value (``invariants.index``): a
    ``deliver`` or ``stored`` that is not an event, or a ``send`` that is
    one, is an op they ignore (DESIGN §6)."""
    if f in ("deliver", "stored"):
        return type == "event"
    if f == "send":
        return type != "event"
    return f in CHECKED_OPS


class _LooseOp(msgspec.Struct, frozen=True):
    """An op whose value is kept as raw JSON (validated, nothing converted)."""

    index: int
    time: float
    process: str
    type: OpType
    f: str
    value: msgspec.Raw


_loose_decoder = msgspec.json.Decoder(_LooseOp)


def _slim_from_full(body: bytes, name: str) -> list[SlimOp]:
    """Decode each op with its value left raw, then give the ops checkers
    read their slim value (validated: a bad one is bad input) and every other
    op an empty one, whatever JSON its value is (checkers ignore it, and a
    number no decoder can hold there is no error either)."""
    try:
        loose = _loose_decoder.decode_lines(body)
    except (msgspec.DecodeError, RecursionError):
        _find_bad_line(body, name, _loose_decoder)
        raise  # pragma: no cover - _find_bad_line always raises
    empty = SlimValue()
    out = []
    for i, op in enumerate(loose):
        value = empty
        if _read_by_checkers(op.f, op.type):
            try:
                value = _slim_value_decoder.decode(op.value)
            except msgspec.DecodeError as e:
                raise HistoryError(f"{name}: line {_nth_line(body, i)}: {op.f} value: {e}") from None
        out.append(SlimOp(op.index, op.time, op.process, op.type, op.f, value))
    return out


def _nth_line(body: bytes, i: int) -> int:
    return next(islice((lineno for lineno, _ in _lines(body)), i, None), i + 2)


def _raise_at_bad_line(body: bytes, name: str, decoder: msgspec.json.Decoder, hint: str = "") -> None:
    """Raise naming the first non-blank line ``decoder`` refuses, if any."""
    for lineno, line in _lines(body):
        try:
            decoder.decode(line)
        except msgspec.DecodeError as e:
            raise HistoryError(f"{name}: line {lineno}: {e}{hint}") from None
        except RecursionError:
            raise HistoryError(f"{name}: line {lineno}: JSON nested too deeply") from None


def _find_bad_line(body: bytes, name: str, decoder: msgspec.json.Decoder) -> None:
    _raise_at_bad_line(body, name, decoder)
    raise HistoryError(f"{name}: undecodable content")


# Reading is bounded (hostile input): a history is a regular file of at most
# MAX_BYTES (``chatsim check --max-bytes`` overrides it), lines of at most
# MAX_LINE_BYTES, UTF-8 throughout; JSON nesting deeper than msgspec's
# recursion limit is an error naming the line, not a RecursionError.
MAX_BYTES = 4 << 30
MAX_LINE_BYTES = 256 << 20


def read_history_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a history file, bounded: a regular file (not a FIFO,
    device or directory), at most ``max_bytes``, lines of at most
    ``MAX_LINE_BYTES``, valid UTF-8. Errors name the file (and line)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise HistoryError(f"{p}: cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise HistoryError(f"{p}: not a regular file")
    if st.st_size > max_bytes:
        raise HistoryError(f"{p}: {st.st_size} bytes, over the limit of {max_bytes} (raise it with --max-bytes)")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise HistoryError(f"{p}: cannot read: {e.strerror}") from None
    if len(data) > max_bytes:  # it grew while we looked
        raise HistoryError(f"{p}: over the limit of {max_bytes} bytes (raise it with --max-bytes)")
    check_bounds(data, str(p))
    return data


def check_bounds(data: bytes, name: str) -> None:
    """Line length and UTF-8, checked at C speed (``bytes`` methods)."""
    if data.startswith(b"\xef\xbb\xbf"):  # RFC 8259 §8.1: JSON text must not begin with one
        raise HistoryError(f"{name}: starts with a UTF-8 byte-order mark; a history is UTF-8 JSON Lines without one")
    if len(data) > MAX_LINE_BYTES:
        start = 0
        lineno = 1
        while start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            if end - start > MAX_LINE_BYTES:
                raise HistoryError(f"{name}: line {lineno}: longer than {MAX_LINE_BYTES} bytes")
            start, lineno = end + 1, lineno + 1
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise HistoryError(f"{name}: line {line}: not UTF-8 (byte {data[e.start]:#04x})") from None


def read_history(path: str | os.PathLike[str], slim: bool = False, max_bytes: int = MAX_BYTES) -> History:
    """Read and validate a history file; errors name the file and line."""
    return parse_history(read_history_bytes(path, max_bytes), str(path), slim)
