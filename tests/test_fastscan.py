"""The native fast path of ``check_bytes`` (invariants/fast.py, _fastscan.c).

Its contract: whenever it answers, its (header, result) equals the reference
path's; it answers for valid histories in chatsim's own layout; anything
else -- a violation, "unknown", another layout, bad input -- goes to the
reference path. Differential tests over generated and mutated histories,
literal edge cases, and a fuzz test of the scanner on hostile bytes.
"""

import copy
import json
import os

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_checker_properties import MEMBERS, acked, delivers, failed, histories

from invariants import check, fast
from invariants.checkers import check_bytes_path
from invariants.synth import reference_history, to_jsonl
from sim.errors import HistoryError
from sim.history import parse_history

if fast._fastscan is None and os.environ.get("CHATSIM_REQUIRE_NATIVE"):
    # .ci/run sets it: there the extension must have been built, not silently skipped
    raise RuntimeError("the native history scanner (invariants._fastscan) is not built (CHATSIM_REQUIRE_NATIVE)")
pytestmark = pytest.mark.skipif(fast._fastscan is None, reason="the native scanner is not built")

derandomized = settings(max_examples=80, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow])


def reference(data: bytes):
    """("ok", meta, result) or ("error", message) from the reference path alone."""
    try:
        h = parse_history(data, "<history>", slim=True)
        return ("ok", h.meta, check(h))
    except HistoryError as e:
        return ("error", str(e))


def differential(data: bytes):
    """Fast and reference agree whenever the fast path answers; returns the
    fast answer (None when it declined) and the reference's."""
    ref = reference(data)
    got = fast.check_fast(data)
    if got is not None:
        assert ref[0] == "ok", f"the fast path accepted what the reference rejects: {ref}"
        assert got[0] == ref[1]
        assert got[1] == ref[2]
        # and byte-identical as the CLI prints it (key order, int types)
        assert json.dumps(got[1]) == json.dumps(ref[2])
    return got, ref


def line(i, process, type, f, value, time=None):
    return msgspec.json.encode({"index": i, "time": float(i) if time is None else time, "process": process,
                                "type": type, "f": f, "value": value})


def history(*ops, channels=None) -> bytes:
    """A history in chatsim's own compact layout (msgspec, as HistoryWriter writes)."""
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": "edge", "arch": "x", "seed": 1,
            "channels": channels or {"C1": ["c1", "c2"]}, "config": {}}
    return b"\n".join([msgspec.json.encode(meta)] + [line(i, *op) for i, op in enumerate(ops)]) + b"\n"


def clean(text_invoke="hi", text_deliver="hi", msg_invoke="c1:1", msg_rest="c1:1", connects=True):
    ops = []
    if connects:
        ops += [("c1", "event", "connect", {}), ("c2", "event", "connect", {})]
    ops += [("c1", "invoke", "send", {"channel": "C1", "msg": msg_invoke, "text": text_invoke}),
            ("c1", "event", "deliver", {"channel": "C1", "msg": msg_rest, "text": text_deliver, "ts": "1.0"}),
            ("c2", "event", "deliver", {"channel": "C1", "msg": msg_rest, "text": text_deliver, "ts": "1.0"}),
            ("c1", "ok", "send", {"channel": "C1", "msg": msg_rest, "ts": "1.0"}),
            ("c1", "invoke", "read", {"channel": "C1"}), ("c1", "ok", "read", {"channel": "C1", "msgs": [msg_rest]}),
            ("c2", "invoke", "read", {"channel": "C1"}), ("c2", "ok", "read", {"channel": "C1", "msgs": [msg_rest]}),
            ("db", "event", "stored", {"channel": "C1", "msgs": [msg_rest]})]
    return ops


# -- generated histories: the reference model and the property tests' mutations --
@derandomized
@given(histories())
def test_valid_generated_histories_are_answered_natively_and_equal(h):
    got, ref = differential(to_jsonl(*h))
    assert got is not None and ref[2]["valid"] is True


def _mutate(meta, ops, kind, data):
    """One mutation of tests/test_checker_properties.py, applied in place."""
    if kind == "drop-acked":  # gone from every final read and the store
        assume(acked(ops))
        ch, m = data.draw(st.sampled_from(acked(ops)))
        lists = [o["value"] for o in ops if "msgs" in o["value"] and o["value"]["channel"] == ch]
        for v in lists:
            v["msgs"] = [x for x in v["msgs"] if x != m]
    elif kind in ("duplicate", "swap", "non-member", "text", "drop-delivery"):
        ds = delivers(ops)
        assume(ds)
        i = data.draw(st.sampled_from(ds))
        if kind == "duplicate":
            j = data.draw(st.integers(i + 1, len(ops)))
            ops.insert(j, dict(ops[i], time=ops[j - 1]["time"]))
        elif kind == "swap":
            later = [j for j in ds if j > i and ops[j]["process"] == ops[i]["process"]
                     and ops[j]["value"]["channel"] == ops[i]["value"]["channel"]]
            assume(later)
            b = later[0]
            moved = ops.pop(i)
            ops.insert(b, dict(moved, time=ops[b - 1]["time"]))
        elif kind == "non-member":
            ops.insert(i + 1, dict(ops[i], process="c4" if ops[i]["value"]["channel"] == "C1" else "c1"))
        elif kind == "text":
            ops[i] = copy.deepcopy(ops[i])
            ops[i]["value"]["text"] += " (edited)"
        else:
            del ops[i]
    elif kind == "lose-in-one-read":  # one reader misses an acked message the store has
        reads = [o for o in ops if o["f"] == "read" and o["type"] == "ok" and o["value"]["msgs"]]
        assume(reads)
        o = data.draw(st.sampled_from(reads))
        gone = data.draw(st.sampled_from(o["value"]["msgs"]))
        o["value"] = {**o["value"], "msgs": [x for x in o["value"]["msgs"] if x != gone]}
    elif kind in ("fabricate", "failed-appears"):  # the store holds a ghost, or a failed send
        assume(kind == "fabricate" or failed(ops))
        ch, m = ("C1", "ghost:1") if kind == "fabricate" else data.draw(st.sampled_from(failed(ops)))
        stores = [o["value"]["msgs"] for o in ops if o["f"] == "stored" and o["value"]["channel"] == ch]
        for msgs in stores:
            msgs.append(m)
    elif kind == "late-fail":  # a redundant retry fails after the ok: still valid
        choices = acked(ops)
        assume(choices)
        ch, m = data.draw(st.sampled_from(choices))
        at = max(i for i, o in enumerate(ops) if o["f"] == "send" and o["value"]["msg"] == m)
        ops[at + 1:at + 1] = [{**ops[at], "type": "invoke", "value": {"channel": ch, "msg": m, "text": "x"}},
                              {**ops[at], "type": "fail", "value": {"channel": ch, "msg": m}}]
    elif kind == "cut":  # the history stops early: "unknown"
        ops[data.draw(st.integers(0, len(ops) - 1)):] = []
    elif kind == "no-connects":
        ops[:] = [o for o in ops if o["f"] != "connect"]
    elif kind == "second-channel":  # the same id sent in another channel too
        sends = [o for o in ops if o["f"] == "send" and o["type"] == "invoke"]
        assume(sends)
        o = data.draw(st.sampled_from(sends))
        other = "C2" if o["value"]["channel"] == "C1" else "C1"
        ops.append({**o, "process": MEMBERS[other][0], "value": {**o["value"], "channel": other}})


MUTATIONS = ["drop-acked", "lose-in-one-read", "duplicate", "swap", "non-member", "text", "drop-delivery", "fabricate",
             "failed-appears", "late-fail", "cut", "no-connects", "second-channel"]


@derandomized
@given(histories(), st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=2), st.data())
def test_mutated_histories_agree_with_the_reference(h, kinds, data):
    meta, ops = copy.deepcopy(h)
    for kind in kinds:
        _mutate(meta, ops, kind, data)
    assume(ops)
    got, ref = differential(to_jsonl(meta, ops))
    if ref[0] == "ok" and ref[2]["valid"] is not True:
        assert got is None  # violations and "unknown" are the reference's to explain


# -- literal edge cases ---------------------------------------------------------------
def test_escaped_and_unicode_texts_compare_as_decoded_strings():
    # the invoke spells the text with escapes, the deliveries in raw UTF-8
    data = history(*clean()).replace(b'"text":"hi"}', b'"text":"caf\\u00e9 \\"q\\" \\\\ \\ud83d\\ude00"}', 1)
    data = data.replace(b'"text":"hi"', '"text":"café \\"q\\" \\\\ 😀"'.encode())
    got, ref = differential(data)
    assert got is not None and ref[2]["valid"] is True


def test_a_changed_unicode_text_goes_to_the_reference_and_is_reported():
    got, ref = differential(history(*clean(text_invoke="café", text_deliver="cafe")))
    assert got is None and ref[2]["invariants"]["integrity"]["valid"] is False


def test_ids_with_escapes_are_the_same_ids():
    data = history(*clean(msg_invoke="c1:1", msg_rest="c1:1"))
    data = data.replace(b'"msg":"c1:1","text"', b'"msg":"c1\\u003a1","text"', 1)
    got, ref = differential(data)
    assert got is not None and ref[2]["valid"] is True


def test_an_empty_channel_and_no_connect_events():
    ops = clean(connects=False) + [("c2", "invoke", "read", {"channel": "C2"}),
                                   ("c2", "ok", "read", {"channel": "C2", "msgs": []}),
                                   ("db", "event", "stored", {"channel": "C2", "msgs": []})]
    got, ref = differential(history(*ops, channels={"C1": ["c1", "c2"], "C2": ["c2", "c3"]}))
    assert got is not None
    assert got[1]["invariants"]["live-completeness"]["applicable"] is False


def test_retried_ids_are_answered_natively():
    members = {"C1": ["c1", "c2"]}
    sends = [("c1", "C1", o) for o in ("info-retry-ok", "fail-retry-ok", "ok-retry-fail", "ok", "info-lost")]
    got, ref = differential(to_jsonl(*reference_history(members, sends)))
    assert got is not None and got[1]["invariants"]["integrity"]["counts"]["reused_ids"] == 3


def test_unknown_value_fields_are_skipped_and_unknown_op_fields_fall_back():
    ops = clean()
    ops[2] = (ops[2][0], ops[2][1], ops[2][2], {**ops[2][3], "extra": {"a": [1, 2.5e-3, None, True]}})
    got, _ = differential(history(*ops))
    assert got is not None
    extra = history(*clean()).replace(b'"index":3,', b'"index":3,"who":"x",')
    got, ref = differential(extra)
    assert got is None and ref[2]["valid"] is True


@pytest.mark.parametrize("edit", [
    (b'"index":3,"time":3.0', b'"index":3,"time":0.5'),   # time goes backwards
    (b'"index":3,', b'"index":4,'),                       # index skips
    (b'"process":"c2"', b'"process":"\\ud800"'),          # a lone surrogate
    (b'"process":"c2"', b'"process":"c\xff"'),            # not UTF-8
    (b'"type":"event"', b'"type":"evnt"'),                # no such type
    (b'"msgs":["c1:1"]', b'"msgs":["c1:1",7]'),           # a msgs entry that is not a string
    (b'"channel":"C1","msg"', b'"channel":null,"msg"'),   # a send without its channel
])
def test_bad_input_is_left_to_the_reference_which_names_the_error(edit):
    data = history(*clean())
    assert edit[0] in data
    got, ref = differential(data.replace(edit[0], edit[1], 1))
    assert got is None and ref[0] == "error"


def test_other_layouts_and_boot_records_take_the_reference_path():
    spaced = b"\n".join(json.dumps(json.loads(x)).encode() for x in history(*clean()).splitlines()) + b"\n"
    directory = history(*clean(), ("c1", "event", "directory", {"version": 1, "channels": {"C1": ["c1"]}}))
    for data in (spaced, directory, history(*clean()).replace(b"\n", b"\r\n")):
        got, ref = differential(data)
        assert got is None and ref[0] == "ok"
    assert check_bytes_path(spaced)[2] == "python"
    assert check_bytes_path(history(*clean()))[2] == "native"


def test_a_missing_or_stale_extension_falls_back_with_one_warning(monkeypatch, capsys):
    monkeypatch.setattr(fast, "_fastscan", None)
    monkeypatch.setattr(fast, "_IMPORT_ERROR", "ImportError: test")
    monkeypatch.setattr(fast, "_warned", False)
    data = history(*clean())
    for _ in range(2):
        meta, result, path = check_bytes_path(data)
        assert (path, result) == ("python", reference(data)[2])
    assert capsys.readouterr().err.count("native history scanner unavailable") == 1


def test_bench_reports_the_native_path():
    from invariants.bench import bench_check

    figures = bench_check(5000, repeat=1)
    assert figures["check.path"] == "native" and figures["check.records_per_s"] > 0


# -- hostile bytes ---------------------------------------------------------------------
SPECIAL = [b'"', b"\\", b"\n", b"{", b"}", b"[", b"]", b",", b":", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\u",
           b"\\ud83d", b"0", b"-", b"e", b"null", b" ", b"\x00"]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_bytes_never_crash_and_never_disagree(data):
    base = history(*clean()) if data.draw(st.booleans()) else to_jsonl(*reference_history(
        MEMBERS, [("c1", "C1", "ok"), ("c2", "C2", "info-retry-ok"), ("c3", "C1", "fail")]))
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(buf)))
        how = data.draw(st.sampled_from(["insert", "replace", "delete", "truncate"]))
        piece = data.draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=3))
        if how == "insert":
            buf[at:at] = piece
        elif how == "replace":
            buf[at:at + len(piece)] = piece
        elif how == "delete":
            del buf[at:at + data.draw(st.integers(1, 8))]
        else:
            del buf[at:]
    fast._fastscan.scan(bytes(buf), 0)  # any offset, even mid-header: must not crash
    differential(bytes(buf))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=300), st.integers(0, 300))
def test_random_bytes_never_crash_the_scanner(data, start):
    if start > len(data):
        with pytest.raises(ValueError):
            fast._fastscan.scan(data, start)
    else:
        r = fast._fastscan.scan(data, start)
        # random bytes are never chatsim's layout; an empty body is zero ops
        assert r is None or (r["n"] == 0 and start == len(data)) or data[start:].startswith(b'{"index":0,')


def test_a_simulated_history_is_answered_natively(tmp_path):
    """A real run's history (HistoryWriter's layout, steps, boots, presence...)."""
    from helpers import run_scenario

    _, out = run_scenario("crash-mid-send", "new", 1, tmp_path)
    got, ref = differential((out / "history.jsonl").read_bytes())
    assert got is not None and ref[2]["valid"] is True
