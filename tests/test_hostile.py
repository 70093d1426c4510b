"""Issue 17, one literal test per hostile input: each gets exit 2, one line on
stderr, no traceback and nothing under --out (or, where the input is fine
after all, a normal run). The history-side cases (/dev/zero as a history,
deeply nested ops, what `check` prints) belong to the history reader's
owner; tests/test_fuzz_cli.py covers them as xfail until that lands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile_helpers import TINY, assert_refused, chatsim, with_setting, write_scenario

ROOT = Path(__file__).resolve().parent.parent


def refused(capsys, tmp_path, toml: str, *extra: str, command=("run",), arch=("--arch", "old")) -> str:
    path = write_scenario(tmp_path, toml)
    out = tmp_path / "out"
    code, _, err = chatsim(capsys, *command, str(path), *arch, "--out", str(out), *extra)
    assert_refused(code, err, out)
    return err


# -- hangs and memory blow-ups ---------------------------------------------------
@pytest.mark.parametrize("table, key, value", [
    ("workload", "duration", "inf"), ("workload", "settle", "inf"), ("workload", "duration", "1e12"),
    ("workload", "rate", "inf"), ("workload", "rate", "1e9"), ("workload", "text_bytes", "1000000000"),
    ("clients", "mobile_latency", "inf"), ("workload", "typing_rate", "inf"), ("clients", "read_timeout", "inf"),
    ("network", "keepalive", "inf"), ("network", "jitter_sigma", "1e6"),
])
def test_infinite_or_huge_setting_is_refused(capsys, tmp_path, table, key, value):
    err = refused(capsys, tmp_path, with_setting(TINY, table, key, value))
    assert key in err


@pytest.mark.parametrize("override", ["workload.duration=1e300", "workload.rate=inf", "network.skew=nan",
                                      "workload.settle=nan", "clients.read_timeout=inf"])
def test_set_of_a_huge_or_nonfinite_value_is_refused(capsys, tmp_path, override):
    refused(capsys, tmp_path, TINY, "--set", override)


def test_dev_zero_as_a_scenario_is_refused_at_once(capsys, tmp_path):
    t0 = time.perf_counter()
    code, _, err = chatsim(capsys, "run", "/dev/zero", "--arch", "old", "--out", str(tmp_path / "out"))
    assert_refused(code, err, tmp_path / "out")
    assert "not a regular file" in err and time.perf_counter() - t0 < 5


def test_oversized_scenario_file_is_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, TINY + "# " + "x" * (2 << 20) + "\n")
    assert "larger than" in err


def test_a_million_clients_are_refused_unless_allowed(capsys, tmp_path):
    groups = ", ".join('{ region = "us-east", count = 100000 }' for _ in range(10))
    big = TINY.replace('clients = [{ region = "us-east", kind = "desktop", count = 2 }]', f"clients = [{groups}]")
    err = refused(capsys, tmp_path, big)
    assert "1,000,000 clients exceed the cap" in err and "--allow-large" in err
    from scenarios import load_scenario

    scn = load_scenario(str(write_scenario(tmp_path, big)), allow_large=True)  # the flag lifts the cap
    assert sum(g.count for g in scn.topology.clients) == 1_000_000


def test_millions_of_channels_are_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, with_setting(TINY, "topology", "auto_channels", "2500000"), "--allow-large")
    assert "auto_channels" in err


def test_the_channel_cap(capsys, tmp_path):
    many = "".join(f'c{i} = ["*"]\n' for i in range(30_000))
    err = refused(capsys, tmp_path, TINY.replace('general = ["*"]\n', many))
    assert "30,000 channels exceed the cap of 20,000" in err


# -- wrong verdicts from bad values ----------------------------------------------
def test_nan_skew_is_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, TINY + '\n[[faults]]\nkind = "skew"\nat = 1\ntargets = ["client-1"]\n'
                                           "skew = nan\n")
    assert "skew" in err


@pytest.mark.parametrize("arch, table, values, words", [
    ("new", "new.kafka", "min_insync = 3\nreplication = 2", "min_insync (3) exceeds replication (2)"),
    ("new", "new.kafka", "replication = 4\nbrokers = 3", "replication (4) exceeds brokers (3)"),
    ("rt2023", "rt2023.kafka", "replication = 4\nbrokers = 3", "replication (4) exceeds brokers (3)"),
    ("old", "topology.team", "users = 1000000000", "team.users"),
    ("old", "topology.team", "users = 10\nmembers_per_channel = 11", "exceeds team.users"),
])
def test_contradictory_settings_are_refused(capsys, tmp_path, arch, table, values, words):
    err = refused(capsys, tmp_path, TINY + f"\n[{table}]\n{values}\n", arch=("--arch", arch))
    assert words in err


# -- tracebacks --------------------------------------------------------------------
def test_non_utf8_scenario_is_a_clear_error(capsys, tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(TINY.replace("two clients", "deux clients \xe9t\xe9").encode("latin-1"))
    code, _, err = chatsim(capsys, "run", str(p), "--arch", "old", "--out", str(tmp_path / "out"))
    assert_refused(code, err, tmp_path / "out")
    assert "not UTF-8" in err


@pytest.mark.parametrize("fault, words", [
    ('arch = "new"\nkind = "kafka-leader-crash"\nat = 1\nparams = { partition = 99 }', "params.partition = 99"),
    ('arch = "new"\nkind = "kafka-leader-crash"\nat = 1\nparams = { partition = "x" }', "must be int"),
    ('arch = "new"\nkind = "kafka-leader-crash"\nat = 1\nparams = { leader = 1 }', "unknown param"),
    ('arch = "rt2023"\nkind = "shard-failover"\nat = 1\nparams = { shard = -1 }', "params.shard = -1"),
    ('arch = "rt2023"\nkind = "gateway-crash"\nat = 1\nparams = { region = "eu-west" }', "has no gateway"),
    ('arch = "old"\nkind = "redis-failover"\nat = 1', "unknown fault kind 'redis-failover'"),
    ('kind = "redis-failover"\nat = 1', "unknown fault kind 'redis-failover'"),
    ('kind = "crash"\nat = 1', "needs targets"),
    ('kind = "partition"\nat = 1\na = ["client-1"]', "needs both groups"),
    ('kind = "crash"\nat = 1\ntargets = ["nosuchnode"]', "matches no node"),
    ('kind = "crash"\nat = 5\ntargets = ["client-1"]', "would never fire"),
])
def test_bad_faults_are_found_at_load_time_naming_the_file(capsys, tmp_path, fault, words):
    err = refused(capsys, tmp_path, TINY + f"\n[[faults]]\n{fault}\n", arch=("--arch", "new"))
    assert words in err and "s.toml" in err


@pytest.mark.parametrize("name", ["[/]", "[bold]x", "$\\foo$", "a\x00b", "x" * 65, "/abs/dir", "../../x", ".hidden",
                                  "a b", "\x1b[31mred"])
def test_unsafe_names_are_refused(capsys, tmp_path, name):
    err = refused(capsys, tmp_path, TINY.replace('name = "tiny"', f"name = {json.dumps(name)}"))
    assert "name" in err and "not allowed" in err and "\x1b" not in err and "\x00" not in err


@pytest.mark.parametrize("channel", ["[/]", "<script>", "$x$", "a/b"])
def test_unsafe_channel_names_are_refused(capsys, tmp_path, channel):
    refused(capsys, tmp_path, TINY.replace("general = [\"*\"]", f'{json.dumps(channel)} = ["*"]'))


def test_terminal_text_is_escaped():
    from rich.console import Console

    from chatsim.cli import term, verdict_table

    assert term("[/]") == "\\[/]" and term("\x1b[31m") == "\\x1b[31m" and term("a\x00\x9bb") == "a\\x00\\x9bb"
    result = {"invariants": {"validity": {"valid": False, "violations": [], "error": "[/] \x1b]0;pwned\x07"}}}
    console = Console(record=True, width=200)
    console.print(verdict_table(result, term("[bold]t")))  # raised MarkupError before
    text = console.export_text()
    assert "[/]" in text and "\x1b" not in text and "[bold]t" in text


@pytest.mark.parametrize("where", ["/proc/x", "/dev/null", "file-child", "result-dir"])
def test_unwritable_out_is_refused_and_nothing_written(capsys, tmp_path, where):
    scn = write_scenario(tmp_path, TINY)
    if where == "file-child":
        (tmp_path / "f").write_text("a file")
        out = tmp_path / "f" / "child"
    elif where == "result-dir":
        out = tmp_path / "out"
        (out / "result.json").mkdir(parents=True)
    else:
        out = Path(where)
    code, _, err = chatsim(capsys, "run", str(scn), "--arch", "old", "--out", str(out), "--no-plots")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    if where == "result-dir":  # the directory stays, holding nothing new
        assert [p.name for p in out.iterdir()] == ["result.json"] and not any((out / "result.json").iterdir())
    assert not list(tmp_path.glob(".*.part")) and not list((tmp_path).rglob("history.jsonl*"))


def test_runs_is_not_writable_without_out(capsys, tmp_path, monkeypatch):
    """A working directory where runs/ cannot be made (here: runs is a file)."""
    scn = write_scenario(tmp_path, TINY)
    monkeypatch.chdir(tmp_path)
    Path("runs").write_text("not a directory")
    code, _, err = chatsim(capsys, "run", str(scn), "--arch", "old", "--no-plots")
    assert code == 2 and err.count("\n") == 1 and "runs" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_working_directory_without_out(capsys, tmp_path, monkeypatch):
    scn = write_scenario(tmp_path, TINY)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.chdir(ro)
    code, _, err = chatsim(capsys, "run", str(scn), "--arch", "old", "--no-plots")
    assert code == 2 and err.count("\n") == 1 and "Permission denied" in err, err


def test_sweep_with_string_values_runs(capsys, tmp_path):
    scn = write_scenario(tmp_path, TINY + '\n[sweep]\nkey = "kafka.acks"\nvalues = ["all", "1"]\n')
    code, out, err = chatsim(capsys, "sweep", str(scn), "--out", str(tmp_path / "out"))
    assert code == 0 and "Traceback" not in err, err
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [p["name"] for p in doc["points"]] == ["acks=all", "acks=1"] and "fits" not in doc


def test_ascii_locale(tmp_path):
    """LC_ALL=C without UTF-8 mode: built-ins read as UTF-8, "•" and "→" printed as escapes."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii",
           "PYTHONCOERCECLOCALE": "0"}
    scn = write_scenario(tmp_path, TINY.replace("two clients", "two clients • ünïcode"))
    for args in (["scenarios"], ["run", str(scn), "--arch", "old", "--no-plots", "--out", str(tmp_path / "o")]):
        p = subprocess.run([sys.executable, "-m", "chatsim", *args], capture_output=True, cwd=ROOT, env=env)
        assert p.returncode == 0 and b"Traceback" not in p.stderr, p.stderr.decode("ascii", "replace")[-2000:]


# -- half-written output -----------------------------------------------------------
def test_compare_wires_every_architecture_before_the_first_run(capsys, tmp_path):
    """A target only rt2023 has, aimed at all: old's wiring fails before rt2023 runs."""
    err = refused(capsys, tmp_path, TINY + '\n[[faults]]\nkind = "crash"\nat = 1\ntargets = ["orchestrator"]\n',
                  command=("compare",), arch=("--arch", "rt2023,old"))
    assert "orchestrator" in err


def test_explain_with_a_malformed_id_is_refused_before_the_run(capsys, tmp_path):
    refused(capsys, tmp_path, TINY, "--explain", "nonsense", "--no-plots")


def test_explain_with_an_absent_id_keeps_the_run_and_its_exit_code(capsys, tmp_path):
    scn = write_scenario(tmp_path, TINY)
    out = tmp_path / "out"
    code, _, err = chatsim(capsys, "run", str(scn), "--arch", "old", "--out", str(out), "--no-plots",
                           "--explain", "client-1:999")
    assert code == 0 and "warning" in err and "client-1:999" in err
    assert (out / "result.json").exists() and not list(tmp_path.rglob("*.part"))


def test_sigterm_leaves_nothing_half_written(tmp_path):
    scn = write_scenario(tmp_path, TINY.replace("duration = 2", "duration = 600").replace(
        'count = 2 }', 'count = 300 }'))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "chatsim", "run", str(scn), "--arch", "old", "--no-plots",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.*.part/history.jsonl.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and b"SIGTERM" in err and b"Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_sweep_with_a_later_bad_value_writes_nothing(capsys, tmp_path):
    err = refused(capsys, tmp_path, TINY + '\n[sweep]\nkey = "workload.rate"\nvalues = [1, 1e300]\n',
                  command=("sweep",), arch=())
    assert "rate" in err


def test_two_variants_with_the_same_name_are_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, TINY + '\n[[variants]]\nname = "v"\n[[variants]]\nname = "v"\n',
                  command=("sweep",), arch=())
    assert "two variants are named 'v'" in err


# -- security ----------------------------------------------------------------------
def test_default_output_never_leaves_runs(tmp_path, monkeypatch):
    from chatsim.api import default_out
    from sim.errors import ChatsimError

    monkeypatch.chdir(tmp_path)
    assert default_out("tiny", "old-seed1") == Path("runs/tiny/old-seed1")
    for bad in (("/abs/dir", "x"), ("..", "x"), ("a/../../b", "x"), ("",)):
        with pytest.raises(ChatsimError):
            default_out(*bad)


def test_report_md_escapes_descriptions(capsys, tmp_path):
    hostile = '<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))'
    scn = write_scenario(tmp_path, TINY.replace('"two clients, one channel, two seconds"', json.dumps(hostile)))
    code, _, err = chatsim(capsys, "compare", str(scn), "--arch", "old", "--out", str(tmp_path / "out"))
    assert code == 0, err
    md = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    for text in (md, html):
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "](javascript:" not in md


# -- questionable ------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (("[topology.channels]\ngeneral = [\"*\"]", "[topology.channels]"), "no channels"),
    (("general = [\"*\"]", "general = []"), "no members"),
    (('clients = [{ region = "us-east", kind = "desktop", count = 2 }]', "clients = []"), "clients"),
])
def test_a_run_that_would_do_nothing_is_an_error(capsys, tmp_path, change, words):
    err = refused(capsys, tmp_path, TINY.replace(*change))
    assert words in err


def test_degrade_latency_inf_is_refused(capsys, tmp_path):
    refused(capsys, tmp_path, TINY + '\n[[faults]]\nkind = "degrade"\nat = 1\na = ["client-1"]\nb = ["*"]\n'
                                     "latency = inf\n")


def test_settings_doc_is_current():
    """docs/scenarios.md lists every setting's bounds as the models enforce them."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import settings_table
    finally:
        sys.path.remove(str(ROOT / "docs"))
    doc = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert settings_table.render(doc) == doc, "run: python docs/settings_table.py"
    for key in ("`workload.duration`", "`new.kafka.min_insync`", "`rt2023.db.shards`", "`old.persist_retry`"):
        assert key in doc
