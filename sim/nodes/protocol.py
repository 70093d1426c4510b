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


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A channel server's answer to ``Subscribe``: from now on these channels'
    broadcasts reach the gateway."""

    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Welcome:
    """A gateway's answer to a client's ``Hello`` once every channel of the
    client is subscribed upstream (Slack's RTM ``hello`` event): only then is
    the client connected, so nothing broadcast after that point can miss it."""


# -- API errors and their meaning ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class ApiError:
    """One entry of an architecture's API error table (Maelstrom's
    ``errors.edn``): whether an answer with this error means the request
    *definitely* had no effect (the client records ``fail`` when every
    attempt was definite) or leaves it unknown (``info``), and whether a
    client retries it (with the same ``client_msg_id``)."""

    code: str
    definite: bool
    retry: bool
    doc: str


def api_error(code: str, size: int = 60, **extra) -> tuple[str, dict, int]:
    """A Web API error answer, as a request handler returns it:
    ``("error", {"ok": False, "error": code, ...}, size)``."""
    return "error", {"ok": False, "error": code, **extra}, size


def _table(*entries: ApiError) -> dict[str, ApiError]:
    return {e.code: e for e in entries}


# Transport outcomes of a request (``Reply.status`` other than ok/error), as
# the network reports them (docs/network.md): the same for every design.
TRANSPORT = _table(
    ApiError("timeout", definite=False, retry=True, doc="no answer in time: the request may have taken effect"),
    ApiError("reset", definite=False, retry=True, doc="the connection broke after the request was sent"),
    ApiError("refused", definite=True, retry=True, doc="nobody listening: the request was never received"),
    ApiError("unreachable", definite=True, retry=True, doc="no route: the request never left"),
)

# Slack's Web API errors for chat.postMessage
# (https://api.slack.com/methods/chat.postMessage): ``internal_error`` is the
# one that leaves the outcome unknown.
SLACK_WEB_API = _table(
    ApiError("not_authed", definite=True, retry=False, doc="no valid token"),
    ApiError("channel_not_found", definite=True, retry=False, doc="no such channel"),
    ApiError("not_in_channel", definite=True, retry=False, doc="the sender is not a member"),
    ApiError("ratelimited", definite=True, retry=True, doc="HTTP 429; retry after retry_after seconds"),
    ApiError("service_unavailable", definite=True, retry=True, doc="refused before any effect"),
    ApiError("internal_error", definite=False, retry=True, doc="failed part-way: the message may have landed"),
)


def outcome(errors: dict[str, ApiError], status: str, code: str | None) -> ApiError:
    """The table entry for a reply: its transport status, or its API error
    code. An error code the table does not know is treated as unknown (the
    safe reading: it may have taken effect)."""
    if status == "error":
        return errors.get(code or "", None) or ApiError(code or "?", definite=False, retry=True, doc="undeclared")
    return TRANSPORT.get(status) or ApiError(status, definite=False, retry=True, doc="undeclared")
