"""Hostile input to `chatsim check`: bounded reading (one line on stderr,
exit 2, no traceback) and ids printed inert (markup and control characters)."""

import json
import os

import pytest

from helpers import cli

META = {"type": "meta", "chatsim": "0.1.0", "scenario": "hand", "arch": "old", "seed": 1,
        "channels": {"C1": ["c1"]}, "config": {}}


def one_line_exit_2(args, needle):
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_devices_fifos_and_directories_are_refused(tmp_path):
    one_line_exit_2(("check", "/dev/zero"), "not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_exit_2(("check", str(fifo)), "not a regular file")
    one_line_exit_2(("check", str(tmp_path)), "directory")


def test_a_history_over_max_bytes_is_refused(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(META) + "\n")
    one_line_exit_2(("check", str(p), "--max-bytes", "10"), "--max-bytes")


def test_deeply_nested_json_names_the_line(tmp_path):
    p = tmp_path / "h.jsonl"
    deep = '{"index":0,"time":0.0,"process":"x","type":"event","f":"x","value":{"q":' + "[" * 100_000 + \
        "]" * 100_000 + "}}"
    p.write_text(json.dumps(META) + "\n" + deep + "\n")
    one_line_exit_2(("check", str(p)), "line 2: JSON nested too deeply")


def test_non_utf8_names_the_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(json.dumps(META).encode() + b'\n{"index":0,"time":0.0,"process":"\xff","type":"event",'
                  b'"f":"x","value":{}}\n')
    one_line_exit_2(("check", str(p)), "line 2: not UTF-8")


@pytest.mark.parametrize("evil", ["[/]x", "[red]x", "\x1b[31mx", "c\rx", "\x9bx"])
def test_ids_from_the_file_are_printed_inert(evil, tmp_path):
    p = tmp_path / "h.jsonl"
    ops = [{"index": 0, "time": 0.0, "process": "c1", "type": "event", "f": "deliver",
            "value": {"channel": "C1", "msg": evil, "text": "t"}},
           {"index": 1, "time": 1.0, "process": "db", "type": "event", "f": "stored",
            "value": {"channel": "C1", "msgs": []}}]
    p.write_text("\n".join(json.dumps(x) for x in [META, *ops]) + "\n")
    code, out, err = cli("check", str(p))
    assert code == 1 and "Traceback" not in err  # a fabricated message: integrity breaks
    assert "integrity" in out
    for ch in "\x1b\r\x9b":
        assert ch not in out
    if evil.startswith("["):
        assert evil in out  # shown literally, not taken as markup
    else:
        assert "\\x" in out
