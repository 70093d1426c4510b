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

from functools import partial

from ...kernel import Node, start_soon, woken
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
            start_soon(self, Consumer(self, p).top)

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


class Consumer:
    """The consumer of partition ``p`` on a worker: fetch (long poll),
    persist, commit, record job status. One per partition and incarnation
    (``Worker.start``).

    Callbacks, not a process (as ``sim.nodes.kafka.Fetcher``, whose
    docstring has the argument for the order): this was the loop ::

        while True:
            leader = leaders[p]
            if leader is None: yield from sleep(retry_backoff); continue
            reply = yield request(leader, "kafka.fetch", ...)
            if not ok:
                if OFFSET_OUT_OF_RANGE: reset (or stop); continue
                if NOT_LEADER: yield from refresh_view()   # metadata, then discovery
                yield from sleep(retry_backoff); continue
            if diverging: reset (or stop); continue
            if no records: continue
            ins = yield request(db, "db.insert", rows)
            if not ok: yield from sleep(retry_backoff); continue
            step("persisted") per row; commit; a Redis SET per row

    and each ``yield`` of an event is a callback appended where the
    process appended its ``_resume``; each sleep is ``Node.wake_after``.
    The ``persisted`` step may crash the worker under the callback: a
    ``NodeCrashed`` of an older incarnation ends the chain quietly (``woken``), as the
    process guard (``Node._guard``) ended the process, and as then nothing
    else of the worker was active (callbacks run from the event loop),
    ``Node.crash`` interrupts the same processes it did (it skipped only
    the active one, this loop's own process)."""

    __slots__ = ("node", "p", "inc", "records")

    def __init__(self, node: Worker, p: int):
        self.node = node
        self.p = p
        self.inc = node.incarnation
        self.records = None  # the batch being inserted

    def top(self, node: Worker) -> None:
        """The top of the loop: fetch from the partition's leader."""
        leader = node.leaders.get(self.p)
        if leader is None:
            node.wake_after(node.cfg.retry_backoff, self.top)
            return
        p, cfg = self.p, node.cfg
        node.sim.network.request(node, leader, "kafka.fetch",
                                 {"partition": p, "offset": node.durable["offsets"][p],
                                  "last_epoch": node.durable["epochs"][p], "wait": cfg.fetch_max_wait},
                                 size=80, timeout=cfg.fetch_max_wait + 1.0).callbacks.append(self.fetched)

    def fetched(self, event) -> None:
        node = self.node
        if node.incarnation != self.inc:
            return
        reply, p, cfg = event._value, self.p, node.cfg
        if reply.status != "ok":
            error = reply.payload.get("error") if reply.status == "error" else None
            if error == "OFFSET_OUT_OF_RANGE":
                to = reply.payload["hw"] if cfg.offset_reset == "latest" else 0
                if node.reset(p, "offset-reset", to, None):
                    self.top(node)
                return
            if error == "NOT_LEADER":  # refresh_view(): the metadata, then the ring
                node.ask_view("kafka.metadata", 0.0).callbacks.append(self.learned_leaders)
                return
            node.wake_after(cfg.retry_backoff, self.top)
            return
        body = reply.payload
        if "diverging" in body:
            epoch, end = body["diverging"]
            if node.reset(p, "truncation", min(end, node.durable["offsets"][p]), epoch, diverged_at=end):
                self.top(node)
            return
        records = body["records"]
        if not records:
            self.top(node)
            return
        self.records = records
        rows = [r.chat for r in records]
        node.sim.network.request(node, node.db, "db.insert", {"rows": rows, "key": "ts" if cfg.idempotent else None},
                                 size=sum(c.size for c in rows), timeout=5.0,
                                 trace=",".join(c.msg for c in rows)).callbacks.append(self.inserted)

    def learned_leaders(self, event) -> None:
        node = self.node
        if node.incarnation == self.inc:
            node.learn("kafka.metadata", event._value)
            node.ask_view("discovery.get", 0.0).callbacks.append(self.learned_ring)

    def learned_ring(self, event) -> None:
        node = self.node
        if node.incarnation == self.inc:
            node.learn("discovery.get", event._value)
            node.wake_after(node.cfg.retry_backoff, self.top)

    def inserted(self, event) -> None:
        # ``woken``'s rule: nothing after a crash, and the ``persisted`` step
        # crashing this incarnation ends the chain quietly
        woken(self.node, self.inc, partial(self.persist, event._value), False)

    def persist(self, reply, node: Worker) -> None:
        if reply.status != "ok":
            node.wake_after(node.cfg.retry_backoff, self.top)
            return  # retried next round (a lost answer means a redelivery)
        records, self.records = self.records, None
        rows = [r.chat for r in records]
        for chat in rows:
            node.step("persisted", msg=chat.msg)
        p = self.p
        node.durable["offsets"][p], node.durable["epochs"][p] = records[-1].offset + 1, records[-1].epoch
        if node.redis is not None:
            net = node.sim.network
            for chat in rows:
                net.request(node, node.redis, "redis.cmd",
                            {"op": "SET", "key": f"job:{chat.channel}:{chat.msg}", "value": "persisted",
                             "ttl": 3600}, size=80, timeout=1.0)
        self.top(node)
