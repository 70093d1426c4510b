"""Job workers: consume partitions in order, persist to the DB, commit.

One consumer per partition. Each round fetches the committed records
(below the high watermark) from the committed offset, inserts them in the DB
— idempotently (unique key channel+ts, so a redelivered record is absorbed)
or not (a setting) — marks each ``persisted`` (the named step), then commits
the offset (durable) and records job status in Redis. A crash between
persisting and committing redelivers the batch. An offset beyond the new
leader's log (after an unclean election) resets to its end, like
``auto.offset.reset=latest``.
"""

from __future__ import annotations

from ...kernel import Node
from ...nodes.discovery import ClusterView


class Worker(ClusterView, Node):
    role = "worker"

    def __init__(self, sim, name, region, *, partitions: list[int], controller: str, discovery: str, db: str,
                 idempotent: bool, poll: float):
        super().__init__(sim, name, region)
        self.partitions = partitions
        self.controller = controller
        self.discovery = discovery
        self.db = db
        self.idempotent = idempotent
        self.poll = poll
        self.durable["offsets"] = {p: 0 for p in partitions}

    def reset_volatile(self):
        self.reset_view()

    def start(self):
        self.spawn(self.view_loop())
        for p in self.partitions:
            self.spawn(self.consume(p))

    def consume(self, p: int):
        net = self.sim.network
        offsets = self.durable["offsets"]
        while True:
            yield from self.sleep(self.poll)
            leader = self.leaders.get(p)
            if leader is None:
                continue
            reply = yield net.request(self, leader, "kafka.fetch", {"partition": p, "offset": offsets[p]},
                                      size=80, timeout=1.0)
            if reply.status != "ok":
                if reply.status == "error" and reply.payload.get("error") == "OFFSET_OUT_OF_RANGE":
                    offsets[p] = reply.payload["leo"]
                continue
            records = reply.payload["records"]
            if not records:
                continue
            rows = [r.chat for r in records]
            ins = yield net.request(self, self.db, "db.insert", {"rows": rows, "key": "ts" if self.idempotent else None},
                                    size=sum(c.size for c in rows), timeout=5.0,
                                    trace=",".join(c.msg for c in rows))
            if ins.status != "ok":
                continue  # retried next round (a lost answer means a redelivery)
            for chat in rows:
                self.step("persisted", msg=chat.msg)
            offsets[p] = records[-1].offset + 1
            if self.redis is not None:
                for chat in rows:
                    net.request(self, self.redis, "redis.cmd",
                                {"op": "SET", "key": f"job:{chat.channel}:{chat.msg}", "value": "persisted",
                                 "ttl": 3600}, size=80, timeout=1.0)
