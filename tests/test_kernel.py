"""Kernel: durable vs volatile state, crash/restart/pause, steps, faults, history."""

import json

import pytest

from conftest import Probe, make_net
from sim.errors import HistoryError
from sim.faults import FaultSpec, Nemesis
from sim.history import HistoryWriter, Meta, parse_history, read_history
from sim.kernel import Wake


class Counter(Probe):
    """Counts ticks in volatile state and checkpoints every 5th to durable."""

    def reset_volatile(self):
        super().reset_volatile()
        self.ticks = 0
        self.restored = self.durable.get("checkpoint", 0)

    def start(self):
        self.spawn(self.loop())

    def loop(self):
        while True:
            yield from self.sleep(1.0)
            self.ticks += 1
            self.step("tick", n=self.ticks)
            if self.ticks % 5 == 0:
                self.durable["checkpoint"] = self.ticks


def test_crash_drops_volatile_keeps_durable_and_restart_rebuilds():
    sim, net = make_net()
    n = Counter(sim, "n", "us-east")
    sim.start()
    sim.env.run(until=7.5)
    assert n.ticks == 7 and n.durable["checkpoint"] == 5
    n.crash()
    assert n.ticks == 0 and not n.up
    sim.env.run(until=20)
    assert n.ticks == 0  # its process stopped with it
    n.restart()
    assert n.restored == 5
    sim.env.run(until=22.5)
    assert n.ticks == 2


def test_pause_keeps_state_and_holds_messages_until_resume():
    sim, net = make_net()
    a, b = Probe(sim, "a", "us-east"), Counter(sim, "b", "us-east")
    sim.start()
    sim.env.run(until=2.5)
    b.pause()
    net.send_datagram(a, "b", "m", 1)
    sim.env.run(until=6)
    assert b.got == [] and b.ticks == 2
    b.resume()
    assert [p for _, p, _ in b.got] == [1]
    sim.env.run(until=8)
    assert b.ticks >= 3


def test_a_paused_nodes_timer_waits_for_the_resume_and_a_callback_does_not():
    # Node.wake_after as a timer behaves like Node.sleep: while the node is
    # paused it makes no progress (it fired on time before this was fixed:
    # SimPy calls the timer as Wake.__call__(timer), so the check must look
    # for the missing event argument)
    sim, net = make_net()
    n = Probe(sim, "n", "us-east")
    sim.start()
    fired = []
    n.wake_after(1.0, lambda node: fired.append(("timer", sim.env.now)))
    ev = sim.env.event()
    ev.callbacks.append(Wake(n, lambda node: fired.append(("callback", sim.env.now))))
    sim.env.run(until=0.5)
    n.pause()
    ev.succeed()
    sim.env.run(until=3.0)
    assert fired == [("callback", 0.5)]  # a callback runs where a waiting process would resume
    n.resume()
    sim.env.run(until=4.0)
    assert len(fired) == 2 and fired[1][0] == "timer" and 3.0 <= fired[1][1] < 3.06
    n.wake_after(0.1, lambda node: fired.append("set before the crash"))
    n.crash()
    n.restart()
    sim.env.run(until=5.0)
    assert len(fired) == 2  # the crash's new incarnation ignores its old timers


def test_clock_skew_offsets_the_local_clock_only():
    sim, net = make_net()
    n = Probe(sim, "n", "us-east")
    sim.start()
    sim.env.run(until=3)
    n.skew = -0.5
    assert n.clock() == pytest.approx(2.5) and sim.env.now == 3


def _run_nemesis(schedule, tmp_path, until=30):
    sim, net = make_net()
    w = HistoryWriter(tmp_path / "h.jsonl", Meta(scenario="t", arch="x", seed=1, channels={}))
    sim.history = w
    nodes = [Counter(sim, f"n{i}", "us-east") for i in range(2)]
    nem = Nemesis(sim, schedule)
    sim.start()
    nem.start()
    sim.env.run(until=until)
    nem.heal_all()
    w.close()
    return nodes, read_history(tmp_path / "h.jsonl")


def test_step_triggered_crash_fires_on_the_nth_occurrence(tmp_path):
    spec = FaultSpec(kind="crash", step="tick", node="n1", nth=3, duration=4.0)
    (n0, n1), h = _run_nemesis([spec], tmp_path, until=12)
    crash, restart = h.ops
    assert crash.f == "crash" and crash.value["node"] == "n1" and crash.value["step"] == "tick"
    assert crash.value["nth"] == 3 and crash.time == pytest.approx(3.0, abs=1e-6)
    assert restart.f == "restart" and restart.time == pytest.approx(7.0, abs=1e-6)
    assert n1.ticks == 4 and n0.ticks == 11  # n1 restarted at 7, ticked 8..11 (run stops before 12)


def test_timed_faults_are_recorded_and_healed_at_the_end(tmp_path):
    schedule = [
        FaultSpec(kind="partition", at=2.0, a=("n0",), b=("n1",)),
        FaultSpec(kind="pause", at=3.0, targets=("n1",), duration=2.0),
        FaultSpec(kind="skew", at=4.0, targets=("n*",), skew=0.25),
    ]
    (n0, n1), h = _run_nemesis(schedule, tmp_path, until=10)
    fs = [(op.f, op.type, op.process) for op in h.ops]
    assert fs == [("partition", "info", "nemesis"), ("pause", "info", "nemesis"),
                  ("skew", "info", "nemesis"), ("resume", "info", "nemesis"),
                  ("heal", "info", "nemesis"), ("skew-end", "info", "nemesis")]
    assert n0.skew == 0 and n0.sim.network.partitions == []


def _hist(lines):
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": "s", "arch": "old", "seed": 1,
            "channels": {"C1": ["c1"]}, "config": {}}
    return "\n".join([json.dumps(meta)] + lines).encode()


def test_valid_history_roundtrips():
    op = '{"index": 0, "time": 1.0, "process": "c1", "type": "invoke", "f": "send", "value": {"msg": "m"}}'
    h = parse_history(_hist([op]))
    assert h.meta.channels == {"C1": ["c1"]} and h.ops[0].value == {"msg": "m"}


@pytest.mark.parametrize("lines, needle", [
    (['{"index": 0, "time": 1.0, "process": "c1", "type": "invoke", "f": "send", "value": {}}',
      '{"index": 1, "time": 1.0, "process": "c1", "type": "ok", "f": "send", "value": '], "line 3"),
    (['{"index": 0, "time": 1.0, "process": "c1", "type": "invoke", "f": "send"}'], "line 2"),
    (['{"index": 0, "time": 2.0, "process": "c1", "type": "invoke", "f": "send", "value": {}}',
      '{"index": 1, "time": 1.0, "process": "c1", "type": "ok", "f": "send", "value": {}}'], "line 3: time"),
    (['{"index": 0, "time": 1.0, "process": "c1", "type": "maybe", "f": "send", "value": {}}'], "line 2"),
    (['{"index": 5, "time": 1.0, "process": "c1", "type": "ok", "f": "send", "value": {}}'], "line 2: index"),
])
def test_malformed_history_lines_are_rejected_with_their_line_number(lines, needle):
    with pytest.raises(HistoryError, match=needle):
        parse_history(_hist(lines), "h.jsonl")


def test_bad_header_and_empty_file():
    with pytest.raises(HistoryError, match="line 1"):
        parse_history(b'{"type": "op"}\n')
    with pytest.raises(HistoryError, match="empty"):
        parse_history(b"")


def test_writer_publishes_atomically(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl", Meta(scenario="t", arch="x", seed=1, channels={}))
    w.append(0.1234567, "c", "event", "x", {})
    assert not (tmp_path / "h.jsonl").exists()
    w.abort()
    assert list(tmp_path.iterdir()) == []
