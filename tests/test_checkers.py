"""Checkers on hand-written histories: one canary per invariant, edge cases."""


import pytest

from helpers import HAND_MEMBERS, deliver, done, invoke, read, stored
from helpers import hand_history as H
from invariants import check_bytes
from invariants.synth import reference_history, to_jsonl
from sim.errors import HistoryError

NAMES = ["validity", "integrity", "total-order", "no-duplicates", "durability"]
MEMBERS = HAND_MEMBERS


def send(p, m, ch="C1", outcome="ok", text=None):
    """An invoke and, unless ``pending``, its outcome."""
    return [invoke(p, m, ch, text)] + ([] if outcome == "pending" else [done(p, m, ch, outcome)])


def verdicts(data):
    _, r = check_bytes(data)
    return {n: r["invariants"][n]["valid"] for n in NAMES}, r


def only(*bad):
    return {n: (False if n in bad else True) for n in NAMES}


def clean():
    return [*send("c1", "a"), deliver("c1", "a"), deliver("c2", "a"),
            *send("c2", "b"), deliver("c1", "b"), deliver("c2", "b"),
            *read("c1", ["a", "b"]), *read("c2", ["a", "b"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
            stored(["a", "b"]), stored([], "C2")]


def test_clean_history_passes_everything():
    v, r = verdicts(H(*clean()))
    assert v == only() and r["valid"] is True and r["sends"]["ok"] == 2


def test_validity_canary_acked_message_missing_from_one_read():
    ops = clean()
    ops[ops.index(("c2", "ok", "read", {"channel": "C1", "msgs": ["a", "b"]}))] = \
        ("c2", "ok", "read", {"channel": "C1", "msgs": ["a"]})
    v, r = verdicts(H(*ops))
    assert v == only("validity")
    (viol,) = r["invariants"]["validity"]["violations"]
    assert viol["msg"] == "b" and viol["clients"] == ["c2"] and "final read of c2" in viol["explanation"]


@pytest.mark.parametrize("mutate, kind", [
    (lambda ops: ops.__setitem__(2, deliver("c3", "a")), "non-member"),
    (lambda ops: ops.__setitem__(2, deliver("c1", "a", text="changed")), "text-changed"),
    (lambda ops: ops.__setitem__(-2, stored(["a", "b", "zz"])), "fabricated"),
])
def test_integrity_canaries(mutate, kind):
    ops = clean()
    mutate(ops)
    v, r = verdicts(H(*ops))
    # a non-member's display replaces c1's delivery; c1 still read it, so nothing else breaks
    assert v == only("integrity")
    assert kind in {x["kind"] for x in r["invariants"]["integrity"]["violations"]}


def test_integrity_failed_send_that_appears():
    ops = [*send("c1", "a", outcome="fail"), *read("c1", ["a"]), *read("c2", ["a"]),
           *read("c2", [], "C2"), stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("integrity")
    assert {x["kind"] for x in r["invariants"]["integrity"]["violations"]} == {"failed-appears"}


def test_integrity_message_in_the_wrong_channel():
    ops = [*send("c2", "a", ch="C1"), *read("c2", ["a"], "C1"), *read("c2", ["a"], "C2"),
           stored(["a"]), stored(["a"], "C2")]
    v, r = verdicts(H(*ops))
    assert v["integrity"] is False
    assert r["invariants"]["integrity"]["violations"][0]["kind"] == "wrong-channel"


def test_same_id_in_two_channels_is_fine():
    ops = [*send("c2", "a", ch="C1"), *send("c2", "a", ch="C2"), *read("c2", ["a"], "C1"),
           *read("c2", ["a"], "C2"), stored(["a"]), stored(["a"], "C2")]
    v, _ = verdicts(H(*ops))
    assert v == only()


def test_total_order_canary_and_message_names_both_ops():
    ops = [*send("c1", "a"), deliver("c1", "a"),
           *send("c2", "b"), deliver("c1", "b"), deliver("c2", "b"), deliver("c2", "a"),
           *read("c1", ["a", "b"]), *read("c2", ["a", "b"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a", "b"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("total-order")
    (viol,) = r["invariants"]["total-order"]["violations"]
    assert "c2 displayed b before a, but the store holds a first — ops 6, 7, 16" in viol["explanation"]
    assert viol["indexes"] == [6, 7, 16]


def test_duplicates_are_not_also_order_violations():
    ops = clean()
    ops.insert(7, deliver("c2", "a"))  # a again after b
    v, r = verdicts(H(*ops))
    assert v == only("no-duplicates")
    assert r["invariants"]["no-duplicates"]["violations"][0]["msg"] == "a"


def test_durability_canary_displayed_live_but_not_stored():
    ops = [*send("c1", "a", outcome="pending"), deliver("c2", "a"), ("c1", "info", "send", {"channel": "C1", "msg": "a"}),
           *read("c1", []), *read("c2", []), *read("c2", [], "C2"), stored([]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("durability")
    assert "displayed live by c2" in r["invariants"]["durability"]["violations"][0]["explanation"]


def test_acked_lost_violates_validity_and_durability():
    ops = [*send("c1", "a"), *read("c1", []), *read("c2", []), *read("c2", [], "C2"), stored([]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("validity", "durability")


def test_member_without_final_read_is_skipped_not_failed():
    ops = [*send("c1", "a"), deliver("c1", "a"), *read("c1", ["a"]), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only()
    assert r["invariants"]["validity"]["counts"]["members_without_read"] == 2


def test_stored_but_never_acked_is_a_recovered_unknown():
    ops = [*send("c1", "a", outcome="info"), *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"),
           stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only() and r["sends"]["recovered_unknown"] == 1 and r["sends"]["unknown"] == 1


def test_unknown_send_that_never_appears_is_fine():
    ops = [*send("c1", "a", outcome="pending"), *read("c1", []), *read("c2", []), *read("c2", [], "C2"),
           stored([]), stored([], "C2")]
    v, _ = verdicts(H(*ops))
    assert v == only()


def test_cut_short_history_is_unknown_never_true():
    ops = [*send("c1", "a"), deliver("c1", "a"), deliver("c2", "a")]
    v, r = verdicts(H(*ops))
    assert v == {"validity": "unknown", "integrity": True, "total-order": "unknown",
                 "no-duplicates": "unknown", "durability": "unknown"}
    assert r["valid"] == "unknown"


def test_cut_short_but_already_broken_is_false():
    ops = [*send("c1", "a"), deliver("c1", "a"), deliver("c1", "a")]
    v, _ = verdicts(H(*ops))
    assert v["no-duplicates"] is False


def test_malformed_value_is_bad_input():
    with pytest.raises(HistoryError, match="op 0"):
        check_bytes(H(("c1", "event", "deliver", {"msg": "a"})))


def test_a_crashing_checker_yields_unknown(monkeypatch):
    import invariants.checkers as ch

    def boom(ix):
        raise RuntimeError("kaput")

    monkeypatch.setitem(ch.CHECKERS, "validity", boom)
    _, r = check_bytes(H(*clean()))
    assert r["invariants"]["validity"]["valid"] == "unknown"
    assert "kaput" in r["invariants"]["validity"]["error"]
    assert r["valid"] == "unknown"


def test_reference_history_is_valid():
    meta, ops = reference_history({"C1": ["a", "b"], "C2": ["b"]},
                                  [("a", "C1", "ok"), ("b", "C2", "fail"), ("b", "C1", "info-applied"),
                                   ("a", "C1", "info-lost")])
    v, _ = verdicts(to_jsonl(meta, ops))
    assert v == only()


def test_a_message_stored_twice_is_a_duplicate_not_an_order_violation():
    # c2 missed the first copy of a and saw only the resend, after b
    ops = [*send("c1", "a"), deliver("c1", "a"), *send("c1", "b"), deliver("c1", "b"), deliver("c2", "b"),
           deliver("c1", "a"), deliver("c2", "a"),
           *read("c1", ["a", "b", "a"]), *read("c2", ["a", "b", "a"]), *read("c2", [], "C2"),
           stored(["a", "b", "a"]), stored([], "C2")]
    v, _ = verdicts(H(*ops))
    assert v == only("no-duplicates")


def test_a_send_acked_after_the_read_began_is_concurrent_with_it():
    ops = [*send("c1", "a", outcome="pending"),
           ("c2", "invoke", "read", {"channel": "C1"}),
           ("c1", "ok", "send", {"channel": "C1", "msg": "a"}),
           ("c2", "ok", "read", {"channel": "C1", "msgs": []}),
           *read("c1", ["a"]), *read("c2", [], "C2"), stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only()
    assert r["invariants"]["validity"]["counts"]["acked_after_read"] == 1


def test_foreign_events_with_odd_fields_are_ignored_but_checked_ops_are_validated():
    ops = [("c1", "event", "connect", {"channel": 5, "version": "v2", "msgs": "n/a"}), *clean()]
    v, _ = verdicts(H(*ops))
    assert v == only()
    with pytest.raises(HistoryError, match="line 2: deliver value"):
        check_bytes(H(("c1", "event", "deliver", {"channel": "C1", "msg": 7})))


# -- the same message id invoked more than once (DESIGN §6) ---------------------------
def attempt(p, m, outcome, ch="C1"):
    return send(p, m, ch, outcome)


def test_timed_out_then_acked_retry_that_vanishes_breaks_validity_and_durability():
    ops = [*attempt("c1", "a", "info"), *attempt("c1", "a", "ok"),
           *read("c1", []), *read("c2", []), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored([]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("validity", "durability")
    assert r["sends"] == {"ok": 1, "fail": 0, "unknown": 0, "recovered_unknown": 0}
    (lost,) = r["invariants"]["validity"]["violations"]
    assert (lost["msg"], lost["channel"], lost["clients"], lost["indexes"]) == ("a", "C1", ["c1", "c2"], [3, 5, 7])
    (gone,) = r["invariants"]["durability"]["violations"]
    assert (gone["msg"], gone["clients"], gone["indexes"]) == ("a", ["c1"], [3, 12])
    assert "acked to c1 (op 3)" in gone["explanation"]


def test_failed_then_acked_retry_that_is_stored_is_not_a_failed_send_appearing():
    ops = [*attempt("c1", "a", "fail"), *attempt("c1", "a", "ok"), deliver("c1", "a"), deliver("c2", "a"),
           *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only() and r["valid"] is True
    assert r["invariants"]["integrity"]["counts"]["reused_ids"] == 1


def test_ok_then_a_failing_retry_is_still_acked():
    ops = [*attempt("c1", "a", "ok"), *attempt("c1", "a", "fail"),
           *read("c1", []), *read("c2", []), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored([]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("validity", "durability")  # acked at op 1 and gone
    assert r["invariants"]["durability"]["violations"][0]["indexes"] == [1, 12]


def test_every_attempt_failed_and_it_appears_is_a_failed_send_appearing():
    ops = [*attempt("c1", "a", "fail"), *attempt("c2", "a", "fail"),
           *read("c1", []), *read("c2", []), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only("integrity")
    (bad,) = r["invariants"]["integrity"]["violations"]
    assert (bad["kind"], bad["msg"], bad["clients"], bad["indexes"]) == ("failed-appears", "a", ["c1", "c2"], [1, 3, 12])


def test_a_retry_still_in_doubt_after_a_failed_one_is_unknown():
    ops = [*attempt("c1", "a", "fail"), *attempt("c1", "a", "pending"),
           *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), *read("c3", [], "C2"),
           stored(["a"]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only() and r["sends"]["unknown"] == 1 and r["sends"]["recovered_unknown"] == 1


# -- vacuous validity -------------------------------------------------------------------
def test_a_channel_nobody_read_without_acked_messages_holds_validity():
    ops = [*send("c2", "z", "C2", outcome="fail"), *read("c1", []), *read("c2", []), stored([]), stored([], "C2")]
    v, r = verdicts(H(*ops))
    assert v == only() and r["valid"] is True and "reason" not in r["invariants"]["validity"]


def test_a_channel_nobody_read_with_acked_messages_is_undecided():
    ops = [*send("c2", "z", "C2"), *read("c1", []), *read("c2", []), stored([]), stored(["z"], "C2")]
    v, r = verdicts(H(*ops))
    assert v == {**only(), "validity": "unknown"}
    assert r["invariants"]["validity"]["reason"] == "no member of C2 made a final read (1 acked message(s) to check)"


# -- live completeness ------------------------------------------------------------------
def connect(c):
    return (c, "event", "connect", {})


def disconnect(c):
    return (c, "event", "disconnect", {"reason": "closed"})


def lc(data):
    _, r = check_bytes(data)
    return r["invariants"]["live-completeness"], r


def test_live_completeness_without_connect_events_holds_vacuously():
    ops = [*send("c1", "a"), *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), stored(["a"]),
           stored([], "C2")]
    res, r = lc(H(*ops))
    assert res["valid"] is True and res["applicable"] is False and r["valid"] is True


def test_a_connected_member_who_only_sees_it_after_reloading_breaks_live_completeness():
    ops = [connect("c1"), connect("c2"), *send("c1", "a"), deliver("c1", "a"),
           *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), stored(["a"]), stored([], "C2")]
    res, r = lc(H(*ops))
    assert r["valid"] is False
    assert {n: x["valid"] for n, x in r["invariants"].items()} == {**only(), "live-completeness": False,
                                                                   "boot-consistency": True}
    (v,) = res["violations"]
    assert (v["kind"], v["msg"], v["channel"], v["clients"], v["indexes"]) == ("not-live", "a", "C1", ["c2"],
                                                                              [1, 3, 8, 11])
    assert "only its final read shows it (op 8)" in v["explanation"]


@pytest.mark.parametrize("ops", [
    # c2 was away when a was stored and came back after
    [connect("c1"), connect("c2"), disconnect("c2"), *send("c1", "a"), deliver("c1", "a"), connect("c2")],
    # c2 connected only after a was stored
    [connect("c1"), *send("c1", "a"), deliver("c1", "a"), connect("c2")],
    # c2 dropped before the end of the workload
    [connect("c1"), connect("c2"), *send("c1", "a"), deliver("c1", "a"), disconnect("c2")],
    # shown late (after a gap fill) still counts
    [connect("c1"), connect("c2"), *send("c1", "a"), deliver("c1", "a"), ("c2", "event", "boot", {}),
     deliver("c2", "a")],
], ids=["away-while-stored", "connected-after", "left-before-the-end", "shown-late"])
def test_live_completeness_asks_only_members_connected_throughout(ops):
    ops = [*ops, *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), stored(["a"]), stored([], "C2")]
    res, r = lc(H(*ops))
    assert res["valid"] is True and r["valid"] is True


def test_stored_time_is_the_first_deliver_when_that_precedes_the_ok():
    # c2 connects between the first deliver and the ack: the message was already stored
    ops = [connect("c1"), *send("c1", "a", outcome="pending"), deliver("c1", "a"), connect("c2"),
           ("c1", "ok", "send", {"channel": "C1", "msg": "a"}),
           *read("c1", ["a"]), *read("c2", ["a"]), *read("c2", [], "C2"), stored(["a"]), stored([], "C2")]
    res, _ = lc(H(*ops))
    assert res["valid"] is True and res["counts"]["members_checked"] == 3  # (member, channel) pairs


def test_live_completeness_without_a_store_report_is_undecided():
    res, _ = lc(H(connect("c1"), *send("c1", "a"), deliver("c1", "a")))
    assert res["valid"] == "unknown"


def test_steps_faults_and_unknown_event_kinds_are_ignored():
    ops = [("nemesis", "info", "crash", {"node": "x", "fault": 1}),
           ("c1", "event", "step", {"node": "n", "step": "append", "msg": "a", "channel": "C1"}),
           ("c1", "event", "hologram", {"anything": [1, 2]}), *clean(),
           ("nemesis", "info", "recover", {"node": "x", "fault": 1})]
    v, r = verdicts(H(*ops))
    assert v == only() and r["valid"] is True
