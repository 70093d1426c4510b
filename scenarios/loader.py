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

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from sim import config as C
from sim.architectures import registry
from sim.config import ClientSettings, Name, NetworkSettings, RunConfig, Strict, Topology, VariantName, Workload
from sim.errors import ChatsimError, ConfigError

BUILTIN_DIR = Path(__file__).parent / "builtin"
_BUILTIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_FILE_BYTES = 1 << 20  # a scenario is a page of TOML; past 1 MiB it is not one


class Fault(Strict):
    kind: str
    arch: str = Field("both", description="the architecture it applies to (a registered name), or \"both\" / \"all\"")
    at: float | None = Field(None, ge=0, le=3600)
    step: str | None = Field(None, max_length=64)
    node: str = Field("*", max_length=200)
    nth: int = Field(1, ge=1, le=1_000_000)
    duration: float | None = Field(None, gt=0, le=3600)
    targets: list[str] = Field([], max_length=1000)
    a: list[str] = Field([], max_length=1000)
    b: list[str] = Field([], max_length=1000)
    oneway: bool = False
    latency: float = Field(0.0, ge=0, le=60)
    loss: float = Field(0.0, ge=0, le=1)
    dup: float = Field(0.0, ge=0, lt=1)
    skew: float = Field(0.0, ge=-3600, le=3600)
    silent: bool = False
    # component faults, e.g. kafka-leader-crash's partition; names and types
    # are checked against the kind's declared params when the scenario is loaded
    params: dict[str, int | float | str | bool] = Field({}, max_length=16)

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



def _verdict(v: Any) -> Any:
    # no coercion: "yes", "false" or 1 is a typo to report, not a verdict to guess
    if isinstance(v, bool) or v == "maybe":
        return v
    raise ValueError(f'expected true, false or "maybe" (got {v!r})')


# "maybe": a known weakness that shows on some seeds only
Verdict = Annotated[bool | Literal["maybe"], BeforeValidator(_verdict)]


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
    key: str = Field(max_length=200, description="a --set key, e.g. topology.team.users")
    # bool first and strict: true was read as 1.0 (a rate of 1, a point named "=1.0")
    values: list[StrictBool | StrictInt | StrictFloat | str] = Field(min_length=2, max_length=100)

    @field_validator("values")
    @classmethod
    def _distinct(cls, v: list) -> list:
        # 1 and 1.0 are one point (the same run twice under two names)
        same = {(float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)) for x in v}
        if len(same) < len(v) or len({str(x) for x in v}) < len(v):
            raise ValueError("sweep values repeat (each point gets its own output directory)")
        return v

    def numeric(self) -> bool:
        """Whether every value is a number (then the sweep has a curve and fits)."""
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in self.values)


class Variant(Strict):
    name: VariantName
    set: list[str] = Field([], max_length=100)


class Scenario(Strict):
    name: Name
    description: str = Field(max_length=2000)
    topology: Topology = Topology()
    workload: Workload = Workload()
    faults: list[Fault] = []
    network: NetworkSettings = NetworkSettings()
    clients: ClientSettings = ClientSettings()
    # the [<arch>] tables, validated by each registered architecture's settings model
    arch_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)
    expect: dict[str, Expect] = {}
    sweep: Sweep | None = None
    variants: list[Variant] = Field([], max_length=100)
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

    @field_validator("variants")
    @classmethod
    def _variants_distinct(cls, v: list[Variant]) -> list[Variant]:
        names = [x.name for x in v]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"two variants are named {n!r} (each gets its own output directory)")
        return v

    @model_validator(mode="after")
    def _sweep_or_variants(self):
        if self.sweep is not None and self.variants:  # sweep would win and the variants never run
            raise ValueError("give [sweep] or [[variants]], not both")
        return self

    @model_validator(mode="after")
    def _sizes_and_faults(self, info: ValidationInfo):
        """The run's total size (unless ``allow_large`` is in the validation
        context: ``--allow-large``) and faults that can fire at all."""
        if not (info.context or {}).get("allow_large"):
            check_size(self.topology, self.workload)
        for i, f in enumerate(self.faults):
            if f.at is not None and f.at >= self.workload.duration:
                raise ValueError(f"faults.{i}: at = {f.at} is not before the workload ends "
                                 f"(duration = {self.workload.duration}): it would never fire")
        return self

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
            shown = [json.dumps(v) if isinstance(v, bool) else str(v) for v in self.sweep.values]  # TOML's true
            return [(f"{short}={v}", [f"{self.sweep.key}={v}"]) for v in shown]
        return [(v.name, list(v.set)) for v in self.variants]

    def run_config(self, arch: str) -> RunConfig:
        """What one run under ``arch`` takes: typed settings (``sim`` never
        imports ``scenarios``), with each channel's members resolved."""
        return RunConfig(topology=self.topology, workload=self.workload, network=self.network,
                         clients=self.clients, members=self.topology.members(), arch_name=arch,
                         arch=self.settings_for(arch))

    def faults_for(self, arch: str) -> list[Fault]:
        return [f for f in self.faults if f.arch in (arch, "both", "all")]

    def fault_specs(self, arch: str) -> list:
        """``faults_for(arch)`` as the runner's ``FaultSpec`` values."""
        from sim.faults import FaultSpec

        return [FaultSpec(**{k: (tuple(v) if isinstance(v, list) else v)
                             for k, v in f.model_dump().items() if k != "arch"})
                for f in self.faults_for(arch)]

    def check_fault_kinds(self) -> None:
        """Each fault's kind, step and params against every architecture it
        applies to (cheap: no system is built). A fault aimed at one design
        must be that design's kind; one aimed at all must be known to each."""
        from sim.runner import check_specs

        for arch in registry():
            try:
                check_specs(registry()[arch], self.fault_specs(arch), self.run_config(arch))
            except ChatsimError as e:
                raise ConfigError(f"{self.source}: {e}") from None

    def check_wiring(self, arch: str) -> None:
        """Build ``arch``'s system without running it and resolve every fault
        target against its nodes (``sim.runner.dry_wire``): a missing target
        is found before anything runs or is written, naming the file."""
        from sim.runner import dry_wire

        try:
            dry_wire(self.run_config(arch), self.fault_specs(arch))
        except ChatsimError as e:
            raise ConfigError(f"{self.source}: {e}") from None

    def expected(self, arch: str) -> dict[str, bool]:
        return (self.expect.get(arch) or Expect()).as_dict()


def check_size(topology: Topology, workload: Workload) -> None:
    """Refuse a run bigger than ``sim.config``'s caps (clients, channels,
    memberships, expected sends): set-up and memory grow past them to minutes
    and gigabytes. ``--allow-large`` (validation context ``allow_large``) skips it."""
    clients = sum(g.count for g in topology.clients)
    channels = len(topology.channels) + topology.auto_channels + sum(t.auto_channels for t in topology.teams.values())
    memberships = topology.membership_count()
    sends = workload.rate * clients * workload.duration
    for what, n, cap in (("clients", clients, C.MAX_CLIENTS), ("channels", channels, C.MAX_CHANNELS),
                         ("channel memberships", memberships, C.MAX_MEMBERSHIPS),
                         ("expected sends (rate × clients × duration)", round(sends), C.MAX_SENDS)):
        if n > cap:
            raise ValueError(f"{n:,} {what} exceed the cap of {cap:,} (give --allow-large to run it anyway)")


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


def _validate(raw: dict[str, Any], where: str, allow_large: bool = False) -> Scenario:
    try:
        scn = Scenario.model_validate({**raw, "source": where}, context={"allow_large": allow_large})
    except ValidationError as e:
        raise ConfigError(_fmt(e, where)) from None
    scn.check_fault_kinds()
    return scn


def list_builtin() -> list[tuple[str, str]]:
    out = []
    for p in sorted(BUILTIN_DIR.glob("*.toml")):
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
        out.append((raw.get("name", p.stem), raw.get("description", "")))
    return out


def read_text(p: Path, what: str = "scenario", max_bytes: int = MAX_FILE_BYTES, kind: str = ".toml") -> str:
    """A regular file's text: at most ``max_bytes``, UTF-8, or a one-line error
    naming the file as a ``what`` (which must be a ``kind`` file).

    Opened first and checked on the open descriptor (``fstat``), so a FIFO,
    a device (``/dev/zero``) or a directory is refused before a byte is read,
    and the read itself stops one byte past the cap."""
    import os
    import stat

    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a directory naming only the fd
        os.close(fd)
        raise ConfigError(f"{p}: not a regular file (a {what} must be a {kind} file)")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ConfigError(f"{p.name}: larger than {max_bytes:,} bytes: not a {what} file")
    try:
        # utf-8-sig: a byte-order mark (some Windows editors write one) is not part of the TOML
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p.name}: not UTF-8 (byte {e.start}: {data[e.start:e.start + 1]!r}); "
                          f"save the file as UTF-8") from None


def load_raw(ref: str) -> tuple[dict[str, Any], str]:
    """A built-in name or a path to a TOML file → (raw dict, where)."""
    if not ref.strip():  # Path("") is the working directory
        raise ConfigError("empty scenario name (give a built-in name or a path to a .toml file)")
    p = Path(ref)
    try:
        is_file, exists = p.is_file(), p.exists()
    except OSError as e:  # a name too long for the file system
        raise ConfigError(f"scenario {ref[:80]!r}...: cannot read: {e.strerror}") from None
    if p.suffix != ".toml" and not is_file:
        # a built-in, even when a directory of that name is in the way (`--out steady` made one);
        # a name is one plain word, so `../x` never reaches outside the built-ins
        builtin = BUILTIN_DIR / f"{ref}.toml"
        if _BUILTIN_NAME.fullmatch(ref) and builtin.is_file():
            p = builtin
        elif not exists:
            names = ", ".join(n for n, _ in list_builtin())
            raise ConfigError(f"unknown scenario {ref!r} (built-in: {names}; or give a path to a .toml file)")
    text = read_text(p)
    try:
        return tomllib.loads(text), p.name
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p.name}: malformed TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{p.name}: malformed TOML: nested too deeply") from None
    except ValueError as e:  # an integer past Python's digit limit (int() raises, not tomllib)
        raise ConfigError(f"{p.name}: malformed TOML: {_digits(e)}") from None


def _digits(e: ValueError) -> str:
    return str(e).split(";")[0]


def load_scenario(ref: str, overrides: list[str] = (), allow_large: bool = False) -> Scenario:
    raw, where = load_raw(ref)
    scenario = _validate(raw, where, allow_large)
    if overrides:
        scenario = _validate(apply_overrides(raw, overrides, where), where + " with --set", allow_large)
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
        if path[0] in ("faults", "expect", "name", "sweep", "variants") or (path[0] == "topology"
                                                                                    and path[1:2] not in (["team"], ["teams"])):
            raise ConfigError(f"--set {key}: {'.'.join(path[:2])} cannot be overridden from the command line")
        try:
            value = _parse_value(text.strip())
        except ValueError as e:  # a number past Python's digit limit
            raise ConfigError(f"--set {key}: {_digits(e)}") from None
        except RecursionError:
            raise ConfigError(f"--set {key}: nested too deeply") from None
        for full in paths:
            node = raw
            for part in full[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {key}: {part} is not a table")
            node[full[-1]] = value
    return raw
