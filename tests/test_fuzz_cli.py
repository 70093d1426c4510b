"""Fuzzing the command line's input contract (issue 17): mutated scenario
files, mutated ``--set`` arguments and mutated history files, each through
``chatsim.cli.main`` in this process (a few through the real entry point).

The contract, for every input: exit status in {0, 1, 2, 3}; no traceback;
on 2, exactly one line on stderr and nothing left under ``--out``.

Derandomized and bounded (``max_examples``), so the suite is the same on
every run and fast enough for ``make test``; ``CHATSIM_FUZZ_EXAMPLES``
raises the count (the slow-marked test runs 10× as many).

A valid mutant is run only when it is cheap (a few hundred simulated sends
at most); a costly valid one is just loaded — its validity is what the
loader decides, and running it would test the simulator's speed, not the
input contract.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_helpers import TINY
from sim import architectures

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("CHATSIM_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = [
    "workload.rate", "workload.duration", "workload.settle", "workload.text_bytes", "workload.presence_rate",
    "workload.typing_rate", "workload.directory_rate", "network.loss", "network.dup", "network.jitter_sigma",
    "network.keepalive", "network.rto_min", "network.connect_timeout", "clients.ack_timeout",
    "clients.http_timeout", "clients.max_attempts", "clients.backoff_base", "clients.backoff_cap",
    "clients.jitter", "clients.mobile_latency", "clients.mobile_loss", "clients.read_timeout",
    "topology.team.users", "topology.team.channels", "topology.team.members_per_channel",
    "topology.auto_channels", "new.kafka.acks", "new.kafka.min_insync", "new.kafka.replication",
    "new.kafka.brokers", "new.kafka.partitions", "new.webapps", "new.channel_servers", "old.channel_servers",
    "rt2023.db.shards", "rt2023.kafka.brokers", "rt2023.hold_timeout", "rt2023.health.interval",
    "kafka.acks", "name", "description", "nosuch.key", "workload", "new", "faults", "topology.channels",
]

HOSTILE_TEXT = st.sampled_from(["[/]", "[bold red]x", "$\\foo$", "\x00", "\x1b[2J", "../../x", "/abs", "é",
                                "<script>", "a" * 300, "", " ", "client-1", "*", "role:client", "all"])
NUMBERS = st.one_of(
    st.sampled_from([math.inf, -math.inf, math.nan, 0, -1, 1e300, 1e9, 2**63, -(2**63), 0.0, 1e-300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=10),
)
SCALARS = st.one_of(NUMBERS, st.booleans(), HOSTILE_TEXT, st.text(max_size=20))
# in range for most settings: about half the mutants are valid and actually run
PLAUSIBLE = st.one_of(st.floats(min_value=0.05, max_value=4).map(lambda x: round(x, 2)), st.integers(1, 4),
                      st.booleans())
VALUES = st.one_of(PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(["a", "kind", "at"]),
                                                                             SCALARS, max_size=2))


# -- a minimal TOML writer (enough for what the mutations make) --------------------
def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dumps(doc: dict, prefix: str = "") -> str:
    lines, tables = [], []
    for k, v in doc.items():
        key = json.dumps(k)
        if isinstance(v, dict) and v and all(not isinstance(x, dict) or x for x in v.values()):
            tables.append((f"{prefix}{key}", v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"\n[[{prefix}{key}]]\n" + dumps(item, f"{prefix}{key}.").strip())
        else:
            lines.insert(0, f"{key} = {_value(v)}")
    out = "\n".join(lines) + "\n"
    for name, table in tables:
        out += f"\n[{name}]\n" + dumps(table, name + ".")
    return out


def set_path(doc: dict, path: str, value) -> dict:
    node = doc
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = node[p] = {}
        node = nxt
    node[parts[-1]] = value
    return doc


FAULTS = st.fixed_dictionaries({
    "kind": st.sampled_from(["crash", "pause", "partition", "degrade", "skew", "kafka-leader-crash",
                             "kafka-leader-isolate", "redis-failover", "shard-failover", "gateway-crash", "nope"]),
    "at": st.one_of(st.floats(min_value=0, max_value=1.9), NUMBERS),
}, optional={
    "arch": st.sampled_from([*architectures.names(), "both", "all", "x"]),
    "targets": st.lists(st.sampled_from(["client-1", "client-*", "role:client", "db", "nosuch", "kafka-0"]),
                        max_size=2),
    "a": st.lists(st.sampled_from(["client-1", "role:webapp", "nosuch"]), max_size=2),
    "b": st.lists(st.sampled_from(["client-2", "*", "role:db"]), max_size=2),
    "duration": NUMBERS, "skew": NUMBERS, "latency": NUMBERS,
    "params": st.dictionaries(st.sampled_from(["partition", "shard", "region", "zzz"]), SCALARS, max_size=2),
})


@st.composite
def mutated_scenarios(draw) -> str:
    """TINY with 1–3 settings replaced, maybe a fault, maybe a raw text edit."""
    doc = tomllib.loads(TINY)
    for _ in range(draw(st.integers(1, 2))):
        set_path(doc, draw(st.sampled_from(KEYS)), draw(VALUES))
    if draw(st.integers(0, 3)) == 0:
        doc["faults"] = [draw(FAULTS)]
    text = dumps(doc)
    edit = draw(st.sampled_from(["none"] * 6 + ["cut", "insert", "bytes"]))
    if edit == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    elif edit == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["[", "]]", "\x00", "=", "\n[workload]\n", "\"", "\\"])) + text[at:]
    if edit == "bytes":
        return text.encode() + draw(st.binary(max_size=8))
    return text


def cheap(path: Path, sets: list[str] = ()) -> bool:
    """Whether a valid scenario is cheap enough to actually run here."""
    from scenarios import load_scenario
    from sim.errors import ChatsimError

    try:
        s = load_scenario(str(path), list(sets))
    except ChatsimError:
        return True  # refused: the CLI must say so in one line
    clients = sum(g.count for g in s.topology.clients)
    w = s.workload
    return (w.duration + w.settle <= 20 and clients <= 20 and w.rate * clients * w.duration <= 200
            and s.topology.team.users <= 10_000 and (w.presence_rate + w.typing_rate) * clients * w.duration <= 400)


def write_mutant(d: Path, text: str | bytes) -> tuple[Path, Path]:
    """The mutant as ``d/fuzz.toml``, and the ``--out`` to give it."""
    p = d / "fuzz.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return p, d / "out"


def assert_contract(code: int, err: str, out: Path | None) -> None:
    assert code in (0, 1, 2, 3), (code, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n") and err.startswith("chatsim: error: "), repr(err)
        if out is not None:
            assert not out.exists() or not any(out.iterdir()), sorted(map(str, out.rglob("*")))
            assert not list(out.parent.glob(f".{out.name}.*.part"))


def run_in_process(capsys, argv) -> tuple[int, str, str]:
    from hostile_helpers import chatsim

    return chatsim(capsys, *argv)


# -- scenario files ---------------------------------------------------------------
@FUZZ
@given(text=mutated_scenarios(), arch=st.sampled_from(architectures.names()))
def test_fuzz_scenario_files(capsys, text, arch):
    with tempfile.TemporaryDirectory() as d:
        p, out = write_mutant(Path(d), text)
        if not cheap(p):
            return
        code, _, err = run_in_process(capsys, ["run", str(p), "--arch", arch, "--out", str(out), "--no-plots"])
        assert_contract(code, err, out)


# -- --set arguments --------------------------------------------------------------
SET_ITEMS = st.one_of(
    st.builds(lambda k, v: f"{k}={_value(v)}", st.sampled_from(KEYS), VALUES.filter(lambda v: not isinstance(v, dict))),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=15)),
    st.text(max_size=25),
)


@FUZZ
@given(sets=st.lists(SET_ITEMS, min_size=1, max_size=3), arch=st.sampled_from(architectures.names()))
def test_fuzz_set_arguments(capsys, sets, arch):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "tiny.toml"
        p.write_text(TINY, encoding="utf-8")
        if not cheap(p, sets):
            return
        out = Path(d) / "out"
        argv = ["run", str(p), "--arch", arch, "--out", str(out), "--no-plots"]
        for s in sets:
            argv += ["--set", s]
        code, _, err = run_in_process(capsys, argv)
        assert_contract(code, err, out)


# -- history files through `chatsim check` -----------------------------------------
@lru_cache(maxsize=1)
def valid_history() -> bytes:
    from chatsim.api import run_one
    from scenarios.loader import _validate

    scn = _validate(tomllib.loads(TINY), "tiny.toml")
    with tempfile.TemporaryDirectory() as d:
        run_one(scn, "new", 1, Path(d) / "r", journal=False)
        return (Path(d) / "r" / "history.jsonl").read_bytes()


@st.composite
def mutated_histories(draw) -> bytes:
    lines = valid_history().splitlines(keepends=True)
    kind = draw(st.sampled_from(["truncate", "drop", "dup", "junk", "field", "nest", "controls"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate":
        data = b"".join(lines)
        return data[:draw(st.integers(0, len(data)))]
    if kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "junk":
        lines.insert(i, draw(st.binary(max_size=30)) + b"\n")
    elif kind == "nest":
        depth = draw(st.sampled_from([10, 1000, 100_000]))
        lines.insert(max(i, 1), b'{"index": 0, "time": 0, "process": "x", "type": "ok", "f": "send", "value": '
                     + b"[" * depth + b"]" * depth + b"}\n")
    else:
        try:
            op = json.loads(lines[i])
        except ValueError:
            return b"".join(lines)
        if kind == "controls" and isinstance(op, dict):
            op["process"] = draw(st.sampled_from(["\x1b[31mred", "[/]", "\x00", "client-1\r\nfake"]))
        elif isinstance(op, dict) and op:
            key = draw(st.sampled_from(sorted(op)))
            op[key] = draw(st.one_of(SCALARS.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v))),
                                     st.none()))
        lines[i] = json.dumps(op).encode() + b"\n"
    return b"".join(lines)


@pytest.mark.xfail(strict=False, reason="issue 17, history side (sim/history.py, check): bounded parsing and "
                                        "escaping of what check prints are the history owner's fix")
@FUZZ
@given(data=mutated_histories())
def test_fuzz_history_files(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "h.jsonl"
        p.write_bytes(data)
        code, out, err = run_in_process(capsys, ["check", str(p)])
        assert_contract(code, err, None)
        assert "\x1b" not in out


# -- the real entry point ------------------------------------------------------------
@settings(max_examples=4, derandomize=True, deadline=None, database=None)
@given(text=mutated_scenarios())
def test_fuzz_through_the_entry_point(text):
    with tempfile.TemporaryDirectory() as d:
        p, out = write_mutant(Path(d), text)
        if not cheap(p):
            return
        proc = subprocess.run([sys.executable, "-m", "chatsim", "run", str(p), "--arch", "old", "--no-plots",
                               "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert_contract(proc.returncode, proc.stderr, out)


@pytest.mark.slow
def test_fuzz_more_examples():
    """The same suites with 10× the examples (``make test-slow``)."""
    env = {**os.environ, "CHATSIM_FUZZ_EXAMPLES": str(EXAMPLES * 10)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-m", "not slow",
                           str(Path(__file__)), "-k", "scenario_files or set_arguments"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-5000:]
