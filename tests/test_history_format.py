"""The history format (DESIGN §6) as `chatsim check` must read it, case by case.

Every case is a literal history (bytes) and what the contract says `chatsim
check` does with it: a verdict per invariant (exit 0 / 1 / 3), or bad input
(exit 2, one line naming the problem and the line). Each is judged four
ways that must agree: the command line (in this process), ``check_bytes``
with its native fast path, ``check_bytes`` forced onto the Python path, and
the independent reference checker (tests/reference_checker.py) wherever the
history is well-formed. Where DESIGN is silent the reading taken is the one
docs/history.md states (blank lines skipped, unchecked ops' values ignored
whatever their type, observations counted only as ``event``s).

Large histories (120k ops) with one planted violation of each invariant at
the start, the middle and the end are found by both paths, naming the
message, the channel and the history index.
"""

from __future__ import annotations

import json
from unittest import mock

import msgspec
import pytest

import reference_checker as ref
from hostile_helpers import chatsim
from invariants import checkers
from invariants.fast import check_fast
from invariants.synth import reference_history, to_jsonl
from sim.errors import HistoryError

META = {"type": "meta", "chatsim": "0.1.0", "scenario": "fmt", "arch": "x", "seed": 0,
        "channels": {"C": ["a", "b"]}, "config": {}}


def j(o) -> str:
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def op(i, p, t, f, v, **extra):
    return {"index": i, "time": float(i), "process": p, "type": t, "f": f, "value": v, **extra}


def good_ops() -> list[dict]:
    """Two members connect, a sends m, both display it, both read it, stored."""
    return [op(0, "a", "event", "connect", {}), op(1, "b", "event", "connect", {}),
            op(2, "a", "invoke", "send", {"channel": "C", "msg": "m", "text": "t"}),
            op(3, "b", "event", "deliver", {"channel": "C", "msg": "m", "text": "t"}),
            op(4, "a", "event", "deliver", {"channel": "C", "msg": "m", "text": "t"}),
            op(5, "a", "ok", "send", {"channel": "C", "msg": "m"}),
            op(6, "a", "invoke", "read", {"channel": "C"}), op(7, "a", "ok", "read", {"channel": "C", "msgs": ["m"]}),
            op(8, "b", "invoke", "read", {"channel": "C"}), op(9, "b", "ok", "read", {"channel": "C", "msgs": ["m"]}),
            op(10, "db", "event", "stored", {"channel": "C", "msgs": ["m"]})]


def renumber(ops: list[dict]) -> list[dict]:
    return [{**o, "index": i, "time": float(i)} for i, o in enumerate(ops)]


def lines(ops, meta=META) -> list[str]:
    return [j(meta)] + [o if isinstance(o, str) else j(o) for o in ops]


def doc(ls: list[str], end: str = "\n") -> bytes:
    return (end.join(ls) + end).encode()


def with_op(at: int, new: dict, ops=None) -> list[dict]:
    ops = list(good_ops() if ops is None else ops)
    return renumber(ops[:at] + [new] + ops[at:])


def changed(i: int, **fields) -> list[dict]:
    ops = good_ops()
    ops[i] = {**ops[i], **fields}
    return ops


def value_changed(i: int, **fields) -> list[dict]:
    ops = good_ops()
    ops[i] = {**ops[i], "value": {**ops[i]["value"], **fields}}
    return ops


def without(i: int, key: str) -> list[dict]:
    ops = good_ops()
    ops[i] = {k: v for k, v in ops[i].items() if k != key}
    return ops


G = lines(good_ops())
HOLDS = {name: True for name in ref.INVARIANTS}


def holds_but(**bad):
    return {**HOLDS, **{k.replace("_", "-"): v for k, v in bad.items()}}


# no connect events: live-completeness holds vacuously (docs/invariants.md)
CUT_SHORT = holds_but(total_order="unknown", no_duplicates="unknown", durability="unknown")
NEMESIS_NULL = op(2, "nemesis", "info", "start", None)

# name -> (history bytes, verdicts per invariant)
VALID_FORMAT = {
    "the contract's layout": (doc(G), HOLDS),
    "no newline after the last line": (doc(G)[:-1], HOLDS),
    "CRLF line ends": (doc(G, "\r\n"), HOLDS),
    "a blank line between ops": (doc(G[:4] + [""] + G[4:]), HOLDS),
    "whitespace-only lines and trailing blank lines": (doc(G[:4] + [" \t"] + G[4:]) + b"\n\r\n", HOLDS),
    "spaces inside lines": ((json.dumps(META) + "\n" + "\n".join(json.dumps(o) for o in good_ops()) + "\n").encode(),
                            HOLDS),
    "integer times, nanoseconds": (doc(lines([{**o, "time": 1_700_000_000_000_000_000 + o["index"]}
                                              for o in good_ops()])), HOLDS),
    "equal and negative times": (doc(lines([{**o, "time": -1.5} for o in good_ops()])), HOLDS),
    "unknown top-level fields (Jepsen's error, node)": (
        doc(lines([{**o, "error": ["timeout"], "node": "n1"} for o in good_ops()])), HOLDS),
    "unknown header fields": (doc(lines(good_ops(), {**META, "workload": {"rate": 1}})), HOLDS),
    "unknown f with any value": (doc(lines(with_op(2, op(0, "a", "event", "typing", {"channel": 5, "msgs": "x"})))),
                                 HOLDS),
    # a nemesis op of another tool: nil / a string / a list, never read by checkers
    "nemesis value null": (doc(lines(with_op(2, NEMESIS_NULL))), HOLDS),
    "nemesis value a string": (doc(lines(with_op(2, {**NEMESIS_NULL, "value": "partition"}))), HOLDS),
    "nemesis value a list": (doc(lines(with_op(2, {**NEMESIS_NULL, "value": [["n1"], ["n2"]]}))), HOLDS),
    # a number msgspec cannot hold, in a value nobody reads, beside a line
    # that sends the reader down its slow path: still ignored
    "huge float in an unread value, slow path": (
        doc(lines(with_op(2, {**NEMESIS_NULL, "value": "X"}))).replace(b'"value":"X"', b'"value":{"f":1e400}')
        .replace(b'"f":"connect","value":{}', b'"f":"connect","value":{"channel":5}', 1), HOLDS),
    "a 700-digit integer in an unread value": (
        doc(lines(with_op(2, {**NEMESIS_NULL, "value": "X"}))).replace(b'"X"', b'{"n":' + b"9" * 700 + b"}"), HOLDS),
    # §6: deliver and stored are events; another type is an op checkers do not use
    "an info deliver of a message nobody sent": (
        doc(lines(with_op(11, op(0, "b", "info", "deliver", {"channel": "C", "msg": "zz"})))), HOLDS),
    "an ok stored report after the last event one": (
        doc(lines(with_op(11, op(0, "db", "ok", "stored", {"channel": "C", "msgs": []})))), HOLDS),
    "connect as an info op": (
        doc(lines(renumber([{**o, "type": "info"} if o["f"] == "connect" else o
                            for o in good_ops() if not (o["f"] == "deliver" and o["process"] == "b")]))),
        HOLDS),
    "unicode ids, escaped in one place": (
        doc(lines([{**o, "value": {k: ("é✓" if k == "msg" else ["é✓"] if k == "msgs" else v)
                                   for k, v in o["value"].items()}} for o in good_ops()]))
        .replace('"msg":"é✓"'.encode(), b'"msg":"\\u00e9\\u2713"', 1), HOLDS),
    # ids are compared as code points, not normalised: NFD é is another id
    "a read holding the NFD spelling of an NFC id": (
        doc(lines([{**o, "value": {k: ("é" if k == "msg" else ["é"] if k == "msgs" else v)
                                   for k, v in o["value"].items()}} for o in good_ops()]))
        .replace('"msgs":["é"]}'.encode(), b'"msgs":["e\\u0301"]}', 1),
        holds_but(integrity=False, validity=False)),
    "a channel named like a number": (
        doc(lines([{**o, "value": {**o["value"], "channel": "007"}} if "channel" in o["value"] else o
                   for o in good_ops()], {**META, "channels": {"007": ["a", "b"]}})), HOLDS),
    "duplicate keys: the last wins": (
        doc(G).replace(b'"channel":"C","msg":"m","text":"t"}', b'"channel":"C","msg":"m","msg":"zz","text":"t"}', 1),
        holds_but(integrity=False)),
    "one id in two channels": (
        doc(lines(renumber(good_ops()[:10] + [
            op(0, "a", "invoke", "send", {"channel": "D", "msg": "m", "text": "t"}),
            op(0, "a", "event", "deliver", {"channel": "D", "msg": "m", "text": "t"}),
            op(0, "a", "ok", "send", {"channel": "D", "msg": "m"}),
            op(0, "a", "invoke", "read", {"channel": "D"}), op(0, "a", "ok", "read", {"channel": "D", "msgs": ["m"]}),
            op(0, "db", "event", "stored", {"channel": "D", "msgs": ["m"]}),
            good_ops()[10]]), {**META, "channels": {"C": ["a", "b"], "D": ["a"]}})), HOLDS),
    "header only, no channels": (doc(lines([], {**META, "channels": {}})), HOLDS),
    "header only": (doc(lines([])), CUT_SHORT),
    "only nemesis ops": (doc(lines([op(0, "nemesis", "info", "crash", {"node": "x", "fault": 1}),
                                    op(1, "nemesis", "info", "restart", {"node": "x", "fault": 1})])), CUT_SHORT),
}

# name -> (history bytes, what the one-line error must contain)
BAD_INPUT = {
    "empty file": (b"", "empty file"),
    "only blank lines": (b"\n \n", "empty file"),
    "an op on line 1": (doc(G[1:]), "line 1"),
    "header without channels": (doc(lines(good_ops(), {k: v for k, v in META.items() if k != "channels"})),
                                "line 1"),
    "trailing garbage": (doc(G[:5] + [G[5] + " x"] + G[6:]), "line 6"),
    "two ops on one line": (doc(G[:5] + [G[5] + G[6]] + G[7:]), "line 6"),
    "pretty-printed ops": ((j(META) + "\n" + "\n".join(json.dumps(o, indent=1) for o in good_ops()) + "\n").encode(),
                           "line 2"),
    "a line that is an array": (doc(G[:5] + ["[1,2]"] + G[5:]), "line 6"),
    "a line that is a number": (doc(G[:5] + ["3"] + G[5:]), "line 6"),
    "NaN time": (doc(G).replace(b'"time":3.0', b'"time":NaN'), "line 5"),
    "Infinity time": (doc(G).replace(b'"time":3.0', b'"time":Infinity'), "line 5"),
    "time beyond a double": (doc(G).replace(b'"time":3.0', b'"time":1e400'), "line 5"),
    "time missing": (doc(lines(without(3, "time"))), "line 5"),
    "time null": (doc(lines(changed(3, time=None))), "line 5"),
    "time a string": (doc(lines(changed(3, time="3.0"))), "line 5"),
    "time goes back": (doc(lines(changed(3, time=1.0))), "line 5"),
    "time goes back after a blank line": (doc(G[:3] + ["", ""] + lines(changed(3, time=1.0))[3:]), "line 7"),
    "index missing": (doc(lines(without(3, "index"))), "line 5"),
    "index a float": (doc(lines(changed(3, index=3.0))), "line 5"),
    "index a bool": (doc(lines(changed(3, index=True))), "line 5"),
    "index a string": (doc(lines(changed(3, index="3"))), "line 5"),
    "index from 1": (doc(lines([{**o, "index": o["index"] + 1} for o in good_ops()])), "line 2"),
    "a duplicated line": (doc(G[:5] + [G[4]] + G[5:]), "line 6"),
    "index skips after a blank line": (doc(G[:4] + [""] + G[4:6] + G[7:]), "line 8"),
    "unknown type": (doc(lines(changed(0, type="start"))), "line 2"),
    "process an integer": (doc(lines(changed(3, process=5))), "line 5"),
    "value missing": (doc(lines(without(3, "value"))), "line 5"),
    "send value null": (doc(lines(changed(2, value=None))), "line 4"),
    "msg an integer": (doc(lines(value_changed(2, msg=7))), "line 4"),
    "channel an integer": (doc(lines(value_changed(3, channel=7))), "line 5"),
    "send invoke without msg": (doc(lines(changed(2, value={"channel": "C", "text": "t"}))), "line 4"),
    "send invoke without msg after a blank line": (
        doc(G[:2] + [""] + lines(changed(2, value={"channel": "C", "text": "t"}))[2:]), "line 5"),
    "deliver without channel": (doc(lines(changed(3, value={"msg": "m"}))), "line 5"),
    "a read's msgs null": (doc(lines(value_changed(7, msgs=None))), "line 9"),
    "a read's msgs holding a number": (doc(lines(value_changed(7, msgs=["m", 7]))), "line 9"),
    "a lone surrogate": (doc(G).replace(b'"text":"t"}', b'"text":"\\ud800"}', 1), "line 4"),
    "a NUL byte": (doc(G).replace(b'"text":"t"}', b'"text":"t"}\x00', 1), "line 4"),
}


def python_path(data: bytes):
    with mock.patch.object(checkers, "check_fast", lambda _data: None):
        return checkers.check_bytes_path(data, "h.jsonl")


def verdicts(result) -> dict:
    return {name: result["invariants"][name]["valid"] for name in ref.INVARIANTS}


def exit_for(v: dict) -> int:
    vs = list(v.values())
    return 1 if False in vs else 3 if "unknown" in vs else 0


@pytest.mark.parametrize("name", list(VALID_FORMAT))
def test_well_formed_histories_are_judged_alike(name, tmp_path, capsys):
    data, want = VALID_FORMAT[name]
    _meta, py, path = python_path(data)
    assert path == "python"
    assert verdicts(py) == want
    _meta, result = checkers.check_bytes(data, "h.jsonl")
    assert result == py  # native or Python, the same dict
    fast = check_fast(data)
    if fast is not None:
        assert fast[1] == py
    assert {k: v["valid"] for k, v in ref.check_text(data.decode("utf-8")).items()} == want
    p = tmp_path / "h.jsonl"
    p.write_bytes(data)
    code, out, err = chatsim(capsys, "check", p, "--json")
    assert code == exit_for(want), err
    assert {k: json.loads(out)["invariants"][k]["valid"] for k in ref.INVARIANTS} == want


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_one_line_naming_the_line(name, tmp_path, capsys):
    data, needle = BAD_INPUT[name]
    assert check_fast(data) is None
    for judge in (python_path, checkers.check_bytes):
        with pytest.raises(HistoryError) as e:
            judge(data)
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
    p = tmp_path / "h.jsonl"
    p.write_bytes(data)
    code, out, err = chatsim(capsys, "check", p)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("chatsim: error: ") and err.count("\n") == 1 and needle in err, err


def test_as_a_subprocess(tmp_path):
    """``python -m chatsim``: a violation (1) and bad input (2); the in-process
    tests above cover every case and 0 / 3."""
    from helpers import cli

    for data, want in [(VALID_FORMAT["duplicate keys: the last wins"][0], 1),
                       (BAD_INPUT["two ops on one line"][0], 2)]:
        p = tmp_path / f"{want}.jsonl"
        p.write_bytes(data)
        code, out, err = cli("check", str(p))
        assert code == want, (code, out, err)
        assert "Traceback" not in err
        assert (want == 2) == err.startswith("chatsim: error: ")


# -- large histories: one planted violation, found by both paths ------------------
N_SENDS = 20_000  # x 6 ops each, and the final reads: ~120k ops
MEMBERS = {"C0": ["u0", "u1", "u2", "u3"], "C1": ["u1", "u2", "u3", "u4"], "C2": ["u0", "u4", "u5", "u2"]}
KINDS = ["validity", "integrity", "total-order", "no-duplicates", "durability", "live-completeness"]
_enc = msgspec.json.Encoder()


@pytest.fixture(scope="module")
def large():
    """(ops, their encoded lines): a valid 120k-op history of the synth model."""
    sends = [(MEMBERS[f"C{i % 3}"][i % 4], f"C{i % 3}", "ok") for i in range(N_SENDS)]
    meta, ops = reference_history(MEMBERS, sends)
    head, *body = to_jsonl(meta, ops).split(b"\n")
    return meta, ops, head, body[:-1]


_ROWS: dict[int, tuple] = {}


def _rows(ops) -> tuple[list[int], dict[str, int], dict[str, list[int]]]:
    """Send invokes, each channel's store report and final reads: rows no
    plant moves, found once per history length (a scan is 0.2 s)."""
    if len(ops) not in _ROWS:
        sends = [i for i, o in enumerate(ops) if o["f"] == "send" and o["type"] == "invoke"]
        stored = {o["value"]["channel"]: i for i, o in enumerate(ops) if o["f"] == "stored"}
        reads: dict[str, list[int]] = {}
        for i, o in enumerate(ops):
            if o["f"] == "read" and o["type"] == "ok":
                reads.setdefault(o["value"]["channel"], []).append(i)
        _ROWS[len(ops)] = sends, stored, reads
    return _ROWS[len(ops)]


def plant(ops, kind: str, where: float) -> tuple[dict[int, dict], tuple]:
    """One violation of ``kind`` at the relative position ``where`` (0 start,
    0.5 middle, 1 end): the ops it replaces, and (invariant, msg, channel,
    an index the violation must name). Each kind plants on its own message
    (7 sends apart), so the plants of several kinds can share a history."""
    sends, stored, reads = _rows(ops)
    k = 7 * KINDS.index(kind)
    # the last three sends are excluded: a total-order plant needs a next message
    at = sends[len(sends) - 4 - k if where == 1.0 else int(where * len(sends)) + k]
    m, ch = ops[at]["value"]["msg"], ops[at]["value"]["channel"]
    stored_i, reads = stored[ch], reads[ch]
    delivers = [i for i in range(at, at + 6) if ops[i]["f"] == "deliver"]  # this message's

    def with_list(i, fn):
        return {i: {**ops[i], "value": {**ops[i]["value"], "msgs": fn(list(ops[i]["value"]["msgs"]))}}}

    if kind == "validity":  # one member's final read lost an acked message
        return with_list(reads[0], lambda ms: [x for x in ms if x != m]), ("validity", m, ch, reads[0])
    if kind == "integrity":  # the store holds an id nobody sent
        return (with_list(stored_i, lambda ms: ms[:ms.index(m)] + ["forged"] + ms[ms.index(m):]),
                ("integrity", "forged", ch, stored_i))
    if kind == "total-order":  # a live view shows m after the next message of its channel
        d = delivers[0]
        c = ops[d]["process"]
        nxt = next(i for i in range(d + 1, len(ops)) if ops[i]["f"] == "deliver" and ops[i]["process"] == c
                   and ops[i]["value"]["channel"] == ch)
        return {d: {**ops[nxt], "time": ops[d]["time"]}, nxt: {**ops[d], "time": ops[nxt]["time"]}}, \
            ("total-order", m, ch, nxt)
    if kind == "no-duplicates":  # a final read shows m twice
        return (with_list(reads[-1], lambda ms: ms[:ms.index(m) + 1] + [m] + ms[ms.index(m) + 1:]),
                ("no-duplicates", m, ch, reads[-1]))
    if kind == "durability":  # acked, displayed and read, yet not in the store
        return with_list(stored_i, lambda ms: [x for x in ms if x != m]), ("durability", m, ch, stored_i)
    if kind == "live-completeness":  # one connected member never displayed m
        return {delivers[-1]: {**ops[delivers[-1]], "f": "typing"}}, ("live-completeness", m, ch, delivers[0])
    raise AssertionError(kind)


def planted(large, plants: dict[int, dict]) -> bytes:
    _meta, _ops, head, body = large
    body = list(body)
    for i, o in plants.items():
        body[i] = _enc.encode({"index": i, **o})
    return b"\n".join([head, *body]) + b"\n"


def assert_found(result, expected) -> None:
    name, m, ch, index = expected
    broken = [k for k, r in result["invariants"].items() if r["valid"] is False]
    assert name in broken, (expected, broken)
    found = [v for v in result["invariants"][name]["violations"] if v["msg"] == m and v["channel"] == ch]
    assert found and any(index in v["indexes"] for v in found), (expected, result["invariants"][name])


def test_large_valid_history_is_answered_natively(large):
    data = planted(large, {})
    _meta, result, path = checkers.check_bytes_path(data)
    assert path == "native" and result["valid"] is True and result["ops"] > 100_000
    assert python_path(data)[1] == result


def test_large_history_planted_violations(large):
    """Each single plant (start, middle, end of each kind) makes the native
    path decline; the Python path finds all eighteen in one history (one
    pass keeps this within seconds; the slow test checks each alone)."""
    ops = list(large[1])
    together, expected = {}, []
    for kind in KINDS:
        for where in (0.0, 0.5, 1.0):
            plants, exp = plant(large[1], kind, where)
            assert check_fast(planted(large, plants)) is None, (kind, where)  # never "valid" natively
            # the same plant on the history holding the earlier ones
            plants, exp2 = plant(ops, kind, where)
            assert exp2 == exp
            for i, o in plants.items():
                ops[i] = together[i] = o
            expected.append(exp)
    _meta, result, path = checkers.check_bytes_path(planted(large, together))
    assert path == "python" and result["valid"] is False
    for exp in expected:
        assert_found(result, exp)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_large_history_one_planted_violation(large, kind, where):
    plants, expected = plant(large[1], kind, where)
    data = planted(large, plants)
    assert check_fast(data) is None
    _meta, result, path = checkers.check_bytes_path(data)
    assert path == "python" and result["valid"] is False
    assert_found(result, expected)
