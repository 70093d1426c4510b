"""The command line's documented answers no other test read: what
``run --explain`` draws (not only that it wrote files), and ``sweep`` on a
scenario that has nothing to sweep (exit 2, one line, nothing written)."""

import json

from chatsim.api import explain_msg
from helpers import cli, history_ops


def svg_text(path):
    import re

    return re.findall(r">([^<>]+)</text>", path.read_text())


def test_run_explain_draws_the_messages_own_ops_and_verdict(tmp_path):
    out = tmp_path / "r"
    code, stdout, err = cli("run", "crash-mid-send", "--arch", "old", "--seed", "1", "--no-plots",
                            "--out", str(out), "--explain", "client-1:1")
    assert code == 1, err
    flat = "".join(stdout.split())  # rich wraps long paths
    assert f"messagediagram:{out / 'explain-client-1_1.png'}(and.svg)" in flat
    texts = svg_text(out / "explain-client-1_1.svg")
    ops = history_ops(out)
    mine = [o for o in ops if o["value"].get("msg") == "client-1:1" and o["f"] == "send"]
    invoke, ok = mine[0], mine[-1]
    assert f"send #{invoke['index']}" in texts and f"ok ts={ok['value']['ts']} #{ok['index']}" in texts
    result = json.loads((out / "result.json").read_text())
    broken = [n for n, r in result["invariants"].items() if any(v["msg"] == "client-1:1" for v in r["violations"])]
    title = next(t for t in texts if t.startswith("client-1:1 — old"))
    assert ("violates" in title) == bool(broken)

    # the acked message the crash lost: its diagram says so, and shows the crash
    (lost,) = {v["msg"] for v in result["invariants"]["durability"]["violations"]}
    texts = svg_text(explain_msg(out, lost).with_suffix(".svg"))
    assert f"{lost} — old — violates validity, durability" in texts
    assert "crash channel-server-0" in texts


def test_sweep_of_a_scenario_without_a_sweep_is_bad_input(tmp_path):
    out = tmp_path / "s"
    code, stdout, err = cli("sweep", "steady", "--out", str(out))
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "steady" in err and "the scenario has no [sweep] or [[variants]] to run" in err
    assert not out.exists()
