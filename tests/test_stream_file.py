"""A run's history checked and measured from its file, a block at a time
(``invariants.checkers.check_run_file``, ``reports.metrics.run_metrics_bytes``
given a path): the same answers as from the bytes held whole."""

from __future__ import annotations

import pytest

import sim.history as H
from helpers import deliver, done, hand_history, invoke, read, run_scenario, stored
from invariants.checkers import check_bytes, check_run_file
from reports.metrics import run_metrics_bytes
from sim.errors import HistoryError


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 22])
@pytest.mark.parametrize("tail", [b"", b"\n", b"last line without end"])
def test_a_file_comes_in_the_pieces_of_its_lines(tmp_path, block, tail):
    data = b"head\n" + b"".join(b"x" * (i % 13) + b"\n" for i in range(200)) + tail
    f = tmp_path / "h"
    f.write_bytes(data)
    pieces = [bytes(p) for p in H.line_pieces(f, 5, block)]
    assert b"".join(pieces) == data[5:]
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    # the same lines as the pieces of the bytes in memory (where the cuts fall may differ)
    assert b"".join(bytes(p) for p in H.line_pieces(data, 5, block)) == data[5:]


def test_the_header_of_a_file_is_its_first_line(tmp_path):
    f = tmp_path / "h"
    f.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert H.split_header(f) == H.split_header(f.read_bytes()) == (b'{"a": 1}', 9)
    f.write_bytes(b'{"a": 1}')
    assert H.split_header(f) == H.split_header(f.read_bytes()) == (b'{"a": 1}', 8)


HISTORIES = {
    "valid": hand_history(invoke("c1", "m1"), done("c1", "m1"), deliver("c2", "m1"), stored(["m1"]),
                          *read("c1", ["m1"]), *read("c2", ["m1"])),
    "lost": hand_history(invoke("c1", "m1"), done("c1", "m1"), stored([]), *read("c1", []), *read("c2", [])),
    "irregular": hand_history(invoke("c1", "m1"), done("c1", "m1")).replace(b'"index": 1', b'"index": 5'),
}


def _outcome(check, *args):
    try:
        return check(*args)
    except HistoryError as e:
        return str(e)


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_a_run_file_is_checked_as_its_bytes(tmp_path, name, monkeypatch):
    f = tmp_path / "history.jsonl"
    f.write_bytes(HISTORIES[name])
    want = _outcome(check_bytes, f.read_bytes(), str(f))
    assert _outcome(check_run_file, f) == want
    monkeypatch.setattr(H, "BLOCK_BYTES", 16)  # a block a line or less: every cut exercised
    assert _outcome(check_run_file, f) == want
    if name == "irregular":  # bad input either way, named alike
        assert "index 5, expected 1" in want


def test_a_run_file_with_a_violation_goes_the_streamed_reference_path(tmp_path, monkeypatch):
    """The native path declines a violation; the reference path then reads
    the file, not bytes the caller holds (``stream_history`` given the path)."""
    f = tmp_path / "history.jsonl"
    f.write_bytes(HISTORIES["lost"])
    seen = []
    real = H.stream_history

    def spy(data, slim=True):
        seen.append(type(data))
        return real(data, slim)

    monkeypatch.setattr("invariants.checkers.stream_history", spy)
    _meta, result = check_run_file(f)
    assert result["valid"] is False and result["invariants"]["durability"]["valid"] is False
    assert seen and all(t is not bytes for t in seen)


def test_a_runs_metrics_from_its_file_equal_those_from_its_bytes(tmp_path, monkeypatch):
    _result, out = run_scenario("crash-mid-send", "new", 1, tmp_path)
    f = out / "history.jsonl"
    want = run_metrics_bytes(f.read_bytes(), None, workload_end=30.0)
    assert run_metrics_bytes(f, None, workload_end=30.0) == want
    monkeypatch.setattr(H, "BLOCK_BYTES", 333)
    assert run_metrics_bytes(f, None, workload_end=30.0) == want


def _format_cases():
    import test_history_format as F

    cases = {f"valid: {k}": v[0] for k, v in F.VALID_FORMAT.items()}
    cases.update({f"bad: {k}": v[0] for k, v in F.BAD_INPUT.items()})
    return cases


FORMAT_CASES = _format_cases()


@pytest.mark.parametrize("name", sorted(FORMAT_CASES))
@pytest.mark.parametrize("block", [3, 1 << 22])
def test_every_format_case_is_checked_from_a_file_as_from_its_bytes(tmp_path, name, block, monkeypatch):
    """tests/test_history_format.py's literal cases — blank lines, CRLF, no
    final newline, two ops on a line, bad lines ... — give the same answer
    (verdicts, or the same error) streamed from a file in pieces of a few
    bytes as from the bytes held whole."""
    f = tmp_path / "history.jsonl"
    f.write_bytes(FORMAT_CASES[name])
    want = _outcome(check_bytes, f.read_bytes(), str(f))
    monkeypatch.setattr(H, "BLOCK_BYTES", block)
    assert _outcome(check_run_file, f) == want


@pytest.mark.parametrize("data, lines", [
    (b"", 0), (b"{}", 1), (b"{}\n", 1), (b'{"a":1}\n{"b":2}', 2), (b'{"a":1}\n{"b":2}\n', 2),
    (b"\n", None), (b"{}\n\n{}\n", None), (b" {}\n", None), (b"{}\r\n{}\r\n", None), (b"{} \n", None),
    (b'{"a":\n1}\n', None), (b'{"a":1} {"b":2}\n', 1),  # two ops on the one line: the op count tells
])
def test_plain_lines_counts_lines_of_exactly_one_object(data, lines):
    assert H.plain_lines(data) == lines
    assert H.plain_lines(b"header\n" + data, 7) == lines


@pytest.mark.parametrize("body", [
    # a line holding two ops, a blank line elsewhere: as many lines as ops
    '{op0} {op1}\n\n{op2}\n',
    # one op pretty-printed over three lines, a line holding three: the counts agree again
    '{op0_3lines}\n{op1} {op2} {op3}\n',
])
def test_two_ops_on_a_line_are_bad_input_whatever_the_line_count(tmp_path, body):
    """A review found these accepted: "one op a line" was a count of lines
    against a count of ops, and a blank line (or a pretty-printed op) made
    up for a line holding several."""
    def op(i):
        return (f'{{"index": {i}, "time": {float(i)}, "process": "c1", "type": "invoke", "f": "read", '
                f'"value": {{"channel": "C1"}}}}')
    lines = {f"op{i}": op(i) for i in range(4)}
    lines["op0_3lines"] = op(0).replace(", ", ",\n", 2)
    meta = hand_history().split(b"\n")[0].decode()
    data = (meta + "\n" + body.format(**lines)).encode()
    f = tmp_path / "history.jsonl"
    f.write_bytes(data)
    for check in (lambda: check_bytes(data, str(f)), lambda: check_run_file(f)):
        with pytest.raises(HistoryError, match="line 2: .*one JSON object per line"):
            check()


def test_a_journal_row_past_the_end_is_an_index_error():
    from sim.kernel import Simulation
    from sim.network import NetConfig, Network

    net = Network(Simulation(1), NetConfig())
    net.journal.add(0, "a", "b", "k", 10, 0.0, None)
    assert net.journal.row(0)[:4] == [0, "a", "b", "k"]
    with pytest.raises(IndexError):
        net.journal.row(1)
