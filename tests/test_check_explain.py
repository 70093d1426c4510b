"""`chatsim check --explain MSG`: a message's story on any history, exit code = verdict."""

import json

from helpers import cli


def write(tmp_path, ops, channels=None):
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": "hand", "arch": "other-tool", "seed": 0,
            "channels": channels or {"C1": ["c1", "c2"]}, "config": {}}
    lines = [json.dumps(meta)] + [json.dumps({"index": i, "time": float(i), "process": p, "type": t, "f": f,
                                              "value": v}) for i, (p, t, f, v) in enumerate(ops)]
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


RETRIED_AND_LOST = [
    ("c1", "invoke", "send", {"channel": "C1", "msg": "m1", "text": "hi"}),
    ("c1", "info", "send", {"channel": "C1", "msg": "m1"}),
    ("c1", "invoke", "send", {"channel": "C1", "msg": "m1", "text": "hi"}),
    ("c1", "ok", "send", {"channel": "C1", "msg": "m1"}),
    ("c2", "invoke", "send", {"channel": "C1", "msg": "m2", "text": "yo"}),
    ("c2", "ok", "send", {"channel": "C1", "msg": "m2"}),
    ("c1", "event", "deliver", {"channel": "C1", "msg": "m2", "text": "yo"}),
    ("c2", "invoke", "read", {"channel": "C1"}),
    ("c2", "ok", "read", {"channel": "C1", "msgs": ["m2"]}),
    ("db", "event", "stored", {"channel": "C1", "msgs": ["m2"]}),
]


def test_explain_tells_every_op_in_order_and_the_broken_invariants(tmp_path):
    path = write(tmp_path, RETRIED_AND_LOST)
    code, out, err = cli("check", "--explain", "m1", path)
    assert code == 1, err
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    assert lines[0].endswith("h.jsonl:") and lines[0].startswith("m1 in ")
    assert lines[1:5] == ["op 0 t=0 c1 invoke send C1 'hi'", "op 1 t=1 c1 info send C1",
                          "op 2 t=2 c1 invoke send C1 'hi'", "op 3 t=3 c1 ok send C1"]
    assert sum(x.startswith("breaks validity:") for x in lines) == 1
    assert sum(x.startswith("breaks durability:") for x in lines) == 1
    assert "final read of c2" in out


def test_explain_json_and_a_message_that_breaks_nothing(tmp_path):
    path = write(tmp_path, RETRIED_AND_LOST)
    code, out, _ = cli("check", "--explain", "m2", path, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False  # the verdict is the history's, not the message's
    assert [o["index"] for o in doc["ops"]] == [4, 5, 6, 8, 9] and doc["violations"] == {}
    assert doc["ops"][3]["position"] == 0 and doc["ops"][3]["of"] == 1
    code, out, _ = cli("check", "--explain", "m2", path)
    assert "breaks no invariant" in out


def test_explain_an_id_the_history_never_mentions_is_bad_input(tmp_path):
    code, _, err = cli("check", "--explain", "nope", write(tmp_path, RETRIED_AND_LOST))
    assert code == 2 and "no op of" in err and "'nope'" in err and len(err.strip().splitlines()) == 1
