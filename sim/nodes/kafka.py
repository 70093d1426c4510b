"""Kafka: brokers with replicated partition logs, and a controller.

Theory of operation
-------------------
Each partition has ``replication`` replicas, a leader and an ISR (in-sync
replicas). Logs are durable (a broker restart keeps them); every record
carries the leader epoch it was written in, and epochs only grow along a log.

Replication is pull. A follower fetches from the leader's log end; a fetch
with nothing new *parks* at the leader until a record is appended or
``replica_fetch_wait_max`` passes (``replica.fetch.wait.max.ms``), so an idle
partition costs one round trip per wait, not one per poll. The leader tracks
each follower's log end offset (LEO) and when it last caught up. The high
watermark (HW) is the smallest LEO in the ISR; consumers (the job workers)
only see records below it, and their fetches park the same way until the HW
moves or ``fetch.max.wait.ms`` passes.

ISR changes go through the controller (``AlterPartition``, KIP-497 / KRaft).
The controller's ISR is the committed one; the leader proposes a change with
the partition epoch it knows, at most one in flight, and adopts it only when
the controller answers (a stale proposal is rejected). While a change is in
flight the leader advances the HW over the *maximal* ISR (committed ∪
proposed): a follower being dropped still holds the HW back until the
controller has agreed it is out, so a clean election — which picks from the
controller's ISR — never picks a replica that lacks an acked record.

``acks``: with ``all`` the leader answers a produce once every ISR member
has the record. It refuses with ``NOT_ENOUGH_REPLICAS`` (definite: nothing
appended) when the committed ISR is smaller than ``min_insync``; if the ISR
shrank below it while the produce waited, the answer is
``NOT_ENOUGH_REPLICAS_AFTER_APPEND`` (appended, outcome unknown). With ``1``
it answers as soon as its own log has it — an acked record that no follower
fetched is lost if the leader dies. ``PRODUCE_ERRORS`` is the table.

The controller (KRaft quorum, assumed healthy) watches broker heartbeats
(every ``heartbeat_interval``). A broker silent for ``election_delay`` is
fenced: it leaves every ISR and loses its leaderships. The new leader is an
alive member of the committed ISR (clean), or — with ``unclean_election`` —
any alive replica, even one far behind, whose log becomes the truth.

Divergence (KIP-101 / KIP-279, as Kafka ≥ 2.7 does it inside the fetch,
KIP-595): every fetch carries the epoch of the fetcher's last record. The
leader looks up the largest epoch ≤ it in its own log and where that epoch
ends; if the fetcher's log goes beyond that, the answer is *diverging* with
(epoch, end offset), the follower truncates to the smaller of that end and
its own end of that epoch, and fetches again — round after round, so a log
that diverged several epochs deep is cut back to the common prefix. A
consumer gets the same answer and, like a KIP-320 consumer with a reset
policy, seeks back to the first offset known to diverge (recorded as a
``truncation`` event); an offset beyond the log is ``OFFSET_OUT_OF_RANGE``
and the consumer applies ``auto.offset.reset``.

Each record carries the channel's sequence number (assigned by the leader
from its log: it is the log order) and, with ``ts_source = "kafka"``, its ts
(monotonic per partition).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ..kernel import Later, Node, start_soon
from .discovery import park
from .protocol import Chat, fmt_ts

# Produce errors: error code -> definite (True: definitely not appended).
PRODUCE_ERRORS: dict[str, bool] = {
    "NOT_LEADER": True,  # refused before appending: retry at the new leader
    "NOT_ENOUGH_REPLICAS": True,  # refused before appending: the ISR is too small
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND": False,  # appended, then the ISR shrank: may survive
    "NOT_LEADER_OR_FOLLOWER": False,  # appended, then the leadership moved: may survive
}


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    epoch: int
    chat: Chat


def _size(recs: list[Record]) -> int:
    """Bytes of the records' messages (most fetches carry none)."""
    return sum([r.chat.size for r in recs]) if recs else 0


def _epoch_of(r: Record) -> int:
    return r.epoch


def epoch_end(log: list[Record], epoch: int | None) -> int:
    """First offset after the last record of an epoch ≤ ``epoch`` (KIP-101):
    where the ``epoch`` range of the log ends. Epochs never decrease along a
    log, so this is a binary search."""
    if epoch is None:
        return 0
    return bisect_right(log, epoch, key=_epoch_of)


def diverging(log: list[Record], offset: int, last_epoch: int | None) -> tuple[int | None, int] | None:
    """Whether a fetcher whose log ends at ``offset`` with a record of
    ``last_epoch`` has records this log lacks: ``None`` if its log is a
    prefix of ours as far as epochs tell, else (the largest epoch ≤
    ``last_epoch`` we have, the offset where it ends here)."""
    if offset == 0 or last_epoch is None:  # nothing to compare (a consumer reset by policy)
        return None
    if offset <= len(log) and log[offset - 1].epoch == last_epoch:
        # the common case, without the search: the fetcher's last record is
        # ours, and as epochs never decrease along a log, ``last_epoch`` ends
        # at or after ``offset`` here — what the search below would find
        return None
    end = epoch_end(log, last_epoch)
    epoch = log[end - 1].epoch if end else None
    if epoch == last_epoch and end >= offset:
        return None
    return epoch, end


_NO_VIEW = (None, 0)  # a partition the broker has no view of: no leader


class Broker(Node):
    role = "kafka"

    def __init__(self, sim, name, region, *, controller: str, replicas: dict[int, list[str]], cfg):
        super().__init__(sim, name, region)
        self.controller = controller
        self.replicas = {p: rs for p, rs in replicas.items() if name in rs}
        self.cfg = cfg
        self.durable["logs"] = {p: [] for p in self.replicas}
        self.durable["hw"] = {p: 0 for p in self.replicas}

    def reset_volatile(self):
        self.view: dict[int, tuple[str | None, int]] = {}  # p -> (leader, epoch), from the controller
        self.isr: dict[int, set[str]] = {}  # as leader: the committed ISR
        self.pepoch: dict[int, int] = {}  # as leader: the partition epoch of that ISR
        self.pending: dict[int, frozenset[str] | None] = {}  # as leader: an ISR change in flight
        self.follower: dict[int, dict[str, list[float]]] = {}  # as leader: p -> f -> [leo, caught_up_at]
        self.waiters: dict[int, list] = {}  # acks=all produces waiting for the HW
        self.parked_replicas: dict[int, list] = {}  # follower fetches waiting for an append
        self.parked_consumers: dict[int, list] = {}  # consumer fetches waiting for the HW
        self.role_change: dict[int, object] = {}  # fetchers with nobody to follow wait on these
        self.chan_seq: dict[int, dict[str, int]] = {}
        self.last_ts: dict[int, float] = {}

    def start(self):
        start_soon(self, Broker.heartbeat)
        self.spawn(self.isr_watch())
        for p in sorted(self.replicas):
            start_soon(self, Fetcher(self, p).fetch)

    def log(self, p: int) -> list[Record]:
        return self.durable["logs"][p]

    def is_leader(self, p: int) -> bool:
        return self.view.get(p, _NO_VIEW)[0] == self.name

    def maximal_isr(self, p: int) -> set[str]:
        pending = self.pending.get(p)
        return self.isr[p] | pending if pending else self.isr[p]

    # -- roles from the controller --------------------------------------------------
    def become(self, p: int, leader: str | None, epoch: int, isr: list[str], pepoch: int) -> None:
        was_leader = self.is_leader(p)
        same_term = was_leader and leader == self.name and self.view[p][1] == epoch
        self.view[p] = (leader, epoch)
        if same_term:  # an ISR change the controller made (a fenced follower left)
            if pepoch > self.pepoch[p]:
                self.isr[p], self.pepoch[p], self.pending[p] = set(isr), pepoch, None
                self.advance_hw(p)
            return
        if leader == self.name:
            self.isr[p], self.pepoch[p], self.pending[p] = set(isr), pepoch, None
            now = self.env.now
            self.follower[p] = {f: [0, now] for f in self.replicas[p] if f != self.name}
            seqs: dict[str, int] = {}
            for r in self.log(p):
                seqs[r.chat.channel] = r.chat.seq
            self.chan_seq[p] = seqs
            self.last_ts[p] = max((float(r.chat.ts) for r in self.log(p)[-1:]), default=0.0)
            self.advance_hw(p)
        elif was_leader:
            for _, ev in self.waiters.pop(p, []):
                if not ev.triggered:
                    ev.succeed(False)
            self.wake(self.parked_replicas, p)
            self.wake(self.parked_consumers, p)
        self.wake(self.role_change, p)

    @staticmethod
    def wake(parked: dict, p: int) -> None:
        evs = parked.pop(p, None)
        if evs is None:
            return
        for ev in (evs if isinstance(evs, list) else [evs]):
            if not ev.triggered:
                ev.succeed()

    # -- requests --------------------------------------------------------------------
    def leader_and_isr(self, req):
        for part, leader, epoch, isr, pepoch in req.payload["partitions"]:
            if part in self.replicas and epoch >= self.view.get(part, (None, -1))[1]:
                self.become(part, leader, epoch, isr, pepoch)
        return "ok", {}, 40

    def on_produce(self, req):
        return (yield from self.produce(req.payload))

    def on_fetch(self, req):
        """A fetch; one that finds nothing new waits (long poll) up to ``wait``
        and is then answered again (a ``Later``: no process while parked)."""
        p = req.payload
        arrived = self.env._now
        reply = self.serve_fetch(p, arrived)
        wait = p.get("wait", 0.0)
        if wait and reply[0] == "ok":
            body = reply[1]
            if not body.get("records") and "diverging" not in body:
                parked = self.parked_consumers if p.get("replica") is None else self.parked_replicas
                # the follower was caught up when its fetch *arrived*, not when the
                # wait ended (Kafka's followerFetchTimeMs): a partitioned follower's
                # parked fetch must not keep it in the ISR
                return Later(park(self, parked.setdefault(p["partition"], []), wait),
                             lambda node, req: node.serve_fetch(req.payload, arrived))
        return reply

    HANDLERS = {"kafka.leader_and_isr": leader_and_isr, "kafka.produce": on_produce, "kafka.fetch": on_fetch}

    def produce(self, p):
        part = p["partition"]
        if not self.is_leader(part):
            return "error", {"error": "NOT_LEADER"}, 40
        acks_all = self.cfg.acks == "all"
        if acks_all and len(self.isr[part]) < self.cfg.min_insync:
            return "error", {"error": "NOT_ENOUGH_REPLICAS"}, 40
        post = p["post"]
        log = self.log(part)
        seqs = self.chan_seq[part]
        seq = seqs.get(post.channel, 0) + 1
        seqs[post.channel] = seq
        if p.get("ts") is None:  # LogAppendTime: monotonic per partition
            t = max(self.clock(), self.last_ts.get(part, 0.0) + 1e-6)
            self.last_ts[part] = t
            ts = fmt_ts(t)
        else:
            ts = p["ts"]
        chat = Chat(post.channel, post.msg, post.text, post.sender, ts, seq)
        offset = len(log)
        log.append(Record(offset, self.view[part][1], chat))
        self.wake(self.parked_replicas, part)
        self.advance_hw(part)
        if acks_all and self.durable["hw"][part] <= offset:
            ev = self.env.event()
            self.waiters.setdefault(part, []).append((offset, ev))
            ok = yield ev
            if not ok:
                return "error", {"error": "NOT_LEADER_OR_FOLLOWER"}, 40  # outcome unknown
            if len(self.isr[part]) < self.cfg.min_insync:
                # the HW moved because the ISR shrank, not because replicas caught
                # up (Kafka's checkEnoughReplicasReachOffset): appended, not safe
                return "error", {"error": "NOT_ENOUGH_REPLICAS_AFTER_APPEND"}, 40
            self.step("replicated", msg=post.msg)
        return "ok", {"offset": offset, "ts": ts, "seq": seq, "chat": chat}, 60

    def serve_fetch(self, p, arrived: float):
        part = p["partition"]
        if self.view.get(part, _NO_VIEW)[0] != self.name:  # not is_leader(part)
            return "error", {"error": "NOT_LEADER"}, 40
        log = self.durable["logs"][part]
        offset = p["offset"]
        div = diverging(log, offset, p.get("last_epoch"))
        if div is not None:
            return "ok", {"diverging": div, "hw": self.durable["hw"][part]}, 60
        who = p.get("replica")
        if who is None:  # a consumer: committed records only
            hw = self.durable["hw"][part]
            if offset > len(log):
                return "error", {"error": "OFFSET_OUT_OF_RANGE", "hw": hw}, 40
            recs = log[offset:min(hw, offset + 200)]
            return "ok", {"records": recs, "hw": hw}, 60 + _size(recs) if recs else 60
        followers = self.follower[part]
        st = followers.get(who)
        if st is None:
            st = followers[who] = [0, arrived]
        st[0] = offset
        if offset >= len(log):
            if arrived > st[1]:  # st[1] = max(st[1], arrived)
                st[1] = arrived
            if (who not in self.maximal_isr(part) and self.pending.get(part) is None
                    and offset >= self.durable["hw"][part]):
                self.propose_isr(part, self.isr[part] | {who})
        self.advance_hw(part)
        recs = log[offset:offset + 500]
        return "ok", {"records": recs, "hw": self.durable["hw"][part]}, 60 + _size(recs) if recs else 60

    def advance_hw(self, p: int) -> None:
        # min(own LEO, every other maximal-ISR member's LEO), without the lists
        durable = self.durable
        hws = durable["hw"]
        hw = len(durable["logs"][p])
        # Already at the log's end (an idle partition: most fetches): the
        # minimum below is at most the log's end, so it cannot move the HW —
        # skipping it changes nothing.
        if hw > hws[p]:
            follower, me = self.follower[p], self.name
            pending = self.pending.get(p)
            for f in (self.isr[p] | pending if pending else self.isr[p]):
                if f != me:
                    st = follower.get(f)
                    leo = st[0] if st is not None else 0
                    if leo < hw:
                        hw = leo
            if hw > hws[p]:
                hws[p] = hw
                self.wake(self.parked_consumers, p)
        waiters = self.waiters.get(p)
        if waiters:
            self.release(p, waiters)

    def release(self, p: int, waiters: list) -> None:
        """Answer the acks=all produces the HW has passed; the rest wait on."""
        hw = self.durable["hw"][p]
        keep = []
        for off, ev in waiters:
            if off < hw:
                ev.succeed(True)
            else:
                keep.append((off, ev))
        self.waiters[p] = keep

    # -- ISR changes through the controller (AlterPartition) --------------------------
    def propose_isr(self, p: int, isr: set[str]) -> None:
        self.pending[p] = frozenset(isr)
        self.spawn(self.alter_partition(p, self.view[p][1], self.pepoch[p], sorted(isr)))

    def alter_partition(self, p: int, epoch: int, pepoch: int, isr: list[str]):
        reply = yield self.sim.network.request(
            self, self.controller, "kafka.alter_partition",
            {"partition": p, "leader": self.name, "epoch": epoch, "pepoch": pepoch, "isr": isr}, timeout=2.0)
        if self.view.get(p) != (self.name, epoch) or self.pepoch.get(p) != pepoch:
            return  # superseded while in flight: the controller's push is the truth
        self.pending[p] = None
        if reply.status == "ok":
            self.isr[p], self.pepoch[p] = set(reply.payload["isr"]), reply.payload["pepoch"]
        self.advance_hw(p)

    # -- loops -------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Tell the controller this broker lives, every ``heartbeat_interval``:
        a timer (``Node.wake_after``: ``Node.sleep``'s key and pause rule),
        where this was a loop sending and sleeping in a process."""
        self.sim.network.send_datagram(self, self.controller, "heartbeat", {"incarnation": self.incarnation}, 40)
        self.wake_after(self.cfg.heartbeat_interval, Broker.heartbeat)

    def isr_watch(self):
        """As leader: propose dropping followers that have not caught up for
        ``replica_lag_max`` (``replica.lag.time.max.ms``)."""
        while True:
            yield from self.sleep(self.cfg.replica_lag_max / 2)
            now = self.env.now
            for p in list(self.isr):
                if not self.is_leader(p) or self.pending.get(p) is not None:
                    continue
                lagging = {f for f in self.isr[p] if f != self.name
                           and now - self.follower[p].get(f, [0, now])[1] > self.cfg.replica_lag_max}
                if lagging:
                    self.propose_isr(p, self.isr[p] - lagging)


class Fetcher:
    """As follower of partition ``p``: pull from the leader (long poll),
    truncating where logs diverge. One per partition and incarnation of a
    broker (``Broker.start``).

    Callbacks, not a process (the way ``Replication`` and ``Broker.heartbeat``
    went): this was the loop ::

        while True:
            leader = view[p].leader
            if leader is None or leader == me:
                yield role_change[p]; continue
            reply = yield request(leader, "kafka.fetch", ...)
            if not ok or view[p].leader != leader:
                if not ok: yield from sleep(fetch_backoff)
                continue
            if diverging: truncate; continue
            append the records; the high watermark

    A fetch (~1.5 k of a new design's small run's 3.7 k HTTP exchanges)
    cost a process resume each — ``fire``, ``Process._resume``, the guard's
    and the loop's generator frames — and now costs one bound-method call.

    Why the order is the same. The loop's first step ran at its process's
    ``Initialize`` (now, URGENT, the next id): ``start_soon`` pushes the
    first ``fetch`` with that very key (and runs it paused or not, as the
    first step ran). Each ``yield`` of an event is a callback appended to
    that event's callbacks at the same moment the process appended its
    ``_resume`` — the same place in the list, so it runs where the process
    resumed, paused or not, with the same value (``ev._value``). The
    backoff sleep is ``Node.wake_after`` (``Node.sleep``'s key and pause
    rule). What runs in between is the loop body itself, unchanged: the
    same requests (ids, link draws, timers), in the same order. The loop
    reads nothing of SimPy's (``active_process``) and calls no ``step``, so
    it can neither crash its own node nor raise ``NodeCrashed``.

    A crash stopped the process (an ``Interruption``, URGENT, now, that
    removed its ``_resume`` from the awaited event); here each callback
    checks the incarnation it was made in and does nothing after a crash,
    as the process, gone, did nothing when the event fired (a wake-up of a
    role change belongs to the old ``role_change`` dict, which
    ``reset_volatile`` replaced: it never fires). The events left out — the
    process's start, its interruption and its end — ran no model code; as
    in ``Timers``' argument, a dead entry at the head of the queue changes
    what ``fire`` and ``spawn_now`` see only when such entries were all
    that was due now, and then running in place is what would have come
    next. Ids drawn after them are lower by the same amount, in the same
    order."""

    __slots__ = ("node", "p", "inc", "leader")

    def __init__(self, node: Broker, p: int):
        self.node = node
        self.p = p
        self.inc = node.incarnation
        self.leader = None  # the leader the fetch in flight went to

    def fetch(self, node: Broker) -> None:
        """The top of the loop: wait for a leader to follow, or fetch from it."""
        p = self.p
        while True:
            leader = node.view.get(p, _NO_VIEW)[0]
            if leader is None or leader == node.name:
                ev = node.role_change.get(p)
                if ev is None:
                    ev = node.role_change[p] = node.env.event()
                if ev.callbacks is None:  # already processed: a process went on at once
                    continue
                ev.callbacks.append(self.woken)
                return
            log = node.durable["logs"][p]
            cfg = node.cfg
            self.leader = leader
            node.sim.network.request(node, leader, "kafka.fetch",
                                     {"partition": p, "offset": len(log), "replica": node.name,
                                      "last_epoch": log[-1].epoch if log else None,
                                      "wait": cfg.replica_fetch_wait_max},
                                     size=80, timeout=cfg.replica_fetch_wait_max + cfg.request_timeout
                                     ).callbacks.append(self.replied)
            return

    def woken(self, _event) -> None:
        """A role change: back to the top (not after a crash)."""
        node = self.node
        if node.incarnation == self.inc:
            self.fetch(node)

    def replied(self, event) -> None:
        """The fetch's answer (not after a crash)."""
        node = self.node
        if node.incarnation != self.inc:
            return
        reply = event._value
        p = self.p
        if reply.status != "ok":
            node.wake_after(node.cfg.fetch_backoff, self.fetch)
            return
        if node.view.get(p, _NO_VIEW)[0] == self.leader:
            body = reply.payload
            log = node.durable["logs"][p]
            hws = node.durable["hw"]
            if "diverging" in body:
                epoch, end = body["diverging"]
                del log[min(end, epoch_end(log, epoch)):]
                hws[p] = min(hws[p], len(log))
            else:
                for r in body["records"]:
                    if r.offset == len(log):
                        log.append(r)
                hws[p] = min(body["hw"], len(log))
        self.fetch(node)


class Controller(Node):
    """Partition leadership and the committed ISR (a KRaft quorum, assumed
    healthy). Per partition: [leader, leader epoch, ISR, partition epoch];
    the partition epoch grows with every change, so a leader's proposal made
    against an older state is rejected (``INVALID_UPDATE_VERSION``)."""

    role = "kafka-controller"

    def __init__(self, sim, name, region, *, brokers: list[str], replicas: dict[int, list[str]], cfg):
        super().__init__(sim, name, region)
        self.brokers = list(brokers)
        self.replicas = replicas
        self.cfg = cfg
        self.durable["state"] = {p: [rs[0], 0, list(rs), 0] for p, rs in replicas.items()}

    def reset_volatile(self):
        self.seen = {b: (0.0, 0) for b in self.brokers}  # last heartbeat, incarnation
        self.alive = {b: True for b in self.brokers}
        self.watchers: list = []  # metadata requests waiting for a leader change (blocking queries)

    def start(self):
        start_soon(self, Controller.watch)
        for b in self.brokers:
            self.push(b)

    def on_message(self, conn, msg):
        if msg.kind == "heartbeat":
            last, inc = self.seen.get(msg.src, (0.0, 0))
            self.seen[msg.src] = (self.env.now, msg.payload["incarnation"])
            if msg.payload["incarnation"] != inc or not self.alive.get(msg.src, True):
                self.alive[msg.src] = True
                self.revive(msg.src)

    def push(self, broker: str, parts=None) -> None:
        """Send a broker the leader and ISR of its partitions."""
        st = self.durable["state"]
        rows = [(p, *st[p]) for p in (parts or self.replicas) if broker in self.replicas[p]]
        if rows:
            self.sim.network.request(self, broker, "kafka.leader_and_isr", {"partitions": rows}, timeout=2.0)

    def announce(self, p: int) -> None:
        for b in self.replicas[p]:
            if self.alive[b]:
                self.push(b, [p])

    def elect(self, p: int, leader: str | None, isr: list[str], clean: bool) -> None:
        st = self.durable["state"][p]
        st[:] = [leader, st[1] + 1, isr, st[3] + 1]
        self.sim.record("kafka-controller", "event", "election",
                        {"partition": p, "leader": leader, "epoch": st[1], "clean": clean})
        self.announce(p)
        watchers, self.watchers = self.watchers, []
        for ev in watchers:
            if not ev.triggered:
                ev.succeed()

    def revive(self, broker: str) -> None:
        st = self.durable["state"]
        for p, rs in self.replicas.items():
            if broker in rs and st[p][0] is None and broker in st[p][2]:
                self.elect(p, broker, [broker], True)  # the last ISR member comes back
        self.push(broker)

    def watch(self) -> None:
        """Every 0.25 s (at most half the election delay), fence the brokers
        silent for ``election_delay``: a timer, where this was a loop
        sleeping and checking in a process."""
        self.wake_after(min(0.25, self.cfg.election_delay / 2 or 0.25), Controller._check_brokers)

    def _check_brokers(self) -> None:
        for b in self.brokers:
            if self.alive[b] and self.env.now - self.seen[b][0] > self.cfg.election_delay:
                self.alive[b] = False
                self.fail_over(b)
        self.watch()

    def fail_over(self, dead: str) -> None:
        """Fence ``dead``: out of every ISR, its leaderships to others."""
        st = self.durable["state"]
        for p, rs in self.replicas.items():
            leader, epoch, isr, pepoch = st[p]
            if dead not in rs:
                continue
            if leader != dead:
                if dead in isr and leader is not None:
                    st[p] = [leader, epoch, [b for b in isr if b != dead], pepoch + 1]
                    self.announce(p)
                continue
            clean = [b for b in isr if b != dead and self.alive[b]]
            if clean:
                self.elect(p, clean[0], clean, True)
            elif self.cfg.unclean_election and any(self.alive[b] for b in rs if b != dead):
                new = next(b for b in rs if b != dead and self.alive[b])
                self.elect(p, new, [new], False)
            else:
                self.elect(p, None, [dead], False)  # offline until an ISR member returns

    def metadata(self, req):
        """Partition leaders; with ``version`` (the sum of leader epochs the
        asker knows) and ``wait``, a blocking query answered on a change."""
        if req.payload.get("wait") and req.payload.get("version") == self.version():
            return Later(park(self, self.watchers, req.payload["wait"]), Controller.leaders)
        return self.leaders(req)

    def leaders(self, req):
        return "ok", {"leaders": {part: (s[0], s[1]) for part, s in self.durable["state"].items()},
                      "version": self.version()}, 200

    def version(self) -> int:
        return sum(s[1] for s in self.durable["state"].values())

    def alter_partition(self, req):
        """AlterPartition: the leader's proposed ISR, accepted only against the
        current leader epoch and partition epoch, and only with live brokers."""
        p = req.payload
        st = self.durable["state"][p["partition"]]
        if st[0] != p["leader"] or st[1] != p["epoch"]:
            return "error", {"error": "FENCED_LEADER_EPOCH"}, 40
        if st[3] != p["pepoch"]:
            return "error", {"error": "INVALID_UPDATE_VERSION"}, 40
        if not all(self.alive.get(b, False) for b in p["isr"]):
            return "error", {"error": "INELIGIBLE_REPLICA"}, 40
        st[2], st[3] = list(p["isr"]), st[3] + 1
        self.sim.record("kafka-controller", "event", "isr",
                        {"partition": p["partition"], "isr": st[2], "epoch": st[1]})
        return "ok", {"isr": st[2], "pepoch": st[3]}, 40

    HANDLERS = {"kafka.metadata": metadata, "kafka.alter_partition": alter_partition}
