"""The message database of rt2023: channels hashed over shards, each shard a
primary with one asynchronous replica, and an orchestrator that fails over.

Theory of operation
-------------------
The web app writes a message to its channel's shard primary *before* it
answers the sender. The primary assigns ts (its clock, strictly increasing
per channel) and keeps a unique key on ``client_msg_id`` (a retry finds the
row instead of writing a second one). Each write is shipped to the replica
``replication_lag`` seconds after it was made (MySQL async replication): a
failover loses what the replica had not yet received, acked or not.

The orchestrator (Orchestrator/Vitess-like, assumed healthy like the other
control planes) watches the shard nodes' heartbeats. A primary silent for
``failover_delay`` is replaced by its replica; when the old primary returns it
is told to replicate from the new one and discards what it had: the lost rows
are gone for good. Web apps, channel servers and the final store report ask
the orchestrator where each shard's primary is (``ShardView``).
"""

from __future__ import annotations

from ...kernel import Node, stable_hash
from ...nodes.db import DB
from ...nodes.discovery import heartbeat_loop
from ...nodes.protocol import Chat, api_error, fmt_ts
from ...nodes.redis import Replication, to_replica


def shard_of(channel: str, shards: int) -> int:
    return stable_hash(channel) % shards


class ShardDB(DB):
    """One MySQL host of a shard: a primary (writes) or a replica (applies what the primary ships)."""

    role = "db-shard"

    def __init__(self, sim, name, region, *, primary: bool, peer: str, lag: float, orchestrator: str):
        super().__init__(sim, name, region)
        self.lag = lag
        self.orchestrator = orchestrator
        self.durable["primary"] = primary
        self.durable["peer"] = peer
        self.durable["by_msg"] = {}  # (channel, client_msg_id) -> Chat: the unique key

    def reset_volatile(self):
        self.outbox: list[tuple[float, Chat]] = []  # written, not yet shipped to the replica
        self.outbox_wake = None  # the idle replication loop's wake-up (``Replication``)

    def start(self):
        heartbeat_loop(self, self.orchestrator)
        self.replicate()

    def append(self, chat: Chat) -> None:
        self.durable["seq"] += 1
        self.durable["rows"].setdefault(chat.channel, []).append((float(chat.ts), self.durable["seq"], chat))
        self.durable["by_msg"][(chat.channel, chat.msg)] = chat

    # -- the primary's API ----------------------------------------------------------------
    def lookup(self, req):
        """SELECT by client_msg_id: the dedupe check."""
        if not self.durable["primary"]:
            return api_error("READONLY", 40)
        p = req.payload
        return "ok", {"chat": self.durable["by_msg"].get((p["channel"], p["msg"]))}, 60

    def insert_post(self, req):
        """INSERT the message, ts assigned here; a duplicate key returns the existing row."""
        if not self.durable["primary"]:
            return api_error("READONLY", 40)
        post = req.payload
        old = self.durable["by_msg"].get((post.channel, post.msg))
        if old is not None:
            return "ok", {"chat": old, "inserted": False}, 60
        rows = self.durable["rows"].get(post.channel)
        t = max(self.clock(), (rows[-1][0] + 1e-6) if rows else 0.0)
        chat = Chat(post.channel, post.msg, post.text, post.sender, fmt_ts(t))
        self.append(chat)
        to_replica(self, (self.env.now, chat))
        return "ok", {"chat": chat, "inserted": True}, 60

    # -- replication and failover -----------------------------------------------------------
    def promote(self, req):
        self.durable["primary"] = True
        return "ok", {}, 40

    def replicaof(self, req):
        """Become the replica of ``primary``: discard everything and copy its rows."""
        p = req.payload
        self.durable.update(primary=False, peer=p["primary"], rows={}, by_msg={}, seq=0)
        self.outbox.clear()
        snap = yield self.sim.network.request(self, p["primary"], "shard.snapshot", {}, timeout=5.0)
        if snap.status == "ok":
            for chat in snap.payload["rows"]:
                self.append(chat)
        return "ok", {}, 40

    def snapshot(self, req):
        rows = [r[2] for ch in sorted(self.durable["rows"]) for r in self.durable["rows"][ch]]
        return "ok", {"rows": rows}, 100 + sum(c.size for c in rows)

    def apply_shipped(self, req):
        if not self.durable["primary"]:
            for chat in req.payload["rows"]:
                if (chat.channel, chat.msg) not in self.durable["by_msg"]:
                    self.append(chat)
        return "ok", {}, 40

    HANDLERS = {**DB.HANDLERS, "shard.lookup": lookup, "shard.insert": insert_post, "shard.promote": promote,
                "shard.replicaof": replicaof, "shard.snapshot": snapshot, "shard.replicate": apply_shipped}

    def replicate(self) -> None:
        """Ship each write ``lag`` seconds after it was made, in order."""
        def pack(batch):
            rows = [c for _, c in batch]
            return {"rows": rows}, sum(c.size for c in rows)

        Replication(self, "shard.replicate", pack)


class Orchestrator(Node):
    """Shard failover from heartbeats; serves ``shards.get`` (each shard's primary)."""

    role = "orchestrator"

    def __init__(self, sim, name, region, *, shards: list[tuple[str, str]], failover_delay: float):
        super().__init__(sim, name, region)
        self.pairs = list(shards)
        self.failover_delay = failover_delay
        self.durable["primaries"] = [a for a, _ in self.pairs]

    def reset_volatile(self):
        # a grace period at (re)start: nobody is declared dead before it could have spoken
        self.last_seen = {n: self.env.now for pair in self.pairs for n in pair}

    def start(self):
        self.spawn(self.watch())

    def on_message(self, conn, msg):
        if msg.kind == "heartbeat":
            self.last_seen[msg.src] = self.env.now

    def alive(self, node: str, within: float) -> bool:
        return self.env.now - self.last_seen.get(node, -1e9) <= within

    def watch(self):
        primaries = self.durable["primaries"]
        while True:
            yield from self.sleep(0.25)
            for i, pair in enumerate(self.pairs):
                old = primaries[i]
                if self.alive(old, self.failover_delay):
                    continue
                other = pair[1] if pair[0] == old else pair[0]
                if self.alive(other, 1.5):
                    primaries[i] = other
                    self.sim.network.request(self, other, "shard.promote", {}, timeout=2.0)
                    self.sim.record(self.name, "event", "failover", {"shard": i, "primary": other, "old": old})
                    self.spawn(self.demote_when_back(old, i))

    def demote_when_back(self, old: str, shard: int):
        """When the old primary returns, it becomes the new primary's replica
        (unless an overlapping failover made it the primary again; never of a
        primary that is itself silent)."""
        while True:
            yield from self.sleep(0.5)
            primary = self.durable["primaries"][shard]
            if old == primary:
                return
            # only towards a live primary: one that died too would leave no primary at all
            if self.alive(old, 1.0) and self.alive(primary, 1.0):
                reply = yield self.sim.network.request(self, old, "shard.replicaof", {"primary": primary},
                                                       timeout=5.0)
                if reply.status == "ok":
                    return

    def view(self, req):
        return "ok", {"primaries": list(self.durable["primaries"])}, 100

    HANDLERS = {"shards.get": view}


class ShardView:
    """Mixin for nodes that write or read messages: where each shard's primary
    is, polled from the orchestrator every second (and on demand after a
    refusal). The node sets ``orchestrator`` in its constructor."""

    orchestrator: str

    def reset_shards(self) -> None:
        self.primaries: list[str] = []

    def refresh_shards(self):
        reply = yield self.sim.network.request(self, self.orchestrator, "shards.get", {}, timeout=1.0)
        if reply.status == "ok":
            self.primaries = reply.payload["primaries"]

    def shard_loop(self):
        while True:
            yield from self.refresh_shards()
            yield from self.sleep(1.0)

    def primary_of(self, channel: str) -> str | None:
        return self.primaries[shard_of(channel, len(self.primaries))] if self.primaries else None

    def find_primary(self, channel: str):
        """The primary of ``channel``'s shard, asking the orchestrator if none is known yet."""
        if self.primary_of(channel) is None:
            yield from self.refresh_shards()
        return self.primary_of(channel)

    def channel_rows(self, channel: str):
        """The channel's stored rows, in ts order, from its shard's primary (None: unreachable)."""
        primary = yield from self.find_primary(channel)
        if primary is None:
            return None
        reply = yield self.sim.network.request(self, primary, "db.history", {"channel": channel, "rows": True},
                                               size=80, timeout=5.0)
        return reply.payload["rows"] if reply.status == "ok" else None
