"""Redis: dedupe keys (SET-if-absent with TTL) and job status.

A primary replicates to its replica asynchronously: each write is shipped
``replication_lag`` seconds after it was made (the replica's lag), so a
failover loses the writes of the last ``replication_lag`` seconds — which is
how a dedupe key can be forgotten.
With ``persistence`` on, the dataset survives a restart (AOF); off, a
restarted node comes back empty. Writes to a replica are refused
(``READONLY``: definite). Discovery promotes the replica when the primary
falls silent and later turns the old primary into a replica, which then
discards its data and resyncs.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from .discovery import heartbeat_loop
from ..kernel import Node, Wake, at_timeout_key


def _pack_writes(batch: list) -> tuple:
    return {"writes": batch}, 60 * len(batch)


class Redis(Node):
    role = "redis"

    def __init__(self, sim, name, region, *, primary: bool, peer: str | None, persistence: bool,
                 lag: float, discovery: str):
        super().__init__(sim, name, region)
        self.persistence = persistence
        self.lag = lag
        self.discovery = discovery
        self.durable["primary"] = primary  # role survives restarts (sentinel rewrites the config)
        self.durable["peer"] = peer  # the replica (of a primary) or the primary (of a replica)
        self.durable["data"] = {}

    def reset_volatile(self):
        if not self.persistence:
            self.durable["data"] = {}
        self.outbox: list[tuple] = []  # writes not yet shipped to the replica
        self.outbox_wake = None  # the idle replication's wake-up (``Replication``)

    @property
    def data(self) -> dict:
        return self.durable["data"]

    def start(self):
        heartbeat_loop(self, self.discovery)
        self.replicate()

    # -- commands -----------------------------------------------------------------
    def get(self, key):
        item = self.data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self.env.now:
            del self.data[key]
            return None
        return value

    def write(self, key, value, ttl):
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = (value, None if ttl is None else self.env.now + ttl)
        to_replica(self, (self.env.now, key, value, ttl))

    def service_time(self) -> float:
        return 0.0001  # every command waits this long before it runs

    # -- commands (a primary's writes; a replica answers READONLY) -------------------
    def cmd_get(self, p):
        return "ok", {"value": self.get(p["key"])}, 60

    def cmd_setnx(self, p):
        if self.get(p["key"]) is not None:
            return "ok", {"set": False, "value": self.get(p["key"])}, 60
        self.write(p["key"], p["value"], p.get("ttl"))
        return "ok", {"set": True}, 40

    def cmd_set(self, p):
        self.write(p["key"], p["value"], p.get("ttl"))
        return "ok", {}, 40

    def cmd_del(self, p):
        self.write(p["key"], None, None)
        return "ok", {}, 40

    COMMANDS = {"GET": (cmd_get, False), "SETNX": (cmd_setnx, True), "SET": (cmd_set, True),
                "DEL": (cmd_del, True)}  # op -> (handler, is a write)

    def serve_command(self, req):
        p = req.payload
        entry = self.COMMANDS.get(p["op"])
        if entry is None:
            return "error", {"error": "unknown_command"}, 40
        handler, write = entry
        if write and not self.durable["primary"]:
            return "error", {"error": "READONLY"}, 40
        return handler(self, p)

    # -- replication and failover ----------------------------------------------------
    def serve_promote(self, req):
        self.durable["primary"] = True
        return "ok", {}, 40

    def serve_replicaof(self, req):
        p = req.payload
        self.durable["primary"] = False
        self.durable["peer"] = p["primary"]
        self.data.clear()  # full resync from the new primary
        self.outbox.clear()
        snap = yield self.sim.network.request(self, p["primary"], "redis.snapshot", {}, timeout=5.0)
        if snap.status == "ok":
            self.data.update(snap.payload["data"])
        return "ok", {}, 40

    def serve_snapshot(self, req):
        return "ok", {"data": dict(self.data)}, 100 + 50 * len(self.data)

    def serve_replicate(self, req):
        if not self.durable["primary"]:
            for _, key, value, ttl in req.payload["writes"]:
                self.write(key, value, ttl)
            self.outbox.clear()
        return "ok", {}, 40

    HANDLERS = {"redis.cmd": serve_command, "redis.promote": serve_promote, "redis.replicaof": serve_replicaof,
                "redis.snapshot": serve_snapshot, "redis.replicate": serve_replicate}

    def replicate(self) -> None:
        """Ship each write ``lag`` seconds after it was made (asynchronous)."""
        Replication(self, "redis.replicate", _pack_writes)


def to_replica(node: Node, entry: tuple) -> None:
    """Queue ``entry`` (``(written_at, ...)``) for the replica and wake an idle
    ``Replication``: its ``Wake`` is pushed with the key ``Event.succeed``
    gives (now, NORMAL, the next event id), where the loop's process used to
    resume from its wake-up event."""
    node.outbox.append(entry)
    wake = node.outbox_wake
    if wake is not None:
        node.outbox_wake = None
        at_timeout_key(node.env, 0, wake)


class Replication:
    """Asynchronous primary → replica shipping, shared by Redis and the rt2023
    message shards: while ``node`` is primary, send each entry of
    ``node.outbox`` (``(written_at, ...)`` tuples, in write order) to
    ``durable["peer"]`` as request ``kind`` once ``node.lag`` seconds old,
    batching what is due; ``pack(batch) -> (payload, size)``. A failed
    shipment goes back to the front of the outbox and is tried again
    (a real replica would full-resync).

    Idle costs nothing: with nothing to ship it waits for the next write
    (``to_replica``), as a replication stream does, instead of polling.

    Callbacks, not a process: this was the loop ::

        while True:
            if not primary or not outbox or not peer:
                yield wake; while paused: yield timeout(0.05); continue
            if due > now: yield from sleep(due - now); continue
            reply = yield request(batch)
            if not ok: outbox = batch + outbox; yield from sleep(0.5)

    and each ``yield`` is now a ``Wake`` where the process resumed: the
    wake-up is a ``Wake`` that ``to_replica`` pushes with the key the
    wake-up event got (a timer ``Wake`` waits out a pause in 0.05 s steps,
    as the loop did), a sleep is ``Node.wake_after`` (``Node.sleep``'s key
    and pause rule), and the reply is a ``Wake`` on the request's event
    (called as a callback, as the process resumed, paused or not). A crash
    stops the chain (each ``Wake`` belongs to its incarnation), as it
    interrupted the process; ``start`` builds a new one. The loop's first
    step was to park (a node starts with an empty outbox, and nothing can
    write to it before the process's start event pops: writes come from
    requests, which arrive later), so parking at once is the same."""

    __slots__ = ("node", "kind", "pack")

    def __init__(self, node: Node, kind: str, pack: Callable[[list], tuple]):
        self.node = node
        self.kind = kind
        self.pack = pack
        node.outbox_wake = Wake(node, self.step)

    def step(self, node: Node) -> None:
        """The top of the loop: park, wait until the oldest write is due, or ship."""
        outbox = node.outbox
        if not node.durable["primary"] or not outbox or not node.durable["peer"]:
            node.outbox_wake = Wake(node, self.step)
            return
        now = node.env.now
        due = outbox[0][0] + node.lag
        if due > now:
            node.wake_after(due - now, self.step)
            return
        n = next((i for i, w in enumerate(outbox) if w[0] + node.lag > now), len(outbox))
        batch, node.outbox = outbox[:n], outbox[n:]
        payload, size = self.pack(batch)
        ev = node.sim.network.request(node, node.durable["peer"], self.kind, payload, size=size, timeout=2.0)
        ev.callbacks.append(Wake(node, partial(self.shipped, batch, ev)))

    def shipped(self, batch: list, ev, node: Node) -> None:
        if ev._value.status != "ok":
            node.outbox = batch + node.outbox
            node.wake_after(0.5, self.step)
        else:
            self.step(node)
