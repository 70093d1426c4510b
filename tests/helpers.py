"""Shared helpers for tests that run whole scenarios."""

import json
import subprocess
import sys
from pathlib import Path

from chatsim import api
from scenarios import Scenario, load_scenario
from scenarios.loader import load_raw

ROOT = Path(__file__).resolve().parent.parent


def run_scenario(name_or_raw, arch, seed, tmp_path, overrides=()):
    if isinstance(name_or_raw, dict):
        scn = Scenario.model_validate({**name_or_raw, "source": "test"})
    else:
        scn = load_scenario(name_or_raw, list(overrides))
    out = Path(tmp_path) / f"{scn.name}-{arch}-{seed}"
    return api.run_one(scn, arch, seed, out), out


def verdicts(result):
    return {k: v["valid"] for k, v in result["invariants"].items()}


def assert_expected(result):
    """Each invariant as the scenario expects ("maybe": either way)."""
    got = verdicts(result)
    wrong = {k: (got[k], want) for k, want in result["expected"].items() if want != "maybe" and got[k] != want}
    assert not wrong, (wrong, [v["explanation"] for r in result["invariants"].values() for v in r["violations"][:2]])


def raw(name):
    return load_raw(name)[0]


def cli(*args, cwd=None, env=None):
    import os

    full_env = {**os.environ, **(env or {})}
    p = subprocess.run([sys.executable, "-m", "chatsim", *args], capture_output=True, text=True, cwd=cwd or ROOT,
                       env=full_env)
    return p.returncode, p.stdout, p.stderr


def history_ops(out):
    lines = (Path(out) / "history.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines[1:]]
