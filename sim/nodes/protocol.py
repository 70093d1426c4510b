"""The values that travel between nodes. Frozen and slotted: a message that
one node holds is never mutated by another.

Sizes (bytes on the wire) are estimates used by the journal and the load
figures: a JSON envelope plus the text.
"""

from __future__ import annotations

from dataclasses import dataclass

ENVELOPE = 80


def fmt_ts(t: float) -> str:
    """Slack-style ts: seconds with microseconds, as a string."""
    return f"{t:.6f}"


@dataclass(frozen=True, slots=True)
class Post:
    """A client's send: over the WebSocket (old) or chat.postMessage (new)."""

    channel: str
    msg: str  # client_msg_id
    text: str
    sender: str

    @property
    def size(self) -> int:
        return ENVELOPE + len(self.text)


@dataclass(frozen=True, slots=True)
class Chat:
    """A message with its channel order: what is broadcast and stored."""

    channel: str
    msg: str
    text: str
    sender: str
    ts: str
    seq: int = 0  # per-channel sequence (new: from the log) for gap detection

    @property
    def size(self) -> int:
        return ENVELOPE + 40 + len(self.text)


@dataclass(frozen=True, slots=True)
class Ack:
    channel: str
    msg: str
    ts: str


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame on a WebSocket: who is connecting."""

    user: str
    channels: tuple[str, ...]
    dir_version: int = -1  # the directory version the client booted with (replay after it)


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """Presence or typing: best effort, never stored."""

    kind: str  # presence | typing
    channel: str | None
    user: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A gateway asks a channel server for a channel's broadcasts."""

    gateway: str
    channels: tuple[str, ...]
