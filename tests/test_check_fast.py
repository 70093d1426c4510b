"""The fast path (invariants.fast) against the reference path: the same
result on generated histories, valid and mutated, and the fast path really
decides the common case (it is not always falling back)."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invariants.checkers import check_bytes, check_reference
from invariants.fast import fast_check
from invariants.synth import OUTCOMES, RETRIES, reference_history, to_jsonl

MEMBERS = {"C1": ["c1", "c2", "c3"], "C2": ["c2", "c3", "c4"]}


def _mutations(ops, rng):
    """One change a checker should notice, or a harmless one."""
    delivers = [i for i, o in enumerate(ops) if o["f"] == "deliver"]
    sends = [i for i, o in enumerate(ops) if o["f"] == "send"]
    reads = [i for i, o in enumerate(ops) if o["f"] == "read" and o["type"] == "ok" and o["value"]["msgs"]]
    out = []
    if delivers:
        i = rng.choice(delivers)
        out.append(("drop a deliver", lambda o, i=i: o.pop(i)))
        out.append(("change a text", lambda o, i=i: o[i]["value"].__setitem__("text", "changed")))
        out.append(("deliver to a non-member", lambda o, i=i: o[i].__setitem__("process", "c9")))
        out.append(("deliver twice", lambda o, i=i: o.insert(i, copy.deepcopy(o[i]))))
        out.append(("a deliver without text", lambda o, i=i: o[i]["value"].pop("text")))
        j = rng.choice(delivers)
        out.append(("swap two delivers", lambda o, i=i: o.__setitem__(slice(None), _swap(o, i, j))))
    if sends:
        i = rng.choice(sends)
        out.append(("a send becomes a fail", lambda o, i=i: o[i].__setitem__("type", "fail")))
        out.append(("a send op dropped", lambda o, i=i: o.pop(i)))
    if reads:
        i = rng.choice(reads)
        out.append(("a read loses its last", lambda o, i=i: o[i]["value"]["msgs"].pop()))
        out.append(("a read reversed", lambda o, i=i: o[i]["value"]["msgs"].reverse()))
    out.append(("nothing", lambda o: None))
    return out


def _swap(ops, i, j):
    ops = list(ops)
    for k in ("process", "value"):
        ops[i][k], ops[j][k] = ops[j][k], ops[i][k]
    return ops


@st.composite
def cases(draw):
    sends = []
    for _ in range(draw(st.integers(0, 10))):
        ch = draw(st.sampled_from(sorted(MEMBERS)))
        sends.append((draw(st.sampled_from(MEMBERS[ch])), ch, draw(st.sampled_from(OUTCOMES + RETRIES))))
    no_read = draw(st.frozensets(st.sampled_from(["c1", "c4"]), max_size=1))
    meta, ops = reference_history(MEMBERS, sends, no_read, connects=draw(st.booleans()))
    rng = draw(st.randoms(use_true_random=False))
    name, mutate = draw(st.sampled_from(_mutations(ops, rng)))
    ops = copy.deepcopy(ops)
    mutate(ops)
    return name, to_jsonl(meta, ops)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_fast_and_reference_paths_give_the_same_result(case):
    _name, data = case
    try:
        want = check_reference(data)
    except Exception as e:  # bad input: the fast path must not accept it either
        assert fast_check(data) is None, f"fast path accepted input the reference rejects: {e}"
        return
    fast = fast_check(data)
    if fast is not None:
        assert fast == want
    assert check_bytes(data) == want


def test_the_fast_path_decides_valid_histories_and_leaves_violations_to_the_reference():
    sends = [("c1", "C1", o) for o in OUTCOMES + RETRIES] + [("c4", "C2", "ok"), ("c2", "C2", "info-retry-ok")]
    meta, ops = reference_history(MEMBERS, sends)
    data = to_jsonl(meta, ops)
    decided = fast_check(data)
    assert decided is not None and decided == check_reference(data)
    assert decided[1]["valid"] is True and decided[1]["sends"]["ok"] > 0
    ops = copy.deepcopy(ops)
    next(o for o in ops if o["f"] == "deliver")["value"]["text"] = "changed"
    bad = to_jsonl(meta, ops)
    assert fast_check(bad) is None
    assert check_bytes(bad)[1]["invariants"]["integrity"]["valid"] is False


def test_a_line_that_only_looks_canonical_is_left_to_the_reference():
    meta, ops = reference_history(MEMBERS, [("c1", "C1", "ok")])
    data = to_jsonl(meta, ops)
    assert fast_check(data) is not None
    # leading zeros are not JSON; a reordered key is another layout
    for bad in (data.replace(b'{"index":3,', b'{"index":03,'),
                data.replace(b'"channel":"C1","msg"', b'"msg"', 1).replace(b'"c1:0","text"', b'"c1:0","channel":"C1","text"', 1),
                data.replace(b'"time":0.001,', b'"time":00.001,')):
        assert bad != data
        assert fast_check(bad) is None
