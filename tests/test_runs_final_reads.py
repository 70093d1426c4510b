"""Two memory savings of a large run, each held to what it replaced:
``Runs`` (a client's seen sequence numbers and rt2023's shown messages) to a
``set``, and ``FinalReads`` (the end-of-run reads without a process) to the
process it replaced, byte for byte on whole runs."""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.loader import load_scenario
from sim.architectures import base
from sim.nodes import client as client_mod
from sim.nodes.runs import Numbering, Runs
from sim.network import Reply
from sim.runner import run

# -- Runs ------------------------------------------------------------------------------

values = st.one_of(st.integers(-5, 40), st.integers(-2**70, 2**70), st.none(), st.text(max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), values), max_size=120))
def test_runs_answers_as_a_set_does(ops):
    runs, ref = Runs(), set()
    for add, x in ops:
        if add:
            runs.add(x)
            ref.add(x)
        assert (x in runs) == (x in ref)
    assert len(runs) == len(ref)
    assert sorted(runs, key=repr) == sorted(ref, key=repr)
    b = runs.b  # the invariant the membership test relies on: strictly increasing, non-adjacent runs
    assert all(b[k] < b[k + 1] for k in range(len(b) - 1))
    for probe in range(-6, 42):
        assert (probe in runs) == (probe in ref)


def test_runs_keeps_pairs_not_members():
    r = Runs()
    for x in (5, 6, 7, 9, 10, 4):
        r.add(x)
    assert r.b == [4, 8, 9, 11]
    r.add(8)  # closes the gap: the two runs join
    assert r.b == [4, 11]
    r.add(2)
    r.add(3)  # grows the run at 2 up to the one at 4: joined
    assert r.b == [2, 11]
    assert 1 not in r and 2 in r and 10 in r and 11 not in r
    assert None not in r and "2" not in r


def test_numbering_is_per_channel_and_stable():
    n = Numbering()
    assert n.get("C1", "m") is None
    assert n.number("C1", "m") == 0 and n.number("C1", "k") == 1 and n.number("C1", "m") == 0
    assert n.number("C2", "k") == 0 and n.get("C2", "m") is None


# -- FinalReads ------------------------------------------------------------------------

def _as_processes(self):
    """What ``System.final_reads`` was: a process per client."""
    return [c.spawn(c.final_reads()) for c in self.clients if c.up]


def _history(tmp_path, name, scenario, arch, seed=1) -> bytes:
    """The run's history and journal (message ids are drawn in event order)."""
    scn = load_scenario(scenario)
    out = run(scenario=scn.name, seed=seed, cfg=scn.run_config(arch), faults=scn.fault_specs(arch),
              out=tmp_path / f"{name}.jsonl")
    return out.history.read_bytes() + out.write_journal(tmp_path / f"{name}.journal").read_bytes()


def _crash_one_reader(monkeypatch, start):
    """Wrap ``System.final_reads`` so that client-2 crashes 1 ms into the reads,
    and 1 ms later its read's reply arrives after all (a ``FinalReads`` must
    drop it, as the interrupted process never saw it)."""
    def final_reads(self):
        reads = start(self)
        victim = next(c for c in self.clients if c.name == "client-2")
        env = victim.env
        env.timeout(0.001).callbacks.append(lambda _e: victim.crash())

        def late_reply(_e):
            for r in reads:
                if isinstance(r, client_mod.FinalReads) and r.client is victim:
                    ev = simpy.Event(env)
                    ev._ok, ev._value = True, Reply("timeout")
                    r(ev)
        env.timeout(0.002).callbacks.append(late_reply)
        return reads
    monkeypatch.setattr(base.System, "final_reads", final_reads)


def _probe_first(start):
    """Queue an event due now that records an op *before* the reads start:
    the processes' start events (URGENT) pop before it, so must the chain's."""
    def final_reads(self):
        sim = self.clients[0].sim
        sim.env.timeout(0).callbacks.append(lambda _e: sim.record("test", "event", "probe", {}))
        return start(self)
    return final_reads


def test_final_reads_write_what_the_processes_wrote(tmp_path, monkeypatch):
    original = base.System.final_reads
    for arch in ("old", "new", "rt2023"):
        with monkeypatch.context() as m:
            m.setattr(base.System, "final_reads", _probe_first(original))
            chained = _history(tmp_path, f"chain-{arch}", "crash-mid-send", arch)
        with monkeypatch.context() as m:
            m.setattr(base.System, "final_reads", _probe_first(_as_processes))
            processes = _history(tmp_path, f"proc-{arch}", "crash-mid-send", arch)
        assert b'"f":"read"' in chained
        assert chained == processes, arch


def test_a_crash_mid_reads_ends_them_as_it_ended_the_process(tmp_path, monkeypatch):
    original = base.System.final_reads
    with monkeypatch.context() as m:
        _crash_one_reader(m, original)
        chained = _history(tmp_path, "chain", "steady", "new")
    with monkeypatch.context() as m:
        _crash_one_reader(m, _as_processes)
        processes = _history(tmp_path, "proc", "steady", "new")
    assert chained == processes
    # the crashed client invoked its first read and never completed it
    reads = [line for line in chained.splitlines() if b'"client-2"' in line and b'"f":"read"' in line]
    assert [b'"type":"invoke"' in line for line in reads] == [True]


def test_a_client_with_its_own_final_reads_still_runs_them_as_a_process(tmp_path, monkeypatch):
    started = []

    def own(self):
        started.append(self.name)
        yield from client_mod.Client.final_reads(self)

    scn = load_scenario("crash-mid-send")
    from sim.architectures.new.client import NewClient

    monkeypatch.setattr(NewClient, "final_reads", own)
    seen = []
    real = client_mod.final_reads

    def spy(c):
        r = real(c)
        seen.append(r)
        return r

    monkeypatch.setattr(base, "final_reads", spy)
    run(scenario=scn.name, seed=1, cfg=scn.run_config("new"), faults=scn.fault_specs("new"),
        out=tmp_path / "h.jsonl", journal=False)
    assert seen and all(isinstance(r, simpy.Process) for r in seen)
    assert len(started) == len(seen)
