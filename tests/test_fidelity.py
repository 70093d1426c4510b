"""`chatsim fidelity`: the quick subset of Slack's figures, each within its
tolerance; the docs page carries the command's own output; setting profiles."""

import json

import pytest

from chatsim.fidelity import CHECKS, markdown, run_checks
from helpers import ROOT, cli
from scenarios import load_scenario
from sim import architectures


@pytest.fixture(scope="module")
def quick_rows():
    return run_checks(quick=True)


def test_quick_checks_are_within_tolerance(quick_rows):
    assert {r["name"] for r in quick_rows} == {c.name for c in CHECKS if c.quick}
    outside = [(r["name"], r["chatsim"], r["tolerance"]) for r in quick_rows if not r["within"]]
    assert not outside


def test_docs_page_is_the_commands_output(quick_rows):
    """docs/fidelity.md embeds `chatsim fidelity --markdown`; the runs are
    deterministic, so every quick row must appear there as measured now."""
    doc = (ROOT / "docs" / "fidelity.md").read_text()
    for line in markdown(quick_rows).splitlines()[2:]:
        assert line in doc, f"docs/fidelity.md is stale: {line}"


def test_fidelity_json_and_exit_code():
    code, out, err = cli("fidelity", "--quick", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert all({"published", "source", "chatsim", "tolerance", "within"} <= set(r) for r in rows)


def test_every_declared_profile_is_valid_settings():
    for arch in architectures.registry().values():
        for name, overrides in arch.profiles.items():
            scn = load_scenario("steady", list(overrides))
            scn.run_config(arch.name)  # validated by the architecture's settings model


def test_profile_applies_before_set_and_unknown_profile_is_exit_2(tmp_path):
    code, _, err = cli("run", "steady", "--arch", "old", "--profile", "slack-2017", "--no-plots",
                       "--out", str(tmp_path / "x"))
    assert code == 2 and "slack-2017" in err and "Traceback" not in err
    code, _, err = cli("run", "kafka-unclean-election", "--arch", "new", "--profile", "slack-2017",
                       "--set", "new.kafka.acks=all", "--no-plots", "--out", str(tmp_path / "y"))
    cfg = json.loads((tmp_path / "y" / "result.json").read_text())["config"]
    kafka = cfg["new"]["kafka"]
    assert kafka["acks"] == "all" and kafka["unclean_election"] is True  # --set wins over the profile
