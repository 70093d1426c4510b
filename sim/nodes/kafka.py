"""Kafka: brokers with replicated partition logs, and a controller.

Theory of operation
-------------------
Each partition has ``replication`` replicas, a leader and an ISR (in-sync
replicas). Logs are durable (a broker restart keeps them). Followers pull
from the leader every ``fetch_interval``; the leader tracks each follower's
log end offset (LEO) and when it was last caught up, drops a follower from
the ISR after ``replica_lag_max`` without catching up, and adds it back once
it has. The high watermark (HW) is the smallest LEO in the ISR; consumers
(the job workers) only see records below the HW.

``acks``: with ``all`` the leader answers a produce once every ISR member
has the record (and refuses with ``NOT_ENOUGH_REPLICAS``, a definite error,
when the ISR is smaller than ``min_insync``; if the ISR shrinks below it
while a produce waits, the answer is ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``,
outcome unknown); with ``1`` it answers as soon
as its own log has it — an acked record that no follower fetched is lost if
the leader dies.

The controller (KRaft quorum, assumed healthy) watches broker heartbeats. A
broker silent for ``election_delay`` loses its leaderships: the new leader is
an alive ISR member (clean), or — with ``unclean_election`` — any alive
replica, even one far behind, whose log becomes the truth. A returning
broker follows, truncating its log where it diverges from the leader's
(leader-epoch based, as in KIP-101), so what only it had is gone.

Each record carries the channel's sequence number (assigned by the leader
from its log: it is the log order) and, with ``ts_source = "kafka"``, its ts
(monotonic per partition).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel import Node
from .protocol import Chat, fmt_ts


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    epoch: int
    chat: Chat


def epoch_end(log: list[Record], epoch: int | None) -> int:
    """First offset after the last record of ``epoch`` (KIP-101), i.e. where a
    follower whose last record has that epoch must truncate to."""
    if epoch is None:
        return 0
    for r in log:
        if r.epoch > epoch:
            return r.offset
    return len(log)


class Broker(Node):
    role = "kafka"

    def __init__(self, sim, name, region, *, controller: str, replicas: dict[int, list[str]], cfg: dict):
        super().__init__(sim, name, region)
        self.controller = controller
        self.replicas = {p: rs for p, rs in replicas.items() if name in rs}
        self.cfg = cfg
        self.durable["logs"] = {p: [] for p in self.replicas}
        self.durable["hw"] = {p: 0 for p in self.replicas}

    def reset_volatile(self):
        self.view: dict[int, tuple[str | None, int]] = {}  # p -> (leader, epoch), from the controller
        self.isr: dict[int, set[str]] = {}  # as leader
        self.follower: dict[int, dict[str, list[float]]] = {}  # as leader: p -> f -> [leo, caught_up_at]
        self.waiters: dict[int, list] = {}
        self.chan_seq: dict[int, dict[str, int]] = {}
        self.last_ts: dict[int, float] = {}

    def start(self):
        self.spawn(self.heartbeats())
        self.spawn(self.isr_watch())
        for p in sorted(self.replicas):
            self.spawn(self.fetcher(p))

    def log(self, p: int) -> list[Record]:
        return self.durable["logs"][p]

    def is_leader(self, p: int) -> bool:
        return self.view.get(p, (None, 0))[0] == self.name

    # -- roles from the controller --------------------------------------------------
    def become(self, p: int, leader: str | None, epoch: int, isr: list[str]) -> None:
        was_leader = self.is_leader(p)
        self.view[p] = (leader, epoch)
        if leader == self.name:
            self.isr[p] = set(isr)
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

    # -- requests --------------------------------------------------------------------
    def leader_and_isr(self, req):
        for part, leader, epoch, isr in req.payload["partitions"]:
            if part in self.replicas and epoch >= self.view.get(part, (None, -1))[1]:
                self.become(part, leader, epoch, isr)
        return "ok", {}, 40

    def on_produce(self, req):
        return (yield from self.produce(req.payload))

    def on_fetch(self, req):
        return self.serve_fetch(req.payload)

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

    def serve_fetch(self, p):
        part = p["partition"]
        if not self.is_leader(part):
            return "error", {"error": "NOT_LEADER"}, 40
        log = self.log(part)
        offset = p["offset"]
        hw = self.durable["hw"][part]
        who = p.get("replica")
        if who is None:  # a consumer: committed records only
            if offset > len(log):
                return "error", {"error": "OFFSET_OUT_OF_RANGE", "leo": hw}, 40
            recs = log[offset:min(hw, offset + 200)]
            return "ok", {"records": recs, "hw": hw}, 60 + sum(r.chat.size for r in recs)
        last_epoch = p.get("last_epoch")
        if 0 < offset <= len(log) and log[offset - 1].epoch == last_epoch and last_epoch == self.view[part][1]:
            end = offset  # the follower's last record is ours, from this epoch: nothing diverges
        else:
            end = epoch_end(log, last_epoch)
        if end < offset:
            return "ok", {"truncate": end, "hw": hw}, 60
        st = self.follower[part].setdefault(who, [0, self.env.now])
        st[0] = offset
        if offset >= len(log):
            st[1] = self.env.now
            if who not in self.isr[part]:
                self.isr[part].add(who)
                self.alter_isr(part)
        self.advance_hw(part)
        recs = log[offset:offset + 500]
        return "ok", {"records": recs, "hw": self.durable["hw"][part]}, 60 + sum(r.chat.size for r in recs)

    def advance_hw(self, p: int) -> None:
        leo = len(self.log(p))
        hw = min([leo] + [self.follower[p].get(f, [0])[0] for f in self.isr[p] if f != self.name])
        if hw > self.durable["hw"][p]:
            self.durable["hw"][p] = hw
        waiters = self.waiters.get(p)
        if waiters:
            keep = []
            for off, ev in waiters:
                if off < self.durable["hw"][p]:
                    ev.succeed(True)
                else:
                    keep.append((off, ev))
            self.waiters[p] = keep

    def alter_isr(self, p: int) -> None:
        leader, epoch = self.view[p]
        self.sim.network.request(self, self.controller, "kafka.alter_isr",
                                 {"partition": p, "epoch": epoch, "isr": sorted(self.isr[p])}, timeout=2.0)

    # -- loops -------------------------------------------------------------------------
    def heartbeats(self):
        net = self.sim.network
        while True:
            net.send_datagram(self, self.controller, "heartbeat", {"incarnation": self.incarnation}, 40)
            yield from self.sleep(0.5)

    def isr_watch(self):
        """As leader: drop followers that have not caught up for replica_lag_max."""
        while True:
            yield from self.sleep(0.5)
            for p in list(self.isr):
                if not self.is_leader(p):
                    continue
                now = self.env.now
                lagging = {f for f in self.isr[p] if f != self.name
                           and now - self.follower[p].get(f, [0, now])[1] > self.cfg.replica_lag_max}
                if lagging:
                    self.isr[p] -= lagging
                    self.alter_isr(p)
                    self.advance_hw(p)

    def fetcher(self, p: int):
        """As follower: pull from the leader, truncating where logs diverge."""
        net = self.sim.network
        while True:
            yield from self.sleep(self.cfg.fetch_interval)
            leader, _ = self.view.get(p, (None, 0))
            if leader is None or leader == self.name:
                continue
            log = self.log(p)
            reply = yield net.request(self, leader, "kafka.fetch",
                                      {"partition": p, "offset": len(log), "replica": self.name,
                                       "last_epoch": log[-1].epoch if log else None}, size=80, timeout=1.0)
            if reply.status != "ok" or self.view.get(p, (None, 0))[0] != leader:
                continue
            body = reply.payload
            if "truncate" in body:
                del log[body["truncate"]:]
                self.durable["hw"][p] = min(self.durable["hw"][p], len(log))
                continue
            for r in body["records"]:
                if r.offset == len(log):
                    log.append(r)
            self.durable["hw"][p] = min(body["hw"], len(log))


class Controller(Node):
    """Partition leadership and ISR (a KRaft quorum, assumed healthy)."""

    role = "kafka-controller"

    def __init__(self, sim, name, region, *, brokers: list[str], replicas: dict[int, list[str]], cfg: dict):
        super().__init__(sim, name, region)
        self.brokers = list(brokers)
        self.replicas = replicas
        self.cfg = cfg
        self.durable["state"] = {p: [rs[0], 0, list(rs)] for p, rs in replicas.items()}  # leader, epoch, isr

    def reset_volatile(self):
        self.seen = {b: (0.0, 0) for b in self.brokers}  # last heartbeat, incarnation
        self.alive = {b: True for b in self.brokers}

    def start(self):
        self.spawn(self.watch())
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
        rows = [(p, st[p][0], st[p][1], st[p][2]) for p in (parts or self.replicas) if broker in self.replicas[p]]
        if rows:
            self.sim.network.request(self, broker, "kafka.leader_and_isr", {"partitions": rows}, timeout=2.0)

    def announce(self, p: int) -> None:
        for b in self.replicas[p]:
            if self.alive[b]:
                self.push(b, [p])

    def revive(self, broker: str) -> None:
        st = self.durable["state"]
        for p, rs in self.replicas.items():
            if broker in rs and st[p][0] is None and broker in st[p][2]:
                st[p] = [broker, st[p][1] + 1, [broker]]  # the last ISR member comes back
                self.sim.record("kafka-controller", "event", "election",
                                {"partition": p, "leader": broker, "epoch": st[p][1], "clean": True})
                self.announce(p)
        self.push(broker)

    def watch(self):
        while True:
            yield from self.sleep(0.25)
            for b in self.brokers:
                if self.alive[b] and self.env.now - self.seen[b][0] > self.cfg.election_delay:
                    self.alive[b] = False
                    self.fail_over(b)

    def fail_over(self, dead: str) -> None:
        st = self.durable["state"]
        for p, rs in self.replicas.items():
            leader, epoch, isr = st[p]
            if dead not in rs:
                continue
            if leader != dead:
                if dead in isr:
                    st[p] = [leader, epoch, [b for b in isr if b != dead]]
                    self.announce(p)
                continue
            clean = [b for b in isr if b != dead and self.alive[b]]
            if clean:
                st[p] = [clean[0], epoch + 1, clean]
            elif self.cfg.unclean_election and any(self.alive[b] for b in rs if b != dead):
                new = next(b for b in rs if b != dead and self.alive[b])
                st[p] = [new, epoch + 1, [new]]
            else:
                st[p] = [None, epoch + 1, [dead]]  # offline until an ISR member returns
            self.sim.record("kafka-controller", "event", "election",
                            {"partition": p, "leader": st[p][0], "epoch": st[p][1], "clean": bool(clean)})
            self.announce(p)

    def metadata(self, req):
        return "ok", {"leaders": {part: (s[0], s[1]) for part, s in self.durable["state"].items()}}, 200

    def alter_isr(self, req):
        p = req.payload
        st = self.durable["state"]
        part = p["partition"]
        if st[part][1] == p["epoch"]:
            st[part][2] = list(p["isr"])
        return "ok", {}, 40

    HANDLERS = {"kafka.metadata": metadata, "kafka.alter_isr": alter_isr}
