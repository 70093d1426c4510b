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

MEDIAN = 0.002
SIGMA = math.log(0.011 / 0.002) / 2.326  # p99 / median = exp(2.326 σ)


class DB(Node):
    role = "db"

    def __init__(self, sim, name: str, region: str):
        super().__init__(sim, name, region)
        self.durable["rows"] = {}  # channel -> list[(ts float, seq, Chat)]
        self.durable["seq"] = 0
        self.durable["keys"] = set()  # unique keys already stored
        self.rng = sim.rng(f"node/{name}/latency")

    def service_time(self) -> float:
        return MEDIAN * math.exp(self.rng.gauss(0.0, SIGMA))

    def on_request(self, req):
        yield self.env.timeout(self.service_time())
        if req.kind == "db.insert":
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
        if req.kind == "db.history":
            rows = self.channel(req.payload["channel"])
            if req.payload.get("rows"):
                return "ok", {"rows": rows}, 40 + sum(r.size for r in rows)
            msgs = [c.msg for c in rows]
            return "ok", {"msgs": msgs}, 40 + 30 * len(msgs)
        return "error", {"error": "unknown_method"}, 40

    def channel(self, ch: str) -> list[Chat]:
        """A channel's rows in ts order (ties by insertion)."""
        return [r[2] for r in sorted(self.durable["rows"].get(ch, []), key=lambda r: (r[0], r[1]))]
