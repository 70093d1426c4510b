"""Scenario files: TOML validated by pydantic models (DESIGN §9).

A scenario is data: topology (clients per region and kind, channels and their
members, team size for boot payloads), workload (send rate, text size,
presence and typing), durations, the fault schedule, settings of each
architecture and of the network, and the expected verdict of each invariant
per architecture (so CI can tell a regression from a known weakness).

Unknown keys and bad values are errors that name the file, the key and the
value. ``--set key=value`` overrides any setting by its dotted path; the value
is read as TOML (``3``, ``0.5``, ``true``, ``"all"``) and falls back to a
bare string. Architecture settings may be named without their prefix:
``kafka.acks=1`` means ``new.kafka.acks``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.errors import ConfigError

BUILTIN_DIR = Path(__file__).parent / "builtin"
ARCHS = ("old", "new")
INVARIANTS = ("validity", "integrity", "total-order", "no-duplicates", "durability", "live-completeness")
REGIONS = ("us-east", "eu-west", "us-west", "sa-east", "ap-northeast", "ap-southeast")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientGroup(Strict):
    region: Literal[REGIONS] = "us-east"  # type: ignore[valid-type]
    kind: Literal["desktop", "mobile"] = "desktop"
    count: int = Field(1, ge=1, le=100_000)


class Team(Strict):
    users: int = Field(0, ge=0, description="team size for boot payloads (0: the simulated clients)")
    channels: int = Field(0, ge=0, description="channels in the team (0: the simulated channels)")
    members_per_channel: int = Field(0, ge=0)
    directory: int = Field(0, ge=0, description="directory channels whose membership churns (boot consistency)")


class Topology(Strict):
    clients: list[ClientGroup] = Field(default_factory=lambda: [ClientGroup(count=4)])
    # channel name -> member client names; "*" means every client
    channels: dict[str, list[str]] = Field(default_factory=lambda: {"C1": ["*"]})
    auto_channels: int = Field(0, ge=0, description="also channels A0..A<n-1>; client-k is in A<k mod n>")
    team: Team = Team()

    def client_names(self) -> list[str]:
        n = sum(g.count for g in self.clients)
        return [f"client-{i}" for i in range(1, n + 1)]

    def members(self) -> dict[str, list[str]]:
        names = self.client_names()
        out = {}
        for ch, ms in self.channels.items():
            out[ch] = list(names) if ms == ["*"] else list(ms)
        for j in range(self.auto_channels):
            out[f"A{j}"] = [c for k, c in enumerate(names, start=1) if k % self.auto_channels == j]
        return out

    @model_validator(mode="after")
    def _members_exist(self):
        names = set(self.client_names())
        for ch, ms in self.channels.items():
            if ms == ["*"]:
                continue
            for m in ms:
                if m not in names:
                    raise ValueError(f"channel {ch}: member {m!r} is not a client (clients are client-1.."
                                     f"client-{len(names)})")
        return self


class Workload(Strict):
    rate: float = Field(0.5, gt=0, description="sends per second per client")
    duration: float = Field(30.0, gt=0, description="seconds of workload")
    settle: float = Field(15.0, ge=0, description="seconds after healing, before final reads")
    text_bytes: int = Field(120, ge=1)
    presence_rate: float = Field(0.05, ge=0, description="presence changes per second per client")
    typing_rate: float = Field(0.2, ge=0, description="typing indicators per second per client")
    directory_rate: float = Field(0.0, ge=0, description="directory joins/leaves per second per client")


class Fault(Strict):
    kind: str
    arch: Literal["old", "new", "both"] = "both"
    at: float | None = Field(None, ge=0)
    step: str | None = None
    node: str = "*"
    nth: int = Field(1, ge=1)
    duration: float | None = Field(None, gt=0)
    targets: list[str] = []
    a: list[str] = []
    b: list[str] = []
    oneway: bool = False
    latency: float = Field(0.0, ge=0)
    loss: float = Field(0.0, ge=0, le=1)
    dup: float = Field(0.0, ge=0, le=1)
    skew: float = 0.0
    silent: bool = False
    params: dict[str, int | float | str | bool] = {}  # component faults, e.g. kafka-leader-crash's partition

    @model_validator(mode="after")
    def _one_trigger(self):
        if (self.at is None) == (self.step is None):
            raise ValueError("a fault needs exactly one of 'at' (a time) or 'step' (a protocol step)")
        return self


class NetworkSettings(Strict):
    loss: float = Field(0.0, ge=0, lt=1)
    dup: float = Field(0.0, ge=0, lt=1)
    jitter_sigma: float = Field(0.15, ge=0)
    keepalive: float = Field(10.0, gt=0)
    rto_min: float = Field(0.2, gt=0)
    connect_timeout: float = Field(3.0, gt=0)


class ClientSettings(Strict):
    ack_timeout: float = Field(5.0, gt=0, description="old: wait for the channel server's ack")
    http_timeout: float = Field(10.0, gt=0, description="new: chat.postMessage client timeout")
    max_attempts: int = Field(5, ge=1, description="new: attempts per send before giving up")
    backoff_base: float = Field(0.5, gt=0)
    backoff_cap: float = Field(8.0, gt=0)
    jitter: bool = True
    mobile_loss: float = Field(0.0, ge=0, lt=1, description="access-link loss of mobile clients")
    mobile_latency: float = Field(0.03, ge=0, description="extra one-way latency of mobile clients")
    parse_desktop: float = Field(20e6, gt=0, description="boot payload parse rate, bytes/s")
    parse_mobile: float = Field(4e6, gt=0)
    read_timeout: float = Field(10.0, gt=0)
    bandwidth_desktop: float = Field(6.25e6, gt=0, description="download bytes/s (50 Mbit/s)")
    bandwidth_mobile: float = Field(1.25e6, gt=0, description="download bytes/s (10 Mbit/s)")


class OldSettings(Strict):
    channel_servers: int = Field(1, ge=1)
    persist_retry: float = Field(1.0, gt=0, description="channel server → web app hand-off retry interval")
    persist_timeout: float = Field(2.0, gt=0)
    webapp_region: Literal[REGIONS] = "us-east"  # type: ignore[valid-type]
    boot_throttle: int = Field(0, ge=0, description="concurrent rtm.start the web app admits (0: no limit)")
    webapp_workers: int = Field(32, ge=1)


class KafkaSettings(Strict):
    brokers: int = Field(3, ge=1)
    replication: int = Field(3, ge=1)
    partitions: int = Field(4, ge=1)
    acks: Literal["all", "1"] = "all"
    min_insync: int = Field(2, ge=1)
    unclean_election: bool = False
    replica_lag_max: float = Field(10.0, gt=0, description="replica.lag.time.max.ms, seconds")
    election_delay: float = Field(3.0, ge=0, description="time to detect a dead leader")
    fetch_interval: float = Field(0.05, gt=0)
    request_timeout: float = Field(5.0, gt=0)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_str(cls, v):
        return str(v)


class RedisSettings(Strict):
    persistence: bool = True
    replication_lag: float = Field(0.2, ge=0, description="async replication delay to the replica")
    ttl: float = Field(300.0, gt=0, description="dedupe key TTL, seconds")
    failover_delay: float = Field(2.0, ge=0)


class WorkerSettings(Strict):
    idempotent: bool = True
    poll: float = Field(0.05, gt=0)


class FlannelSettings(Strict):
    hosts_per_region: int = Field(2, ge=1)
    broken_warmup: bool = Field(False, description="canary: drop directory events while the cache warms up")


class NewSettings(Strict):
    webapps: int = Field(3, ge=1)
    channel_servers: int = Field(2, ge=1)
    reassign_delay: float = Field(20.0, ge=0, description="ring replaces a failed channel server after")
    dedupe: bool = True
    ts_source: Literal["kafka", "webapp"] = "kafka"
    hold_back: bool = True
    hold_timeout: float = Field(2.0, gt=0)
    rate_limit: float = Field(0.0, ge=0, description="per-client sends/s before 429 (0: off)")
    boot_throttle: int = Field(0, ge=0, description="concurrent boots a web app admits (0: no limit)")
    webapp_workers: int = Field(32, ge=1)
    flannel: FlannelSettings = FlannelSettings()
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    workers: WorkerSettings = WorkerSettings()


Verdict = bool | Literal["maybe"]  # "maybe": a known weakness that shows on some seeds only


class Expect(Strict):
    boot_consistency: Verdict = Field(True, alias="boot-consistency")
    validity: Verdict = True
    integrity: Verdict = True
    total_order: Verdict = Field(True, alias="total-order")
    no_duplicates: Verdict = Field(True, alias="no-duplicates")
    durability: Verdict = True
    live_completeness: Verdict = Field(True, alias="live-completeness")

    def as_dict(self) -> dict[str, Verdict]:
        return {"validity": self.validity, "integrity": self.integrity, "total-order": self.total_order,
                "no-duplicates": self.no_duplicates, "durability": self.durability,
                "live-completeness": self.live_completeness, "boot-consistency": self.boot_consistency}


class Sweep(Strict):
    key: str = Field(description="a --set key, e.g. topology.team.users")
    values: list[float | int | str] = Field(min_length=2)


class Variant(Strict):
    name: str
    set: list[str] = []


class Scenario(Strict):
    name: str
    description: str
    topology: Topology = Topology()
    workload: Workload = Workload()
    faults: list[Fault] = []
    network: NetworkSettings = NetworkSettings()
    clients: ClientSettings = ClientSettings()
    old: OldSettings = OldSettings()
    new: NewSettings = NewSettings()
    expect: dict[Literal["old", "new"], Expect] = {}
    sweep: Sweep | None = None
    variants: list[Variant] = []
    source: str = Field("", exclude=True)

    def points(self) -> list[tuple[str, list[str]]]:
        """What ``chatsim sweep`` runs: each sweep value, or each variant."""
        if self.sweep is not None:
            short = self.sweep.key.rsplit(".", 1)[-1]
            return [(f"{short}={v}", [f"{self.sweep.key}={v}"]) for v in self.sweep.values]
        return [(v.name, list(v.set)) for v in self.variants]

    def run_config(self) -> dict[str, Any]:
        """The settings the simulation takes, as plain data (``sim`` never
        imports ``scenarios``), with each channel's members resolved."""
        cfg = self.model_dump(mode="json", by_alias=True,
                              exclude={"faults", "expect", "name", "description", "sweep", "variants"})
        cfg["members"] = self.topology.members()
        return cfg

    def faults_for(self, arch: str) -> list[Fault]:
        return [f for f in self.faults if f.arch in (arch, "both")]

    def expected(self, arch: str) -> dict[str, bool]:
        return (self.expect.get(arch) or Expect()).as_dict()


def _fmt(e: ValidationError, where: str) -> str:
    err = e.errors()[0]
    key = ".".join(str(x) for x in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    value = err.get("input")
    shown = "" if isinstance(value, dict) or err["type"] == "missing" else f" (got {value!r})"
    more = f" (+{len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{where}: {key}: {msg}{shown}{more}"


def _validate(raw: dict[str, Any], where: str) -> Scenario:
    try:
        return Scenario.model_validate({**raw, "source": where})
    except ValidationError as e:
        raise ConfigError(_fmt(e, where)) from None


def list_builtin() -> list[tuple[str, str]]:
    out = []
    for p in sorted(BUILTIN_DIR.glob("*.toml")):
        raw = tomllib.loads(p.read_text())
        out.append((raw.get("name", p.stem), raw.get("description", "")))
    return out


def load_raw(ref: str) -> tuple[dict[str, Any], str]:
    """A built-in name or a path to a TOML file → (raw dict, where)."""
    p = Path(ref)
    if not (p.suffix == ".toml" or p.exists()):
        p = BUILTIN_DIR / f"{ref}.toml"
        if not p.exists():
            names = ", ".join(n for n, _ in list_builtin())
            raise ConfigError(f"unknown scenario {ref!r} (built-in: {names}; or give a path to a .toml file)")
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        return tomllib.loads(text), p.name
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p.name}: malformed TOML: {e}") from None


def load_scenario(ref: str, overrides: list[str] = ()) -> Scenario:
    raw, where = load_raw(ref)
    scenario = _validate(raw, where)
    if overrides:
        scenario = _validate(apply_overrides(raw, overrides, where), where + " with --set")
    return scenario


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str], where: str = "scenario") -> dict[str, Any]:
    import copy

    raw = copy.deepcopy(raw)
    top = set(Scenario.model_fields) - {"source"}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        path = key.split(".")
        if path[0] not in top:
            hits = [arch for arch in ARCHS if path[0] in getattr(Scenario.model_fields[arch].annotation, "model_fields", {})]
            if len(hits) == 1:
                path = [hits[0], *path]
            elif len(hits) > 1:
                raise ConfigError(f"--set {key}: ambiguous, say old.{key} or new.{key}")
            else:
                raise ConfigError(f"--set {key}: unknown setting (top-level keys: {', '.join(sorted(top))})")
        if path[0] in ("faults", "expect", "name", "sweep", "variants") or (path[0] == "topology" and path[1:2] != ["team"]):
            raise ConfigError(f"--set {key}: {'.'.join(path[:2])} cannot be overridden from the command line")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a table")
        node[path[-1]] = _parse_value(text.strip())
    return raw
