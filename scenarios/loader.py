"""Scenario files: TOML validated by pydantic models (DESIGN §9).

A scenario is data: topology (clients per region and kind, channels and their
members, team size for boot payloads), workload (send rate, text size,
presence and typing), durations, the fault schedule, settings of each
architecture and of the network, and the expected verdict of each invariant
per architecture (so CI can tell a regression from a known weakness).

The shared settings models live in ``sim.config``; each architecture's own
settings model comes from the registry (``sim.architectures``), so a
scenario's ``[<name>]`` table is validated by the design it configures, a
plugin's included.

Unknown keys and bad values are errors that name the file, the key and the
value. ``--set key=value`` overrides any setting by its dotted path; the value
is read as TOML (``3``, ``0.5``, ``true``, ``"all"``) and falls back to a
bare string. Architecture settings may be named without their prefix:
``kafka.acks=1`` sets ``kafka.acks`` in every architecture that has it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sim.architectures import registry
from sim.config import ClientSettings, NetworkSettings, RunConfig, Strict, Topology, Workload
from sim.errors import ConfigError

BUILTIN_DIR = Path(__file__).parent / "builtin"


class Fault(Strict):
    kind: str
    arch: str = Field("both", description="the architecture it applies to (a registered name), or \"both\" / \"all\"")
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

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        if v not in ("both", "all") and v not in registry():
            raise ValueError(f"unknown architecture {v!r} (registered: {', '.join(registry())}; or \"all\")")
        return v

    @model_validator(mode="after")
    def _one_trigger(self):
        if (self.at is None) == (self.step is None):
            raise ValueError("a fault needs exactly one of 'at' (a time) or 'step' (a protocol step)")
        return self



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
    # the [<arch>] tables, validated by each registered architecture's settings model
    arch_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)
    expect: dict[str, Expect] = {}
    sweep: Sweep | None = None
    variants: list[Variant] = []
    source: str = Field("", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _arch_tables(cls, data: Any) -> Any:
        """Each registered architecture validates its own table (defaults if absent)."""
        if not isinstance(data, dict):
            return data
        if "arch_settings" in data:
            raise ValueError("arch_settings: unknown key")
        data = dict(data)
        tables = {}
        for name, arch in registry().items():
            table = data.pop(name, {})
            if not isinstance(table, dict):
                raise ValueError(f"{name}: expected a table of {name}'s settings (got {table!r})")
            try:
                tables[name] = arch.settings.model_validate(table)
            except ValidationError as e:
                raise ValueError(_fmt(e, name, sep=".")) from None
        data["arch_settings"] = tables
        return data

    @field_validator("expect")
    @classmethod
    def _expect_known(cls, v: dict) -> dict:
        for name in v:
            if name not in registry():
                raise ValueError(f"expect.{name}: unknown architecture (registered: {', '.join(registry())})")
        return v

    def settings_for(self, arch: str):
        """``arch``'s typed settings (its ``[<arch>]`` table, defaults filled in)."""
        return self.arch_settings[arch]

    def points(self) -> list[tuple[str, list[str]]]:
        """What ``chatsim sweep`` runs: each sweep value, or each variant."""
        if self.sweep is not None:
            short = self.sweep.key.rsplit(".", 1)[-1]
            return [(f"{short}={v}", [f"{self.sweep.key}={v}"]) for v in self.sweep.values]
        return [(v.name, list(v.set)) for v in self.variants]

    def run_config(self, arch: str) -> RunConfig:
        """What one run under ``arch`` takes: typed settings (``sim`` never
        imports ``scenarios``), with each channel's members resolved."""
        return RunConfig(topology=self.topology, workload=self.workload, network=self.network,
                         clients=self.clients, members=self.topology.members(), arch_name=arch,
                         arch=self.settings_for(arch))

    def faults_for(self, arch: str) -> list[Fault]:
        return [f for f in self.faults if f.arch in (arch, "both", "all")]

    def expected(self, arch: str) -> dict[str, bool]:
        return (self.expect.get(arch) or Expect()).as_dict()


def _fmt(e: ValidationError, where: str, sep: str = ": ") -> str:
    err = e.errors()[0]
    key = ".".join(str(x) for x in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    value = err.get("input")
    shown = ("" if isinstance(value, dict) or err["type"] in ("missing", "value_error")
             else f" (got {value!r})")
    more = f" (+{len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    if not key:  # a whole-model check: its message names the key itself
        return f"{where}: {msg}{more}"
    return f"{where}{sep}{key}: {msg}{shown}{more}"


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
    archs = registry()
    top = (set(Scenario.model_fields) - {"source", "arch_settings"}) | set(archs)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        path = key.split(".")
        if path[0] in top:
            paths = [path]
        else:  # an architecture's setting named without its prefix: every design that has it
            paths = [[name, *path] for name, arch in archs.items() if path[0] in arch.settings.model_fields]
            if not paths:
                raise ConfigError(f"--set {key}: unknown setting (top-level keys: {', '.join(sorted(top))})")
        if path[0] in ("faults", "expect", "name", "sweep", "variants") or (path[0] == "topology" and path[1:2] != ["team"]):
            raise ConfigError(f"--set {key}: {'.'.join(path[:2])} cannot be overridden from the command line")
        value = _parse_value(text.strip())
        for full in paths:
            node = raw
            for part in full[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {key}: {part} is not a table")
            node[full[-1]] = value
    return raw
