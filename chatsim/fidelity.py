"""Model fidelity (issue 14): Slack's published figures, measured on the model.

Each ``Check`` is one published figure with its source and tolerance, and a
measurement that *runs the model* to get chatsim's figure — boot payloads
from the boots clients recorded in a run's history, channel-server
replacement from the first broadcast by the new owner after a crash, RTTs
from pings over the simulated network, worldwide delivery from live
latencies. Nothing here reads a constant back: a figure within tolerance
means the mechanism produces it. ``chatsim fidelity`` prints the table;
docs/fidelity.md is written from its output.

``quick`` measures the subset a test can afford (everything but the
100k-user boot, which is the same payload model at a larger size).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Callable

FLANNEL_POST = ("Slack Engineering, \"Flannel: An Application-Level Edge Cache to Make Slack Scale\" (2017), "
                "https://slack.engineering/flannel-an-application-level-edge-cache-to-make-slack-scale/")
RTM_POST = ("Slack Engineering, \"Real-time Messaging\" (2023), https://slack.engineering/real-time-messaging/")
CLOUDPING = "AWS inter-region ping medians, https://www.cloudping.co/ (ap-northeast-1 ↔ ap-southeast-1)"


@dataclass(frozen=True)
class Check:
    name: str
    published: str  # the figure as published, in words
    source: str
    target: float
    low: float  # within when low <= measured <= high
    high: float
    unit: str
    measure: Callable[[Path], float]
    quick: bool = True

    @property
    def tolerance(self) -> str:
        if self.low == self.high:
            return f"= {self.target:g}"
        if self.low == float("-inf"):
            return f"< {self.high:g} {self.unit}"
        return f"±{round(100 * (self.high - self.target) / self.target)}%"


def _run(raw: dict, arch: str, tmp: Path, seed: int = 1) -> dict:
    from scenarios import Scenario

    from .api import run_one

    scn = Scenario.model_validate({**raw, "source": "fidelity"})
    return run_one(scn, arch, seed, tmp / f"{scn.name}-{arch}-{seed}")


def _boot_raw(users: int) -> dict:
    from scenarios.loader import load_raw

    raw, _ = load_raw("large-team-boot")
    raw["name"] = f"boot-{users}"
    raw["topology"]["team"] = {"users": users}
    raw["workload"] = {**raw["workload"], "duration": 40, "settle": 5}
    raw.pop("sweep", None)
    return raw


def boot_bytes(users: int, arch: str, tmp: Path) -> float:
    """Mean bytes of the boots clients recorded in a run against a team of ``users``."""
    r = _run(_boot_raw(users), arch, tmp)
    if not r["metrics"]["boots"]:
        raise RuntimeError(f"no boot completed at {users} users under {arch}")
    return r["metrics"]["bytes_per_boot"]


def flannel_ratio(users: int) -> Callable[[Path], float]:
    def measure(tmp: Path) -> float:
        return round(boot_bytes(users, "old", tmp) / boot_bytes(users, "new", tmp), 2)
    return measure


def rtm_start_mb(tmp: Path) -> float:
    return round(boot_bytes(100_000, "old", tmp) / 1e6, 1)


def replacement_seconds(tmp: Path) -> float:
    """Crash a channel server's host (it vanishes: checks time out); the
    figure is the time from the crash to the first broadcast, by another
    server, of a message in a channel the dead one owned."""
    from sim.history import parse_history
    from sim.nodes.discovery import ring_owner

    channels = {f"c{i}": ["*"] for i in range(8)}
    raw = {"name": "cs-replacement", "description": "a channel server's host vanishes mid-run",
           "topology": {"clients": [{"region": "us-east", "kind": "desktop", "count": 6}], "channels": channels},
           "workload": {"rate": 2.0, "duration": 60, "settle": 10},
           "faults": [{"kind": "crash", "at": 15, "duration": 40, "targets": ["channel-server-0"],
                       "silent": True, "arch": "new"}]}
    r = _run(raw, "new", tmp)
    out = tmp / "cs-replacement-new-1" / "history.jsonl"
    h = parse_history(out.read_bytes(), str(out))
    ring = ("channel-server-0", "channel-server-1")
    crash = next(op.time for op in h.ops if op.process == "nemesis" and op.value.get("node") == "channel-server-0")
    channel_of = {op.value["msg"]: op.value["channel"] for op in h.ops if op.f == "send" and op.type == "invoke"}
    for op in h.ops:
        if (op.time > crash and op.f == "step" and op.value.get("step") == "broadcast"
                and op.process != "channel-server-0"
                and ring_owner(ring, channel_of.get(op.value["msg"], "")) == "channel-server-0"):
            return round(op.time - crash, 1)
    raise RuntimeError(f"no broadcast for channel-server-0's channels after its crash ({r['scenario']})")


def rtt_ms(a: str, b: str, pings: int = 200) -> Callable[[Path], float]:
    """Median round trip of HTTP pings between a node in ``a`` and one in
    ``b`` over the simulated network (the table, jitter and all)."""
    def measure(tmp: Path) -> float:
        from sim.kernel import Node, Simulation
        from sim.network import NetConfig, Network

        class Echo(Node):
            HANDLERS = {"ping": lambda self, req: ("ok", {}, 40)}

        sim = Simulation(1)
        Network(sim, NetConfig(journal=False))
        src = Echo(sim, "pinger", a)
        Echo(sim, "echo", b)
        times: list[float] = []

        def loop():
            for _ in range(pings):
                t0 = sim.env.now
                reply = yield sim.network.request(src, "echo", "ping", {}, size=40, timeout=5.0)
                if reply.status == "ok":
                    times.append(sim.env.now - t0)

        sim.start()
        src.spawn(loop())
        sim.env.run()
        return round(1000 * median(times), 1)
    return measure


def rtt_table_complete(tmp: Path) -> float:
    """Region pairs without an RTT in the table (0: complete)."""
    from itertools import combinations

    from sim.config import REGIONS
    from sim.errors import WiringError
    from sim.network import region_rtt

    missing = 0
    for a, b in combinations(REGIONS, 2):
        try:
            region_rtt(a, b)
        except WiringError:
            missing += 1
    return missing


def worldwide_p99_ms(tmp: Path) -> float:
    """Live delivery p99 (send → each member's screen) of the new design
    with two clients in every region, all in #general."""
    from sim.config import REGIONS

    raw = {"name": "worldwide", "description": "clients in every region, one team-wide channel",
           "topology": {"clients": [{"region": r, "kind": "desktop", "count": 2} for r in REGIONS],
                        "channels": {"general": ["*"]}},
           "workload": {"rate": 0.5, "duration": 30, "settle": 10}}
    r = _run(raw, "new", tmp)
    return round(1000 * r["metrics"]["live_latency"]["p99"], 1)


def hosts_per_team_region(tmp: Path) -> float:
    """Run ``multi-team-boot`` (four teams, three Flannel hosts in each of
    three regions) under the new design without its fault; the figure is
    the most Flannel hosts that served one team's boots in one region (1:
    every team's users of a region landed on the same cache host)."""
    from scenarios.loader import load_raw

    raw, _ = load_raw("multi-team-boot")
    raw["faults"] = []
    teams = _run(raw, "new", tmp)["metrics"]["teams"]
    per_region = [len(hosts) for row in teams.values() for hosts in row["flannel"]["hosts"].values()]
    if not per_region:
        raise RuntimeError("no Flannel boot in multi-team-boot")
    return max(per_region)


def _pct(target: float, pct: float) -> tuple[float, float]:
    return target * (1 - pct), target * (1 + pct)


CHECKS: tuple[Check, ...] = (
    Check("flannel-ratio-1.5k", "rtm.start / Flannel boot payload ≈ 7× at ~1.5k users", FLANNEL_POST,
          7.0, *_pct(7.0, 0.25), "×", flannel_ratio(1_500)),
    Check("flannel-ratio-32k", "rtm.start / Flannel boot payload ≈ 44× at ~32k users", FLANNEL_POST,
          44.0, *_pct(44.0, 0.25), "×", flannel_ratio(32_000)),
    Check("rtm-start-100k", "rtm.start ≈ 100 MB at ~100k users",
          "Slack's figure as quoted in issue 14 (primary source not located)",
          100.0, *_pct(100.0, 0.25), "MB", rtm_start_mb, quick=False),
    Check("cs-replacement", "a failed channel server is replaced within 20 s", RTM_POST,
          20.0, float("-inf"), 20.0, "s", replacement_seconds),
    Check("rtt-apne-apse", "ap-northeast ↔ ap-southeast RTT ≈ 70 ms", CLOUDPING,
          70.0, *_pct(70.0, 0.25), "ms", rtt_ms("ap-northeast", "ap-southeast")),
    Check("rtt-table", "an RTT for every pair of the model's regions", "docs/network.md",
          0.0, 0.0, 0.0, "missing pairs", rtt_table_complete),
    Check("team-affinity", "a team's users are served by the same Flannel host (consistent hashing on the team)",
          FLANNEL_POST, 1.0, 1.0, 1.0, "host(s) per team and region", hosts_per_team_region),
    Check("delivery-p99-worldwide", "messages delivered worldwide within 500 ms", RTM_POST,
          500.0, float("-inf"), 500.0, "ms", worldwide_p99_ms),
)


def run_checks(quick: bool = False, only: list[str] | None = None) -> list[dict]:
    """Measure each check (``quick``: the cheap subset); one row per check."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in CHECKS:
            if (quick and not c.quick) or (only and c.name not in only):
                continue
            d = Path(tmp) / c.name
            d.mkdir()
            value = c.measure(d)
            rows.append({"name": c.name, "published": c.published, "source": c.source, "target": c.target,
                         "unit": c.unit, "tolerance": c.tolerance, "chatsim": value,
                         "within": c.low <= value <= c.high})
    return rows


def markdown(rows: list[dict]) -> str:
    """The table as markdown (docs/fidelity.md embeds it)."""
    lines = ["| check | published | chatsim | tolerance | within | source |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['name']}` | {r['published']} | {r['chatsim']:g} {r['unit']} | {r['tolerance']} "
                     f"| {'yes' if r['within'] else '**no**'} | {r['source']} |")
    return "\n".join(lines) + "\n"
