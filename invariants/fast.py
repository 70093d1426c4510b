"""The native fast path of ``check_bytes``: columns from C, invariants in numpy.

Theory of operation
-------------------
``_fastscan.scan`` (a small C extension, ``invariants/_fastscan.c``) reads
the op lines of a history once and returns integer columns: per op its type,
``f``, process, channel, message and text as interned ids, and each msgs
list (final reads, store reports) as CSR arrays. It recognises only
chatsim's own line layout and says "not mine" (None) for anything else.

``check_fast`` then decides, with whole-array numpy operations, whether
every invariant of DESIGN §7 holds, and computes every count the reference
checkers report. It answers only when the history is of the common, fully
valid kind; it returns None -- and ``check_bytes`` runs the reference path,
``checkers.check`` -- whenever

- the scanner declined (another layout, malformed or unusual input, boot
  consistency records);
- a message id was sent in more than one channel;
- any invariant might not hold, or might be "unknown" (a channel without a
  store report, a channel with acked messages nobody read, ...).

So every violation, explanation and "unknown" reason comes from the
reference path, and a result the fast path returns equals the reference's
dict (the differential tests in tests/test_fastscan*.py hold it to that).

How each invariant is decided (all ids are ints; a message id names one
channel's message because ids sent in two channels fall back):

- sends: the attempts of a message are its ``send`` invokes; a completion
  (ok / fail / info) belongs to the invoke just before it in the rows of the
  same (process, channel, message). That is the reference's pairing (the
  oldest open attempt of the process and message) only while every
  completion comes right after an invoke of its own key; otherwise None.
- integrity: each deliver's (channel, message) was sent there and did not
  fail, its client is a member, its text equals the first invoke's, it comes
  after that invoke; every final read's and store's entries were sent in
  that channel and did not fail.
- total-order and no-duplicates: store positions per message; each live
  view (walked through the scanner's previous-deliver links) is strictly
  increasing in store position, which also rules out duplicates; final
  reads' stored entries are increasing; no list repeats an id (the
  scanner's per-list flag).
- durability: every displayed and every acked message is in its store.
- validity: per final read, the acked messages acked before the read began
  (a ``searchsorted`` over (channel, ack index)) are all in it: their count
  among the read's entries equals the number required.
- live-completeness: per member connected (last session event before the
  end of its workload is a connect), the stored messages stored inside its
  session window, counted with ``searchsorted``, equal the count of its
  deliveries of messages in that window.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import numpy as np

from sim.history import Meta, _meta_decoder

ABI = 2  # the column layout and line rules this module reads (FASTSCAN_ABI in _fastscan.c)
try:
    from . import _fastscan
except ImportError as e:  # the install had no C compiler: the reference path runs
    _fastscan = None
    _IMPORT_ERROR: str | None = f"{type(e).__name__}: {e}"
else:
    _IMPORT_ERROR = None
    if getattr(_fastscan, "ABI", None) != ABI:  # an editable install's stale build
        _IMPORT_ERROR = f"{_fastscan.__file__} is a stale build (rebuild: pip install -e .)"
        _fastscan = None

# the scanner's codes (invariants/_fastscan.c)
T_INVOKE, T_OK, T_FAIL, T_INFO, T_EVENT = range(5)
F_OTHER, F_SEND, F_READ, F_DELIVER, F_STORED, F_CONNECT, F_DISCONNECT = range(7)
# per message outcome
O_NONE, O_OK, O_FAIL, O_UNKNOWN = range(4)

_warned = False


def available() -> bool:
    """Whether the native scanner imported; warns once on stderr when not."""
    global _warned
    if _fastscan is None and not _warned:
        _warned = True
        print(f"chatsim: native history scanner unavailable ({_IMPORT_ERROR}); checking in Python",
              file=sys.stderr)
    return _fastscan is not None


def check_fast(data: bytes) -> tuple[Meta, dict[str, Any]] | None:
    """``(header, result)`` equal to the reference's, or None to fall back."""
    scanned = scan(data)
    return None if scanned is None else judge(*scanned)


def scan(data: bytes) -> tuple[Meta, dict[str, Any]] | None:
    """The first half of ``check_fast``: the header and the native scanner's
    columns, or None (no scanner, or not chatsim's own layout). The columns
    hold no reference to ``data``: a caller may let the bytes go before
    ``judge`` (``invariants.checkers.check_run_file`` does)."""
    if not available() or not data or data.isspace():
        return None
    nl = data.find(b"\n")
    try:
        meta = _meta_decoder.decode(data if nl < 0 else data[:nl])
    except (msgspec.DecodeError, RecursionError):
        return None
    cols = _fastscan.scan(data, len(data) if nl < 0 else nl + 1)
    return None if cols is None else (meta, cols)


def judge(meta: Meta, cols: dict[str, Any]) -> tuple[Meta, dict[str, Any]] | None:
    """The second half of ``check_fast``: ``(header, result)`` from the
    columns, or None to fall back to the reference path."""
    result = _judge(cols, meta)
    return None if result is None else (meta, result)


def _i32(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.int32)


def _segments(off: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR lists ``lists``: (position of each entry in the flat array,
    index into ``lists`` of the list it belongs to)."""
    starts, ends = off[lists], off[lists + 1]
    lengths = ends - starts
    seg = np.repeat(np.arange(len(lists)), lengths)
    first = np.cumsum(lengths) - lengths
    return starts[seg] + (np.arange(len(seg)) - first[seg]), seg


class _Members:
    """Header membership as a test on (channel id, process id) arrays."""

    def __init__(self, meta: Meta, name_id: dict[str, int], n_names: int):
        pairs = sorted({(name_id[ch], name_id[c]) for ch, ms in meta.channels.items() if ch in name_id
                        for c in ms if c in name_id})
        self.n = max(n_names, 1)
        self.keys = np.array([ch * self.n + c for ch, c in pairs], dtype=np.int64)

    def test(self, ch: np.ndarray, proc: np.ndarray) -> np.ndarray:
        key = ch.astype(np.int64) * self.n + proc
        pos = np.searchsorted(self.keys, key)
        pos[pos == len(self.keys)] = 0
        return (self.keys[pos] == key) if len(self.keys) else np.zeros(len(key), dtype=bool)


def _judge(cols: dict[str, Any], meta: Meta) -> dict[str, Any] | None:
    n = cols["n"]
    typ = np.frombuffer(cols["typ"], dtype=np.uint8)
    fc = np.frombuffer(cols["fc"], dtype=np.uint8)
    proc, chan, msg, text = _i32(cols["proc"]), _i32(cols["chan"]), _i32(cols["msg"]), _i32(cols["text"])
    pair, prev = _i32(cols["pair"]), _i32(cols["prev"])
    names: list[str] = cols["names"]
    name_id = {s: i for i, s in enumerate(names)}
    nn, nm = len(names), cols["n_msgs"]
    pair_proc, pair_chan = _i32(cols["pair_proc"]), _i32(cols["pair_chan"])
    n_pairs = len(pair_proc)
    list_row, list_msgs = _i32(cols["list_row"]), _i32(cols["list_msgs"])
    list_off = np.frombuffer(cols["list_off"], dtype=np.int64)
    list_dup = np.frombuffer(cols["list_dup"], dtype=np.uint8)
    members = _Members(meta, name_id, nn)
    header = {ch: set(ms) for ch, ms in meta.channels.items()}

    # -- sends: attempts, outcome per message ---------------------------------
    s_rows = np.flatnonzero((fc == F_SEND) & (typ != T_EVENT))  # an event completes no attempt
    s_typ, s_msg, s_chan, s_proc = typ[s_rows], msg[s_rows], chan[s_rows], proc[s_rows]
    is_inv = s_typ == T_INVOKE
    inv_rows, inv_msg, inv_chan = s_rows[is_inv], s_msg[is_inv], s_chan[is_inv]
    send_ch = np.full(nm, -1, dtype=np.int32)
    send_ch[inv_msg] = inv_chan
    if (send_ch[inv_msg] != inv_chan).any():
        return None  # one id sent in two channels: the reference keys by (channel, msg)
    sent = send_ch >= 0
    n_sent = int(np.count_nonzero(sent))
    first_inv = np.full(nm, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_inv, inv_msg, inv_rows)
    send_text = np.full(nm, -1, dtype=np.int32)
    send_text[sent] = text[first_inv[sent]]
    # one text over all attempts (or none on all): only then is a displayed
    # text judged here; otherwise the reference path weighs each attempt's
    inv_text = text[inv_rows].astype(np.int64)
    text_hi = np.full(nm, -2, dtype=np.int64)
    text_lo = np.full(nm, np.iinfo(np.int64).max, dtype=np.int64)
    np.maximum.at(text_hi, inv_msg, inv_text)
    np.minimum.at(text_lo, inv_msg, inv_text)
    one_text = text_hi == text_lo
    # a completion belongs to the invoke right before it among the rows of its
    # (process, channel, msg): rows sorted by that key, stable in history order
    key = (s_msg.astype(np.int64) * nn + s_proc) * nn + s_chan
    if nm and nn and (nm * nn * nn) >= (1 << 62):  # pragma: no cover - ids beyond int64 keys
        order = np.lexsort((s_chan, s_proc, s_msg))
    else:
        order = np.argsort(key, kind="stable")
    k_sorted, t_sorted, r_sorted = key[order], s_typ[order], s_rows[order]
    inv_pos = np.flatnonzero(t_sorted == T_INVOKE)
    nxt = inv_pos + 1
    has_next = nxt < len(order)
    nxt_c = np.minimum(nxt, max(len(order) - 1, 0))
    # Every completion must come right after an invoke of its own (process,
    # channel, msg). Otherwise the reference — which completes the oldest
    # open attempt of the process and msg, whatever channel the completion
    # names — may pair them differently from the rule below (invoke, invoke,
    # fail, fail: both attempts failed; a completion naming another channel).
    comp = np.flatnonzero(t_sorted != T_INVOKE)
    if len(comp) and (comp[0] == 0 or not ((k_sorted[comp - 1] == k_sorted[comp])
                                           & (t_sorted[comp - 1] == T_INVOKE)).all()):
        return None
    completed = has_next & (k_sorted[nxt_c] == k_sorted[inv_pos]) & (t_sorted[nxt_c] != T_INVOKE)
    a_msg = s_msg[order][inv_pos]
    a_type = np.where(completed, t_sorted[nxt_c], 255)
    a_done = np.where(completed, r_sorted[nxt_c], -1)
    attempts = np.bincount(a_msg, minlength=nm)
    fails = np.bincount(a_msg[a_type == T_FAIL], minlength=nm)
    ok_att = a_type == T_OK
    outcome = np.full(nm, O_NONE, dtype=np.int8)
    outcome[sent] = O_UNKNOWN
    outcome[sent & (fails == attempts)] = O_FAIL
    ok_msg, ok_done = a_msg[ok_att], a_done[ok_att]
    outcome[ok_msg] = O_OK
    # done: the first ok in history order (two processes may send one id, and
    # the later invoke may be acked first)
    never = np.iinfo(np.int64).max
    done = np.full(nm, never, dtype=np.int64)
    np.minimum.at(done, ok_msg, ok_done)
    done[done == never] = -1
    not_failed = sent & (outcome != O_FAIL)

    # -- final reads and store reports --------------------------------------------
    read_ok = np.flatnonzero((fc == F_READ) & (typ == T_OK))
    last_ok = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(last_ok, pair[read_ok], read_ok)
    final_pairs = np.flatnonzero(last_ok >= 0)
    final_rows = last_ok[final_pairs]
    # pending_reads: the latest read invoke of the pair before its final read
    read_inv = np.flatnonzero((fc == F_READ) & (typ == T_INVOKE))
    inv_pair = pair[read_inv]
    before = read_inv < last_ok[inv_pair]
    invoked = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(invoked, inv_pair[before], read_inv[before])
    read_invoked = np.where(invoked >= 0, invoked, last_ok)  # per pair (only final pairs matter)
    st_rows = np.flatnonzero(fc == F_STORED)
    last_st = np.full(nn, -1, dtype=np.int64)
    np.maximum.at(last_st, chan[st_rows], st_rows)
    stored_chans = np.flatnonzero(last_st >= 0)
    chan_stored = last_st >= 0
    # every header channel needs a store report (else "unknown")
    for ch in header:
        if ch not in name_id or not chan_stored[name_id[ch]]:
            return None
    read_lists = np.searchsorted(list_row, final_rows)
    store_lists = np.searchsorted(list_row, last_st[stored_chans])
    if list_dup[read_lists].any() or list_dup[store_lists].any():
        return None  # no-duplicates
    # store entries: allowed in their channel; positions per message
    st_pos, st_seg = _segments(list_off, store_lists)
    st_msg = list_msgs[st_pos]
    st_ch = stored_chans[st_seg]
    if not ((send_ch[st_msg] == st_ch) & not_failed[st_msg]).all():
        return None  # integrity
    store_pos = np.full(nm, -1, dtype=np.int64)
    store_pos[st_msg] = st_pos - list_off[store_lists][st_seg]
    in_store = store_pos >= 0

    # read entries: allowed; non-members read nothing; stored ones in store order
    rd_pos, rd_seg = _segments(list_off, read_lists)
    rd_msg = list_msgs[rd_pos]
    rd_ch = pair_chan[final_pairs].astype(np.int64)
    rd_proc = pair_proc[final_pairs]
    if not ((send_ch[rd_msg] == rd_ch[rd_seg]) & not_failed[rd_msg]).all():
        return None  # integrity
    nonempty = list_off[read_lists + 1] > list_off[read_lists]
    is_member_read = members.test(rd_ch, rd_proc)
    if (nonempty & ~is_member_read).any():
        return None  # integrity: a non-member read messages
    rp = store_pos[rd_msg]
    keep = rp >= 0
    rp_k, seg_k = rp[keep], rd_seg[keep]
    if ((seg_k[1:] == seg_k[:-1]) & (rp_k[1:] <= rp_k[:-1])).any():
        return None  # total-order of a final read

    # -- live views ---------------------------------------------------------------
    d_rows = np.flatnonzero(fc == F_DELIVER)
    d_msg, d_chan, d_proc, d_pair = msg[d_rows], chan[d_rows], proc[d_rows], pair[d_rows]
    if not chan_stored[d_chan].all():
        return None  # a live view of a channel without a store: "unknown" or worse
    dm_text = text[d_rows]
    st_text = send_text[d_msg]
    ok = (send_ch[d_msg] == d_chan) & not_failed[d_msg] & (d_rows > first_inv[d_msg]) & in_store[d_msg] \
        & ((dm_text < 0) | (one_text[d_msg] & (dm_text == st_text)))
    if not ok.all() or not members.test(d_chan, d_proc).all():
        return None  # integrity, durability
    d_prev = prev[d_rows]
    linked = d_prev >= 0
    if (store_pos[msg[d_prev[linked]]] >= store_pos[d_msg[linked]]).any():
        return None  # total-order (and duplicates) of a live view
    live_pairs = np.flatnonzero(np.bincount(d_pair, minlength=n_pairs))

    # -- durability ---------------------------------------------------------------
    in_stored_ch = sent & chan_stored[np.maximum(send_ch, 0)]
    acked_stored = in_stored_ch & (outcome == O_OK)
    if (acked_stored & ~in_store).any():
        return None
    recovered = int(np.count_nonzero(in_stored_ch & (outcome == O_UNKNOWN) & in_store))

    # -- validity -----------------------------------------------------------------
    acked = np.flatnonzero(outcome == O_OK)
    span = np.int64(n + 2)
    ack_keys = np.sort(send_ch[acked].astype(np.int64) * span + done[acked])
    reader_of = {}  # (channel id, process id) -> index into final_pairs
    for i, (c, ch) in enumerate(zip(rd_proc.tolist(), rd_ch.tolist())):
        reader_of[(ch, c)] = i
    acked_checked = members_without = 0
    readers = []
    for ch, ms in header.items():
        cid = name_id.get(ch)
        rs = [reader_of[(cid, name_id[c])] for c in ms if c in name_id and (cid, name_id[c]) in reader_of] \
            if cid is not None else []
        members_without += len(ms) - len(rs)
        n_acked = 0
        if cid is not None:
            n_acked = int(np.searchsorted(ack_keys, (cid + 1) * span) - np.searchsorted(ack_keys, cid * span))
        if not rs:
            if ms and n_acked:
                return None  # nobody read a channel with acked messages: "unknown"
            continue
        acked_checked += n_acked
        readers += rs
    readers_a = np.array(sorted(readers), dtype=np.int64)
    r_ch = rd_ch[readers_a]
    r_inv = read_invoked[final_pairs[readers_a]]
    lo = np.searchsorted(ack_keys, r_ch * span)
    need = np.searchsorted(ack_keys, r_ch * span + r_inv) - lo
    total = np.searchsorted(ack_keys, (r_ch + 1) * span) - lo
    # entries of each reader's list acked in its channel before its read began
    is_reader = np.zeros(len(final_pairs), dtype=bool)
    is_reader[readers_a] = True
    want_inv = np.full(len(final_pairs), -1, dtype=np.int64)
    want_inv[readers_a] = r_inv
    e_ok = is_reader[rd_seg] & (outcome[rd_msg] == O_OK) & (done[rd_msg] < want_inv[rd_seg])
    have = np.bincount(rd_seg[e_ok], minlength=len(final_pairs))[readers_a]
    if (have != need).any():
        return None  # a lost acked message
    acked_after_read = int((total - need).sum())

    # -- live completeness --------------------------------------------------------
    sess_rows = np.flatnonzero((fc == F_CONNECT) | (fc == F_DISCONNECT))
    if len(sess_rows) == 0:
        live = {"valid": True, "violations": [], "counts": {"members_checked": 0, "messages_required": 0},
                "applicable": False}
    else:
        live = _live_completeness(n, meta, header, name_id, fc, proc, sess_rows, outcome, done, first_inv, d_rows, d_msg,
                                  d_pair, nm, in_store, send_ch, not_failed, stored_chans, chan_stored, pair_proc,
                                  pair_chan, final_pairs, read_invoked)
        if live is None:
            return None

    ok_n, fail_n = int(np.count_nonzero(outcome == O_OK)), int(np.count_nonzero(outcome == O_FAIL))
    stored_read_seqs = int(np.count_nonzero(chan_stored[rd_ch])) if len(rd_ch) else 0
    live_seqs = len(live_pairs)

    def holds(counts: dict[str, int]) -> dict[str, Any]:
        return {"valid": True, "violations": [], "counts": counts}

    invariants = {
        "validity": holds({"acked_checked": acked_checked, "members_without_read": members_without,
                           "acked_after_read": acked_after_read}),
        "integrity": holds({"messages_sent": n_sent, "reused_ids": int(len(inv_rows) - n_sent)}),
        "total-order": holds({"sequences_checked": live_seqs + stored_read_seqs}),
        "no-duplicates": holds({"sequences_checked": live_seqs + len(final_pairs) + len(stored_chans)}),
        "durability": holds({"acked": int(np.count_nonzero(acked_stored)), "recovered_unknown": recovered}),
        "live-completeness": live,
        "boot-consistency": {"valid": True, "violations": [], "counts": {"clients_checked": 0},
                             "applicable": False},
    }
    return {"valid": True, "invariants": invariants,
            "sends": {"ok": ok_n, "fail": fail_n, "unknown": n_sent - ok_n - fail_n,
                      "recovered_unknown": recovered},
            "ops": n}


def _live_completeness(n, meta, header, name_id, fc, proc, sess_rows, outcome, done, first_inv, d_rows, d_msg, d_pair, nm,
                       in_store, send_ch, not_failed, stored_chans, chan_stored, pair_proc, pair_chan,
                       final_pairs, read_invoked) -> dict[str, Any] | None:
    """live-completeness's result when it holds, else None (see the module docstring)."""
    span = np.int64(n + 2)
    # when each message was stored: first ok, else first display, else first invoke
    first_shown = np.full(nm, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_shown, d_msg, d_rows)
    when = np.where(done >= 0, np.minimum(done, first_shown), first_shown)
    when = np.where(when == np.iinfo(np.int64).max, first_inv, when)
    # required messages per channel: stored, sent there, not failed, by when
    cand = in_store & not_failed
    w_keys = np.sort(send_ch[cand].astype(np.int64) * span + when[cand])
    # sessions: per process, its connect/disconnect rows in order
    s_proc = proc[sess_rows].astype(np.int64)
    s_key_order = np.argsort(s_proc * span + sess_rows, kind="stable")
    s_keys = (s_proc * span + sess_rows)[s_key_order]
    s_up = (fc[sess_rows] == F_CONNECT)[s_key_order]
    s_row = sess_rows[s_key_order]
    final_of = {(int(c), int(ch)): int(read_invoked[p]) for p, c, ch in
                zip(final_pairs.tolist(), pair_proc[final_pairs].tolist(), pair_chan[final_pairs].tolist())}
    pair_of = {(int(c), int(ch)): i for i, (c, ch) in enumerate(zip(pair_proc.tolist(), pair_chan.tolist()))}
    has_sessions = np.zeros(len(name_id) + 1, dtype=bool)
    has_sessions[proc[sess_rows]] = True
    c_ids, ch_ids, ends = [], [], []
    for ch, ms in header.items():
        cid = name_id[ch]  # every header channel is stored here (checked before)
        for c in ms:
            pid = name_id.get(c)
            if pid is None or not has_sessions[pid]:
                continue
            c_ids.append(pid)
            ch_ids.append(cid)
            ends.append(final_of.get((pid, cid), n))
    c_a = np.array(c_ids, dtype=np.int64)
    ch_a = np.array(ch_ids, dtype=np.int64)
    end_a = np.array(ends, dtype=np.int64)
    pos = np.searchsorted(s_keys, c_a * span + end_a) - 1
    valid = pos >= 0
    pos_c = np.maximum(pos, 0)
    mine = valid & (s_keys[pos_c] >= c_a * span) if len(s_keys) else np.zeros(len(c_a), dtype=bool)
    connected = mine & s_up[pos_c]
    since = np.where(connected, s_row[pos_c], -1)
    c_a, ch_a, end_a, since = c_a[connected], ch_a[connected], end_a[connected], since[connected]
    required = np.searchsorted(w_keys, ch_a * span + end_a) - np.searchsorted(w_keys, ch_a * span + since + 1)
    # deliveries inside each checked (member, channel)'s window
    pids = np.array([pair_of.get((c, ch), -1) for c, ch in zip(c_a.tolist(), ch_a.tolist())], dtype=np.int64)
    lo = np.full(len(pair_proc) + 1, -1, dtype=np.int64)
    hi = np.full(len(pair_proc) + 1, -1, dtype=np.int64)
    lo[pids] = since  # pairs missing from the table land on the spare last slot
    hi[pids] = end_a
    wd = when[d_msg]
    inside = (wd > lo[d_pair]) & (wd < hi[d_pair])
    got = np.bincount(d_pair[inside], minlength=len(pair_proc) + 1)[pids]
    if (got != required).any():
        return None
    return {"valid": True, "violations": [],
            "counts": {"members_checked": int(len(c_a)), "messages_required": int(required.sum())}}
