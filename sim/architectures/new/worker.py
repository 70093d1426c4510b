"""Job workers: consume partitions in order, persist to the DB, commit.

One consumer per partition. Each round fetches the committed records
(below the high watermark) from the committed position — a fetch with
nothing new parks at the leader up to ``fetch_max_wait`` (``fetch.max.wait.ms``),
so an idle partition costs one round trip per wait — inserts them in the DB,
idempotently (unique key channel+ts, so a redelivered record is absorbed) or
not (a setting), marks each ``persisted`` (the named step), then commits the
position (durable) and records job status in Redis. A crash between
persisting and committing redelivers the batch.

The position carries the leader epoch of the last record consumed (KIP-320).
After a leader change the broker compares it with its own log: if the log
was truncated under the consumer (an unclean election), the answer is
*diverging* and, with a reset policy, the consumer seeks back to the first
offset known to diverge; an offset beyond the log (``OFFSET_OUT_OF_RANGE``)
follows ``offset_reset`` (``auto.offset.reset``: ``latest`` = the high
watermark, ``earliest`` = offset 0). With ``none`` the consumer stops that
partition (Kafka raises ``LogTruncationException`` / ``OffsetOutOfRangeException``
to the application). Each is recorded as an event (``truncation``,
``offset-reset``) so a history shows where a job queue skipped or re-read.
"""

from __future__ import annotations

from ...kernel import Node
from ...nodes.discovery import ClusterView


class Worker(ClusterView, Node):
    role = "worker"

    def __init__(self, sim, name, region, *, partitions: list[int], controller: str, discovery: str, db: str,
                 settings):
        super().__init__(sim, name, region)
        self.partitions = partitions
        self.controller = controller
        self.discovery = discovery
        self.db = db
        self.cfg = settings
        self.durable["offsets"] = {p: 0 for p in partitions}
        self.durable["epochs"] = {p: None for p in partitions}  # epoch of the last record consumed

    def reset_volatile(self):
        self.reset_view()

    def start(self):
        self.spawn(self.view_loop())
        for p in self.partitions:
            self.spawn(self.consume(p))

    def reset(self, p: int, f: str, to: int, epoch: int | None, **why) -> bool:
        """Move the position after a truncation or an out-of-range offset;
        False when the policy is ``none`` (the partition stops)."""
        offsets, epochs = self.durable["offsets"], self.durable["epochs"]
        policy = self.cfg.offset_reset
        self.sim.record(self.name, "event", f, {"partition": p, "position": offsets[p],
                                                "reset_to": to if policy != "none" else None,
                                                "policy": policy, **why})
        if policy == "none":
            return False
        offsets[p], epochs[p] = to, epoch
        return True

    def consume(self, p: int):
        net = self.sim.network
        cfg = self.cfg
        offsets, epochs = self.durable["offsets"], self.durable["epochs"]
        while True:
            leader = self.leaders.get(p)
            if leader is None:
                yield from self.sleep(cfg.retry_backoff)
                continue
            reply = yield net.request(self, leader, "kafka.fetch",
                                      {"partition": p, "offset": offsets[p], "last_epoch": epochs[p],
                                       "wait": cfg.fetch_max_wait},
                                      size=80, timeout=cfg.fetch_max_wait + 1.0)
            if reply.status != "ok":
                if reply.status == "error" and reply.payload.get("error") == "OFFSET_OUT_OF_RANGE":
                    to = reply.payload["hw"] if cfg.offset_reset == "latest" else 0
                    if not self.reset(p, "offset-reset", to, None):
                        return
                    continue
                if reply.status == "error" and reply.payload.get("error") == "NOT_LEADER":
                    yield from self.refresh_view()
                yield from self.sleep(cfg.retry_backoff)
                continue
            if "diverging" in reply.payload:
                epoch, end = reply.payload["diverging"]
                if not self.reset(p, "truncation", min(end, offsets[p]), epoch, diverged_at=end):
                    return
                continue
            records = reply.payload["records"]
            if not records:
                continue
            rows = [r.chat for r in records]
            ins = yield net.request(self, self.db, "db.insert", {"rows": rows, "key": "ts" if cfg.idempotent else None},
                                    size=sum(c.size for c in rows), timeout=5.0,
                                    trace=",".join(c.msg for c in rows))
            if ins.status != "ok":
                yield from self.sleep(cfg.retry_backoff)
                continue  # retried next round (a lost answer means a redelivery)
            for chat in rows:
                self.step("persisted", msg=chat.msg)
            offsets[p], epochs[p] = records[-1].offset + 1, records[-1].epoch
            if self.redis is not None:
                for chat in rows:
                    net.request(self, self.redis, "redis.cmd",
                                {"op": "SET", "key": f"job:{chat.channel}:{chat.msg}", "value": "persisted",
                                 "ttl": 3600}, size=80, timeout=1.0)
