"""Shared helpers for tests that run whole scenarios."""

import json
import subprocess
import sys
from pathlib import Path

from chatsim import api
from scenarios import Scenario, load_scenario
from scenarios.loader import load_raw

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """Stands in for the history writer of a hand-built simulation
    (``sim.history = Recorder()``): keeps ``(time, process, type, f, value)``."""

    def __init__(self):
        self.ops = []

    def append(self, time, process, type, f, value):
        self.ops.append((time, process, type, f, value))


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


HAND_MEMBERS = {"C1": ["c1", "c2"], "C2": ["c2", "c3"]}


def hand_history(*ops, channels=None, arch="old") -> bytes:
    """A hand-written history as bytes: a header, then one op per
    ``(process, type, f, value)``, indexed from 0 at time = index."""
    meta = {"type": "meta", "chatsim": "0.1.0", "scenario": "hand", "arch": arch, "seed": 1,
            "channels": channels or HAND_MEMBERS, "config": {}}
    lines = [json.dumps(meta)]
    for i, (p, t, f, v) in enumerate(ops):
        lines.append(json.dumps({"index": i, "time": float(i), "process": p, "type": t, "f": f, "value": v}))
    return ("\n".join(lines) + "\n").encode()


# The ops a hand-written history is made of, as ``hand_history`` takes them.
def invoke(p, m, ch="C1", text=None):
    return (p, "invoke", "send", {"channel": ch, "msg": m, "text": text or f"text of {m}"})


def done(p, m, ch="C1", outcome="ok"):
    return (p, outcome, "send", {"channel": ch, "msg": m})


def deliver(c, m, ch="C1", text=None):
    return (c, "event", "deliver", {"channel": ch, "msg": m, "text": text or f"text of {m}"})


def read(c, msgs, ch="C1"):
    return [(c, "invoke", "read", {"channel": ch}), (c, "ok", "read", {"channel": ch, "msgs": msgs})]


def stored(msgs, ch="C1"):
    return ("db", "event", "stored", {"channel": ch, "msgs": msgs})


def interrupt_after_lines(args, cwd, log: Path, signum, lines: int = 3):
    """Start ``chatsim *args`` in its own process group, wait until ``log``
    holds ``lines`` whole lines (at most 90 s), then send ``signum``: to the
    whole group for SIGINT (as a terminal's Ctrl-C does), to the process
    otherwise. Returns ``(returncode, stderr, the log's lines as bytes)``.

    Waits for the chatsim process itself to exit (at most 60 s), as a shell
    waits for its foreground job; its output goes to files, not pipes, so a
    helper process of the pool (forkserver, a worker finishing its task)
    still holding them cannot keep the test waiting for end-of-file — in CI
    a 60 s wait for the pipes' EOF timed out twice while the process had
    been told to stop. Whatever is left of the group is killed afterwards."""
    import os
    import signal
    import tempfile
    import time

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf:
        # SIGINT at its default in the child, as a terminal's foreground job
        # has it: an ignored signal stays ignored across exec, and the test
        # process may be ignoring it (in CI's full suite it was, after some
        # earlier test; then chatsim never saw the Ctrl-C and never exited)
        proc = subprocess.Popen([sys.executable, "-m", "chatsim", *args], stdout=out, stderr=errf,
                                cwd=cwd, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not log.exists() or log.read_bytes().count(b"\n") < lines):
            time.sleep(0.2)
        try:
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the pool's helpers, if any outlived it
            except ProcessLookupError:
                pass
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
    return proc.returncode, err, log.read_bytes().split(b"\n")
