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


def storm_metrics(ops) -> dict | None:
    """After the last partition heals: how fast clients came back.

    ``time_to_all_usable``: from the heal until the last client that was
    disconnected at the heal is connected again; ``peak_reconnects_per_s``:
    the busiest second of reconnects after the heal."""
    heals = [op.time for op in ops if op.process == "nemesis" and op.f == "heal"]
    if not heals:
        return None
    heal = heals[-1]
    sessions = [op for op in ops if op.f in ("connect", "disconnect")]
    state: dict[str, bool] = {}
    for op in sessions:
        if op.time <= heal:
            state[op.process] = op.f == "connect"
    down_at_heal = {c for c, up in state.items() if not up}
    back: dict[str, float] = {}
    per_second: dict[int, int] = {}
    for op in sessions:
        if op.time > heal and op.f == "connect":
            per_second[int(op.time)] = per_second.get(int(op.time), 0) + 1
            back.setdefault(op.process, op.time - heal)
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


def team_metrics(ops, config: dict, flannel_hosts: dict | None) -> dict:
    """Per-team load: clients, boots and boot bytes (from the history's
    ``boot`` events), time to usable, and what the Flannel hosts measured
    for the team: hits, misses, cache loads, boot bytes served, bytes
    loaded, and ``hosts``: region → host → the team's boots it served."""
    groups = client_teams(config)
    teams: dict[str, dict] = {}
    for _, t in groups:
        teams.setdefault(t, {"clients": 0, "boots": 0, "boot_bytes": 0, "seconds": []})
    prev = 0
    for last, t in groups:
        teams[t]["clients"] += last - prev
        prev = last
    for op in ops:
        if op.f != "boot":
            continue
        head, _, k = op.process.rpartition("-")
        if head != "client" or not k.isdigit():
            continue
        t = next((team for last, team in groups if int(k) <= last), None)
        if t is None:
            continue
        row = teams[t]
        row["boots"] += 1
        row["boot_bytes"] += op.value["bytes"]
        row["seconds"].append(op.value["seconds"])
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
    """Every figure of one run, computed here and nowhere else: from the
    history, the network's summary and the backend's meters (web apps, Flannel)
    as the runner hands them over (plain data)."""
    ack, live = latencies(h.ops)
    boots = [op.value["bytes"] for op in h.ops if op.f == "boot"]
    boot_seconds = [op.value["seconds"] for op in h.ops if op.f == "boot"]
    sends = sum(1 for op in h.ops if op.f == "send" and op.type == "invoke")
    outcomes = {t: sum(1 for op in h.ops if op.f == "send" and op.type == t) for t in ("ok", "fail")}
    m = {
        "sends": {"invoked": sends, "acked": outcomes["ok"], "failed": outcomes["fail"],
                  "unknown": sends - outcomes["ok"] - outcomes["fail"]},
        "ack_latency": percentiles(ack),
        "live_latency": percentiles(live),
        "boots": len(boots),
        "bytes_per_boot": round(sum(boots) / len(boots)) if boots else 0,
        "time_to_usable": percentiles(boot_seconds, (50, 99, 100)),
        "connects": sum(1 for op in h.ops if op.f == "connect"),
        "disconnects": sum(1 for op in h.ops if op.f == "disconnect"),
    }
    m["teams"] = team_metrics(h.ops, h.meta.config, (backend or {}).get("flannel_hosts"))
    storm = storm_metrics(h.ops)
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
