"""Every built-in scenario under every registered architecture matches the
verdicts its file expects, on seeds 1-3 (a "maybe" accepts either)."""

import pytest

from helpers import assert_expected, run_scenario
from scenarios import list_builtin
from sim import architectures

CASES = [(name, arch) for name, _ in list_builtin() for arch in architectures.names()]


@pytest.mark.parametrize("name, arch", CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_scenario_matches_its_expected_verdicts(name, arch, seed, tmp_path):
    result, _ = run_scenario(name, arch, seed, tmp_path)
    assert_expected(result)
