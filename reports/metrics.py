"""Run metrics from a history (and the network summary the runner gives).

Latencies are in seconds of simulated time: ack latency from a send's
invoke to its ok; live latency from a send's invoke to each member's
display. Percentiles use the nearest-rank method.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import msgspec
import numpy as np

from sim.gcpause import gc_paused
from sim.history import History, Meta, Source, iter_op_blocks, split_header


def percentiles(xs, ps=(50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles of a list, or of a float64 array (sorted by
    numpy: millions of latencies without a list of float objects)."""
    if len(xs) == 0:
        return {f"p{p}": None for p in ps}
    if isinstance(xs, np.ndarray):
        s = np.sort(xs)
        pick = lambda k: s[k].item()  # noqa: E731 - a Python float, as a list would hold
    else:
        s = sorted(xs)
        pick = s.__getitem__
    return {f"p{p}": round(pick(min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))), 6) for p in ps}


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


def session_events(ops) -> list[tuple[float, str, str]]:
    """``(time, process, f)`` of the ops ``storm_metrics`` reads: the
    nemesis's heals, every connect and disconnect, in history order."""
    return [(op.time, op.process, op.f) for op in ops
            if op.f in ("connect", "disconnect") or (op.f == "heal" and op.process == "nemesis")]


def storm_metrics(events) -> dict | None:
    """After the last partition heals: how fast clients came back.

    ``events`` are ``session_events``. ``time_to_all_usable``: from the heal
    until the last client that was disconnected at the heal is connected
    again; ``peak_reconnects_per_s``: the busiest second of reconnects after
    the heal."""
    heals = [t for t, process, f in events if process == "nemesis" and f == "heal"]
    if not heals:
        return None
    heal = heals[-1]
    sessions = [e for e in events if e[2] in ("connect", "disconnect")]
    state: dict[str, bool] = {}
    for t, process, f in sessions:
        if t <= heal:
            state[process] = f == "connect"
    down_at_heal = {c for c, up in state.items() if not up}
    back: dict[str, float] = {}
    per_second: dict[int, int] = {}
    for t, process, f in sessions:
        if t > heal and f == "connect":
            per_second[int(t)] = per_second.get(int(t), 0) + 1
            back.setdefault(process, t - heal)
    delays = [back[c] for c in down_at_heal if c in back]
    return {"heal": heal, "disconnected_at_heal": len(down_at_heal), "reconnected": len(delays),
            "time_to_all_usable": round(max(delays), 6) if delays and len(delays) == len(down_at_heal) else None,
            "reconnect_delay": percentiles(delays), "peak_reconnects_per_s": max(per_second.values(), default=0)}


def client_teams(config: dict) -> list[tuple[int, str]]:
    """``(last client index, team)`` per client group of a history header's
    topology: client-k is in the team of the first group whose last index is
    ≥ k. Every client is in ``T1`` without ``topology.teams``."""
    out, last = [], 0
    for g in config.get("topology", {}).get("clients", []):
        last += g.get("count", 1)
        out.append((last, g.get("team") or "T1"))
    return out


def team_metrics(boots, config: dict, flannel_hosts: dict | None) -> dict:
    """Per-team load: clients, boots and boot bytes (from the history's
    ``boot`` events, as ``(process, bytes, seconds)`` in history order),
    time to usable, and what the Flannel hosts measured for the team: hits,
    misses, cache loads, boot bytes served, bytes loaded, and ``hosts``:
    region → host → the team's boots it served."""
    groups = client_teams(config)
    teams: dict[str, dict] = {}
    for _, t in groups:
        teams.setdefault(t, {"clients": 0, "boots": 0, "boot_bytes": 0, "seconds": []})
    prev = 0
    for last, t in groups:
        teams[t]["clients"] += last - prev
        prev = last
    for process, nbytes, seconds in boots:
        head, _, k = process.rpartition("-")
        if head != "client" or not k.isdigit():
            continue
        t = next((team for last, team in groups if int(k) <= last), None)
        if t is None:
            continue
        row = teams[t]
        row["boots"] += 1
        row["boot_bytes"] += nbytes
        row["seconds"].append(seconds)
    out = {}
    for t, row in teams.items():
        seconds = row.pop("seconds")
        row["bytes_per_boot"] = round(row["boot_bytes"] / row["boots"]) if row["boots"] else 0
        row["time_to_usable"] = percentiles(seconds, (50, 99, 100))
        out[t] = row
    if flannel_hosts:
        for t, row in out.items():
            fl = {"hits": 0, "misses": 0, "loads": 0, "bytes": 0, "load_bytes": 0, "hosts": {}}
            for host, stats in sorted(flannel_hosts.items()):
                ts = stats.get("teams", {}).get(t)
                if ts is None:
                    continue
                for k in ("hits", "misses", "loads", "bytes", "load_bytes"):
                    fl[k] += ts[k]
                if ts["boots"]:  # region -> host -> boots it served (affinity: one host per region)
                    fl["hosts"].setdefault(stats["region"], {})[host] = ts["boots"]
            fl["hit_rate"] = round(fl["hits"] / (fl["hits"] + fl["misses"]), 4) if fl["hits"] + fl["misses"] else None
            row["flannel"] = fl
    return out


def run_metrics(h: History, network: dict | None = None, backend: dict | None = None,
                workload_end: float | None = None) -> dict:
    """Every figure of one run, computed here and nowhere else: from a parsed
    history, the network's summary and the backend's meters (web apps,
    Flannel) as the runner hands them over (plain data). ``run_metrics_bytes``
    gives the same dict from the history's bytes in one streaming pass."""
    ack, live = latencies(h.ops)
    boots = [(op.process, op.value["bytes"], op.value["seconds"]) for op in h.ops if op.f == "boot"]
    sends = sum(1 for op in h.ops if op.f == "send" and op.type == "invoke")
    outcomes = {t: sum(1 for op in h.ops if op.f == "send" and op.type == t) for t in ("ok", "fail")}
    connects = sum(1 for op in h.ops if op.f == "connect")
    disconnects = sum(1 for op in h.ops if op.f == "disconnect")
    return _figures(sends, outcomes["ok"], outcomes["fail"], ack, live, boots, connects, disconnects,
                    session_events(h.ops), h.meta.config, network, backend, workload_end)


class _Value(msgspec.Struct, frozen=True):
    """The fields of an op's value the metrics read; the rest is skipped
    unread. ``Any``: decoded exactly as the full ``Op`` decoder would."""

    channel: Any = None
    msg: Any = None
    bytes: Any = None
    seconds: Any = None


class _MetricOp(msgspec.Struct, frozen=True):
    time: float
    process: str
    type: str
    f: str
    value: _Value


_metric_decoder = msgspec.json.Decoder(_MetricOp)


def run_metrics_bytes(data: Source, network: dict | None = None, backend: dict | None = None,
                      workload_end: float | None = None) -> dict:
    """``run_metrics`` of a history given as bytes or as the path of its
    file (a run's own, already valid; a file is read a block at a time, never
    whole), in one pass that keeps only what the figures need.

    The history is decoded a block at a time into slim structs
    (``sim.history.iter_op_blocks``), so at most one block's ops exist at
    once. Per op kind it keeps: per send key its latest invoke time and a
    number; the ack latencies; per delivery whose send was invoked by then,
    the (send, process) pair and its latency — the first delivery of each
    pair is a live latency, picked afterwards with ``numpy.unique`` (first
    occurrences) instead of a set of tuples; boots and session events as
    ``team_metrics`` and ``storm_metrics`` read them. Every latency is the
    same float subtraction as ``latencies`` does, so the figures are equal."""
    head, start = split_header(data)
    meta = msgspec.json.decode(head, type=Meta)
    invoked: dict[tuple, tuple[float, int]] = {}  # (channel, msg) -> (latest invoke time, send number)
    procs: dict[str, int] = {}  # process -> number, for the (send, process) pairs
    names: dict[str, str] = {}  # one string per process name in the session events
    ack = array("d")
    live_send, live_proc, live_lat = array("q"), array("q"), array("d")
    boots: list[tuple] = []
    events: list[tuple[float, str, str]] = []
    sends = acked = failed = connects = disconnects = 0
    # Acyclic containers only (dicts of tuples, arrays, the blocks' structs):
    # the blocks' allocations trigger full collections that walk ``invoked``
    # and the block for nothing (4 of the 5 after a 10k old storm's simulation;
    # at 100k the post-simulation phase made 48, 18 CPU s).
    with gc_paused():
        for ops in iter_op_blocks(data, _metric_decoder, start):
            for op in ops:
                f = op.f
                if f == "deliver":
                    v = op.value
                    inv = invoked.get((v.channel, v.msg))
                    if inv is not None:
                        pid = procs.setdefault(op.process, len(procs))
                        live_send.append(inv[1])
                        live_proc.append(pid)
                        live_lat.append(op.time - inv[0])
                elif f == "send":
                    v = op.value
                    key = (v.channel, v.msg)
                    t = op.type
                    if t == "invoke":
                        sends += 1
                        inv = invoked.get(key)
                        invoked[key] = (op.time, len(invoked) if inv is None else inv[1])
                    elif t == "ok":
                        acked += 1
                        inv = invoked.get(key)
                        if inv is not None:
                            ack.append(op.time - inv[0])
                    elif t == "fail":
                        failed += 1
                elif f == "boot":
                    boots.append((op.process, op.value.bytes, op.value.seconds))
                elif f == "connect" or f == "disconnect":
                    if f == "connect":
                        connects += 1
                    else:
                        disconnects += 1
                    events.append((op.time, names.setdefault(op.process, op.process), f))
                elif f == "heal" and op.process == "nemesis":
                    events.append((op.time, "nemesis", "heal"))
    del invoked
    pairs = np.frombuffer(live_send, dtype=np.int64) * max(1, len(procs)) + np.frombuffer(live_proc, dtype=np.int64)
    _, first = np.unique(pairs, return_index=True)
    live = np.frombuffer(live_lat, dtype=np.float64)[first]
    return _figures(sends, acked, failed, np.frombuffer(ack, dtype=np.float64), live, boots, connects,
                    disconnects, events, meta.config, network, backend, workload_end)


def _figures(sends, acked, failed, ack, live, boots, connects, disconnects, events, config,
             network, backend, workload_end) -> dict:
    """The result dict of ``run_metrics`` from what a pass over the history gathered."""
    boot_bytes = [b for _, b, _ in boots]
    boot_seconds = [s for _, _, s in boots]
    m = {
        "sends": {"invoked": sends, "acked": acked, "failed": failed, "unknown": sends - acked - failed},
        "ack_latency": percentiles(ack),
        "live_latency": percentiles(live),
        "boots": len(boots),
        "bytes_per_boot": round(sum(boot_bytes) / len(boot_bytes)) if boot_bytes else 0,
        "time_to_usable": percentiles(boot_seconds, (50, 99, 100)),
        "connects": connects,
        "disconnects": disconnects,
    }
    m["teams"] = team_metrics(boots, config, (backend or {}).get("flannel_hosts"))
    storm = storm_metrics(events)
    if storm is not None:
        m["storm"] = storm
    if network is not None:
        m["network"] = network
        # messages on a message's own path (send, append, broadcast, push, persist ...)
        m["network_messages_per_send"] = round(network["on_message_paths"] / sends, 2) if sends else None
        # everything, background included (heartbeats, replication fetches, polling)
        m["network_total_per_send"] = round(network["messages"] / sends, 2) if sends else None
    if backend is not None:
        m["backend"] = backend
        if storm is not None and workload_end is not None:  # the backend's load after the heal
            series = backend["series"]
            after, until = int(storm["heal"]), int(workload_end)  # not the final reads
            storm["backend_peak_requests_per_s"] = max(series["webapp_requests"][after:until], default=0)
            storm["backend_peak_boots_per_s"] = max(series["webapp_boots"][after:until], default=0)
            storm["backend_peak_queue"] = max(series["webapp_queue"][after:until], default=0)
        # web-app work per client boot: rtm.start builds, or the Flannel cache loads behind many boots
        m["webapp_cpu_per_boot"] = (round(backend["webapp"]["boot_cpu_seconds"] / m["boots"], 6)
                                    if m["boots"] else None)
    return m
