"""Literal histories for the report tests, in the format the simulator writes
once architectures declare their send-path steps: a ``steps`` list in the
header, ``event``/``step`` ops, nemesis ops sharing a ``fault`` id."""

from __future__ import annotations

import json
from pathlib import Path

from invariants import check
from sim.history import parse_history

STEPS = [
    {"step": "received", "role": "channel-server", "label": "the channel server takes the message"},
    {"step": "broadcast", "role": "channel-server", "label": "broadcast to the channel's members"},
    {"step": "ack_sent", "role": "channel-server", "label": "ack to the sender"},
    {"step": "handoff", "role": "channel-server", "label": "hand-off to the web app"},
    {"step": "persisted", "role": "webapp", "label": "stored in the database"},
]


def crash_history(steps: bool = True, fault_ids: bool = True, name: str = "crash-mid-send") -> bytes:
    """Three stories in one run of the old design.

    ``client-1:1`` (general) is acked, broadcast, and lost: channel-server-0
    crashes at ``ack_sent`` before the hand-off. ``client-2:1`` (eng) is sent
    twice (the first attempt times out, the retry goes through again) and
    stored twice. In ``eng``, client-3 displays ``client-3:1`` and
    ``client-3:2`` in the opposite order to the store."""
    ops: list[dict] = []
    t = [1.0]

    def op(process, type_, f, value, dt=0.01):
        t[0] = round(t[0] + dt, 6)
        ops.append({"index": len(ops), "time": t[0], "process": process, "type": type_, "f": f, "value": value})

    def step(node, name, msg, ch):
        if steps:
            op(node, "event", "step", {"step": name, "msg": msg, "channel": ch})

    def fault(v, fid):
        return {**v, "fault": fid} if fault_ids else v

    g, e = "general", "eng"
    m1 = "client-1:1"
    op("client-1", "invoke", "send", {"channel": g, "msg": m1, "text": "hi"})
    step("channel-server-0", "received", m1, g)
    step("channel-server-0", "broadcast", m1, g)
    for c in ("client-1", "client-2"):
        op(c, "event", "deliver", {"channel": g, "msg": m1, "text": "hi", "ts": "1.020000"})
    step("channel-server-0", "ack_sent", m1, g)
    op("nemesis", "info", "crash", fault({"node": "channel-server-0", "step": "ack_sent", "nth": 1, "msg": m1}, 1))
    op("client-1", "ok", "send", {"channel": g, "msg": m1, "ts": "1.020000"})
    # a duplicate: attempt 1 times out (info), the retry reuses the msg id
    m2 = "client-2:1"
    op("client-2", "invoke", "send", {"channel": e, "msg": m2, "text": "dup"})
    for s in ("received", "broadcast", "ack_sent", "handoff"):
        step("channel-server-1", s, m2, e)
    op("client-2", "info", "send", {"channel": e, "msg": m2})
    op("client-2", "invoke", "send", {"channel": e, "msg": m2, "text": "dup"}, dt=0.5)
    for s in ("received", "broadcast", "ack_sent", "handoff"):
        step("channel-server-1", s, m2, e)
    op("client-2", "ok", "send", {"channel": e, "msg": m2, "ts": "1.600000"})
    # an order violation in eng
    a, b = "client-3:1", "client-3:2"
    for m in (a, b):
        op("client-3", "invoke", "send", {"channel": e, "msg": m, "text": m})
        for s in ("received", "broadcast", "ack_sent", "handoff"):
            step("channel-server-1", s, m, e)
        op("client-3", "ok", "send", {"channel": e, "msg": m, "ts": f"{t[0]:.6f}"})
    for m in (b, a):
        op("client-3", "event", "deliver", {"channel": e, "msg": m, "text": m, "ts": "2.0"})
    for m in (a, b):
        op("client-2", "event", "deliver", {"channel": e, "msg": m, "text": m, "ts": "2.0"})
    op("nemesis", "info", "restart", fault({"node": "channel-server-0"}, 1), dt=3.0)
    for m in (m2, m2, a, b):
        step("webapp-0", "persisted", m, e)
    for c, ch in (("client-1", g), ("client-2", g), ("client-2", e), ("client-3", e)):
        op(c, "invoke", "read", {"channel": ch})
        op(c, "ok", "read", {"channel": ch, "msgs": [] if ch == g else [m2, m2, a, b]})
    op("db", "event", "stored", {"channel": g, "msgs": []})
    op("db", "event", "stored", {"channel": e, "msgs": [m2, m2, a, b]})
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": name, "arch": "old", "seed": 7,
            "channels": {g: ["client-1", "client-2"], e: ["client-2", "client-3"]}, "config": {}}
    if steps:
        meta["steps"] = STEPS
    return b"\n".join(json.dumps(x).encode() for x in [meta, *ops]) + b"\n"


def write_run(directory: Path, data: bytes, **result_extra) -> Path:
    """A run directory as ``chatsim run`` leaves it: history and checked result."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "history.jsonl").write_bytes(data)
    h = parse_history(data)
    verdict = check(parse_history(data, slim=True))
    result = {"scenario": h.meta.scenario, "arch": h.meta.arch, "seed": h.meta.seed, **verdict, **result_extra}
    (directory / "result.json").write_text(json.dumps(result))
    return directory
