"""The fast check: chatsim's own line layout read as integer columns.

Theory of operation
-------------------
``fast_check(data)`` either returns exactly the result the reference path
(``sim.history.parse_history`` + ``invariants.index.build`` + the checkers)
would return, or ``None`` — "cannot decide here, take the reference path".
It decides the common case, a history in which every invariant holds, and
hands everything else (a violation, an undecided invariant, a malformed or
foreign line) back, so violation texts exist in one place only.

1. *Bytes, not objects.* The file must be UTF-8 without backslash escapes or
   control characters (one C-level scan each). Then the position of every
   ``"`` is found with numpy; with no escapes, quotes delimit every string.
2. *Canonical lines.* ``send`` and ``deliver`` lines (the bulk: a deliver per
   member per message) written by ``HistoryWriter`` have one layout,
   ``{"index":I,"time":T,"process":"P","type":"Y","f":"F","value":{"channel":
   "C","msg":"M"[,"text":"X"][,"ts":"S"]}}``. Every literal byte of it is
   verified per line by comparing 8-byte windows (a strided ``uint64`` view
   of the buffer), so a line that merely looks similar is not accepted.
   Every other line (reads, store reports, connects, foreign events) is
   decoded by msgspec in one batch; if one of those is a send or a deliver,
   the layout is not ours and the reference path takes over.
3. *Integer ids.* Each ``(channel, msg)`` and each ``(process, channel)``
   span is keyed by its bytes (up to 32, as four masked words) and a hash of
   them; ``np.unique`` gives ids, and every row is compared word by word with
   its id's first row, so a hash collision cannot merge two names.
4. *Vectorized invariants.* Attempts pair with completions by one stable
   sort; texts are compared as raw bytes, eight at a time; order,
   duplicates, membership and "stored before" are sorts, ``searchsorted``
   and ``isin`` over those ids. Python loops run per channel and per
   reader, never per op.

Index and time are validated as the reference does (index counts from 0,
time never decreases). Times are rebuilt exactly: a decimal of at most 15
digits is ``numerator / 10**k`` with both exact in a double, and IEEE
division rounds correctly, as ``float()`` does.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from typing import Any

import msgspec
import numpy as np

from sim.history import Meta, SlimOp

Result = dict[str, Any]

_meta_decoder = msgspec.json.Decoder(Meta)
_slim_decoder = msgspec.json.Decoder(SlimOp)
_OP_TYPES = {b"invoke": 0, b"ok": 1, b"fail": 2, b"info": 3, b"event": 4}
_MAX_KEY = 32  # bytes of a process, channel or msg name keyed in words
_K = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
               0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=np.uint64)


class _Undecided(Exception):
    """Raised inside the fast path: the reference path must decide."""


def _words(buf_len: int, buf: np.ndarray) -> np.ndarray:
    """A ``uint64`` view of ``buf`` at every byte offset (unaligned windows)."""
    return np.ndarray(shape=(buf_len,), dtype="<u8", buffer=buf, offset=0, strides=(1,))


def _lit(s: bytes) -> list[tuple[int, int, int]]:
    """``(offset, word, mask)`` windows covering literal ``s``."""
    out = []
    for off in range(0, len(s), 8):
        chunk = s[off:off + 8]
        word = int.from_bytes(chunk.ljust(8, b"\0"), "little")
        mask = (1 << (8 * len(chunk))) - 1
        out.append((off, word, mask))
    return out


def _expect(w: np.ndarray, pos: np.ndarray, s: bytes) -> np.ndarray:
    """Per row, whether the bytes at ``pos`` are literal ``s``."""
    ok = np.ones(len(pos), dtype=bool)
    for off, word, mask in _lit(s):
        ok &= (w[pos + off] & np.uint64(mask)) == np.uint64(word)
    return ok


_MASKS = np.array([(1 << (8 * n)) - 1 if n < 8 else (1 << 64) - 1 for n in range(9)], dtype=np.uint64)


def _keywords(w: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The first 32 bytes of each span as four masked words (rows × 4)."""
    out = np.empty((len(start), 4), dtype=np.uint64)
    for j in range(4):
        n = np.clip(length - 8 * j, 0, 8)
        out[:, j] = w[start + 8 * j] & _MASKS[n]
    return out


def _intern(keys: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids for rows of key words (equal bytes, equal id): ``(ids, first row of each id)``.

    Hash, unique, then verify every row against its id's first row."""
    h = (keys * _K).sum(axis=1, dtype=np.uint64) ^ lengths.astype(np.uint64)
    uniq, first, ids = np.unique(h, return_index=True, return_inverse=True)
    rep = first[ids]
    if not (np.array_equal(keys[rep], keys) and np.array_equal(lengths[rep], lengths)):
        raise _Undecided("hash collision")
    return ids.astype(np.int64), first


def _digits(buf: np.ndarray, start: np.ndarray, length: np.ndarray, maxlen: int) -> np.ndarray:
    """Unsigned decimal integers of 1..maxlen digits, or -1 where not digits."""
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64)
    width = int(length.max())
    if width > maxlen or int(length.min()) < 1:
        raise _Undecided("number width")
    cols = np.arange(width)
    m = buf[start[:, None] + cols].astype(np.int64) - 48
    inside = cols[None, :] < length[:, None]
    if ((m < 0) | (m > 9))[inside].any():
        raise _Undecided("not digits")
    m[~inside] = 0
    pw = 10 ** np.maximum(length[:, None] - 1 - cols[None, :], 0)
    pw[~inside] = 0
    return (m * pw).sum(axis=1)


def _times(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Decimal times ``D[.D]`` of at most 15 digits, exactly as ``float()`` reads them."""
    n = len(start)
    if n == 0:
        return np.zeros(0)
    width = int((end - start).max())
    if width > 16:
        raise _Undecided("long time")
    cols = np.arange(width)
    length = end - start
    raw = buf[start[:, None] + cols]
    inside = cols[None, :] < length[:, None]
    dot = (raw == 46) & inside
    ndots = dot.sum(axis=1)
    if (ndots > 1).any():
        raise _Undecided("time")
    d = raw.astype(np.int64) - 48
    digit = inside & ~dot
    if ((d < 0) | (d > 9))[digit].any() or (length - ndots < 1).any():
        raise _Undecided("time")
    dotpos = np.where(ndots == 1, np.argmax(dot, axis=1), length)
    frac = np.where(ndots == 1, length - dotpos - 1, 0)
    if ((ndots == 1) & (frac == 0)).any() or (dotpos == 0).any() or ((dotpos > 1) & (raw[:, 0] == 48)).any():
        raise _Undecided("time")  # "5.", ".5" and "05.5" are not JSON
    # place value of each digit in the numerator (integer and fraction digits together)
    rank = (length - ndots)[:, None] - 1 - (np.cumsum(digit, axis=1) - 1)
    d[~digit] = 0
    rank[~digit] = 0
    num = (d * 10 ** np.maximum(rank, 0)).sum(axis=1)
    return num.astype(np.float64) / (10.0 ** frac)


def fast_check(data: bytes) -> tuple[Meta, Result] | None:
    """``(header, result)`` of ``data`` if every invariant holds and the
    layout is chatsim's own; ``None`` when the reference path must decide."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        return _fast(data)
    except _Undecided:
        return None
    finally:
        if gc_was:
            gc.enable()


def _fast(data: bytes) -> Result:  # noqa: C901 - one pass, in the order of the module docstring
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Undecided("utf-8") from None
    if b"\\" in data or b"\r" in data:
        raise _Undecided("escapes")
    nl = data.find(b"\n")
    if nl < 0:
        raise _Undecided("no ops")
    try:
        meta = _meta_decoder.decode(data[:nl])
    except (msgspec.DecodeError, RecursionError):
        raise _Undecided("header") from None
    n = len(data)
    buf = np.zeros(n + 64, dtype=np.uint8)
    buf[:n] = np.frombuffer(data, dtype=np.uint8)
    raw = buf[:n]
    if int(np.count_nonzero(raw < 32)) != int(np.count_nonzero(raw == 10)):
        raise _Undecided("control characters")
    w = _words(n + 56, buf)
    ends = np.flatnonzero(raw == 10)
    if ends[-1] != n - 1:
        ends = np.append(ends, n)
    starts = np.concatenate(([0], ends[:-1] + 1))[1:]
    ends = ends[1:]
    keep = ends > starts  # blank lines are whitespace to decode_lines too
    if not keep.all():
        raise _Undecided("blank lines")
    nops = len(starts)
    if nops == 0:
        raise _Undecided("no ops")
    cols = [_scan(w, raw, starts, ends, lo, min(lo + _BLOCK, nops)) for lo in range(0, nops, _BLOCK)]
    c = {k: np.concatenate([x[k] for x in cols]) for k in cols[0]}
    rows, is_send, is_deliver, has_text = c["rows"], c["send"], c["deliver"], c["has_text"]
    # -- every other line, decoded by msgspec in one batch
    generic = np.ones(nops, dtype=bool)
    generic[rows] = False
    grows = np.flatnonzero(generic)
    try:
        gops = _slim_decoder.decode_lines(b"\n".join([data[s:e] for s, e in zip(starts[grows].tolist(),
                                                                                 ends[grows].tolist())]))
    except (msgspec.DecodeError, RecursionError):
        raise _Undecided("generic line") from None
    if len(gops) != len(grows):
        raise _Undecided("generic line count")
    if any(op.index != i for op, i in zip(gops, grows.tolist())):
        raise _Undecided("index")
    times = np.empty(nops)
    times[rows] = c["time"]
    times[grows] = [op.time for op in gops]
    if (times[1:] < times[:-1]).any():
        raise _Undecided("time")
    for op in gops:
        if op.f == "send" or op.f == "deliver":
            raise _Undecided("a send or deliver in another layout")
    return _judge(meta, data, w, c, gops, nops)


_BLOCK = 1 << 15  # lines per block: a block's bytes and quote positions stay in cache


def _scan(w, raw, starts, ends, lo, hi) -> dict[str, np.ndarray]:
    """Lines ``lo``..``hi``: which have the send/deliver layout, and their columns."""
    a, b = int(starts[lo]), int(ends[hi - 1])
    q = np.flatnonzero(raw[a:b] == 34) + a
    starts, ends = starts[lo:hi], ends[lo:hi]
    q0 = np.searchsorted(q, starts)
    qn = np.searchsorted(q, ends) - q0
    qpad = np.concatenate((q, np.full(40, len(raw), dtype=q.dtype)))
    cand = np.flatnonzero(((qn == 26) | (qn == 30) | (qn == 34)) & _expect(w, starts, b'{"index":'))
    qm = qpad[q0[cand][:, None] + np.arange(34)]

    def Q(k, sel=None):
        return qm[:, k] if sel is None else qm[sel, k]

    end = ends[cand]
    ok = (Q(0) == starts[cand] + 1) & _expect(w, Q(2) - 1, b',"time":')
    ok &= _expect(w, Q(4) - 1, b',"process":"') & (Q(6) == Q(4) + 10)
    ok &= _expect(w, Q(7), b'","type":"') & (Q(10) == Q(7) + 9)
    ok &= _expect(w, Q(11), b'","f":"') & (Q(14) == Q(11) + 6)
    f_send = _expect(w, Q(14), b'"send"') & (Q(15) == Q(14) + 5)
    f_deliver = _expect(w, Q(14), b'"deliver"') & (Q(15) == Q(14) + 8)
    ok &= f_send | f_deliver
    ok &= _expect(w, Q(15), b'","value":{"channel":"') & (Q(20) == Q(15) + 21)
    ok &= _expect(w, Q(21), b'","msg":"') & (Q(24) == Q(21) + 8)
    qc = qn[cand]
    tail25 = _expect(w, Q(25), b'"}}') & (Q(25) + 3 == end)
    text_at = _expect(w, Q(25), b'","text":"') & (Q(28) == Q(25) + 9)
    ts_at25 = _expect(w, Q(25), b'","ts":"') & (Q(28) == Q(25) + 7)
    tail29 = _expect(w, Q(29), b'"}}') & (Q(29) + 3 == end)
    ts_at29 = _expect(w, Q(29), b'","ts":"') & (Q(32) == Q(29) + 7)
    tail33 = _expect(w, Q(33), b'"}}') & (Q(33) + 3 == end)
    has_text = ((qc == 30) & text_at & tail29) | ((qc == 34) & text_at & ts_at29 & tail33)
    ok &= ((qc == 26) & tail25) | ((qc == 30) & ts_at25 & tail29) | has_text
    sel = np.flatnonzero(ok)
    rows = cand[sel] + lo
    # index and time, validated as the reference does
    width = Q(2, sel) - 1 - (Q(1, sel) + 2)
    index = _digits(raw, Q(1, sel) + 2, width, 18)
    # the canonical spelling (no leading zeros, which JSON forbids): as many digits as str(i)
    if not np.array_equal(index, rows) or \
            not np.array_equal(width, np.searchsorted(_POW10, np.maximum(rows, 1), side="right")):
        raise _Undecided("index")
    ts, te = Q(10, sel) + 1, Q(11, sel)
    tkey = _keywords(w, ts, te - ts)[:, 0]
    types = np.full(len(sel), -1)
    for word, code in _OP_TYPES.items():
        types[(tkey == np.uint64(int.from_bytes(word, "little"))) & (te - ts == len(word))] = code
    if (types < 0).any():
        raise _Undecided("op type")
    return {"rows": rows, "send": f_send[sel], "deliver": f_deliver[sel], "has_text": has_text[sel],
            "time": _times(raw, Q(3, sel) + 2, Q(4, sel) - 1), "type": types,
            "ps": Q(6, sel) + 1, "pe": Q(7, sel), "cs": Q(20, sel) + 1, "ce": Q(21, sel),
            "ms": Q(24, sel) + 1, "me": Q(25, sel), "xs": Q(28, sel) + 1, "xe": Q(29, sel)}


_POW10 = 10 ** np.arange(19)


def _judge(meta, data, w, c, gops, nops) -> Result:
    rows, is_send, is_deliver, has_text, types = c["rows"], c["send"], c["deliver"], c["has_text"], c["type"]
    # -- names: (channel, msg) pairs and (process, channel) views as ids
    ps, pe, cs, ce, ms, me = c["ps"], c["pe"], c["cs"], c["ce"], c["ms"], c["me"]
    for s, e in ((ps, pe), (cs, ce), (ms, me)):
        if len(s) and int((e - s).max()) > _MAX_KEY:
            raise _Undecided("long name")
    pk, ck, mk = _keywords(w, ps, pe - ps), _keywords(w, cs, ce - cs), _keywords(w, ms, me - ms)
    pair, pair_first = _intern(np.hstack((ck, mk)), (ce - cs) * 64 + (me - ms))
    view, view_first = _intern(np.hstack((pk, ck)), (pe - ps) * 64 + (ce - cs))

    def text_of(r):
        return data[int(r[0]):int(r[1])].decode()

    pair_ch = [text_of(x) for x in zip(cs[pair_first].tolist(), ce[pair_first].tolist())]
    pair_msg = [text_of(x) for x in zip(ms[pair_first].tolist(), me[pair_first].tolist())]
    view_proc = [text_of(x) for x in zip(ps[view_first].tolist(), pe[view_first].tolist())]
    view_ch = [text_of(x) for x in zip(cs[view_first].tolist(), ce[view_first].tolist())]
    members = {ch: set(ms_) for ch, ms_ in meta.channels.items()}

    # -- sends: attempts, completions, outcomes (invariants.index.Send semantics)
    srow = np.flatnonzero(is_send)
    s_pair, s_type, s_idx = pair[srow], types[srow], rows[srow]
    s_proc = view[srow]  # (process, channel) view id: with the pair it keys (process, channel, msg)
    inv = s_type == 0
    if (s_type[~inv] == 4).any():
        raise _Undecided("send event")
    key = s_pair * (len(view_proc) + 1) + s_proc
    order = np.argsort(key, kind="stable")
    k_sorted, t_sorted = key[order], s_type[order]
    prev_inv = np.zeros(len(order), dtype=bool)
    prev_inv[1:] = (k_sorted[1:] == k_sorted[:-1]) & (t_sorted[:-1] == 0)
    completes = (t_sorted != 0) & prev_inv  # a completion pops the pending invoke just before it
    att = order[:-1][completes[1:]]  # the invoke rows that completed (positions in srow)
    comp = order[1:][completes[1:]]
    npairs = len(pair_ch)
    inv_rows = np.flatnonzero(inv)
    has_send = np.zeros(npairs, dtype=bool)
    has_send[s_pair[inv_rows]] = True
    n_attempts = np.bincount(s_pair[inv_rows], minlength=npairs)
    first_inv = np.full(npairs, -1, dtype=np.int64)
    u, at = np.unique(s_pair[inv_rows], return_index=True)  # return_index: each pair's earliest
    first_inv[u] = inv_rows[at]
    comp_type = np.full(len(srow), -1)
    comp_type[att] = s_type[comp]
    comp_idx = np.full(len(srow), -1, dtype=np.int64)
    comp_idx[att] = s_idx[comp]
    ia = inv_rows  # attempts, in history order
    a_pair, a_type, a_done = s_pair[ia], comp_type[ia], comp_idx[ia]
    n_ok = np.bincount(a_pair, weights=(a_type == 1), minlength=npairs)
    n_fail = np.bincount(a_pair, weights=(a_type == 2), minlength=npairs)
    outcome = np.where(n_ok > 0, 1, np.where((n_fail == n_attempts) & has_send, 2, 3))  # ok fail unknown
    done = np.full(npairs, -1, dtype=np.int64)
    okr = np.flatnonzero(a_type == 1)
    u, at = np.unique(a_pair[okr], return_index=True)
    done[u] = a_done[okr][at]  # the ok of the earliest acked attempt
    ended = np.flatnonzero((a_type > 1) & (outcome[a_pair] != 1))[::-1]
    u, at = np.unique(a_pair[ended], return_index=True)
    done[u] = a_done[ended][at]  # else the last attempt that completed
    s_invoke = np.where(has_send, s_idx[np.maximum(first_inv, 0)], -1)
    sent = np.flatnonzero(has_send)
    reused = len(ia) - len(sent)

    # -- the other ops (few): reads, store reports, sessions, directory views
    reads: dict[tuple[str, str], tuple[list[str], int]] = {}
    read_invoked: dict[tuple[str, str], int] = {}
    pending_reads: dict[tuple[str, str], int] = {}
    stored: dict[str, tuple[list[str], int]] = {}
    sessions: dict[str, list[tuple[int, bool]]] = {}
    for op in gops:
        f, v = op.f, op.value
        if f == "read":
            if op.type == "invoke":
                pending_reads[(op.process, v.channel)] = op.index
            elif op.type == "ok":
                if v.channel is None or v.msgs is None:
                    raise _Undecided("bad read")
                k = (op.process, v.channel)
                reads[k] = (v.msgs, op.index)
                read_invoked[k] = pending_reads.get(k, op.index)
        elif f == "stored":
            if v.channel is None or v.msgs is None:
                raise _Undecided("bad stored")
            stored[v.channel] = (v.msgs, op.index)
        elif f == "connect" or f == "disconnect":
            sessions.setdefault(op.process, []).append((op.index, f == "connect"))
        elif f == "directory" or f == "directory-truth":
            raise _Undecided("boot consistency")  # judged by the reference path
    if any(ch not in stored for ch in members):
        raise _Undecided("no stored report")  # several invariants are undecided

    # (channel, msg) name -> pair id, per channel, for reads and stores
    pair_of: dict[str, dict[str, int]] = {}
    for i, (ch, m) in enumerate(zip(pair_ch, pair_msg)):
        pair_of.setdefault(ch, {})[m] = i

    def ids(ch: str, msgs: list[str]) -> np.ndarray:
        """Pair ids of ``msgs`` in ``ch`` (-1 for one never sent or shown)."""
        d = pair_of.get(ch, {})
        return np.fromiter((d.get(m, -1) for m in msgs), dtype=np.int64, count=len(msgs))

    ok_pair = has_send & (outcome != 2)  # may legitimately appear
    store_ids = {ch: ids(ch, msgs) for ch, (msgs, _) in stored.items()}
    read_ids = {k: ids(k[1], msgs) for k, (msgs, _) in reads.items()}

    # -- integrity
    drow = np.flatnonzero(is_deliver)
    d_pair, d_view, d_idx = pair[drow], view[drow], rows[drow]
    for vi in np.unique(d_view).tolist():
        if view_proc[vi] not in members.get(view_ch[vi], ()):
            raise _Undecided("non-member")
    if not ok_pair[d_pair].all() or not (d_idx > s_invoke[d_pair]).all():
        raise _Undecided("integrity")
    _same_texts(w, c["xs"], c["xe"], drow, srow, has_text, d_pair, first_inv)
    for (c, ch), a in read_ids.items():
        if len(a) and c not in members.get(ch, ()):
            raise _Undecided("non-member read")
        if (a < 0).any() or not ok_pair[a].all():  # pair_of[ch] holds pairs of ch only
            raise _Undecided("integrity read")
    for ch, a in store_ids.items():
        if (a < 0).any() or not ok_pair[a].all():
            raise _Undecided("integrity store")

    # -- no-duplicates (every sequence) and total order (follows STORE order)
    for a in (*store_ids.values(), *read_ids.values()):
        if len(np.unique(a)) != len(a):
            raise _Undecided("duplicate")
    pos = np.full(npairs, -1, dtype=np.int64)
    for ch, a in store_ids.items():
        pos[a] = np.arange(len(a))
    dorder = np.argsort(d_view, kind="stable")  # each view's delivers, in history order
    v_sorted, p_sorted = d_view[dorder], d_pair[dorder]
    same_view = v_sorted[1:] == v_sorted[:-1]
    if (same_view & (p_sorted[1:] == p_sorted[:-1])).any() or \
            len(np.unique(v_sorted * npairs + p_sorted)) != len(v_sorted):
        raise _Undecided("duplicate live")
    dpos = pos[p_sorted]
    placed = dpos >= 0
    vp, pp = v_sorted[placed], dpos[placed]
    if ((vp[1:] == vp[:-1]) & (pp[1:] <= pp[:-1])).any():
        raise _Undecided("order")
    for (c, ch), a in read_ids.items():
        if ch in store_ids:
            pa = pos[a]
            pa = pa[pa >= 0]
            if (pa[1:] <= pa[:-1]).any():
                raise _Undecided("order read")
    # every view's channel: in the store or undecided (durability)
    views = np.unique(d_view).tolist()
    if any(view_ch[vi] not in stored for vi in views):
        raise _Undecided("live view without a store")

    # -- durability: everything acked or shown is stored
    in_store = np.zeros(npairs, dtype=bool)
    for a in store_ids.values():
        in_store[a] = True
    if not in_store[d_pair].all():
        raise _Undecided("durability live")
    stored_ch = np.array([ch in stored for ch in pair_ch], dtype=bool)
    acked = has_send & (outcome == 1) & stored_ch
    if not in_store[acked].all():
        raise _Undecided("durability acked")
    recovered = int((has_send & (outcome == 3) & stored_ch & in_store).sum())

    # -- validity
    acked_any = has_send & (outcome == 1)
    readers_of = {ch: [c for c in sorted(ms_) if (c, ch) in reads] for ch, ms_ in members.items()}
    checked = concurrent = 0
    by_ch: dict[str, list[int]] = {}
    for p in np.flatnonzero(acked_any).tolist():
        by_ch.setdefault(pair_ch[p], []).append(p)
    for ch, ps_ in by_ch.items():
        rs = readers_of.get(ch)
        if ch in members and members[ch] and not rs:
            raise _Undecided("validity undecided")
        if not rs:
            continue
        arr = np.array(ps_, dtype=np.int64)
        arr = arr[np.argsort(done[arr], kind="stable")]
        dn = done[arr].tolist()
        checked += len(arr)
        for c in rs:
            k = bisect_left(dn, read_invoked[(c, ch)])
            concurrent += len(arr) - k
            if not np.isin(arr[:k], read_ids[(c, ch)]).all():
                raise _Undecided("validity")
    without = sum(len(ms_) - len(readers_of[ch]) for ch, ms_ in members.items())

    # -- live-completeness
    live_result = _live(members, stored, store_ids, sessions, reads, read_invoked, nops, has_send, outcome,
                        done, s_invoke, d_pair, d_idx, d_view, view_proc, view_ch, npairs)

    counts_sent = len(sent)
    oc = {"ok": int((outcome[sent] == 1).sum()), "fail": int((outcome[sent] == 2).sum()),
          "unknown": int((outcome[sent] == 3).sum())}
    nseq_live = len(views)
    nseq_read = sum(1 for (_, ch) in reads if ch in stored)

    def holds(counts, **extra):
        return {"valid": True, "violations": [], "counts": counts, **extra}

    results = {
        "validity": holds({"acked_checked": checked, "members_without_read": without,
                           "acked_after_read": concurrent}),
        "integrity": holds({"messages_sent": counts_sent, "reused_ids": reused}),
        "total-order": holds({"sequences_checked": nseq_live + nseq_read}),
        "no-duplicates": holds({"sequences_checked": len(views) + len(reads) + len(stored)}),
        "durability": holds({"acked": int(acked.sum()), "recovered_unknown": recovered}),
        "live-completeness": live_result,
        "boot-consistency": holds({"clients_checked": 0}, applicable=False),
    }
    return meta, {"valid": True, "invariants": results, "sends": {**oc, "recovered_unknown": recovered},
                  "ops": nops}


def _same_texts(w, xs, xe, drow, srow, has_text, d_pair, first_inv) -> None:
    """Every deliver's text equals its message's first invoke's text (where
    both have one), compared as raw bytes, eight at a time."""
    inv_row = srow[first_inv[d_pair]]  # the row (in ``rows``) of the pair's first invoke
    both = has_text[drow] & has_text[inv_row]
    a_rows, b_rows = drow[both], inv_row[both]
    a0, a1 = xs[a_rows], xe[a_rows]
    b0, b1 = xs[b_rows], xe[b_rows]
    length = a1 - a0
    if not np.array_equal(length, b1 - b0):
        raise _Undecided("text length")
    for j in range(0, int(length.max()) if len(length) else 0, 8):
        sel = length > j  # spans not yet compared to their end
        a0, b0, length = a0[sel], b0[sel], length[sel]
        m = _MASKS[np.minimum(length - j, 8)]
        if not np.array_equal(w[a0 + j] & m, w[b0 + j] & m):
            raise _Undecided("text changed")


def _live(members, stored, store_ids, sessions, reads, read_invoked, nops, has_send, outcome, done, s_invoke,
          d_pair, d_idx, d_view, view_proc, view_ch, npairs) -> Result:
    """live-completeness, or raise when it does not hold or is undecided."""
    if not sessions:
        return {"valid": True, "violations": [], "counts": {"members_checked": 0, "messages_required": 0},
                "applicable": False}
    first_shown = np.full(npairs, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_shown, d_pair, d_idx)
    at = np.where(outcome == 1, done, np.iinfo(np.int64).max)
    at = np.minimum(at, first_shown)
    when = np.where(at == np.iinfo(np.int64).max, s_invoke, at)
    live_of: dict[tuple[str, str], np.ndarray] = {}
    order = np.argsort(d_view, kind="stable")
    vs, pv = d_view[order], d_pair[order]
    bounds = np.flatnonzero(np.diff(vs)) + 1
    for chunk_v, chunk_p in zip(np.split(vs, bounds), np.split(pv, bounds)):
        if len(chunk_v):
            vi = int(chunk_v[0])
            live_of[(view_proc[vi], view_ch[vi])] = chunk_p
    checked = required = 0
    from .checkers import connected_since

    for ch in sorted(stored):
        a = np.unique(store_ids[ch])
        a = a[has_send[a] & (outcome[a] != 2)]
        t = when[a]
        o = np.argsort(t, kind="stable")
        a, t = a[o], t[o]
        for c in sorted(members.get(ch, ())):
            events = sessions.get(c)
            if not events:
                continue
            end = read_invoked.get((c, ch), nops)
            since = connected_since(events, end)
            if since is None:
                continue
            checked += 1
            lo, hi = np.searchsorted(t, since + 1), np.searchsorted(t, end)
            required += int(hi - lo)
            seen = live_of.get((c, ch))
            need = a[lo:hi]
            if len(need) and (seen is None or not np.isin(need, seen).all()):
                raise _Undecided("live-completeness")
    return {"valid": True, "violations": [], "counts": {"members_checked": checked, "messages_required": required}}
