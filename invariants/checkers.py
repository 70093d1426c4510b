"""The five invariants of DESIGN §7, each a pure function of the index.

Every checker returns ``{"valid": True | False | "unknown", "violations":
[...], "counts": {...}}``. A violation names the message, the channel, the
clients involved, the history indexes that prove it, and a sentence a person
can follow. Unknown outcomes follow Jepsen: a send that timed out (``info``)
or never completed may or may not appear; only ``fail`` is definite.

A history cut short (no ``stored`` report for a channel) makes every checker
that needs the store "unknown" — never true — unless it already found a
violation in what is there.

``check`` composes them by name; a checker that raises yields "unknown" with
the error text for that invariant, never a crash of the whole verdict. Each
checker is linear (or n·log n where it sorts its violations) in the history.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import islice, repeat
from operator import lt
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sim.errors import HistoryError
from sim.gcpause import gc_paused
from sim.history import (MAX_BYTES, History, Meta, Unstreamable, line_of_op, parse_history, read_history_bytes,
                         stream_history)

from . import fast as native
from .fast import check_fast  # a module name of its own: tests force the reference path by patching it
from .index import Index, OpError, build, build_blocks

Result = dict[str, Any]
UNKNOWN = "unknown"


def _result(violations: list[dict], undecided: list[str], counts: dict[str, Any]) -> Result:
    if violations:
        valid: bool | str = False
    elif undecided:
        valid = UNKNOWN
    else:
        valid = True
    out: Result = {"valid": valid, "violations": violations, "counts": counts}
    if undecided and not violations:
        more = f" (+{len(undecided) - 3} more)" if len(undecided) > 3 else ""
        out["reason"] = "; ".join(undecided[:3]) + more
    return out


def _ops(indexes) -> str:
    idx = sorted(set(i for i in indexes if i is not None))
    return ("op " if len(idx) == 1 else "ops ") + ", ".join(map(str, idx))


def _v(kind: str, msg: str | None, channel: str, clients, indexes, text: str) -> dict:
    return {"kind": kind, "msg": msg, "channel": channel, "clients": sorted(set(c for c in clients if c)),
            "indexes": sorted(set(i for i in indexes if i is not None)), "explanation": text}


def _missing_store(ix: Index) -> list[str]:
    """Channels the store never reported: the history was cut short."""
    return [f"no stored report for {ch}" for ch in sorted(ix.members) if ch not in ix.stored]


# -- validity -----------------------------------------------------------------
def validity(ix: Index) -> Result:
    """Every acked message of ch is in the final read of every member that read ch.

    A send acked only after a member's read was invoked is concurrent with
    that read, which may or may not see it (counted as ``acked_after_read``).
    Per reader, the acked messages it must contain are a prefix (by ack
    index) of the channel's acked sends, compared by set difference.
    """
    violations = []
    readers_of = {ch: [c for c in sorted(ms) if (c, ch) in ix.reads] for ch, ms in ix.members.items()}
    acked: dict[str, list] = {}
    for (ch, _m), s in ix.sends.items():
        if s.outcome == "ok":
            acked.setdefault(ch, []).append(s)
    # Vacuous where nothing was acked; where something was but nobody read the
    # channel, the history stopped before its final reads: it cannot decide.
    undecided = [f"no member of {ch} made a final read ({len(acked[ch])} acked message(s) to check)"
                 for ch, rs in sorted(readers_of.items()) if not rs and ix.members[ch] and ch in acked]
    acked = {ch: ss for ch, ss in acked.items() if readers_of.get(ch)}
    missing_by: dict[tuple[str, str], list[str]] = {}  # (channel, msg) -> readers that lack it
    checked = concurrent = 0
    for ch, sends in acked.items():
        sends.sort(key=lambda s: s.done)
        done = [s.done for s in sends]
        checked += len(sends)
        ids = [s.msg for s in sends]
        last: tuple[int, list[str], list[str]] | None = None  # readers usually read the same list
        for c in readers_of[ch]:
            n = bisect_left(done, ix.read_invoked[(c, ch)])  # acked before the read began
            concurrent += len(sends) - n
            got = ix.reads[(c, ch)][0]
            if last is not None and last[0] == n and last[1] == got:
                missing = last[2]
            else:
                have = set(got)
                missing = [] if have.issuperset(ids[:n]) else [m for m in ids[:n] if m not in have]
                last = (n, got, missing)
            for m in missing:
                missing_by.setdefault((ch, m), []).append(c)
    for (ch, m), missing in sorted(missing_by.items()):
        s = ix.sends[(ch, m)]
        at = [ix.reads[(c, ch)][1] for c in missing]
        violations.append(_v("lost", m, ch, missing, [s.done] + at,
                             f"{m} was acked to {s.process} in {ch} (op {s.done}) but the final read of "
                             f"{', '.join(missing)} does not contain it ({_ops(at)})"))
    without = sum(len(ms) - len(readers_of[ch]) for ch, ms in ix.members.items())
    return _result(violations, undecided, {"acked_checked": checked, "members_without_read": without,
                                           "acked_after_read": concurrent})


# -- integrity ----------------------------------------------------------------
def integrity(ix: Index) -> Result:
    """Everything seen was sent, in that channel, with that text, to members
    only, not before it was sent; no failed send appears anywhere."""
    violations: list[dict] = []
    sends = ix.sends
    # Per channel, the ids that may legitimately appear: sent there, not failed.
    allowed: dict[str, set[str]] = {}
    sent_in: dict[str, set[str]] = {}
    for (ch, m), s in sends.items():
        sent_in.setdefault(m, set()).add(ch)
        if s.outcome != "fail":
            allowed.setdefault(ch, set()).add(m)
    reported: set[tuple] = set()

    def bad(m: str, ch: str, where: str, client: str | None, index: int) -> None:
        s = sends.get((ch, m))
        if s is not None:  # sent here, so it failed definitely
            if ("failed", ch, m, where, client) in reported:
                return
            reported.add(("failed", ch, m, where, client))
            fails = [a[1] for a in s.attempts]
            senders = sorted({a[3] for a in s.attempts})
            violations.append(_v("failed-appears", m, ch, [client, *senders], [*fails, index],
                                 f"every attempt of {', '.join(senders)} to send {m} failed definitely "
                                 f"({_ops(fails)}) yet it appears in {where} of {ch} (op {index})"))
            return
        if ("phantom", ch, m) in reported:
            return
        reported.add(("phantom", ch, m))
        if m in sent_in:
            violations.append(_v("wrong-channel", m, ch, [client], [index],
                                 f"{m} appears in {where} of {ch} (op {index}) but was sent in "
                                 f"{', '.join(sorted(sent_in[m]))}"))
        else:
            violations.append(_v("fabricated", m, ch, [client], [index],
                                 f"{m} appears in {where} of {ch} (op {index}) but no client ever sent it"))

    empty: set[str] = set()
    sent_text = {ch: {} for ch in allowed}
    sent_at = {ch: {} for ch in allowed}
    for (ch, m), s in sends.items():
        if s.outcome != "fail":
            sent_text[ch][m] = s.text
            sent_at[ch][m] = s.invoke
    for (c, ch), lv in ix.live.items():
        ok = allowed.get(ch, empty)
        if c not in ix.members.get(ch, empty):
            for m, index in zip(lv.msgs, lv.indexes):
                violations.append(_v("non-member", m, ch, [c], [index],
                                     f"{c} is not a member of {ch} but displayed {m} from it (op {index})"))
        # fast path, list-at-a-time: everything known, texts equal, shown after sent
        if ok.issuperset(lv.msgs):
            texts, at = sent_text[ch], sent_at[ch]
            if [texts[m] for m in lv.msgs] == lv.texts and all(map(lt, [at[m] for m in lv.msgs], lv.indexes)):
                continue
        for m, text, index in zip(lv.msgs, lv.texts, lv.indexes):
            if m not in ok:
                bad(m, ch, f"{c}'s live view", c, index)
                continue
            s = sends[(ch, m)]
            # "with that text": the text of some attempt (an attempt without a
            # text carries none, so a displayed text no attempt had is changed)
            if text is not None and text != s.text and not (s.other_texts and text in s.other_texts):
                sent_as = repr(s.text) if not s.other_texts else " or ".join(
                    map(repr, sorted(s.other_texts | {s.text}, key=str)))
                violations.append(_v("text-changed", m, ch, [c, s.process], [s.invoke, index],
                                     f"{c} displayed {m} with text {text!r} (op {index}) but "
                                     f"{s.process} sent {sent_as} (op {s.invoke})"))
            if index < s.invoke:
                violations.append(_v("before-send", m, ch, [c, s.process], [s.invoke, index],
                                     f"{c} displayed {m} (op {index}) before {s.process} sent it (op {s.invoke})"))
    for (c, ch), (msgs, index) in ix.reads.items():
        if msgs and c not in ix.members.get(ch, empty):
            violations.append(_v("non-member", msgs[0], ch, [c], [index],
                                 f"{c} is not a member of {ch} but read {len(msgs)} message(s) of it (op {index})"))
        ok = allowed.get(ch, empty)
        if not ok.issuperset(msgs):
            for m in [m for m in msgs if m not in ok]:
                bad(m, ch, f"{c}'s final read", c, index)
    for ch, (msgs, index) in ix.stored.items():
        ok = allowed.get(ch, empty)
        if not ok.issuperset(msgs):
            for m in [m for m in msgs if m not in ok]:
                bad(m, ch, "the store", None, index)
    return _result(violations, [], {"messages_sent": len(sends), "reused_ids": ix.reused_ids})


# -- total order --------------------------------------------------------------
def total_order(ix: Index) -> Result:
    """Every READ and LIVE sequence, restricted to STORE(ch), follows STORE order.

    Each message counts at its first occurrence only, and messages stored
    more than once are left out: a duplicate is no-duplicates' business, not
    an ordering violation.
    """
    violations: list[dict] = []
    positions: dict[str, dict[str, int]] = {}
    for ch, (msgs, _) in ix.stored.items():
        pos: dict[str, int] = {}
        twice: set[str] = set()
        for i, m in enumerate(msgs):
            if m in pos:
                twice.add(m)
            else:
                pos[m] = i
        # a message stored twice has no single place in the order: it is
        # no-duplicates' violation, and judging order by either copy would
        # report the same fault a second time
        for m in twice:
            del pos[m]
        positions[ch] = pos
    sequences = 0

    def walk(c: str, ch: str, msgs: list[str], indexes, what: str) -> None:
        pos = positions[ch]
        get = pos.get
        ps = list(map(get, msgs, repeat(-1, len(msgs))))
        # fast path, C-level: every message stored, strictly in store order
        if -1 not in ps and all(map(lt, ps, islice(ps, 1, None))):
            return
        seen: set[str] = set()
        prev_m, prev_p, prev_i = None, -1, None
        store_index = ix.stored[ch][1]
        for m, p, index in zip(msgs, ps, indexes):
            if p < 0 or m in seen:
                continue
            seen.add(m)
            if p < prev_p:
                violations.append(_v("order", m, ch, [c], [prev_i, index, store_index],
                                     f"{c} {what} {prev_m} before {m}, but the store holds {m} first — "
                                     f"{_ops([prev_i, index, store_index])}"))
            prev_m, prev_p, prev_i = m, p, index

    for (c, ch), lv in ix.live.items():
        if ch in positions:
            sequences += 1
            walk(c, ch, lv.msgs, lv.indexes, "displayed")
    for (c, ch), (msgs, index) in ix.reads.items():
        if ch in positions:
            sequences += 1
            walk(c, ch, msgs, [index] * len(msgs), "read")
    return _result(violations, _missing_store(ix), {"sequences_checked": sequences})


# -- no duplicates --------------------------------------------------------------
def no_duplicates(ix: Index) -> Result:
    """Every msg appears at most once in each STORE, READ and LIVE sequence."""
    violations: list[dict] = []

    def scan(where: str, c: str | None, ch: str, msgs: list[str], indexes) -> None:
        if len(set(msgs)) == len(msgs):
            return
        first: dict[str, int] = {}
        dup: dict[str, list[int]] = {}
        for m, index in zip(msgs, indexes):
            if m in first:
                dup.setdefault(m, [first[m]]).append(index)
            else:
                first[m] = index
        who = f"{c}'s {where}" if c else where
        for m, idx in dup.items():
            violations.append(_v("duplicate", m, ch, [c], idx,
                                 f"{m} appears {len(idx)} times in {who} of {ch} ({_ops(idx)})"))

    for (c, ch), lv in ix.live.items():
        scan("live view", c, ch, lv.msgs, lv.indexes)
    for (c, ch), (msgs, index) in ix.reads.items():
        scan("final read", c, ch, msgs, [index] * len(msgs))
    for ch, (msgs, index) in ix.stored.items():
        scan("the store", None, ch, msgs, [index] * len(msgs))
    counted = len(ix.live) + len(ix.reads) + len(ix.stored)
    return _result(violations, _missing_store(ix), {"sequences_checked": counted})


# -- durability -----------------------------------------------------------------
def durability(ix: Index) -> Result:
    """Every acked message, and every message displayed live, is in STORE(ch)."""
    store_sets = {ch: set(msgs) for ch, (msgs, _) in ix.stored.items()}
    lost: dict[tuple[str, str], list[tuple[str, int]]] = {}  # (ch, msg) -> who displayed it, where
    for (c, ch), lv in ix.live.items():
        have = store_sets.get(ch)
        if have is None:
            continue
        for m, index in zip(lv.msgs, lv.indexes):
            if m not in have:
                lost.setdefault((ch, m), []).append((c, index))
    acked = 0
    recovered = 0
    for (ch, m), s in ix.sends.items():
        have = store_sets.get(ch)
        if have is None:
            continue
        if s.outcome == "ok":
            acked += 1
            if m not in have:
                lost.setdefault((ch, m), [])
        elif s.outcome == "unknown" and m in have:
            recovered += 1
    violations = []
    for (ch, m), viewers in sorted(lost.items()):
        s = ix.sends.get((ch, m))
        parts = []
        if s is not None and s.outcome == "ok":
            parts.append(f"acked to {s.process} (op {s.done})")
        if viewers:
            parts.append(f"displayed live by {', '.join(sorted({c for c, _ in viewers}))}")
        store_index = ix.stored[ch][1]
        idx = [i for _, i in viewers] + [s.done if s else None, store_index]
        violations.append(_v("not-durable", m, ch, [c for c, _ in viewers] + [s.process if s else None], idx,
                             f"{m} was {' and '.join(parts)} but is missing from the store of {ch} "
                             f"(op {store_index})"))
    # live views of channels outside the header have no store to compare with
    undecided = _missing_store(ix) + [f"no stored report for {ch}" for (_, ch) in ix.live
                                      if ch not in store_sets and ch not in ix.members]
    return _result(violations, sorted(set(undecided)), {"acked": acked, "recovered_unknown": recovered})


# -- boot consistency ------------------------------------------------------------
def boot_consistency(ix: Index) -> Result:
    """Every client that booted from a snapshot and applied the deltas after it
    ends with the team directory's true state (no event lost between snapshot
    and stream). Histories without directory records are out of its scope."""
    if ix.dir_truth is None:
        if ix.dir_views:
            return _result([], ["no directory-truth report: the history was cut short"],
                           {"clients_checked": 0})
        return {"valid": True, "violations": [], "counts": {"clients_checked": 0}, "applicable": False}
    version, truth, t_index = ix.dir_truth
    violations = []
    for client, (v, view, index) in sorted(ix.dir_views.items()):
        for ch in sorted(set(truth) | set(view)):
            want, have = set(truth.get(ch, ())), set(view.get(ch, ()))
            if want == have:
                continue
            missing, extra = sorted(want - have), sorted(have - want)
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                    ([f"extra {', '.join(extra)}"] if extra else [])
            violations.append(_v("stale-view", None, ch, [client], [index, t_index],
                                 f"{client} ended with {ch}'s members at version {v} unlike the directory at "
                                 f"version {version}: {'; '.join(parts)} (ops {index}, {t_index})"))
    return _result(violations, [], {"clients_checked": len(ix.dir_views), "version": version})


# -- live completeness ------------------------------------------------------------
def stored_at(ix: Index, live_first: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """When each sent message was stored, as a history index: the first ok of
    any attempt, else the first time anyone displayed it, else its first
    invoke (it cannot have been stored earlier). See docs/invariants.md."""
    out = {}
    for key, s in ix.sends.items():
        at = s.done if s.outcome == "ok" else None
        shown = live_first.get(key)
        if shown is not None and (at is None or shown < at):
            at = shown
        out[key] = s.invoke if at is None else at
    return out


def first_displayed(ix: Index) -> dict[tuple[str, str], int]:
    """(channel, msg) -> the index of its first ``deliver`` to anyone.

    Per channel, every view's (index, msg) pairs are ordered by index,
    descending, and poured into a dict: the last write per msg, its earliest
    index, wins. Sorting and building happen in C, not per op in Python."""
    by_channel: dict[str, tuple[list[str], list[int]]] = {}
    for (_c, ch), lv in ix.live.items():
        msgs, indexes = by_channel.setdefault(ch, ([], []))
        msgs += lv.msgs
        indexes += lv.indexes
    out: dict[tuple[str, str], int] = {}
    for ch, (msgs, indexes) in by_channel.items():
        ix_desc = np.array(indexes, dtype=np.int64)
        order = np.argsort(-ix_desc, kind="stable").tolist()
        first = dict(zip(map(msgs.__getitem__, order), ix_desc[order].tolist()))
        out.update(zip(zip(repeat(ch), first), first.values()))
    return out


def connected_since(events: list[tuple[int, bool]], end: int) -> int | None:
    """The index of the connect that began the session a client was in at
    history index ``end`` (None if it was disconnected then)."""
    since = None
    for index, up in events:
        if index >= end:
            break
        since = index if up else None
    return since


def live_completeness(ix: Index) -> Result:
    """Every stored message was displayed live to every member connected from
    before it was stored until the end of the workload (DESIGN §7).

    A member's end of the workload is the invoke of its final read of the
    channel (the end of the history if it made none). Its session then is the
    one begun by its last ``connect`` before that point with no ``disconnect``
    in between; every message of ``STORE(ch)`` stored after that connect and
    before the end must be in ``LIVE(c, ch)``. Clients without connect events
    are never known to be connected, so histories without them hold vacuously.
    """
    violations: list[dict] = []
    if not ix.sessions:
        return {"valid": True, "violations": [], "counts": {"members_checked": 0, "messages_required": 0},
                "applicable": False}
    when = stored_at(ix, first_displayed(ix))
    checked = required = 0
    for ch, (msgs, store_index) in sorted(ix.stored.items()):
        # stored messages that were sent and not failed (integrity judges the
        # others), by stored time
        timed = sorted((when[(ch, m)], m) for m in set(msgs)
                       if (ch, m) in when and ix.sends[(ch, m)].outcome != "fail")
        times = [t for t, _ in timed]
        ids = [m for _, m in timed]
        for c in sorted(ix.members.get(ch, ())):
            events = ix.sessions.get(c)
            if not events:
                continue
            end = ix.read_invoked.get((c, ch), ix.ops)
            since = connected_since(events, end)
            if since is None:
                continue
            checked += 1
            lo, hi = bisect_left(times, since + 1), bisect_left(times, end)
            required += hi - lo
            lv = ix.live.get((c, ch))
            seen = set(lv.msgs) if lv else set()
            if seen.issuperset(ids[lo:hi]):  # the common case, decided in C
                continue
            for t, m in timed[lo:hi]:
                if m in seen:
                    continue
                read = ix.reads.get((c, ch))
                idx = [since, t, store_index] + ([read[1]] if read and m in read[0] else [])
                where = f" and only its final read shows it (op {read[1]})" if read and m in read[0] else ""
                violations.append(_v("not-live", m, ch, [c], idx,
                                     f"{c} was connected from op {since} to the end of the workload and {m} "
                                     f"was stored in {ch} at op {t}, yet {c} never displayed it live{where}"))
    return _result(violations, _missing_store(ix), {"members_checked": checked, "messages_required": required})


CHECKERS: dict[str, Callable[[Index], Result]] = {
    "validity": validity,
    "integrity": integrity,
    "total-order": total_order,
    "no-duplicates": no_duplicates,
    "durability": durability,
    "live-completeness": live_completeness,
    "boot-consistency": boot_consistency,
}


def check(history: History, names: list[str] | None = None) -> Result:
    """Run the named checkers (all by default) on a history parsed with
    ``slim=True`` and compose their verdicts."""
    return _check(lambda: build(history), names)


def _check(make_index: Callable[[], Index], names: list[str] | None = None) -> Result:
    with gc_paused():
        ix = make_index()
        results: dict[str, Result] = {}
        for name in names or list(CHECKERS):
            try:
                results[name] = CHECKERS[name](ix)
            except Exception as e:  # check-safe: a broken checker is undecided, not fatal
                results[name] = {"valid": UNKNOWN, "violations": [], "counts": {},
                                 "error": f"{type(e).__name__}: {e}"}
    verdicts = [r["valid"] for r in results.values()]
    valid: bool | str = False if False in verdicts else UNKNOWN if UNKNOWN in verdicts else True
    sends = ix.outcome_counts()
    sends["recovered_unknown"] = results.get("durability", {}).get("counts", {}).get("recovered_unknown", 0)
    return {"valid": valid, "invariants": results, "sends": sends, "ops": ix.ops}


def check_bytes(data: bytes, name: str = "<history>") -> tuple[Meta, Result]:
    """Check a whole history held in memory: ``(header, result)``."""
    meta, result, _path = check_bytes_path(data, name)
    return meta, result


def check_bytes_path(data: bytes, name: str = "<history>") -> tuple[Meta, Result, str]:
    """``check_bytes`` and which path answered: "native" (the C scanner and
    numpy, ``invariants.fast``, for valid histories in chatsim's own layout)
    or "python" (the reference path: every other history, and every
    violation or "unknown"). Both give the same result."""
    fast = check_fast(data)
    if fast is not None:
        return fast[0], fast[1], "native"
    return (*_reference(data, name), "python")


def _reference(source: bytes | Path, name: str) -> tuple[Meta, Result]:
    """The reference path, of a history's bytes or of its file. It indexes
    the history a block at a time (a large history is never all op objects
    at once; a file is never whole in memory); anything irregular is re-read
    whole, so its error — or its slow path — is what it always was."""
    try:
        meta, blocks = stream_history(source)
        return meta, _check(lambda: build_blocks(meta, blocks))
    except (Unstreamable, HistoryError):
        pass
    data = source if isinstance(source, bytes) else source.read_bytes()
    h = parse_history(data, name, slim=True)
    try:
        return h.meta, check(h)
    except OpError as e:  # the index's message names the op; the file and its line are ours to say
        raise HistoryError(f"{name}: line {line_of_op(data, e.index)}: {e}") from None


def check_run_file(path: Path) -> tuple[Meta, Result]:
    """``check_bytes`` of a run's own history file, holding it whole only
    while the native scanner reads it: the bytes go before the columns are
    judged, and when the native path cannot answer (a violation, an
    "unknown") the reference path streams the file a block at a time — so a
    large run's check peaks at the largest of the scan, the judging and the
    reference's index, not at their sum with the whole history."""
    data = path.read_bytes()
    scanned = native.scan(data)
    del data  # the caller holds no copy: the columns and the reference path need none
    if scanned is not None and (answer := native.judge(*scanned)) is not None:
        return answer
    del scanned
    return _reference(path, str(path))


def check_file(path: str | Path, max_bytes: int = MAX_BYTES) -> tuple[Meta, Result]:
    """``check_bytes`` of a file, read with the bounds of ``sim.history.read_history_bytes``."""
    return check_bytes(read_history_bytes(path, max_bytes), str(path))


def explain(result: Result, limit: int = 5) -> list[str]:
    """The first violations of each invariant, as sentences."""
    lines = []
    for name, r in result["invariants"].items():
        for v in r["violations"][:limit]:
            lines.append(f"{name}: {v['explanation']}")
        extra = len(r["violations"]) - limit
        if extra > 0:
            lines.append(f"{name}: … and {extra} more")
        if "error" in r:
            lines.append(f"{name}: checker error: {r['error']}")
    return lines


def story(history: History, result: Result, msg: str) -> dict[str, Any]:
    """Everything the history says about one message, in order, and the
    violations that name it: ``{"msg", "ops": [...], "violations": {name: [...]}}``.

    An op mentions the message when its ``value.msg`` is it or its
    ``value.msgs`` contains it (sends, deliveries, reads, store reports, and
    any other event that names it)."""
    ops = []
    for op in history.ops:
        v = op.value
        if v.msg == msg or (v.msgs is not None and msg in v.msgs):
            entry = {"index": op.index, "time": op.time, "process": op.process, "type": op.type, "f": op.f,
                     "channel": v.channel}
            if v.msgs is not None:
                entry["position"] = v.msgs.index(msg)
                entry["of"] = len(v.msgs)
            if v.text is not None:
                entry["text"] = v.text
            ops.append(entry)
    violations = {name: [x for x in r["violations"] if x["msg"] == msg]
                  for name, r in result["invariants"].items()}
    return {"msg": msg, "ops": ops, "violations": {k: x for k, x in violations.items() if x}}


def story_lines(s: dict[str, Any]) -> list[str]:
    """``story`` as sentences, one per op, then one per violation."""
    lines = []
    for o in s["ops"]:
        where = f" {o['channel']}" if o["channel"] else ""
        extra = f" (position {o['position'] + 1} of {o['of']})" if "position" in o else ""
        text = f" {o['text']!r}" if "text" in o else ""
        lines.append(f"op {o['index']} t={o['time']:g} {o['process']} {o['type']} {o['f']}{where}{text}{extra}")
    for name, vs in s["violations"].items():
        lines += [f"breaks {name}: {v['explanation']}" for v in vs]
    if not s["violations"] and s["ops"]:
        lines.append("breaks no invariant")
    return lines
