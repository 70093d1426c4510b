"""The team: its size, the boot payloads it implies, and its directory.

Payload model (issue 14; docs/fidelity.md checks it against Slack's figures)
-----------------------------------------------------------------------------
Both boots are built from what they carry, term by term::

    rtm.start = BOOT_BASE                         self, team, prefs, bots, emoji
              + users · USER_OBJECT               every user, full profile
              + channels · CHANNEL_OBJECT         every public channel
              + own member ids · MEMBER_ID        members of the user's channels

    Flannel   = BOOT_BASE
              + own channels · CHANNEL_OBJECT     only the user's channels
              + own member ids · MEMBER_ID        (for mentions, presence)
              + FLANNEL_PROFILES · USER_OBJECT    the users the first view shows;
                                                  the rest are fetched lazily

Membership: a user is in ``CHANNELS_PER_USER`` channels, one of them the
team-wide #general; a team has ``users/20`` channels (unless given), so a
channel has ``CHANNELS_PER_USER · users / channels`` members on average.
rtm.start grows with the team (every profile: ~1 KB each, so ~100 MB at
100k users); Flannel's payload grows only with the member lists of the
user's own channels, #general chief among them. The sizes of the objects
are those of Slack's Web API JSON (a user object with its profile and
image URLs is ~1 KB).

Several teams
-------------
A run may simulate several teams (``topology.teams``). ``Teams`` is the
shared, read-only answer to "which team is this user in, and how big is
it": each team has its own ``TeamSize`` (so its own payloads), and a user's
team follows from its client group. Users are named ``client-<k>`` in group
order, so the lookup is a bisection over the groups' last indexes rather
than a map holding every user. A single-team run is the team ``T1``.

The *directory* is the team state that boot consistency is about: a few
directory channels and their members (among the simulated clients), changed
by join/leave events, each with the next version number. A client boots from
a snapshot (version v) and applies the events after v; at the end its view
must equal the truth.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass

BOOT_BASE_BYTES = 20_000  # self, team, prefs, bots, custom emoji index
USER_OBJECT_BYTES = 900  # a user object: id, names, tz, flags, profile fields, image URLs
PROFILE_BYTES = USER_OBJECT_BYTES  # what a lazy profile fetch brings
CHANNEL_OBJECT_BYTES = 300  # id, name, created, creator, topic, purpose, flags, counts
MEMBER_ID_BYTES = 12  # '"U01ABCDEF",'
CHANNELS_PER_USER = 20
FLANNEL_PROFILES = 100  # profiles in Flannel's initial payload (the rest on demand)


@dataclass(frozen=True)
class TeamSize:
    users: int
    channels: int
    members_per_channel: int

    @classmethod
    def derive(cls, users: int, channels: int = 0, members: int = 0) -> "TeamSize":
        """``users/20`` channels of ``CHANNELS_PER_USER·users/channels``
        members each, unless given."""
        channels = channels or max(1, users // 20)
        return cls(users, channels, members or max(2, min(users, CHANNELS_PER_USER * users // channels)))

    def channels_per_user(self) -> int:
        return min(self.channels, math.ceil(self.channels * self.members_per_channel / max(1, self.users)))

    def own_member_ids(self) -> int:
        """Member ids of one user's channels: #general (everyone) and the rest."""
        return self.users + max(0, self.channels_per_user() - 1) * self.members_per_channel

    def rtm_start_bytes(self) -> int:
        return (BOOT_BASE_BYTES + self.users * USER_OBJECT_BYTES + self.channels * CHANNEL_OBJECT_BYTES
                + self.own_member_ids() * MEMBER_ID_BYTES)

    def flannel_boot_bytes(self) -> int:
        return (BOOT_BASE_BYTES + self.channels_per_user() * CHANNEL_OBJECT_BYTES
                + self.own_member_ids() * MEMBER_ID_BYTES + min(self.users, FLANNEL_PROFILES) * USER_OBJECT_BYTES)


@dataclass(frozen=True)
class Teams:
    """Every team of a run: ``sizes`` (team id → size, in declaration
    order), the team of each client index range (``last[i]`` is the
    1-based index of the last client of ``owner[i]``'s range) and the team
    whose directory the run churns (None: no directory)."""

    sizes: dict[str, TeamSize]
    last: tuple[int, ...]
    owner: tuple[str, ...]
    directory_team: str | None = None

    @classmethod
    def single(cls, size: TeamSize, clients: int, team: str = "T1", directory: bool = False) -> "Teams":
        return cls({team: size}, (clients,), (team,), team if directory else None)

    def of(self, user: str) -> str | None:
        """The team of ``user`` (``client-<k>``), or None for a name that is no client."""
        head, _, k = user.rpartition("-")
        if head != "client" or not k.isdigit():
            return None
        i = bisect_left(self.last, int(k))
        return self.owner[i] if 0 < int(k) and i < len(self.last) else None

    def size(self, team: str | None) -> TeamSize:
        """``team``'s size (the first team's for None: a request that names none)."""
        return self.sizes[team] if team in self.sizes else next(iter(self.sizes.values()))


@dataclass(frozen=True, slots=True)
class DirEvent:
    """A directory change: ``user`` joined or left ``channel``; ``version`` is the new version."""

    version: int
    op: str  # join | leave
    channel: str
    user: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    channels: tuple[tuple[str, tuple[str, ...]], ...]

    def as_dict(self) -> dict[str, set[str]]:
        return {ch: set(ms) for ch, ms in self.channels}


def snapshot_of(version: int, channels: dict[str, set[str]]) -> Snapshot:
    return Snapshot(version, tuple((ch, tuple(sorted(ms))) for ch, ms in sorted(channels.items())))


def apply(channels: dict[str, set[str]], ev: DirEvent) -> None:
    members = channels.setdefault(ev.channel, set())
    if ev.op == "join":
        members.add(ev.user)
    else:
        members.discard(ev.user)
