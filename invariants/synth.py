"""A small reference model that writes *valid* histories.

It is what a correct chat system would record: applied sends are stored in
channel order, every member displays them live in that order, every final
read equals the store. Property tests start from it and apply one mutation;
the benchmark uses it to make a large history. Outcomes per send:

``ok``            applied and acked
``fail``          definitely not applied
``info-applied``  the client timed out but the send took effect
``info-lost``     the client timed out and the send had no effect

and, with the same ``client_msg_id`` retried (each attempt an operation of
its own, as another tool would record it):

``info-retry-ok``  the first attempt timed out, the retry was acked; applied once
``fail-retry-ok``  the first attempt definitely failed, the retry was acked
``ok-retry-fail``  acked, then a redundant retry failed definitely (still acked)

Every member connects (``connect`` event) before the first send and stays
connected, so live-completeness is exercised too.
"""

from __future__ import annotations

from typing import Any

import msgspec

OUTCOMES = ("ok", "fail", "info-applied", "info-lost")
RETRIES = ("info-retry-ok", "fail-retry-ok", "ok-retry-fail")
# attempt outcomes in order, and whether the message took effect
_ATTEMPTS = {"ok": (("ok",), True), "fail": (("fail",), False), "info-applied": (("info",), True),
             "info-lost": (("info",), False), "info-retry-ok": (("info", "ok"), True),
             "fail-retry-ok": (("fail", "ok"), True), "ok-retry-fail": (("ok", "fail"), True)}


def reference_history(members: dict[str, list[str]], sends: list[tuple[str, str, str]],
                      no_read: frozenset[str] = frozenset(), scenario: str = "synthetic",
                      connects: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return ``(meta, ops)``; ops are dicts without ``index`` (see ``to_jsonl``)."""
    ops: list[dict[str, Any]] = []
    t = [0.0]

    def op(process, type, f, value):
        t[0] += 0.001
        ops.append({"time": round(t[0], 6), "process": process, "type": type, "f": f, "value": value})

    store: dict[str, list[str]] = {ch: [] for ch in members}
    if connects:
        for c in sorted({c for ms in members.values() for c in ms}):
            op(c, "event", "connect", {})
    for i, (sender, ch, outcome) in enumerate(sends):
        msg, text = f"{sender}:{i}", f"text {i}"
        attempts, applied = _ATTEMPTS[outcome]
        for n, result in enumerate(attempts):
            op(sender, "invoke", "send", {"channel": ch, "msg": msg, "text": text})
            # applied by the attempt that is acked, or by the only attempt
            if applied and (result == "ok" or len(attempts) == 1):
                store[ch].append(msg)
                for c in members[ch]:
                    op(c, "event", "deliver", {"channel": ch, "msg": msg, "text": text, "ts": f"{t[0]:.6f}"})
            op(sender, result, "send", {"channel": ch, "msg": msg})
    for ch, ms in members.items():
        for c in ms:
            if c in no_read:
                continue
            op(c, "invoke", "read", {"channel": ch})
            op(c, "ok", "read", {"channel": ch, "msgs": list(store[ch])})
    for ch in members:
        op("db", "event", "stored", {"channel": ch, "msgs": list(store[ch])})
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": scenario, "arch": "reference", "seed": 0,
            "channels": {ch: list(ms) for ch, ms in members.items()}, "config": {}}
    return meta, ops


def to_jsonl(meta: dict[str, Any], ops: list[dict[str, Any]]) -> bytes:
    enc = msgspec.json.Encoder()
    out = [enc.encode(meta)]
    for i, o in enumerate(ops):
        out.append(enc.encode({"index": i, **o}))
    return b"\n".join(out) + b"\n"
