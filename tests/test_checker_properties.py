"""Property tests: valid histories from the reference model pass every checker;
one known mutation makes exactly the expected checkers object."""

import copy

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from invariants import check_bytes
from invariants.synth import OUTCOMES, reference_history, to_jsonl

NAMES = ["validity", "integrity", "total-order", "no-duplicates", "durability"]
MEMBERS = {"C1": ["c1", "c2", "c3"], "C2": ["c2", "c3", "c4"]}  # c4 is not in C1, c1 not in C2


@st.composite
def histories(draw):
    n = draw(st.integers(1, 12))
    sends = []
    for _ in range(n):
        ch = draw(st.sampled_from(sorted(MEMBERS)))
        sender = draw(st.sampled_from(MEMBERS[ch]))
        outcome = draw(st.sampled_from(OUTCOMES))
        sends.append((sender, ch, outcome))
    no_read = draw(st.frozensets(st.sampled_from(["c1", "c4"]), max_size=1))
    return reference_history(MEMBERS, sends, no_read)


def verdicts(meta, ops):
    _, r = check_bytes(to_jsonl(meta, ops))
    return {n: r["invariants"][n]["valid"] for n in NAMES}


def expect(*bad):
    return {n: n not in bad for n in NAMES}


def acked(ops):
    done = {(o["value"]["channel"], o["value"]["msg"]) for o in ops if o["f"] == "send" and o["type"] == "ok"}
    return sorted(done)


def failed(ops):
    return sorted((o["value"]["channel"], o["value"]["msg"]) for o in ops if o["f"] == "send" and o["type"] == "fail")


def delivers(ops):
    return [i for i, o in enumerate(ops) if o["f"] == "deliver"]


fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(histories())
def test_reference_histories_pass_everything(h):
    assert verdicts(*h) == expect()


@fast
@given(histories(), st.data())
def test_drop_an_acked_message(h, data):
    meta, ops = copy.deepcopy(h)
    choices = acked(ops)
    assume(choices)
    ch, m = data.draw(st.sampled_from(choices))
    for o in ops:
        if o["f"] in ("read", "stored") and o["type"] in ("ok", "event") and o["value"]["channel"] == ch:
            o["value"]["msgs"] = [x for x in o["value"]["msgs"] if x != m]
    assert verdicts(meta, ops) == expect("validity", "durability")


@fast
@given(histories(), st.data())
def test_duplicate_a_delivery(h, data):
    meta, ops = copy.deepcopy(h)
    ds = delivers(ops)
    assume(ds)
    i = data.draw(st.sampled_from(ds))
    j = data.draw(st.integers(i + 1, len(ops)))
    dup = dict(ops[i], time=ops[j - 1]["time"])
    ops.insert(j, dup)
    assert verdicts(meta, ops) == expect("no-duplicates")


@fast
@given(histories(), st.data())
def test_swap_two_deliveries(h, data):
    meta, ops = copy.deepcopy(h)
    # two deliveries of different messages to the same client in the same channel
    by_view = {}
    for i in delivers(ops):
        by_view.setdefault((ops[i]["process"], ops[i]["value"]["channel"]), []).append(i)
    pairs = [(a, b) for seq in by_view.values() for a, b in zip(seq, seq[1:])]
    assume(pairs)
    a, b = data.draw(st.sampled_from(pairs))
    # the earlier message is displayed after the later one (causality kept)
    moved = ops.pop(a)
    ops.insert(b, dict(moved, time=ops[b - 1]["time"]))
    assert verdicts(meta, ops) == expect("total-order")


@fast
@given(histories(), st.data())
def test_deliver_to_a_non_member(h, data):
    meta, ops = copy.deepcopy(h)
    ds = [i for i in delivers(ops) if ops[i]["value"]["channel"] == "C1"]
    assume(ds)
    i = data.draw(st.sampled_from(ds))
    ops.insert(i + 1, dict(ops[i], process="c4"))
    assert verdicts(meta, ops) == expect("integrity")


@fast
@given(histories(), st.sampled_from(["C1", "C2"]))
def test_fabricate_a_message(h, ch):
    meta, ops = copy.deepcopy(h)
    for o in ops:
        if o["f"] == "stored" and o["value"]["channel"] == ch:
            o["value"]["msgs"].append("ghost:1")
    assert verdicts(meta, ops) == expect("integrity")


@fast
@given(histories(), st.data())
def test_change_a_text(h, data):
    meta, ops = copy.deepcopy(h)
    ds = delivers(ops)
    assume(ds)
    i = data.draw(st.sampled_from(ds))
    ops[i]["value"]["text"] += " (edited in flight)"
    assert verdicts(meta, ops) == expect("integrity")


@fast
@given(histories(), st.data())
def test_make_a_failed_send_appear(h, data):
    meta, ops = copy.deepcopy(h)
    choices = failed(ops)
    assume(choices)
    ch, m = data.draw(st.sampled_from(choices))
    for o in ops:
        if o["f"] == "stored" and o["value"]["channel"] == ch:
            o["value"]["msgs"].append(m)
    assert verdicts(meta, ops) == expect("integrity")
