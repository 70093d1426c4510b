"""The durable message store (Slack's sharded MySQL, one logical table).

Rows are ordered by ``ts``, which is how history is read back. An insert
names its unique key: ``"ts"`` (the old persistence API: a retried hand-off
of the same row is absorbed, but a client's resend carries a new ts and
becomes a second row), ``"msg"`` (idempotent on ``client_msg_id``), or none
(an auto-increment id: every insert is a new row).
Latency is lognormal with a 2 ms median and an 11 ms p99.
"""

from __future__ import annotations

import math

from ..kernel import Node
from .protocol import Chat
from .team import DirEvent, apply, snapshot_of

MEDIAN = 0.002
SIGMA = math.log(0.011 / 0.002) / 2.326  # p99 / median = exp(2.326 σ)


class DB(Node):
    role = "db"

    def __init__(self, sim, name: str, region: str, directory: dict[str, set[str]] | None = None):
        super().__init__(sim, name, region)
        self.durable["directory"] = {ch: set(ms) for ch, ms in (directory or {}).items()}
        self.durable["dir_version"] = 0
        self.durable["rows"] = {}  # channel -> list[(ts float, seq, Chat)]
        self.durable["seq"] = 0
        self.durable["keys"] = set()  # unique keys already stored
        self.rng = sim.rng(f"node/{name}/latency")

    def service_time(self) -> float:
        return MEDIAN * math.exp(self.rng.gauss(0.0, SIGMA))

    def insert(self, req):
        rows: list[Chat] = req.payload["rows"]
        unique = req.payload.get("key")
        table, keys = self.durable["rows"], self.durable["keys"]
        inserted = 0
        for chat in rows:
            if unique is not None:
                key = (chat.channel, unique, chat.ts if unique == "ts" else chat.msg)
                if key in keys:
                    continue
                keys.add(key)
            self.durable["seq"] += 1
            table.setdefault(chat.channel, []).append((float(chat.ts), self.durable["seq"], chat))
            inserted += 1
        return "ok", {"inserted": inserted}, 40

    def history(self, req):
        rows = self.channel(req.payload["channel"])
        if req.payload.get("rows"):
            return "ok", {"rows": rows}, 40 + sum(r.size for r in rows)
        msgs = [c.msg for c in rows]
        return "ok", {"msgs": msgs}, 40 + 30 * len(msgs)

    def directory_get(self, req):
        snap = snapshot_of(self.durable["dir_version"], self.durable["directory"])
        return "ok", {"snapshot": snap}, 60 + 40 * sum(len(ms) for _, ms in snap.channels)

    def directory_change(self, req):
        p = req.payload
        members = self.durable["directory"].get(p["channel"])
        if members is None or (p["op"] == "join") == (p["user"] in members):
            return "ok", {"event": None}, 40  # no change
        self.durable["dir_version"] += 1
        ev = DirEvent(self.durable["dir_version"], p["op"], p["channel"], p["user"])
        apply(self.durable["directory"], ev)
        return "ok", {"event": ev}, 60

    HANDLERS = {"db.insert": insert, "db.history": history, "db.directory_get": directory_get,
                "db.directory_change": directory_change}

    def directory_snapshot(self):
        return snapshot_of(self.durable["dir_version"], self.durable["directory"])

    def channel(self, ch: str) -> list[Chat]:
        """A channel's rows in ts order (ties by insertion)."""
        return [r[2] for r in sorted(self.durable["rows"].get(ch, []), key=lambda r: (r[0], r[1]))]
