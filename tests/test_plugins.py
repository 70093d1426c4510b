"""A user's own architecture, from a package outside chatsim's tree, found
through the ``chatsim.architectures`` entry point (docs/architectures.md)."""

import subprocess
import sys
import textwrap

import pytest

from helpers import cli

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "chatsim-echo"
version = "0.0.1"

[project.entry-points."chatsim.architectures"]
{entry}

[tool.setuptools]
py-modules = ["echo_arch"]
"""

MODULE = '''
from pydantic import Field

from sim.architectures import Architecture
from sim.architectures.old import ARCHITECTURE as OLD
from sim.architectures.old.settings import OldSettings


class EchoSettings(OldSettings):
    note: str = Field("a tiny plugin", max_length=40)


ARCHITECTURE = Architecture(name="echo", description="the old design, packaged outside chatsim",
                            settings=EchoSettings, build=OLD.build, steps=OLD.steps,
                            errors=OLD.errors, client=OLD.client)
NOT_AN_ARCHITECTURE = 42
'''


def _install(tmp_path, entry):
    src = tmp_path / "chatsim-echo"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT.format(entry=entry))
    (src / "echo_arch.py").write_text(textwrap.dedent(MODULE))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    return {"PYTHONPATH": str(site)}


@pytest.fixture(scope="module")
def echo_env(tmp_path_factory):
    return _install(tmp_path_factory.mktemp("plugin"), 'echo = "echo_arch:ARCHITECTURE"')


def test_a_plugin_is_listed_run_and_compared(echo_env, tmp_path):
    code, out, err = cli("scenarios", env={**echo_env, "COLUMNS": "250"})
    assert code == 0 and "echo" in out and "packaged outside chatsim" in out, err
    code, out, err = cli("run", "steady", "--arch", "echo", "--no-plots", "--out", str(tmp_path / "run"),
                         "--set", "echo.note=hello", env=echo_env)
    assert code == 0, err
    assert '"arch":"echo"' in (tmp_path / "run" / "history.jsonl").read_text().splitlines()[0]
    code, out, err = cli("compare", "steady", "--out", str(tmp_path / "cmp"), env=echo_env)
    assert code == 0, err
    assert "echo" in out and (tmp_path / "cmp" / "echo" / "result.json").exists()
    assert "echo" in (tmp_path / "cmp" / "report.md").read_text()


def test_a_plugin_setting_is_validated_by_its_model(echo_env, tmp_path):
    code, out, err = cli("run", "steady", "--arch", "echo", "--out", str(tmp_path / "x"),
                         "--set", "echo.note=" + "x" * 50, env=echo_env)
    assert code == 2 and "echo.note" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_broken_plugin_is_one_line_naming_it(tmp_path):
    env = _install(tmp_path, 'echo = "echo_arch:NOT_AN_ARCHITECTURE"')
    code, out, err = cli("run", "steady", "--arch", "old", "--out", str(tmp_path / "x"), env=env)
    assert code == 2 and "echo" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- wrong registrations: one line naming the plugin, exit 2, before anything runs ---------------------

SHAPES = '''
from dataclasses import replace

from sim.architectures.old import ARCHITECTURE as OLD

NO_BUILD = replace(OLD, name="bad", build=None)
PLAIN_SETTINGS = replace(OLD, name="bad", settings=dict)
STEP_NAMES = replace(OLD, name="bad", steps=("received", "ack_sent"))
ONE_ARG_BUILD = replace(OLD, name="bad", build=lambda sim: OLD.build(sim))
IMPOSTOR = replace(OLD, description="an impostor of the old design")
'''


@pytest.fixture(scope="module")
def shapes_site(tmp_path_factory):
    """A package of ill-shaped architectures, installed once; each test then
    declares its own entry points (the dist-info's entry_points.txt, what an
    install of a pyproject with those entry points writes)."""
    tmp = tmp_path_factory.mktemp("shapes")
    env = _install(tmp, 'echo = "echo_arch:ARCHITECTURE"')
    site = tmp / "site"
    (site / "bad_shapes.py").write_text(SHAPES)
    (ep,) = site.glob("*.dist-info/entry_points.txt")
    return env, ep


@pytest.mark.parametrize("entries, words", [
    # a plugin named like a built-in replaced it silently (or not: it depended on install order)
    ({"old": "bad_shapes:IMPOSTOR"}, "'old' is registered twice"),
    # the parts the runner uses mid-run were tracebacks there (exit 1) after the run had started
    ({"bad": "bad_shapes:NO_BUILD"}, "build is None"),
    ({"bad": "bad_shapes:PLAIN_SETTINGS"}, "settings is <class 'dict'>, not a subclass of sim.config.Strict"),
    ({"bad": "bad_shapes:STEP_NAMES"}, "steps must be sim.architectures.Step values"),
    ({"bad": "bad_shapes:ONE_ARG_BUILD"}, "cannot be called as build(sim, cfg)"),
])
def test_a_wrong_registration_is_one_line_exit_2(shapes_site, tmp_path, entries, words):
    env, ep = shapes_site
    ep.write_text("[chatsim.architectures]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    name = next(iter(entries))
    code, out, err = cli("run", "steady", "--arch", name, "--no-plots", "--out", str(tmp_path / "x"), env=env)
    assert code == 2 and words in err and repr(name) in err, (code, err[-600:])
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_two_plugins_with_one_name_is_an_error_not_a_silent_winner(shapes_site, tmp_path):
    env, ep = shapes_site
    ep.write_text("[chatsim.architectures]\necho = echo_arch:ARCHITECTURE\n")
    other = tmp_path / "other"
    (other / "echo2-0.1.dist-info").mkdir(parents=True)
    (other / "echo2-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: echo2\nVersion: 0.1\n")
    (other / "echo2-0.1.dist-info" / "entry_points.txt").write_text("[chatsim.architectures]\necho = echo2:ARCH\n")
    code, out, err = cli("scenarios", env={"PYTHONPATH": f"{env['PYTHONPATH']}:{other}"})
    assert code == 2 and "'echo' is registered twice" in err and "echo2:ARCH" in err, err[-600:]


def test_the_builtins_docs_name_as_faulting_every_design_are_those():
    """docs/architectures.md names the built-ins whose faults reach a plugin's design; the rest run it fault-free."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    every = {p.stem for p in (root / "scenarios" / "builtin").glob("*.toml")
             if any(f.get("arch", "both") in ("both", "all") for f in tomllib.loads(p.read_text()).get("faults", []))}
    doc = (root / "docs" / "architectures.md").read_text()
    assert every == {"flaky-mobile", "partition-reconnect-storm", "webapp-outage"}
    assert all(f"`{name}`" in doc for name in every)
