"""A large run's memory after the simulation (issue 15, the 100k storm):
the simulation is released before checking, the metrics stream over the
history's bytes, the journal is kept as columns. Each is checked against
the plain implementation it replaces, on real runs."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest

import sim.history
from chatsim import api
from reports.metrics import latencies, run_metrics, run_metrics_bytes
from scenarios import load_scenario
from sim.history import parse_history
from sim.runner import run


def _run(scn, arch: str, seed: int, tmp_path: Path, journal: bool = True):
    return run(scenario=scn.name, seed=seed, cfg=scn.run_config(arch), faults=scn.fault_specs(arch),
               out=tmp_path / f"{scn.name}.{arch}.{seed}.jsonl", journal=journal)


# -- the simulation is let go before checking -------------------------------------------
def test_simulation_is_released_before_the_checker_runs(tmp_path, monkeypatch):
    import invariants.checkers
    import sim.runner

    refs = []
    real_run, real_check = sim.runner.run, invariants.checkers.check_run_file

    def spy_run(**kw):
        out = real_run(**kw)
        refs.append(weakref.ref(out.sim))
        return out

    alive_at_check = []

    def spy_check(path):
        alive_at_check.append(refs[0]() is not None)
        return real_check(path)

    monkeypatch.setattr(sim.runner, "run", spy_run)
    monkeypatch.setattr(invariants.checkers, "check_run_file", spy_check)
    result = api.run_one(load_scenario("crash-mid-send"), "new", 1, tmp_path)
    assert alive_at_check == [False]
    assert result["metrics"]["network"]["messages"] > 0  # taken from the simulation before it went
    assert result["metrics"]["backend"]["webapp"]["requests"] > 0


# -- metrics in one streaming pass ------------------------------------------------------
RUNS = [("crash-mid-send", "old", 1), ("crash-mid-send", "new", 2), ("flaky-mobile", "rt2023", 1),
        ("redis-failover", "new", 1)]


@pytest.mark.parametrize("name,arch,seed", RUNS)
def test_streaming_metrics_equal_the_parsed_ones(name, arch, seed, tmp_path, monkeypatch):
    scn = load_scenario(name)
    out = _run(scn, arch, seed, tmp_path)
    data = out.history.read_bytes()
    net, backend = out.network_summary(), out.backend()
    end = scn.workload.duration + scn.workload.settle
    want = run_metrics(parse_history(data), net, backend=backend, workload_end=end)
    assert want["live_latency"]["p50"] is not None and want["sends"]["invoked"] > 0
    assert run_metrics_bytes(data, net, backend=backend, workload_end=end) == want
    monkeypatch.setattr(sim.history, "BLOCK_BYTES", 300)  # many blocks, cut at many places
    assert run_metrics_bytes(data, net, backend=backend, workload_end=end) == want
    assert run_metrics_bytes(data) == run_metrics(parse_history(data))


def test_streaming_metrics_of_a_storm_with_teams_and_flannel(tmp_path):
    scn = api.storm_scenario(60)
    out = _run(scn, "new", 1, tmp_path)
    data = out.history.read_bytes()
    backend = out.backend()
    want = run_metrics(parse_history(data), out.network_summary(), backend=backend, workload_end=100.0)
    assert want["storm"]["disconnected_at_heal"] > 0 and want["teams"]["T1"]["flannel"]["hits"] > 0
    assert run_metrics_bytes(data, out.network_summary(), backend=backend, workload_end=100.0) == want


def test_live_latency_counts_each_members_first_display_after_the_invoke():
    """The cases the (send, process) first-occurrence pick must get right: a
    retried id (the latest invoke counts), a display before any invoke (not
    counted, nor does it hide a later one), a repeated display."""
    from helpers import deliver, done, hand_history, invoke

    ops = [deliver("c2", "m1"), invoke("c1", "m1"), deliver("c2", "m1"), deliver("c2", "m1"),
           invoke("c1", "m1"), deliver("c3", "m1"), done("c1", "m1"), deliver("c1", "m1", ch="C2")]
    data = hand_history(*ops, channels={"C1": ["c1", "c2", "c3"], "C2": ["c1"]})
    h = parse_history(data)
    ack, live = latencies(h.ops)
    assert sorted(live) == [1.0, 1.0] and ack == [2.0]  # c3 from the retry, not the first invoke
    assert run_metrics_bytes(data) == run_metrics(h)


# -- the journal as columns ---------------------------------------------------------------
@pytest.mark.parametrize("name,arch", [("crash-mid-send", "new"), ("flaky-mobile", "old")])
def test_journal_chunks_read_back_as_the_rows_they_were(name, arch, tmp_path, monkeypatch):
    """The same run with the journal never compacted (every message a tuple,
    as before columns) and compacted every 97 messages: rows, random access,
    the summary and journal.jsonl are equal."""
    import sim.network

    scn = load_scenario(name)
    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 1 << 20)  # more than the run sends
    plain = _run(scn, arch, 1, tmp_path / "plain")
    assert plain.journal.chunks == []
    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 97)
    cols = _run(scn, arch, 1, tmp_path / "cols")
    assert len(cols.journal.chunks) == len(cols.journal) // 97 > 10
    assert all(c.cols is None for c in cols.journal.chunks)  # spilled: the columns are in the file only
    want, got = list(plain.journal.rows), list(cols.journal.rows)
    assert got == want and [type(x) for r in got for x in r] == [type(x) for r in want for x in r]
    assert any(r[6] is None for r in want) and any(r[7] for r in want) and any(r[8] for r in want)
    for i in (0, 96, 97, 98, len(want) // 2, len(want) - 1, -1):
        assert cols.journal.rows[i] == want[i]
    assert cols.journal.rows[5:300:7] == want[5:300:7]
    assert cols.network_summary() == plain.network_summary()
    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 1 << 20)  # more than the run sends
    a = plain.write_journal(tmp_path / "plain.jsonl").read_bytes()
    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 97)
    assert cols.write_journal(tmp_path / "cols.jsonl").read_bytes() == a


def test_a_journal_chunk_that_does_not_fit_arrays_stays_in_memory(monkeypatch):
    """A size that is not an int (or a send time that is neither float nor
    int) keeps its column a list, and the chunk is not spilled; rows read
    back as written either way, spilled chunks around it too."""
    import sim.network
    from sim.network import Journal

    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 3)
    j = Journal()
    rows = [(i, f"n{i % 2}", "m", "k", 2.5 if i == 4 else i, 0.5 * i, "t" if i % 3 else None) for i in range(8)]
    for r in rows:
        j.add(*r)
    assert [c.cols is None for c in j.chunks] == [True, False]  # the second chunk holds the size 2.5
    assert list(j.sent_rows()) == rows
    assert [j.row(i)[:6] + [j.row(i)[8]] for i in range(8)] == [list(r) for r in rows]
    assert [r[0] for r in j.traced_rows()] == [1, 2, 4, 5, 7]
    assert j.summary()["bytes"] == sum(r[4] for r in rows) and j.summary()["on_message_paths"] == 5


def test_a_journal_without_temporary_space_keeps_its_chunks(monkeypatch):
    """No temporary file (or a full disk) is no error: the chunks stay in
    memory and read back the same."""
    import tempfile

    import sim.network
    from sim.network import Journal

    def no_space(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 3)
    monkeypatch.setattr(tempfile, "TemporaryFile", no_space)
    j = Journal()
    rows = [(i, "a", "b", "k", i, 0.5 * i, None) for i in range(7)]
    for r in rows:
        j.add(*r)
    assert len(j.chunks) == 2 and all(c.cols is not None for c in j.chunks)
    assert list(j.sent_rows()) == rows and j.summary()["bytes"] == 21


DISK_FULL = """
import resource, signal, sys
import sim.network as N
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
CH = N.JOURNAL_CHUNK
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
j = N.Journal()
rows = [(i, "a", "b", "k", 100, 0.5 * i, None if i % 2 else f"p{i}") for i in range(2 * CH + 10)]
for r in rows:
    j.add(*r)
print([c.cols is None for c in j.chunks], list(j.sent_rows()) == rows, j.summary()["messages"] == len(rows))
"""


@pytest.mark.parametrize("short", [100, 4096 + 100])
def test_a_disk_that_fills_while_spilling_leaves_the_journal_readable(short, tmp_path):
    """The disk fills inside the second chunk's columns (a short write, then
    a failing one): that chunk stays in memory and the first, spilled
    before, still reads back (a buffered file kept the unwritten bytes and
    every later seek failed trying to flush them). A process of its own:
    the file-size limit stands in for the full disk."""
    import os
    import subprocess
    import sys

    import sim.network

    chunk_bytes = sim.network.JOURNAL_CHUNK * (4 * 4 + 8 + 8)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", DISK_FULL, str(chunk_bytes + 65536 - short)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[True,", "False]", "True", "True"]


def test_journal_chunks_keep_whole_second_times_as_ints(monkeypatch):
    """The clock stops on whole seconds (``run(until=1)``), and
    journal.jsonl tells 1 from 1.0: a chunk gives back the int."""
    import sim.network
    from conftest import Probe, make_net

    monkeypatch.setattr(sim.network, "JOURNAL_CHUNK", 2)
    s, net = make_net()
    a = Probe(s, "a", "us-east")
    Probe(s, "b", "us-east")  # the peer "b" the connection goes to
    s.start()
    net.connect(a, "b")
    s.env.run(until=1)  # the clock stops on the int 1
    conn = next(iter(net.conns["a"]))
    for i in range(5):
        conn.send(a, "m", i, trace=f"t{i}" if i % 2 else None)
    s.env.run(until=5)
    rows = list(net.journal.rows)
    assert len(net.journal.chunks) == 2 and len(rows) == 5
    assert [(type(r[5]), r[5]) for r in rows] == [(int, 1)] * 5
    assert all(type(r[6]) is float for r in rows) and [r[8] for r in rows] == [None, "t1", None, "t3", None]
    assert net.journal.summary()["on_message_paths"] == 2
    assert [r[8] for r in net.journal.traced_rows()] == ["t1", "t3"]


# -- the reference checker indexes a block at a time ------------------------------------
def test_reference_checker_streaming_equals_the_whole_parse(tmp_path, monkeypatch):
    """An invalid history (the old design loses acked messages here) takes
    the reference path; indexed a few hundred bytes at a time, its verdict
    is the one ``check`` gives on the whole parsed history."""
    from invariants.checkers import check, check_bytes_path

    out = _run(load_scenario("crash-mid-send"), "old", 1, tmp_path)
    data = out.history.read_bytes()
    want = check(parse_history(data, slim=True))
    assert want["valid"] is False
    monkeypatch.setattr(sim.history, "BLOCK_BYTES", 300)
    meta, got, path = check_bytes_path(data, "h")
    assert path == "python" and got == want


@pytest.mark.parametrize("edit", [
    lambda ls: ls[:3] + [b'{"index": 2, "oops"'] + ls[4:],  # undecodable line
    lambda ls: ls[:3] + ls[4:],  # an index skipped
    lambda ls: ls + [b'{"index":%d,"time":0.0,"process":"c1","type":"event","f":"x","value":{}}' % (len(ls) - 1)],
])
def test_irregular_histories_get_the_whole_parse_errors(edit, tmp_path):
    """Anything irregular is re-read whole, so the error names what it always named."""
    from helpers import deliver, hand_history, invoke
    from invariants.checkers import check_bytes_path
    from sim.errors import HistoryError

    lines = hand_history(invoke("c1", "m1"), deliver("c2", "m1"), deliver("c1", "m1"),
                         deliver("c2", "m2")).rstrip(b"\n").split(b"\n")
    data = b"\n".join(edit(lines)) + b"\n"
    with pytest.raises(HistoryError) as want:
        parse_history(data, "h", slim=True)
    with pytest.raises(HistoryError) as got:
        check_bytes_path(data, "h")
    assert str(got.value) == str(want.value)
