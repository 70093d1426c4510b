"""The team: its size, the boot payloads it implies, and its directory.

Payload model (DESIGN §5, issue 7)::

    rtm.start bytes = users·profile + channels·(info + members·id)

with compact user objects (``PROFILE_BYTES``) so that a 100k-user team whose
membership grows with its size (channels = users/20, members per channel =
users/40) boots with ≈ 118 MB, the member lists (quadratic in the team size)
dominating from about 10k users on. Flannel's
initial payload is the user's own channels and a handful of profiles; the
rest is fetched lazily.

The *directory* is the team state that boot consistency is about: a few
directory channels and their members (among the simulated clients), changed
by join/leave events, each with the next version number. A client boots from
a snapshot (version v) and applies the events after v; at the end its view
must equal the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PROFILE_BYTES = 50  # a compact user object: id, name, flags
CHANNEL_INFO_BYTES = 100
MEMBER_ID_BYTES = 9  # "U01ABCDEF"
FLANNEL_BASE_BYTES = 2000
FLANNEL_PROFILES = 50  # profiles in the initial payload (the rest on demand)


@dataclass(frozen=True)
class TeamSize:
    users: int
    channels: int
    members_per_channel: int

    @classmethod
    def derive(cls, users: int, channels: int = 0, members: int = 0) -> "TeamSize":
        """Membership grows with size unless channels/members are given."""
        return cls(users, channels or max(1, users // 20), members or max(2, min(users, users // 40)))

    def rtm_start_bytes(self) -> int:
        return self.users * PROFILE_BYTES + self.channels * (CHANNEL_INFO_BYTES
                                                             + self.members_per_channel * MEMBER_ID_BYTES)

    def channels_per_user(self) -> int:
        return min(self.channels, math.ceil(self.channels * self.members_per_channel / max(1, self.users)))

    def flannel_boot_bytes(self) -> int:
        return (FLANNEL_BASE_BYTES + self.channels_per_user() * CHANNEL_INFO_BYTES
                + min(self.users, FLANNEL_PROFILES) * PROFILE_BYTES)


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
