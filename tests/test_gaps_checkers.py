"""Checkers on literal histories: each violation's witness (kind, message,
channel, clients, op indexes), not only the verdict; the documented checks
no other test reached (integrity's ``before-send``, ``text-changed``,
``wrong-channel``, a non-member's read), and the witness of an order
violation found by a derandomized property search."""

import copy

import pytest

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import HAND_MEMBERS, deliver, done, hand_history, invoke, read, stored
from invariants import check, check_bytes, check_file, explain, story, story_lines
from invariants.synth import OUTCOMES, RETRIES, reference_history, to_jsonl
from sim.errors import HistoryError
from sim.history import parse_history

MEMBERS = HAND_MEMBERS


def H(*ops, channels=None):
    return hand_history(*ops, channels=channels, arch="other")


def judge(*ops, channels=None):
    return check_bytes(H(*ops, channels=channels))[1]


def witness(result, name):
    return [(v["kind"], v["msg"], v["channel"], v["clients"], v["indexes"])
            for v in result["invariants"][name]["violations"]]


def tail(c1=("a",), c2=()):
    """Final reads and store reports that agree with a store of ``c1`` in C1, ``c2`` in C2."""
    return [*read("c1", list(c1)), *read("c2", list(c1)), *read("c2", list(c2), "C2"), *read("c3", list(c2), "C2"),
            stored(list(c1)), stored(list(c2), "C2")]


# -- integrity ------------------------------------------------------------------
def test_displayed_before_it_was_sent_is_before_send():
    """docs/invariants.md: a message shown before its send was invoked was not
    sent by that invoke. Ops 0 (c2 shows a) precedes op 1 (c1 sends a)."""
    r = judge(deliver("c2", "a"), invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"), *tail())
    assert r["invariants"]["integrity"]["valid"] is False
    assert witness(r, "integrity") == [("before-send", "a", "C1", ["c1", "c2"], [0, 1])]
    assert "c2 displayed a (op 0) before c1 sent it (op 1)" in r["invariants"]["integrity"]["violations"][0][
        "explanation"]
    # the other checkers have nothing to say about it
    assert {n for n, x in r["invariants"].items() if x["valid"] is not True} == {"integrity"}


def test_displayed_after_it_was_sent_is_fine():
    r = judge(invoke("c1", "a"), deliver("c2", "a"), deliver("c1", "a"), done("c1", "a"), *tail())
    assert r["valid"] is True and r["invariants"]["integrity"]["violations"] == []


def test_changed_text_names_both_ops_and_both_texts():
    r = judge(invoke("c1", "a", text="hi"), deliver("c1", "a", text="hi"), deliver("c2", "a", text="HI"),
              done("c1", "a"), *tail())
    assert witness(r, "integrity") == [("text-changed", "a", "C1", ["c1", "c2"], [0, 2])]
    assert "'HI'" in r["invariants"]["integrity"]["violations"][0]["explanation"]


def test_a_message_of_another_channel_is_wrong_channel_not_fabricated():
    r = judge(invoke("c2", "a", "C2"), deliver("c2", "a", "C2"), deliver("c3", "a", "C2"), done("c2", "a", "C2"),
              deliver("c2", "a", "C1"), *tail(c1=(), c2=("a",)))
    assert witness(r, "integrity") == [("wrong-channel", "a", "C1", ["c2"], [4])]
    assert "but was sent in C2" in r["invariants"]["integrity"]["violations"][0]["explanation"]


def test_a_phantom_is_reported_once_per_channel_with_its_first_op():
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
              deliver("c1", "ghost"), deliver("c2", "ghost"), *tail(c1=("a", "ghost")))
    assert witness(r, "integrity") == [("fabricated", "ghost", "C1", ["c1"], [4])]


def test_a_failed_send_is_reported_once_per_place_and_client():
    ops = [invoke("c1", "a"), done("c1", "a", outcome="fail"), deliver("c2", "a"), deliver("c2", "a"),
           *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    r = judge(*ops)
    got = witness(r, "integrity")
    assert got == [("failed-appears", "a", "C1", ["c1", "c2"], [1, 2]),
                   ("failed-appears", "a", "C1", ["c1"], [1, 5]),
                   ("failed-appears", "a", "C1", ["c1", "c2"], [1, 7]),
                   ("failed-appears", "a", "C1", ["c1"], [1, 12])]


def test_a_non_member_read_and_live_view_are_both_named():
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), deliver("c3", "a"), done("c1", "a"),
              *read("c3", ["a"]), *tail())
    assert witness(r, "integrity") == [("non-member", "a", "C1", ["c3"], [3]),
                                       ("non-member", "a", "C1", ["c3"], [6])]
    # an empty read of a channel one is not in says nothing
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"), *read("c3", []), *tail())
    assert r["invariants"]["integrity"]["valid"] is True


# -- validity and durability ------------------------------------------------------
def test_lost_names_every_reader_that_lacks_it_and_the_ack():
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
              invoke("c2", "b"), done("c2", "b"),
              *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
              stored(["a"]), stored([], "C2"))
    assert witness(r, "validity") == [("lost", "b", "C1", ["c1", "c2"], [5, 7, 9])]
    assert witness(r, "durability") == [("not-durable", "b", "C1", ["c2"], [5, 14])]
    assert r["invariants"]["validity"]["counts"]["acked_checked"] == 2


def test_acked_after_the_read_began_is_concurrent_not_lost():
    r = judge(invoke("c1", "a"), (("c2", "invoke", "read", {"channel": "C1"})), deliver("c1", "a"),
              done("c1", "a"), ("c2", "ok", "read", {"channel": "C1", "msgs": []}), *read("c1", ["a"]),
              *read("c2", [], "C2"), *read("c3", [], "C2"), stored(["a"]), stored([], "C2"))
    v = r["invariants"]["validity"]
    assert v["valid"] is True and v["counts"]["acked_after_read"] == 1


def test_validity_without_readers_is_vacuous_only_when_nothing_was_acked():
    r = judge(invoke("c1", "a"), done("c1", "a"), stored(["a"]), stored([], "C2"))
    assert r["invariants"]["validity"]["valid"] == "unknown"
    assert "no member of C1 made a final read (1 acked message(s) to check)" in r["invariants"]["validity"]["reason"]
    r = judge(invoke("c1", "a"), done("c1", "a", outcome="info"), stored([]), stored([], "C2"))
    assert r["invariants"]["validity"]["valid"] is True


def test_displayed_live_but_not_stored_is_not_durable():
    r = judge(invoke("c1", "a"), deliver("c2", "a"), done("c1", "a", outcome="info"), *tail(c1=()))
    assert witness(r, "durability") == [("not-durable", "a", "C1", ["c1", "c2"], [1, 2, 11])]
    assert "displayed live by c2" in r["invariants"]["durability"]["violations"][0]["explanation"]


def test_a_history_cut_short_is_unknown_not_valid():
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"), *read("c1", ["a"]))
    for name in ("total-order", "no-duplicates", "durability"):
        assert r["invariants"][name]["valid"] == "unknown", name
        assert "no stored report for C1" in r["invariants"][name]["reason"]
    assert r["valid"] == "unknown"


# -- order and duplicates -------------------------------------------------------------
def test_order_violation_names_both_ops_and_the_store():
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), done("c1", "b"),
           deliver("c1", "a"), deliver("c1", "b"), deliver("c2", "b"), deliver("c2", "a"),
           *tail(c1=("a", "b"))]
    r = judge(*ops)
    store_at = len(ops) - 2
    assert witness(r, "total-order") == [("order", "a", "C1", ["c2"], [6, 7, store_at])]
    assert r["invariants"]["total-order"]["violations"][0]["explanation"].startswith(
        "c2 displayed b before a, but the store holds a first")


def test_a_read_out_of_order_is_an_order_violation_at_the_read():
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), done("c1", "b"),
           deliver("c1", "a"), deliver("c1", "b"), deliver("c2", "a"), deliver("c2", "b"),
           *read("c1", ["b", "a"]), *read("c2", ["a", "b"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b"]), stored([], "C2")]
    r = judge(*ops)
    assert witness(r, "total-order") == [("order", "a", "C1", ["c1"], [9, 16])]


def test_messages_stored_twice_or_never_are_not_order_witnesses():
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), done("c1", "b"),
           deliver("c1", "b"), deliver("c1", "a"), deliver("c2", "a"), deliver("c2", "b"),
           *read("c1", ["a", "b", "a"]), *read("c2", ["a", "b", "a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b", "a"]), stored([], "C2")]
    r = judge(*ops)
    assert r["invariants"]["total-order"]["valid"] is True
    dups = witness(r, "no-duplicates")
    assert ("duplicate", "a", "C1", [], [16]) in dups and ("duplicate", "a", "C1", ["c1"], [9]) in dups
    assert len(dups) == 3


def test_a_live_duplicate_names_both_deliveries():
    r = judge(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), deliver("c2", "a"), done("c1", "a"),
              *tail())
    assert witness(r, "no-duplicates") == [("duplicate", "a", "C1", ["c2"], [2, 3])]
    assert "a appears 2 times in c2's live view of C1 (ops 2, 3)" in \
        r["invariants"]["no-duplicates"]["violations"][0]["explanation"]


# -- live completeness and boot consistency ----------------------------------------------
def test_not_live_names_the_session_the_store_time_and_the_read():
    ops = [("c1", "event", "connect", {}), ("c2", "event", "connect", {}),
           invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"), *tail()]
    r = judge(*ops)
    (v,) = r["invariants"]["live-completeness"]["violations"]
    assert (v["kind"], v["msg"], v["clients"], v["indexes"]) == ("not-live", "a", ["c2"], [1, 3, 8, 13])
    assert "only its final read shows it (op 8)" in v["explanation"]
    assert r["invariants"]["live-completeness"]["counts"] == {"members_checked": 3, "messages_required": 2}


def test_a_member_that_disconnected_need_not_see_it_live():
    ops = [("c1", "event", "connect", {}), ("c2", "event", "connect", {}), ("c2", "event", "disconnect", {}),
           invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"), ("c2", "event", "connect", {}), *tail()]
    assert judge(*ops)["invariants"]["live-completeness"]["valid"] is True


def test_stale_directory_view_names_missing_and_extra_members():
    ops = [("c1", "event", "directory", {"version": 3, "channels": {"D": ["c1", "c3"]}}),
           ("dir", "event", "directory-truth", {"version": 4, "channels": {"D": ["c1", "c2"]}}),
           stored([]), stored([], "C2")]
    r = judge(*ops)
    (v,) = r["invariants"]["boot-consistency"]["violations"]
    assert (v["kind"], v["channel"], v["clients"], v["indexes"]) == ("stale-view", "D", ["c1"], [0, 1])
    assert "missing c2; extra c3" in v["explanation"]


# -- the command line's sentences ---------------------------------------------------------
def test_explain_limits_each_invariant_and_story_tells_positions():
    ops = [invoke("c1", m) for m in "abcdefg"] + [done("c1", m) for m in "abcdefg"] + \
        [*read("c1", []), *read("c2", []), *read("c2", [], "C2"), *read("c3", [], "C2"), stored([]), stored([], "C2")]
    h = parse_history(H(*ops), slim=True)
    r = check(h)
    lines = explain(r, limit=5)
    assert sum(x.startswith("validity: ") for x in lines) == 6 and "validity: … and 2 more" in lines
    s = story(h, r, "c")
    assert [o["index"] for o in s["ops"]] == [2, 9]
    assert story_lines(s)[0] == "op 2 t=2 c1 invoke send C1 'text of c'"
    assert any(x.startswith("breaks validity: c was acked to c1 in C1 (op 9)") for x in story_lines(s))


# -- the property: a swapped pair of deliveries is named exactly -------------------------------
@st.composite
def histories(draw):
    members = {"C1": ["c1", "c2", "c3"], "C2": ["c2", "c3", "c4"]}
    sends = [(draw(st.sampled_from(members[ch])), ch, draw(st.sampled_from(OUTCOMES + RETRIES)))
             for ch in draw(st.lists(st.sampled_from(sorted(members)), min_size=2, max_size=10))]
    return reference_history(members, sends)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_swapped_deliveries_are_named_by_message_client_and_ops(h, data):
    """Move one delivery behind the next one of the same view: exactly one
    order violation, naming the moved message, that client, the op where the
    other was shown, the moved op's new index and the store report.

    The assertion is a property of every history the strategy can make, so it
    holds whatever examples a hypothesis version draws."""
    meta, ops = copy.deepcopy(h)
    by_view: dict = {}
    for i, o in enumerate(ops):
        if o["f"] == "deliver":
            by_view.setdefault((o["process"], o["value"]["channel"]), []).append(i)
    pairs = [(a, b) for seq in by_view.values() for a, b in zip(seq, seq[1:])]
    assume(pairs)
    a, b = data.draw(st.sampled_from(pairs))
    c, ch, moved_msg, other = ops[a]["process"], ops[a]["value"]["channel"], ops[a]["value"]["msg"], ops[b]["value"]["msg"]
    moved = ops.pop(a)
    ops.insert(b, dict(moved, time=ops[b - 1]["time"]))
    r = check_bytes(to_jsonl(meta, ops))[1]
    store_at = next(i for i, o in enumerate(ops) if o["f"] == "stored" and o["value"]["channel"] == ch)
    (v,) = r["invariants"]["total-order"]["violations"]
    assert (v["kind"], v["msg"], v["channel"], v["clients"], v["indexes"]) == \
        ("order", moved_msg, ch, [c], [b - 1, b, store_at])
    assert v["explanation"].startswith(f"{c} displayed {other} before {moved_msg}, but the store holds "
                                       f"{moved_msg} first")


# -- session bookkeeping of live-completeness -----------------------------------------
def connect(c):
    return (c, "event", "connect", {})


def disconnect(c):
    return (c, "event", "disconnect", {})


def test_a_disconnect_ends_the_session_that_counts():
    """c2 connected, then disconnected before a was sent and never came back:
    it need not display a (it reloads on reconnect)."""
    r = judge(connect("c1"), connect("c2"), disconnect("c2"), invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"),
              *tail())
    assert r["invariants"]["live-completeness"]["valid"] is True
    assert r["invariants"]["live-completeness"]["counts"]["members_checked"] == 1


def test_events_after_the_final_read_do_not_end_the_session():
    """c2's disconnect after its final read began is after the workload: the
    session it was in at its read still counts, and a missing display breaks."""
    ops = [connect("c1"), connect("c2"), invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"),
           *read("c1", ["a"]), ("c2", "invoke", "read", {"channel": "C1"}), disconnect("c2"),
           ("c2", "ok", "read", {"channel": "C1", "msgs": ["a"]}), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    r = judge(*ops)
    assert witness(r, "live-completeness") == [("not-live", "a", "C1", ["c2"], [1, 3, 9, 14])]


def test_a_member_that_connects_only_after_its_read_began_is_not_checked():
    ops = [connect("c1"), invoke("c1", "a"), deliver("c1", "a"), done("c1", "a"), *read("c1", ["a"]),
           ("c2", "invoke", "read", {"channel": "C1"}), connect("c2"), ("c2", "ok", "read", {"channel": "C1", "msgs": ["a"]}),
           *read("c2", [], "C2"), *read("c3", [], "C2"), stored(["a"]), stored([], "C2")]
    r = judge(*ops)
    assert r["invariants"]["live-completeness"]["valid"] is True
    assert r["invariants"]["live-completeness"]["counts"]["members_checked"] == 2  # c1 in C1, c2 in C2


def test_an_unknown_send_counts_as_stored_at_its_invoke():
    """A timed-out send that landed, displayed by nobody: it may have been
    stored as early as its invoke, so c2 — connected only after that invoke,
    before the timeout was recorded — is not required to have seen it live."""
    ops = [invoke("c1", "a"), connect("c2"), done("c1", "a", outcome="info"), *tail()]
    r = judge(*ops)
    assert r["invariants"]["live-completeness"]["valid"] is True, r["invariants"]["live-completeness"]
    assert r["invariants"]["live-completeness"]["counts"] == {"members_checked": 2, "messages_required": 0}


# -- the sentences: explain, story, story_lines, and malformed ops ----------------------------
def test_explain_default_limit_extra_line_and_checker_errors():
    vs = [{"explanation": f"v{i}"} for i in range(7)]
    result = {"invariants": {"validity": {"violations": vs}, "integrity": {"violations": vs[:5]},
                             "total-order": {"violations": [], "error": "KeyError: 'x'"}}}
    assert explain(result) == [*(f"validity: v{i}" for i in range(5)), "validity: … and 2 more",
                               *(f"integrity: v{i}" for i in range(5)), "total-order: checker error: KeyError: 'x'"]


def test_story_and_its_lines_tell_each_op_and_each_broken_invariant():
    ops = [invoke("c1", "a", text="hi"), deliver("c2", "a", text="hi"), done("c1", "a"),
           invoke("c1", "b"), deliver("c1", "b"), deliver("c2", "b"), done("c1", "b"),
           *read("c1", ["b", "a"]), *read("c2", ["b", "a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           ("c1", "event", "boot", {"msg": "a"}), stored(["b", "a"]), stored([], "C2")]
    h = parse_history(H(*ops), slim=True)
    r = check(h)
    s = story(h, r, "a")
    assert s["msg"] == "a" and [o["index"] for o in s["ops"]] == [0, 1, 2, 8, 10, 15, 16]
    read_op = s["ops"][3]
    assert (read_op["position"], read_op["of"], read_op["channel"]) == (1, 2, "C1")
    assert s["violations"] == {}
    lines = story_lines(s)
    assert lines[:6] == ["op 0 t=0 c1 invoke send C1 'hi'", "op 1 t=1 c2 event deliver C1 'hi'",
                         "op 2 t=2 c1 ok send C1", "op 8 t=8 c1 ok read C1 (position 2 of 2)",
                         "op 10 t=10 c2 ok read C1 (position 2 of 2)", "op 15 t=15 c1 event boot"]
    assert lines[6] == "op 16 t=16 db event stored C1 (position 2 of 2)"
    assert lines[7:] == ["breaks no invariant"]
    b = story(h, r, "b")  # c2 displayed a before b; the store holds b first
    assert list(b["violations"]) == ["total-order"] and b["violations"]["total-order"][0]["msg"] == "b"
    assert story_lines(b)[-1] == ("breaks total-order: c2 displayed a before b, but the store holds b first — "
                                  "ops 1, 5, 16")
    assert story_lines({"msg": "z", "ops": [], "violations": {}}) == []


@pytest.mark.parametrize("op, message", [
    (("c1", "event", "deliver", {"msg": "a"}), "op 0 (deliver event): value needs 'channel' and 'msg'"),
    (("c1", "invoke", "send", {"channel": "C1"}), "op 0 (send invoke): value needs 'channel' and 'msg'"),
    (("db", "event", "stored", {"channel": "C1"}), "op 0 (stored event): value needs 'channel' and 'msgs'"),
    (("c1", "ok", "read", {"channel": "C1"}), "op 0 (read ok): value needs 'channel' and 'msgs'"),
    (("c1", "event", "directory", {"version": 1}), "op 0 (directory): value needs 'version' and 'channels'"),
])
def test_a_malformed_op_is_named_with_what_it_lacks(op, message):
    with pytest.raises(HistoryError) as e:
        check_bytes(H(op))
    assert message in str(e.value)


def test_a_later_deliver_without_msg_is_named():
    with pytest.raises(HistoryError) as e:
        check_bytes(H(deliver("c1", "a"), ("c1", "event", "deliver", {"channel": "C1"})))
    assert "op 1 (deliver): value has no 'msg'" in str(e.value)


def test_check_file_reads_and_judges_a_file(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(H(invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"), *tail()))
    meta, r = check_file(path)
    assert meta.scenario == "hand" and r["valid"] is True and r["ops"] == 14
    assert r["sends"] == {"ok": 1, "fail": 0, "unknown": 0, "recovered_unknown": 0}


# -- validity's bookkeeping ---------------------------------------------------------
def test_validity_counts_every_channel_and_reader():
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c2", "b", "C2"), done("c2", "b", "C2"),
           ("c1", "invoke", "read", {"channel": "C1"}), ("c2", "invoke", "read", {"channel": "C1"}),
           invoke("c1", "late"), done("c1", "late"),
           ("c1", "ok", "read", {"channel": "C1", "msgs": ["a"]}), ("c2", "ok", "read", {"channel": "C1", "msgs": ["a"]}),
           *read("c2", ["b"], "C2"), *read("c3", ["b"], "C2"), stored(["a", "late"]), stored(["b"], "C2")]
    r = judge(*ops)
    v = r["invariants"]["validity"]
    assert v["valid"] is True
    assert v["counts"] == {"acked_checked": 3, "members_without_read": 0, "acked_after_read": 2}


def test_readers_with_the_same_list_but_different_read_times_are_judged_apart():
    """c1 began its read before b was acked, c2 after: the same list [a] is
    complete for c1 and misses b for c2."""
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), ("c1", "invoke", "read", {"channel": "C1"}),
           done("c1", "b"), ("c2", "invoke", "read", {"channel": "C1"}),
           ("c1", "ok", "read", {"channel": "C1", "msgs": ["a"]}), ("c2", "ok", "read", {"channel": "C1", "msgs": ["a"]}),
           *read("c2", [], "C2"), *read("c3", [], "C2"), stored(["a", "b"]), stored([], "C2")]
    r = judge(*ops)
    assert witness(r, "validity") == [("lost", "b", "C1", ["c2"], [4, 7])]


def test_two_readers_missing_different_messages_are_each_named():
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), done("c1", "b"),
           *read("c1", ["a"]), *read("c2", ["b"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b"]), stored([], "C2")]
    r = judge(*ops)
    assert witness(r, "validity") == [("lost", "a", "C1", ["c2"], [1, 7]), ("lost", "b", "C1", ["c1"], [3, 5])]
    assert r["invariants"]["validity"]["violations"][0]["explanation"] == (
        "a was acked to c1 in C1 (op 1) but the final read of c2 does not contain it (op 7)")


def test_lost_by_two_readers_lists_both_in_one_sentence():
    ops = [invoke("c1", "a"), done("c1", "a"), *read("c1", []), *read("c2", []), *read("c2", [], "C2"),
           *read("c3", [], "C2"), stored(["a"]), stored([], "C2")]
    (v,) = judge(*ops)["invariants"]["validity"]["violations"]
    assert v["explanation"] == "a was acked to c1 in C1 (op 1) but the final read of c1, c2 does not contain it (ops 3, 5)"


THREE = {"C1": ["c1", "c2", "c3"]}


def tail3(msgs):
    return [*read("c1", msgs), *read("c2", msgs), *read("c3", msgs), stored(msgs)]


def test_an_unknown_send_is_stored_when_first_displayed_not_later():
    """Displayed by c1 (op 1) before c3 connected (op 2), by c2 after: it was
    stored by op 1, so c3 need not have seen it live."""
    ops = [invoke("c1", "a"), deliver("c1", "a"), connect("c3"), deliver("c2", "a"), done("c1", "a", outcome="info"),
           *tail3(["a"])]
    r = judge(*ops, channels=THREE)
    assert r["invariants"]["live-completeness"]["valid"] is True
    assert r["invariants"]["live-completeness"]["counts"] == {"members_checked": 1, "messages_required": 0}


def test_an_unknown_send_first_displayed_after_a_connect_is_required_live():
    """b is shown everywhere first; a is first displayed (op 7) after c3
    connected (op 6): c3 should have seen a live."""
    ops = [invoke("c2", "b"), deliver("c1", "b"), deliver("c2", "b"), deliver("c3", "b"), done("c2", "b"),
           invoke("c1", "a"), connect("c3"), deliver("c1", "a"), deliver("c2", "a"),
           done("c1", "a", outcome="info"), *tail3(["b", "a"])]
    r = judge(*ops, channels=THREE)
    assert witness(r, "live-completeness") == [("not-live", "a", "C1", ["c3"], [6, 7, 15, 16])]


def test_explain_says_one_more():
    vs = [{"explanation": f"v{i}"} for i in range(6)]
    assert explain({"invariants": {"validity": {"violations": vs}}})[-1] == "validity: … and 1 more"


def test_check_file_names_the_file_and_keeps_its_bound(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "meta"}\nnot json\n')
    with pytest.raises(HistoryError) as e:
        check_file(path)
    assert str(path) in str(e.value)
    good = tmp_path / "h.jsonl"
    good.write_bytes(H(invoke("c1", "a"), done("c1", "a"), *tail(c1=("a",))))
    with pytest.raises(HistoryError) as e:
        check_file(good, max_bytes=100)
    assert "over the limit of 100" in str(e.value)


def test_every_bad_entry_of_a_live_view_is_judged_with_its_sentence():
    """A phantom first in c1's view does not stop the check of what follows it."""
    r = judge(invoke("c1", "a", text="hi"), deliver("c1", "ghost"), deliver("c1", "a", text="HI"), deliver("c2", "a", text="hi"),
              deliver("c3", "a", text="hi"), done("c1", "a"), *tail())
    got = {v["kind"]: v["explanation"] for v in r["invariants"]["integrity"]["violations"]}
    assert got == {"fabricated": "ghost appears in c1's live view of C1 (op 1) but no client ever sent it",
                   "text-changed": "c1 displayed a with text 'HI' (op 2) but c1 sent 'hi' (op 0)",
                   "non-member": "c3 is not a member of C1 but displayed a from it (op 4)"}


def test_check_bytes_names_an_unnamed_history_in_its_errors():
    with pytest.raises(HistoryError) as e:
        check_bytes(b'{"type": "meta"}\nnot json\n')
    assert str(e.value).startswith("<history>")
    with pytest.raises(HistoryError) as e:
        check_bytes(b'{"type": "meta"}\nnot json\n', "mine.jsonl")
    assert str(e.value).startswith("mine.jsonl")


def test_order_is_judged_past_unstored_and_repeated_messages_and_counts_its_sequences():
    """c2 shows x (never stored) and a twice: neither stops or confuses the
    walk, and b-before-a is still found; a read out of order is a 'read'."""
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "b"), done("c1", "b"), invoke("c1", "x"),
           done("c1", "x", outcome="info"),
           deliver("c1", "a"), deliver("c1", "b"), deliver("c1", "a"),
           deliver("c2", "x"), deliver("c2", "b"), deliver("c2", "a"),
           *read("c1", ["b", "a"]), *read("c2", ["a", "b"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b"]), stored([], "C2")]
    r = judge(*ops)
    order = r["invariants"]["total-order"]
    assert [(v["msg"], v["clients"], v["indexes"]) for v in order["violations"]] == [
        ("a", ["c2"], [10, 11, 20]), ("a", ["c1"], [13, 20])]
    assert order["violations"][1]["explanation"] == (
        "c1 read b before a, but the store holds a first — ops 13, 20")
    assert order["counts"] == {"sequences_checked": 6}  # 2 live views + 4 reads
    assert r["invariants"]["no-duplicates"]["valid"] is False  # c1 showed a twice: its business, not order's


# -- counts, reasons and sentences of the other checkers ------------------------------------
def test_undecided_reasons_list_three_and_count_the_rest():
    chans = {f"C{i}": ["c1"] for i in range(1, 6)}
    ops = [x for i in range(1, 6) for x in (invoke("c1", f"m{i}", f"C{i}"), done("c1", f"m{i}", f"C{i}"))]
    r = judge(*ops, channels=chans)
    assert r["invariants"]["validity"]["reason"] == (
        "no member of C1 made a final read (1 acked message(s) to check); "
        "no member of C2 made a final read (1 acked message(s) to check); "
        "no member of C3 made a final read (1 acked message(s) to check) (+2 more)")
    r = judge(*ops[:6], channels={f"C{i}": ["c1"] for i in range(1, 4)})
    assert r["invariants"]["durability"]["reason"] == \
        "no stored report for C1; no stored report for C2; no stored report for C3"


def test_duplicates_in_a_read_and_in_the_store_are_told_apart():
    ops = [invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
           *read("c1", ["a", "a"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "a"]), stored([], "C2")]
    r = judge(*ops)
    got = [v["explanation"] for v in r["invariants"]["no-duplicates"]["violations"]]
    assert got == ["a appears 2 times in c1's final read of C1 (op 5)", "a appears 2 times in the store of C1 (op 12)"]
    assert r["invariants"]["no-duplicates"]["counts"] == {"sequences_checked": 2 + 4 + 2}


def test_durability_counts_sentences_and_views_of_unknown_channels():
    """A live view of a channel outside the header comes first; it is
    undecided, and the views and sends after it are still judged."""
    ops = [deliver("c1", "z", "X"),
           invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
           invoke("c1", "b"), deliver("c2", "b"), done("c1", "b", outcome="info"),
           invoke("c2", "r"), done("c2", "r", outcome="info"),
           deliver("c1", "ghost"),
           *read("c1", ["r"]), *read("c2", ["r"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["r"]), stored([], "C2")]
    r = judge(*ops)
    d = r["invariants"]["durability"]
    got = {v["msg"]: (v["clients"], v["indexes"], v["explanation"]) for v in d["violations"]}
    assert got["a"] == (["c1", "c2"], [2, 3, 4, 19],
                        "a was acked to c1 (op 4) and displayed live by c1, c2 but is missing from the store of C1 (op 19)")
    assert got["b"][2] == "b was displayed live by c2 but is missing from the store of C1 (op 19)"
    assert got["ghost"][:2] == (["c1"], [10, 19])
    assert d["counts"] == {"acked": 1, "recovered_unknown": 1}
    assert d["valid"] is False and "reason" not in d
    r = judge(deliver("c1", "z", "X"), *tail(c1=()))
    assert r["invariants"]["durability"] == {"valid": "unknown", "violations": [], "reason": "no stored report for X",
                                            "counts": {"acked": 0, "recovered_unknown": 0}}


def test_boot_consistency_scope_cut_short_and_every_channel():
    r = judge(stored([]), stored([], "C2"))
    assert r["invariants"]["boot-consistency"] == {"valid": True, "violations": [], "applicable": False,
                                                  "counts": {"clients_checked": 0}}
    r = judge(("c1", "event", "directory", {"version": 1, "channels": {"D": ["c1"]}}), stored([]), stored([], "C2"))
    assert r["invariants"]["boot-consistency"] == {"valid": "unknown", "violations": [], "counts": {"clients_checked": 0},
                                                  "reason": "no directory-truth report: the history was cut short"}
    ops = [("c1", "event", "directory", {"version": 4, "channels": {"A": ["c1"], "B": ["c1", "c4"]}}),
           ("dir", "event", "directory-truth", {"version": 4, "channels": {"A": ["c1"], "E": ["c2", "c4"]}}),
           stored([]), stored([], "C2")]
    r = judge(*ops)
    got = [(v["channel"], v["explanation"].split(": ")[-1]) for v in r["invariants"]["boot-consistency"]["violations"]]
    assert got == [("B", "extra c1, c4 (ops 0, 1)"), ("E", "missing c2, c4 (ops 0, 1)")]
    assert r["invariants"]["boot-consistency"]["counts"] == {"clients_checked": 1, "version": 4}


# -- live-completeness's edges ----------------------------------------------------------------
def test_live_completeness_without_sessions_is_out_of_scope():
    r = judge(invoke("c1", "a"), done("c1", "a"), *tail())
    assert r["invariants"]["live-completeness"] == {"valid": True, "violations": [], "applicable": False,
                                                   "counts": {"members_checked": 0, "messages_required": 0}}


def test_live_completeness_leaves_unsent_failed_and_unknown_channels_to_others():
    """A phantom and a failed send in the store, a store report for a channel
    outside the header, a member that never read: decided all the same."""
    ops = [connect("c1"), connect("c2"), invoke("c1", "f"), done("c1", "f", outcome="fail"),
           *read("c1", ["ghost", "f"]), stored(["ghost", "f"]), stored([], "C2"), stored(["q"], "X")]
    r = judge(*ops)
    lc = r["invariants"]["live-completeness"]
    assert lc["valid"] is True and lc["counts"] == {"members_checked": 3, "messages_required": 0}
    assert r["invariants"]["integrity"]["valid"] is False


def test_a_member_without_sessions_does_not_end_the_check_of_the_next():
    ops = [connect("c2"), invoke("c1", "a"), done("c1", "a"), *tail()]
    assert witness(judge(*ops), "live-completeness") == [("not-live", "a", "C1", ["c2"], [0, 2, 6, 11])]


def test_a_message_stored_right_after_the_connect_is_required():
    ops = [invoke("c1", "a"), connect("c2"), done("c1", "a"), *tail()]
    (v,) = judge(*ops)["invariants"]["live-completeness"]["violations"]
    assert (v["msg"], v["clients"], v["indexes"][:2]) == ("a", ["c2"], [1, 2])


def test_every_missed_message_is_named_and_the_read_only_when_it_has_it():
    ops = [connect("c1"), connect("c2"), invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
           invoke("c1", "b"), deliver("c1", "b"), done("c1", "b"),
           *read("c1", ["a", "b"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b"]), stored([], "C2")]
    (v,) = judge(*ops)["invariants"]["live-completeness"]["violations"]
    assert v["msg"] == "b" and v["clients"] == ["c2"]
    assert v["explanation"] == ("c2 was connected from op 1 to the end of the workload and b was stored in C1 "
                                "at op 7, yet c2 never displayed it live")


# -- check(): composition --------------------------------------------------------------------
def test_check_composes_keeps_gc_and_counts_sends_for_any_subset(monkeypatch):
    import gc

    from invariants import checkers

    h = parse_history(H(invoke("c1", "a"), done("c1", "a", outcome="info"), *tail(c1=("a",))), slim=True)
    assert gc.isenabled()
    r = check(h, ["validity"])
    assert gc.isenabled() and list(r["invariants"]) == ["validity"]
    assert r["sends"] == {"ok": 0, "fail": 0, "unknown": 1, "recovered_unknown": 0}

    def boom(ix):
        raise KeyError("x")

    monkeypatch.setitem(checkers.CHECKERS, "validity", boom)
    r = check(h, ["validity", "durability"])
    assert r["invariants"]["validity"] == {"valid": "unknown", "violations": [], "counts": {}, "error": "KeyError: 'x'"}
    assert r["valid"] == "unknown" and r["sends"]["recovered_unknown"] == 1


# -- integrity and the index: the rest ---------------------------------------------------------
def test_integrity_sentences_for_reads_the_store_and_other_channels():
    chans = {"C1": ["c1", "c2"], "C2": ["c1"], "C3": ["c1"]}
    ops = [invoke("c1", "a", "C2"), done("c1", "a", "C2"), invoke("c1", "a", "C3"), done("c1", "a", "C3"),
           *read("c1", ["ghost"]), *read("c2", []), ("c3", "ok", "read", {"channel": "Y", "msgs": ["a"]}),
           *read("c1", ["a"], "C2"), *read("c1", ["a"], "C3"), stored(["a"]), stored(["a"], "C2"), stored(["a"], "C3")]
    r = judge(*ops, channels=chans)
    got = [v["explanation"] for v in r["invariants"]["integrity"]["violations"]]
    assert "ghost appears in c1's final read of C1 (op 5) but no client ever sent it" in got
    assert "a appears in the store of C1 (op 13) but was sent in C2, C3" in got
    assert "c3 is not a member of Y but read 1 message(s) of it (op 8)" in got


def test_retries_are_counted_and_a_read_without_invoke_is_judged_at_its_ok():
    ops = [invoke("c1", "a"), done("c1", "a", outcome="info"), invoke("c1", "a"), done("c1", "a", outcome="info"),
           invoke("c1", "a"), done("c1", "a"),
           ("c1", "ok", "read", {"channel": "C1", "msgs": []}), *read("c2", ["a"]), *read("c2", [], "C2"),
           *read("c3", [], "C2"), stored(["a"]), stored([], "C2")]
    r = judge(*ops)
    assert r["invariants"]["integrity"]["counts"] == {"messages_sent": 1, "reused_ids": 2}
    assert witness(r, "validity") == [("lost", "a", "C1", ["c1"], [5, 6])]


def test_the_last_survivors_of_mutation_testing():
    """Small literal histories for what the first mutation runs left alive."""
    # four undecided reasons: three shown, one counted
    chans = {f"C{i}": ["c1"] for i in range(1, 5)}
    ops = [x for i in range(1, 5) for x in (invoke("c1", f"m{i}", f"C{i}"), done("c1", f"m{i}", f"C{i}"))]
    assert judge(*ops, channels=chans)["invariants"]["validity"]["reason"].endswith(" (+1 more)")
    # an unstored message before a stored one is no order witness
    ops = [invoke("c1", "a"), done("c1", "a"), invoke("c1", "x"), done("c1", "x", outcome="info"),
           deliver("c2", "x"), deliver("c2", "a"), deliver("c1", "a"), *tail()]
    assert judge(*ops)["invariants"]["total-order"]["violations"] == []
    # a completion without its invoke is ignored, not a crash
    r = judge(done("c1", "z"), invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"), *tail())
    assert r["valid"] is True
    # a live view of a channel outside the header: integrity names it, durability is undecided;
    # with a store report for it, durability decides
    r = judge(deliver("c1", "q", "X"), *tail(c1=()))
    assert [v["kind"] for v in r["invariants"]["integrity"]["violations"]] == ["non-member", "fabricated"]
    r = judge(deliver("c1", "q", "X"), stored(["q"], "X"), *tail(c1=()))
    assert r["invariants"]["durability"]["valid"] is True
    # sends of an unreported channel come first; the acked ones after are still counted
    ops = [invoke("c1", "y", "X"), done("c1", "y", "X"),
           invoke("c1", "a"), deliver("c1", "a"), deliver("c2", "a"), done("c1", "a"),
           invoke("c1", "b"), deliver("c1", "b"), deliver("c2", "b"), done("c1", "b"),
           invoke("c1", "u"), done("c1", "u", outcome="info"), invoke("c1", "w"), done("c1", "w", outcome="info"),
           *read("c1", ["a", "b", "u", "w"]), *read("c2", ["a", "b", "u", "w"]), *read("c2", [], "C2"),
           *read("c3", [], "C2"), stored(["a", "b", "u", "w"]), stored([], "C2")]
    assert judge(*ops)["invariants"]["durability"]["counts"] == {"acked": 2, "recovered_unknown": 2}
    ops = [invoke("c1", "y", "X"), done("c1", "y", "X"), invoke("c1", "a"), done("c1", "a"), *tail(c1=())]
    assert [v["msg"] for v in judge(*ops)["invariants"]["durability"]["violations"]] == ["a"]
    # a failed send's sentence
    ops = [invoke("c1", "f"), done("c1", "f", outcome="fail"), invoke("c2", "f"), done("c2", "f", outcome="fail"),
           *tail(c1=("f",))]
    (v,) = [v for v in judge(*ops)["invariants"]["integrity"]["violations"] if "store" in v["explanation"]]
    assert v["explanation"] == ("every attempt of c1, c2 to send f failed definitely (ops 1, 3) yet it appears in "
                                "the store of C1 (op 12)")
    # a member disconnected at its read does not stop the check of the next member
    ops = [connect("c1"), disconnect("c1"), connect("c2"), invoke("c1", "a"), done("c1", "a"), *tail()]
    assert witness(judge(*ops), "live-completeness") == [("not-live", "a", "C1", ["c2"], [2, 4, 8, 13])]
