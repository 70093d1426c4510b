"""The pytest plugin (issue 12): scenario files as test items, judged against
their [expect]; the chatsim_run fixture; xdist."""

import shutil
from pathlib import Path

import pytest

import numpy  # noqa: F401  (see below)

from chatsim.tasks import architectures

# runpytest (in process) restores sys.modules after each inner session,
# dropping what the session imported; numpy refuses a second import in one
# process ("cannot load module more than once per process"), so a later
# in-process session whose run checks a history failed. Imported here, numpy
# is in the snapshot and stays.

pytest_plugins = ["pytester"]

BUILTIN = Path(__file__).resolve().parent.parent / "scenarios" / "builtin"


def copy(pytester, name, dest="scn", expect_old=None):
    d = pytester.path / dest
    d.mkdir(exist_ok=True)
    text = (BUILTIN / f"{name}.toml").read_text()
    if expect_old is not None:
        head, _, rest = text.partition("[expect.old]\n")
        rest = rest[rest.index("\n["):] if "\n[" in rest else ""
        text = head + "[expect.old]\n" + expect_old + "\n" + rest
    (d / f"{name}.toml").write_text(text)
    return d


def test_off_unless_asked(pytester):
    copy(pytester, "steady", dest=".")
    pytester.makepyfile("def test_x(): pass")
    r = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1)


def test_collects_one_item_per_arch_and_seed_and_passes(pytester):
    copy(pytester, "steady")
    copy(pytester, "crash-mid-send")
    r = pytester.runpytest("--chatsim-scenarios", "scn", "--chatsim-seeds", "1..2", "--chatsim-arch", "old",
                           "-p", "no:xdist", "-v")
    r.assert_outcomes(passed=4)
    r.stdout.fnmatch_lines(["*scn/crash-mid-send.toml::old-seed1 PASSED*", "*scn/steady.toml::old-seed2 PASSED*"])


def test_wrong_expectation_fails_with_verdicts_explanation_and_replay(pytester):
    copy(pytester, "crash-mid-send", expect_old="validity = false")  # durability now expected to hold
    r = pytester.runpytest("--chatsim-scenarios", "scn", "--chatsim-seeds", "1", "--chatsim-arch", "old",
                           "-p", "no:xdist")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines([
        "*crash-mid-send.toml / old / seed 1: not as the scenario's [[]expect[]] says*",
        "*durability*VIOLATED*ok*",
        "*durability: expected to hold, VIOLATED: *acked*",
        "*replay: chatsim run scn/crash-mid-send.toml --arch old --seed 1*",
    ])


def test_malformed_scenario_is_a_collection_error_naming_key(pytester):
    d = pytester.path / "scn"
    d.mkdir()
    (d / "bad.toml").write_text('name = "bad"\ndescription = "x"\n[workload]\nrate = -1\n')
    r = pytester.runpytest("--chatsim-scenarios", "scn", "-p", "no:xdist")
    assert r.ret != 0
    r.stdout.fnmatch_lines(["*bad.toml: workload.rate*"])
    assert "Traceback" not in r.stdout.str()


def test_not_a_directory_is_a_usage_error(pytester):
    r = pytester.runpytest("--chatsim-scenarios", "nowhere", "-p", "no:xdist")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--chatsim-scenarios nowhere: not a directory*"])


def test_works_with_xdist(pytester):
    copy(pytester, "steady")
    copy(pytester, "retry-duplicate")
    r = pytester.runpytest_subprocess("--chatsim-scenarios", "scn", "--chatsim-seeds", "1..2", "--chatsim-arch", "old",
                                      "-n", "2")
    r.assert_outcomes(passed=4)


def test_chatsim_run_fixture(pytester):
    pytester.makepyfile('''
        from scenarios.loader import load_raw

        def test_dict(chatsim_run):
            raw = load_raw("crash-mid-send")[0]
            r = chatsim_run(raw, "old", seed=2)
            assert r["invariants"]["durability"]["valid"] is False
            assert r["seed"] == 2 and r["dir"]

        def test_name_with_faults_replaced(chatsim_run):
            r = chatsim_run("crash-mid-send", "old", faults=[], overrides=["workload.duration=10"])
            assert r["valid"] is True and r["config"]["workload"]["duration"] == 10
    ''')
    r = pytester.runpytest("-p", "no:xdist")
    r.assert_outcomes(passed=2)


@pytest.mark.slow
def test_the_builtins_pass_as_tests(pytester):
    """The issue's acceptance run: `pytest --chatsim-scenarios scenarios/builtin -p chatsim.pytest_plugin`."""
    shutil.copytree(BUILTIN, pytester.path / "builtin")
    r = pytester.runpytest_subprocess("--chatsim-scenarios", "builtin", "--chatsim-seeds", "1",
                                      "-p", "chatsim.pytest_plugin", "-n", "2")
    n = len(list(BUILTIN.glob("*.toml")))
    r.assert_outcomes(passed=len(architectures()) * n)


@pytest.mark.parametrize("option, value, words", [
    ("--chatsim-seeds", "5..1", "--chatsim-seeds '5..1': expected A..B"),  # before: "--seeds '5..1'", per file
    ("--chatsim-arch", "nosuch", "--chatsim-arch 'nosuch': unknown architecture"),
])
def test_a_bad_plugin_option_is_one_usage_error_naming_it(pytester, option, value, words):
    copy(pytester, "steady")
    copy(pytester, "crash-mid-send")
    r = pytester.runpytest("--chatsim-scenarios", "scn", option, value, "-p", "no:xdist", "-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert err.count(words) == 1, err
    assert "collecting" not in r.stdout.str()


def test_items_carry_the_chatsim_marker(pytester):
    """docs/ci.md: `-m "not chatsim"` leaves the scenario items out."""
    copy(pytester, "steady")
    pytester.makepyfile("def test_x(): pass")
    r = pytester.runpytest("--chatsim-scenarios", "scn", "--chatsim-arch", "old", "-m", "not chatsim",
                           "-p", "no:xdist", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1, deselected=3)
