"""Shared by the hostile-input tests: a tiny valid scenario, the CLI called
in-process, and the exit-2 contract."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = '''name = "tiny"
description = "two clients, one channel, two seconds"

[topology]
clients = [{ region = "us-east", kind = "desktop", count = 2 }]

[topology.channels]
general = ["*"]

[workload]
rate = 1.0
duration = 2
settle = 2
'''


def write_scenario(dir: Path, text: str, name: str = "s.toml") -> Path:
    p = Path(dir) / name
    p.write_text(text, encoding="utf-8")
    return p


def with_setting(toml: str, table: str, key: str, value: str) -> str:
    """``toml`` with ``key = value`` in ``[table]`` (replacing the key's line
    in TINY's tables, adding the table if absent)."""
    import re

    line = re.compile(rf"^{re.escape(key)} = .*$", re.M)
    if f"[{table}]\n" in toml and line.search(toml.split(f"[{table}]\n", 1)[1].split("\n[", 1)[0]):
        head, rest = toml.split(f"[{table}]\n", 1)
        body, sep, tail = rest.partition("\n[")
        return head + f"[{table}]\n" + line.sub(f"{key} = {value}", body, count=1) + sep + tail
    if f"[{table}]\n" in toml:
        return toml.replace(f"[{table}]\n", f"[{table}]\n{key} = {value}\n", 1)
    return toml + f"\n[{table}]\n{key} = {value}\n"


def chatsim(capsys, *argv: str) -> tuple[int, str, str]:
    """``chatsim.cli.main(argv)`` in this process: (exit status, stdout, stderr)."""
    from chatsim.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    cap = capsys.readouterr()
    code = e.value.code
    return (0 if code is None else code), cap.out, cap.err


def assert_refused(code: int, err: str, out: Path | None) -> None:
    """Exit 2, exactly one line on stderr (``chatsim: error: ...``), no
    traceback, and nothing under ``out`` (absent, or empty)."""
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("chatsim: error: "), repr(err)
    assert "Traceback" not in err
    if out is not None:
        out = Path(out)
        assert not out.exists() or (out.is_dir() and not any(out.iterdir())), list(out.rglob("*"))
        assert not list(out.parent.glob(f".{out.name}.*.part")), "a staging directory was left behind"
