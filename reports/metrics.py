"""Run metrics from a history (and the network summary the runner gives).

Latencies are in seconds of simulated time: ack latency from a send's
invoke to its ok; live latency from a send's invoke to each member's
display. Percentiles use the nearest-rank method.
"""

from __future__ import annotations

import math

from sim.history import History


def percentiles(xs: list[float], ps=(50, 95, 99)) -> dict[str, float | None]:
    if not xs:
        return {f"p{p}": None for p in ps}
    s = sorted(xs)
    return {f"p{p}": round(s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))], 6) for p in ps}


def latencies(ops) -> tuple[list[float], list[float]]:
    """Ack latencies (invoke → ok) and live latencies (invoke → each member's
    first display), in seconds."""
    invoked: dict[tuple[str, str], float] = {}
    ack, live = [], []
    shown: set[tuple[str, str, str]] = set()
    for op in ops:
        v = op.value
        if op.f == "send":
            key = (v["channel"], v["msg"])
            if op.type == "invoke":
                invoked[key] = op.time
            elif op.type == "ok" and key in invoked:
                ack.append(op.time - invoked[key])
        elif op.f == "deliver":
            key = (v["channel"], v["msg"])
            if key in invoked and (op.process, *key) not in shown:
                shown.add((op.process, *key))
                live.append(op.time - invoked[key])
    return ack, live


def run_metrics(h: History, network: dict | None = None) -> dict:
    ack, live = latencies(h.ops)
    boots = [op.value["bytes"] for op in h.ops if op.f == "boot"]
    sends = sum(1 for op in h.ops if op.f == "send" and op.type == "invoke")
    outcomes = {t: sum(1 for op in h.ops if op.f == "send" and op.type == t) for t in ("ok", "fail")}
    m = {
        "sends": {"invoked": sends, "acked": outcomes["ok"], "failed": outcomes["fail"],
                  "unknown": sends - outcomes["ok"] - outcomes["fail"]},
        "ack_latency": percentiles(ack),
        "live_latency": percentiles(live),
        "boots": len(boots),
        "bytes_per_boot": round(sum(boots) / len(boots)) if boots else 0,
        "connects": sum(1 for op in h.ops if op.f == "connect"),
        "disconnects": sum(1 for op in h.ops if op.f == "disconnect"),
    }
    if network is not None:
        m["network"] = network
        # messages on a message's own path (send, append, broadcast, push, persist ...)
        m["network_messages_per_send"] = round(network["on_message_paths"] / sends, 2) if sends else None
        # everything, background included (heartbeats, replication fetches, polling)
        m["network_total_per_send"] = round(network["messages"] / sends, 2) if sends else None
    return m
