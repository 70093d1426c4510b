"""Typed settings every architecture shares, and the typed run configuration.

These are the models the scenario loader validates TOML tables and ``--set``
overrides against; the simulation then receives them as they are (frozen,
validated once) and never as dicts: a node reads ``settings.http_timeout``,
not ``cfg["clients"]["http_timeout"]``. An architecture's own settings live
in its package (``sim/architectures/<name>/settings.py``) and derive from
``Strict`` too.

``RunConfig`` is what one run takes: the shared settings, the resolved
channel membership and the chosen architecture's settings. ``as_json`` is the
plain-data form written into the history header.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any, Literal, get_args

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer,
                      model_validator)

REGIONS = ("us-east", "eu-west", "us-west", "sa-east", "ap-northeast", "ap-southeast")
Region = Literal[REGIONS]  # type: ignore[valid-type]


class Strict(BaseModel):
    """Frozen, no unknown keys, finite numbers: a typo in a scenario file is an
    error naming the key, and ``inf`` / ``nan`` are refused everywhere (an
    infinite duration never ends; a NaN skew writes ``"ts": "nan"``). Every
    numeric field also carries an upper bound (``le``/``lt``), listed in
    docs/scenarios.md (generated from these models by ``docs/settings_table.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, v: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1 for a number: `rate = true` would run at 1.0
        field = cls.model_fields.get(info.field_name)
        if isinstance(v, bool) and field is not None:
            kinds = get_args(field.annotation) or (field.annotation,)
            if bool not in kinds and (int in kinds or float in kinds):
                raise ValueError(f"expected a number, not {str(v).lower()}")
        return v


# Names that become file names, table titles, plot labels and Markdown: a
# letter or digit, then letters, digits and . _ - (variants also + and =, as in
# "jitter+throttle" and sweep points "users=100"). Everything that prints them
# still escapes them; the set just keeps them out of trouble in the first place.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VARIANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,63}")
CHANNEL_RE = re.compile(r"[A-Za-z0-9#][A-Za-z0-9._#-]{0,79}")


def _matching(pattern: re.Pattern, what: str, allowed: str):
    def check(v: str) -> str:
        if not pattern.fullmatch(v):
            raise ValueError(f"{what} {v[:80]!r} is not allowed: {allowed}")
        return v
    return AfterValidator(check)


_SAFE = "a letter or digit, then letters, digits and {} (at most {} characters)"
Name = Annotated[str, _matching(NAME_RE, "name", _SAFE.format(". _ -", 64))]
VariantName = Annotated[str, _matching(VARIANT_RE, "name", _SAFE.format(". _ - + =", 64))]
ChannelName = Annotated[str, _matching(CHANNEL_RE, "channel name", "a letter, digit or #, then letters, digits "
                                       "and . _ # - (at most 80 characters)")]

# The total size a run may have unless the user says --allow-large: past these,
# set-up time and memory grow to minutes and gigabytes (docs/scenarios.md).
MAX_CLIENTS = 20_000
MAX_CHANNELS = 20_000
MAX_MEMBERSHIPS = 1_000_000  # sum of channel sizes
MAX_SENDS = 2_000_000  # expected sends: rate × clients × duration


class ClientGroup(Strict):
    region: Region = "us-east"
    kind: Literal["desktop", "mobile"] = "desktop"
    count: int = Field(1, ge=1, le=100_000)
    team: Name | None = Field(None, description="with topology.teams: the team these clients belong to")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # ``team`` is left out when unset, so single-team histories keep their header bytes
        out = handler(self)
        if self.team is None:
            out.pop("team", None)
        return out


class Team(Strict):
    users: int = Field(0, ge=0, le=1_000_000, description="team size for boot payloads (0: the simulated clients)")
    channels: int = Field(0, ge=0, le=1_000_000, description="channels in the team (0: the simulated channels)")
    members_per_channel: int = Field(0, ge=0, le=1_000_000)
    directory: int = Field(0, ge=0, le=10_000,
                           description="directory channels whose membership churns (boot consistency)")

    @model_validator(mode="after")
    def _relations(self):
        if self.users and self.members_per_channel > self.users:
            raise ValueError(f"team.members_per_channel ({self.members_per_channel}) exceeds team.users "
                             f"({self.users})")
        return self


class TeamSpec(Team):
    """One of several teams in a run (``[topology.teams.<name>]``). The
    sizes are as for ``topology.team``, counted over this team's clients and
    channels when 0."""

    auto_channels: int = Field(0, ge=0, le=1_000_000,
                               description="also channels <team>-A0..; the team's k-th client is in A<k mod n>")


TEAM_TOKEN = "team:"  # a channel member "team:NAME" stands for every client of that team


class Topology(Strict):
    clients: list[ClientGroup] = Field(default_factory=lambda: [ClientGroup(count=4)], min_length=1,
                                       max_length=1000, description="client groups, named client-1.. in order")
    # channel name -> member client names; "*" means every client
    channels: dict[ChannelName, list[str]] = Field(default_factory=lambda: {"C1": ["*"]},
                                                   description='channel name → member clients ("*": every one)')
    auto_channels: int = Field(0, ge=0, le=1_000_000, description="also channels A0..A<n-1>; client-k is in A<k mod n>")
    team: Team = Team()
    teams: dict[Name, TeamSpec] = Field(default_factory=dict, max_length=1000,
                                        description="several teams: name → size; each client group names its "
                                                    "team (docs/boot.md)")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # ``teams`` is left out when empty, so single-team histories keep their header bytes;
        # with ``teams``, ``team`` (unset, exclusive with it) is left out so the dump loads back
        out = handler(self)
        out.pop("team" if self.teams else "teams", None)
        return out

    def client_names(self) -> list[str]:
        n = sum(g.count for g in self.clients)
        # interned: the names are held by many structures (members, sessions)
        return [sys.intern(f"client-{i}") for i in range(1, n + 1)]

    def team_clients(self) -> dict[str, list[str]]:
        """Each team's clients in client order (one team ``T1`` of every client
        when ``teams`` is not given)."""
        names = self.client_names()
        if not self.teams:
            return {"T1": names}
        out: dict[str, list[str]] = {t: [] for t in self.teams}
        i = 0
        for g in self.clients:
            out.setdefault(g.team, []).extend(names[i:i + g.count])
            i += g.count
        return out

    def members(self) -> dict[str, list[str]]:
        names = self.client_names()
        of_team = self.team_clients() if self.teams else {}
        out = {}
        for ch, ms in self.channels.items():
            if ms == ["*"]:
                out[ch] = list(names)
            elif of_team:
                out[ch] = [m for t in ms for m in (of_team.get(t[len(TEAM_TOKEN):], ())
                                                   if t.startswith(TEAM_TOKEN) else (t,))]
            else:
                out[ch] = list(ms)
        n_auto = self.auto_channels
        for j in range(n_auto):
            # client-k is in A<k mod n>: every n-th name from client-j (client-n for A0);
            # a slice, not a scan of every name per channel (quadratic at 100k clients)
            out[f"A{j}"] = names[(j or n_auto) - 1::n_auto]
        for t, spec in self.teams.items():
            team_names, n = of_team[t], spec.auto_channels
            for j in range(n):
                out[f"{t}-A{j}"] = team_names[(j or n) - 1::n]
        return out

    def channel_teams(self) -> dict[str, str]:
        """The team each channel belongs to (``T1`` for all without ``teams``)."""
        if not self.teams:
            return {ch: "T1" for ch in self.members()}
        team_of = {c: t for t, cs in self.team_clients().items() for c in cs}
        return {ch: team_of[ms[0]] for ch, ms in self.members().items()}

    @model_validator(mode="after")
    def _members_exist(self):
        """Every member is a client; and the run does something: at least one
        channel, none of them empty (a run with nobody to send to would report
        "invariants hold" about nothing — refused rather than vacuously passed)."""
        names = set(self.client_names())
        if self.teams:
            self._teams_consistent()
        elif any(g.team is not None for g in self.clients):
            team = next(g.team for g in self.clients if g.team is not None)
            raise ValueError(f"a client group names team {team!r} but topology.teams declares no teams")
        if not self.channels and not self.auto_channels and not any(t.auto_channels for t in self.teams.values()):
            raise ValueError("no channels: a run needs at least one channel with members "
                             "(topology.channels or topology.auto_channels)")
        if self.auto_channels > len(names):
            raise ValueError(f"auto_channels ({self.auto_channels}) exceeds the clients ({len(names)}): "
                             f"some channels would have no members")
        for ch, ms in self.channels.items():
            if not ms:
                raise ValueError(f"channel {ch}: no members (a channel nobody is in sends and receives nothing)")
            if ms == ["*"]:
                continue
            if len(set(ms)) < len(ms):  # a member twice would be in the history header twice
                twice = next(m for m in ms if ms.count(m) > 1)
                raise ValueError(f"channel {ch}: member {twice!r} is listed twice")
            for m in ms:
                if self.teams and m.startswith(TEAM_TOKEN):
                    continue  # checked by _teams_consistent
                if m not in names:
                    raise ValueError(f"channel {ch}: member {m!r} is not a client (clients are client-1.."
                                     f"client-{len(names)})")
        return self

    def _teams_consistent(self) -> None:
        """Several teams: every client group names a declared team, every
        team has clients, and every channel's members come from one team."""
        if "team" in self.model_fields_set:
            raise ValueError("topology.team and topology.teams are exclusive: give each team's size under "
                             "topology.teams.<name>")
        if self.auto_channels:
            raise ValueError("topology.auto_channels mixes teams: give topology.teams.<name>.auto_channels instead")
        for g in self.clients:
            if g.team is None:
                raise ValueError(f"with topology.teams every client group names its team (a {g.region} group "
                                 f"of {g.count} does not; teams: {', '.join(self.teams)})")
            if g.team not in self.teams:
                raise ValueError(f"client group team {g.team!r} is not declared (teams: {', '.join(self.teams)})")
        of_team = self.team_clients()
        for t, cs in of_team.items():
            if not cs:
                raise ValueError(f"team {t} has no clients (name it in a topology.clients group)")
            if self.teams[t].auto_channels > len(cs):
                raise ValueError(f"team {t}: auto_channels ({self.teams[t].auto_channels}) exceeds its clients "
                                 f"({len(cs)}): some channels would have no members")
        team_of = {c: t for t, cs in of_team.items() for c in cs}
        auto = {f"{t}-A{j}" for t, spec in self.teams.items() for j in range(spec.auto_channels)}
        for ch, ms in self.channels.items():
            if ch in auto:
                raise ValueError(f"channel {ch}: also an auto channel of its team (rename it)")
            if ms == ["*"]:
                raise ValueError(f'channel {ch}: "*" spans every team, but a channel belongs to one team: '
                                 f'name its members or "team:NAME" (every client of team NAME)')
            teams = []
            for m in ms:
                if m.startswith(TEAM_TOKEN):
                    t = m[len(TEAM_TOKEN):]
                    if t not in self.teams:
                        raise ValueError(f"channel {ch}: member {m!r} names no declared team "
                                         f"(teams: {', '.join(self.teams)})")
                else:
                    t = team_of.get(m)
                    if t is None:
                        raise ValueError(f"channel {ch}: member {m!r} is not a client (clients are client-1.."
                                         f"client-{len(team_of)})")
                if t not in teams:
                    teams.append(t)
            if len(teams) > 1:
                raise ValueError(f"channel {ch}: members from teams {', '.join(teams)}; a channel belongs to one "
                                 f"team")
        with_dir = [t for t, spec in self.teams.items() if spec.directory]
        if len(with_dir) > 1:
            raise ValueError(f"teams {', '.join(with_dir)} each have a directory: at most one team per run may "
                             f"have one (boot-consistency compares every client's view with one directory)")

    def membership_count(self) -> int:
        """The sum of channel sizes, without building the member lists."""
        clients = sum(g.count for g in self.clients)
        of_team = {t: len(cs) for t, cs in self.team_clients().items()} if self.teams else {}
        n = sum(clients if ms == ["*"] else sum(of_team.get(m[len(TEAM_TOKEN):], 1)
                                               if m.startswith(TEAM_TOKEN) else 1 for m in ms)
                for ms in self.channels.values())
        n += clients if self.auto_channels else 0
        return n + sum(of_team[t] for t, spec in self.teams.items() if spec.auto_channels)


class Workload(Strict):
    rate: float = Field(0.5, gt=0, le=100, description="sends per second per client")
    duration: float = Field(30.0, gt=0, le=3600, description="seconds of workload")
    # at least 1 ms: the settle phase is a run of the kernel that must end later than it starts
    settle: float = Field(15.0, ge=0.001, le=600, description="seconds after healing, before final reads")
    text_bytes: int = Field(120, ge=1, le=40_000, description="message size (Slack's limit is 40,000 characters)")
    presence_rate: float = Field(0.05, ge=0, le=10, description="presence changes per second per client")
    typing_rate: float = Field(0.2, ge=0, le=10, description="typing indicators per second per client")
    directory_rate: float = Field(0.0, ge=0, le=10, description="directory joins/leaves per second per client")


class NetworkSettings(Strict):
    loss: float = Field(0.0, ge=0, lt=1)
    dup: float = Field(0.0, ge=0, lt=1)
    jitter_sigma: float = Field(0.15, ge=0, le=3, description="lognormal sigma of one-way delay")
    keepalive: float = Field(10.0, gt=0, le=600)
    rto_min: float = Field(0.2, gt=0, le=60)
    connect_timeout: float = Field(3.0, gt=0, le=120)


class ClientSettings(Strict):
    ack_timeout: float = Field(5.0, gt=0, le=300, description="WebSocket sends: wait for the channel server's ack")
    http_timeout: float = Field(10.0, gt=0, le=300, description="HTTP sends: chat.postMessage client timeout")
    max_attempts: int = Field(5, ge=1, le=100, description="HTTP sends: attempts per send before giving up")
    backoff_base: float = Field(0.5, gt=0, le=60)
    backoff_cap: float = Field(8.0, gt=0, le=600)
    jitter: bool = True
    mobile_loss: float = Field(0.0, ge=0, lt=1, description="access-link loss of mobile clients")
    mobile_latency: float = Field(0.03, ge=0, le=10, description="extra one-way latency of mobile clients")
    parse_desktop: float = Field(20e6, gt=0, le=1e12, description="boot payload parse rate, bytes/s")
    parse_mobile: float = Field(4e6, gt=0, le=1e12)
    read_timeout: float = Field(10.0, gt=0, le=300)
    bandwidth_desktop: float = Field(6.25e6, gt=0, le=1e12, description="download bytes/s (50 Mbit/s)")
    bandwidth_mobile: float = Field(1.25e6, gt=0, le=1e12, description="download bytes/s (10 Mbit/s)")


class HealthSettings(Strict):
    """How discovery finds a dead channel server (Consul-style active checks)."""

    interval: float = Field(5.0, ge=0.01, le=600, description="seconds between checks of each channel server")
    timeout: float = Field(1.0, gt=0, le=600, description="a check not answered within this fails")
    failures: int = Field(3, ge=1, le=100, description="consecutive failed checks before the server leaves the ring")
    passes: int = Field(1, ge=1, le=100, description="consecutive passed checks before it rejoins")


class RunConfig(BaseModel):
    """One run's typed configuration: shared settings, members, and the
    chosen architecture's own settings (``arch``)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    topology: Topology
    workload: Workload
    network: NetworkSettings
    clients: ClientSettings
    members: dict[str, list[str]]
    arch_name: str
    arch: Any  # the architecture's settings model instance

    def client_names(self) -> list[str]:
        return self.topology.client_names()

    def as_json(self) -> dict[str, Any]:
        """Plain data for the history header: the shared tables and the
        architecture's settings under its name."""
        out = {k: getattr(self, k).model_dump(mode="json") for k in ("topology", "workload", "network", "clients")}
        out["members"] = self.members
        out[self.arch_name] = self.arch.model_dump(mode="json")
        return out
