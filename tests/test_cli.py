"""The command line contract (DESIGN §8): outputs, exit statuses, errors."""

import json
from pathlib import Path

import pytest

from sim import architectures

from helpers import cli


def test_help_and_scenarios_list():
    code, out, _ = cli("--help")
    assert code == 0 and "scenarios" in out and "run" in out and "check" in out
    code, out, _ = cli("scenarios")
    assert code == 0
    for name in ("steady", "crash-mid-send", "webapp-outage", "flaky-mobile"):
        assert name in out


def test_run_steady_exits_0_and_crash_mid_send_exits_1(tmp_path):
    code, out, err = cli("run", "steady", "--arch", "old", "--out", str(tmp_path / "s"))
    assert code == 0, err
    result = json.loads((tmp_path / "s" / "result.json").read_text())
    for key in ("scenario", "arch", "seed", "valid", "invariants", "metrics"):
        assert key in result
    assert result["invariants"]["durability"]["valid"] is True
    code, out, err = cli("run", "crash-mid-send", "--arch", "old", "--seed", "1", "--out", str(tmp_path / "c"))
    assert code == 1
    assert "durability" in out and "acked to" in out


def test_check_exit_statuses(tmp_path):
    cli("run", "crash-mid-send", "--arch", "old", "--out", str(tmp_path / "c"))
    code, out, _ = cli("check", str(tmp_path / "c" / "history.jsonl"), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False and doc["invariants"]["validity"]["violations"]
    lines = (tmp_path / "c" / "history.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_text("".join(lines[:200]))
    code, out, _ = cli("check", str(tmp_path / "cut.jsonl"))
    assert code == 3 and "unknown" in out


@pytest.mark.parametrize("args, needle", [
    (("run", "no-such-scenario", "--arch", "old"), "unknown scenario 'no-such-scenario'"),
    (("run", "steady", "--arch", "middle"), "--arch"),
    (("run", "steady", "--arch", "old", "--set", "workload.rate=-1"), "workload.rate"),
    (("run", "steady", "--arch", "old", "--set", "workload.nope=1"), "workload.nope: unknown key"),
    (("run", "steady", "--arch", "old", "--set", "rate"), "expected key=value"),
    (("run", "steady", "--arch", "old", "--seed", "-3"), "--seed"),
    (("check", "/nonexistent/history.jsonl"), "cannot read"),
    (("--no-such-flag",), "--no-such-flag"),
])
def test_bad_input_is_one_line_exit_2_no_traceback(args, needle, tmp_path):
    code, out, err = cli(*args, "--out", str(tmp_path / "x")) if args[0] == "run" else cli(*args)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_malformed_scenario_files_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\ndescription = "d"\n[workload]\nrate = "fast"\n')
    code, _, err = cli("run", str(bad), "--arch", "old")
    assert code == 2 and "bad.toml: workload.rate" in err
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "b\n')
    code, _, err = cli("run", str(broken), "--arch", "old")
    assert code == 2 and "broken.toml: malformed TOML" in err


def test_malformed_history_names_the_line(tmp_path):
    h = tmp_path / "h.jsonl"
    h.write_text('{"type":"meta","scenario":"s","arch":"old","seed":1,"channels":{}}\n'
                 '{"index":0,"time":1.0,"process":"c","type":"ok","f":"send","value":{}}\n'
                 '{"index":1,"time":0.5,"process":"c","type":"ok","f":"send","value":{}}\n')
    code, _, err = cli("check", str(h))
    assert code == 2 and "line 3" in err and "backwards" in err


def test_bench_json_prints_the_ratio():
    code, out, err = cli("bench", "--json", "--quick")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["network.ratio_vs_simpy"] > 0
    assert figures["check.records_per_s"] > 0
    assert figures["memory.bytes_per_connected_client"] > 0


def test_readme_worked_example_matches_a_fresh_run(tmp_path):
    """The README's example output is checked against the real thing."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("$ .venv/bin/chatsim run crash-mid-send --arch old --seed 1")
    example = readme[start:readme.index("$ echo $?", start)]
    code, out, _ = cli("run", "crash-mid-send", "--arch", "old", "--seed", "1", "--no-plots",
                       "--out", str(tmp_path))
    assert code == 1
    claimed = [line.strip() for line in example.splitlines() if line.strip().startswith("•")]
    assert claimed and all(line in " ".join(out.split()) for line in (" ".join(c.split()) for c in claimed))
    sends = next(line for line in example.splitlines() if line.startswith("sends:"))
    assert sends in out


@pytest.mark.parametrize("arch", architectures.names())
def test_histories_do_not_depend_on_the_process_hash_seed(arch, tmp_path):
    """Same scenario + seed ⇒ byte-identical history across processes, even with
    different string hashing (no iteration over sets of strings or objects)."""
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        cli("run", "partition-reconnect-storm", "--arch", arch, "--no-plots", "--out", str(out),
            "--set", "workload.duration=45", env={"PYTHONHASHSEED": hash_seed})
        outs.append((out / "history.jsonl").read_bytes())
    assert outs[0] == outs[1]
