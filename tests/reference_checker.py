"""An independent reference checker, written from DESIGN.md §6 and §7 only.

It exists to judge chatsim's checkers (``invariants/``) from the outside, the
way a user with their own checker would: plain dicts and lists, every rule
spelled out once, quadratic where that is clearer. It is NOT fast and is
never used by chatsim itself; ``tests/test_reference_checker.py`` compares
the two on generated and hand-written histories.

How each contract term is read here. Where §6/§7 leave a choice open the
reference takes the reading docs/invariants.md documents (marked READING);
those are listed as ambiguities in the checker review, not proven by this file.

- A send attempt is an ``invoke`` of ``f == "send"``; it is completed by a
  later ``ok``/``fail``/``info`` op of the same ``process``, ``f`` and
  ``value.msg`` (§6): the oldest attempt still open (READING: of those in the
  channel the completion names, if any). An attempt never completed is unknown.
- The status of ``(ch, msg)`` comes from the attempts invoked in ``ch``:
  acked if any attempt was ok, failed if every attempt failed, else unknown.
- ``members(ch)`` from the header; ``STORE(ch)`` the last ``stored`` event of
  ``ch``; ``READ(c, ch)`` the last ``ok`` ``read`` of ``ch`` by ``c``;
  ``LIVE(c, ch)`` c's ``deliver`` events of ``ch`` in history order.
- A verdict is ``False`` when a violation is found, else ``"unknown"`` when
  the rule could not be decided, else ``True``. Undecided (READING): a header
  channel without a store report makes total-order, no-duplicates,
  durability and live-completeness unknown (§7: "the history was cut short");
  a channel with acked messages that no member read makes validity unknown.
- validity (READING): a send first acked after a reader's read was invoked is
  concurrent with that read and need not be in it.
- integrity: every id in STORE/READ/LIVE was invoked in that channel; a
  deliver's text is the text of some attempt; a deliver or non-empty read
  reached a member; no failed message appears. READING: a deliver before the
  first invoke of its message is a violation too.
- total-order compares distinct messages pairwise, each at its first
  occurrence in the sequence (a repeat is a duplicate, not an order fault);
  READING: a message stored twice has no place in the order and is skipped.
- live-completeness (READING, the history does not say when a message was
  stored nor when the workload ended): a message's stored time is its first
  ok or first deliver, else its first invoke; member c's end of the workload
  is the invoke of its final read of ``ch`` (else the end of the history);
  c is held to the stored messages of ``ch`` whose stored time lies strictly
  between the ``connect`` that began the session c was in at that end and
  that end, and must have a ``deliver`` of each (shown late counts). Without
  any ``connect``/``disconnect`` event it holds vacuously.
"""

from __future__ import annotations

import json

INVARIANTS = (
    "validity",
    "integrity",
    "total-order",
    "no-duplicates",
    "durability",
    "live-completeness",
)


def parse(text: str) -> tuple[dict, list[dict]]:
    """Split a history's text into its header and its ops (no validation)."""
    # JSON Lines ends lines with "\n" only: splitlines() would also cut at
    # U+2028 and other separators that a JSON string may hold unescaped
    lines = [line for line in text.split("\n") if line.strip()]
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def _value(op: dict) -> dict:
    value = op.get("value")
    return value if isinstance(value, dict) else {}


def send_attempts(ops: list[dict]) -> list[dict]:
    """Every send invoke with its outcome: ok, fail, or unknown."""
    attempts = []
    for op in ops:
        if op.get("f") == "send" and op.get("type") == "invoke":
            value = _value(op)
            attempts.append({
                "process": op.get("process"),
                "msg": value.get("msg"),
                "channel": value.get("channel"),
                "text": value.get("text"),
                "index": op["index"],
                "outcome": "unknown",
                "completion": None,
            })
    by_sender: dict[tuple, list[dict]] = {}
    for attempt in attempts:
        by_sender.setdefault((attempt["process"], attempt["msg"]), []).append(attempt)
    for op in ops:
        if op.get("f") != "send" or op.get("type") not in ("ok", "fail", "info"):
            continue
        msg, channel = _value(op).get("msg"), _value(op).get("channel")
        open_ = [a for a in by_sender.get((op.get("process"), msg), [])
                 if a["completion"] is None and a["index"] < op["index"]]
        # the oldest open attempt; of those in the channel it names, if any
        chosen = [a for a in open_ if a["channel"] == channel] or open_
        if chosen:
            chosen[0]["completion"] = op["index"]
            chosen[0]["outcome"] = {"ok": "ok", "fail": "fail"}.get(op["type"], "unknown")
    return attempts


def statuses(attempts: list[dict]) -> dict[tuple, str]:
    """(channel, msg) -> "acked" | "failed" | "unknown"."""
    outcomes: dict[tuple, list[str]] = {}
    for attempt in attempts:
        outcomes.setdefault((attempt["channel"], attempt["msg"]), []).append(attempt["outcome"])
    result = {}
    for key, outs in outcomes.items():
        if "ok" in outs:
            result[key] = "acked"
        elif all(out == "fail" for out in outs):
            result[key] = "failed"
        else:
            result[key] = "unknown"
    return result


def check(header: dict, ops: list[dict]) -> dict[str, dict]:
    """Judge a parsed history: invariant name -> {"valid", "violations"}.

    Each violation is a dict with ``msg``, ``channel``, ``clients`` (sorted)
    and ``indexes`` (sorted history indexes that prove it).
    """
    members = {ch: list(cs) for ch, cs in (header.get("channels") or {}).items()}
    attempts = send_attempts(ops)
    status = statuses(attempts)

    store: dict[str, tuple[int, list]] = {}           # ch -> (index, msgs) of the last stored
    read: dict[tuple, tuple[int, list, int]] = {}     # (c, ch) -> (index, msgs, invoke index) of the last ok read
    live: dict[tuple, list[tuple[int, dict]]] = {}    # (c, ch) -> [(index, value)] of delivers
    read_invoke: dict[tuple, int] = {}
    for op in ops:
        value = _value(op)
        if op.get("type") == "event" and op.get("f") == "stored":
            store[value.get("channel")] = (op["index"], list(value.get("msgs") or []))
        elif op.get("type") == "invoke" and op.get("f") == "read":
            read_invoke[(op.get("process"), value.get("channel"))] = op["index"]
        elif op.get("type") == "ok" and op.get("f") == "read":
            key = (op.get("process"), value.get("channel"))
            read[key] = (op["index"], list(value.get("msgs") or []), read_invoke.get(key, op["index"]))
        elif op.get("type") == "event" and op.get("f") == "deliver":
            live.setdefault((op.get("process"), value.get("channel")), []).append((op["index"], value))

    channels = list(members)
    for ch in list(store) + [k[1] for k in read] + [k[1] for k in live] + [a["channel"] for a in attempts]:
        if ch not in channels:
            channels.append(ch)

    results = {name: {"valid": True, "violations": []} for name in INVARIANTS}

    def violate(name, msg, ch, clients, indexes, kind):
        results[name]["violations"].append({
            "kind": kind, "msg": msg, "channel": ch,
            "clients": sorted(set(clients)), "indexes": sorted(set(indexes)),
        })

    def undecided(name):
        results[name]["unknown"] = True

    def ok_indexes(ch, msg):
        return [a["completion"] for a in of_key.get((ch, msg), []) if a["outcome"] == "ok"]

    of_key: dict[tuple, list[dict]] = {}  # (ch, msg) -> its attempts
    for a in attempts:
        of_key.setdefault((a["channel"], a["msg"]), []).append(a)
    first_shown: dict[tuple, int] = {}    # (ch, msg) -> index of its first deliver to anyone
    shown_to: dict[tuple, set] = {}       # (c, ch) -> ids c displayed
    for (c, ch), events in live.items():
        for idx, v in events:
            first_shown[(ch, v.get("msg"))] = min(idx, first_shown.get((ch, v.get("msg")), idx))
            shown_to.setdefault((c, ch), set()).add(v.get("msg"))

    def stored_at(ch, m):
        """First evidence the system had (ch, m): its first ok or first
        deliver to anyone, else its first invoke; None if never sent or failed."""
        if status.get((ch, m)) in (None, "failed"):
            return None
        evidence = ok_indexes(ch, m) + ([first_shown[(ch, m)]] if (ch, m) in first_shown else [])
        if evidence:
            return min(evidence)
        return min(a["index"] for a in of_key[(ch, m)])

    def acked_in(ch):
        return [m for (c, m), s in status.items() if c == ch and s == "acked"]

    # validity: a send first acked after the reader's read was invoked is
    # concurrent with that read and need not be in it (docs/invariants.md)
    for ch in channels:
        acked = acked_in(ch)
        readers = [c for c in members.get(ch, []) if (c, ch) in read]
        if acked and members.get(ch) and not readers:
            undecided("validity")  # the history stopped before its final reads
        got = {c: set(read[(c, ch)][1]) for c in readers}
        for m in acked:
            first_ok = min(ok_indexes(ch, m))
            missing = [c for c in readers if first_ok < read[(c, ch)][2] and m not in got[c]]
            if missing:
                violate("validity", m, ch, missing,
                        [first_ok] + [read[(c, ch)][0] for c in missing], "lost")

    # integrity
    appearances = []  # (ch, msg, client or None, index, text: None for lists, _NO_TEXT for a deliver without one)
    for ch, (idx, msgs) in store.items():
        appearances += [(ch, m, None, idx, None) for m in msgs]
    for (c, ch), (idx, msgs, _) in read.items():
        appearances += [(ch, m, c, idx, None) for m in msgs]
    for (c, ch), events in live.items():
        appearances += [(ch, v.get("msg"), c, idx, _NO_TEXT if v.get("text") is None else v["text"])
                        for idx, v in events]
    for ch, m, c, idx, text in appearances:
        invokes = of_key.get((ch, m), [])
        clients = [c] if c is not None else []
        if not invokes:
            violate("integrity", m, ch, clients, [idx], "never-sent")
            continue
        shown = text is not None  # a deliver, not a list entry
        if shown and text is not _NO_TEXT and all(a["text"] != text for a in invokes):
            violate("integrity", m, ch, clients, [idx] + [a["index"] for a in invokes], "wrong-text")
        if shown and idx < min(a["index"] for a in invokes):
            # displayed before anyone sent it (docs/invariants.md's reading)
            violate("integrity", m, ch, clients, [idx, min(a["index"] for a in invokes)], "before-send")
        if c is not None and c not in members.get(ch, []):
            violate("integrity", m, ch, clients, [idx], "non-member")
        if status.get((ch, m)) == "failed":
            violate("integrity", m, ch, clients,
                    [idx] + [a["completion"] for a in invokes], "failed-appears")

    # no-duplicates
    sequences = []  # (ch, client or None, [(index, msg)])
    for ch, (idx, msgs) in store.items():
        sequences.append((ch, None, [(idx, m) for m in msgs]))
    for (c, ch), (idx, msgs, _) in read.items():
        sequences.append((ch, c, [(idx, m) for m in msgs]))
    for (c, ch), events in live.items():
        sequences.append((ch, c, [(idx, v.get("msg")) for idx, v in events]))
    for ch, c, seq in sequences:
        copies: dict[str, list[int]] = {}
        for idx, m in seq:
            copies.setdefault(m, []).append(idx)
        for m, where in copies.items():
            if len(where) > 1:
                violate("no-duplicates", m, ch, [c] if c else [], where, "duplicate")

    # total-order
    for ch, c, seq in sequences:
        if c is None:
            continue
        if ch not in store:
            if seq:
                undecided("total-order")
            continue
        order = store[ch][1]
        counts = {m: order.count(m) for m in set(order)}
        place = {m: order.index(m) for m in counts if counts[m] == 1}  # stored twice: no single place
        kept, seen = [], set()
        for idx, m in seq:
            if m in place and m not in seen:  # a repeat is a duplicate, not an order fault
                seen.add(m)
                kept.append((idx, m))
        if all(place[x[1]] < place[y[1]] for x, y in zip(kept, kept[1:])):
            continue  # in store order: no pair can be inverted
        for i in range(len(kept)):
            for j in range(i + 1, len(kept)):
                a, b = kept[i][1], kept[j][1]
                if place[a] > place[b]:
                    violate("total-order", b, ch, [c], [kept[i][0], kept[j][0], store[ch][0]],
                            "out-of-order")

    # durability
    for ch in channels:
        required = {}
        for m in acked_in(ch):
            required.setdefault(m, []).extend(ok_indexes(ch, m))
        for (c, lch), events in live.items():
            if lch == ch:
                for idx, v in events:
                    required.setdefault(v.get("msg"), []).append(idx)
        if not required:
            continue
        if ch not in store:
            undecided("durability")
            continue
        kept = set(store[ch][1])
        for m, idxs in required.items():
            if m not in kept:
                shown = [c for (c, lch), ids in shown_to.items() if lch == ch and m in ids]
                violate("durability", m, ch, shown, idxs + [store[ch][0]], "not-durable")

    # live-completeness (the reading of docs/invariants.md, see the module docstring)
    sessions: dict[str, list[dict]] = {}
    for op in ops:
        if op.get("type") == "event" and op.get("f") in ("connect", "disconnect"):
            sessions.setdefault(op.get("process"), []).append(op)
    if sessions:
        for ch in channels:
            if ch not in store:
                if ch in members:
                    undecided("live-completeness")
                continue
            window = {}  # member -> (connect index, end of its workload)
            for c in members.get(ch, []):
                end = read[(c, ch)][2] if (c, ch) in read else len(ops)
                before_end = [op for op in sessions.get(c, []) if op["index"] < end]
                if before_end and before_end[-1]["f"] == "connect":  # else disconnected at its end
                    window[c] = (before_end[-1]["index"], end)
            for m in dict.fromkeys(store[ch][1]):
                stored = stored_at(ch, m)
                if stored is None:
                    continue
                for c, (since, end) in window.items():
                    if not since < stored < end:
                        continue
                    if m not in shown_to.get((c, ch), set()):
                        violate("live-completeness", m, ch, [c], [since, stored, store[ch][0]], "not-live")

    # A channel of the header the store never reported: the history was cut
    # short (DESIGN §7's own example of "unknown").
    if any(ch not in store for ch in members):
        for name in ("total-order", "no-duplicates", "durability"):
            undecided(name)
        if sessions:
            undecided("live-completeness")

    for res in results.values():
        if res["violations"]:
            res["valid"] = False
        elif res.pop("unknown", False):
            res["valid"] = "unknown"
        res.pop("unknown", None)
    return results


class _NoText:
    def __repr__(self):
        return "<no text>"


_NO_TEXT = _NoText()


def check_text(text: str) -> dict[str, dict]:
    return check(*parse(text))
