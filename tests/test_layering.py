"""DESIGN §1: arrows point one way."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    code = f"import sys, {package}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


def test_invariants_read_only_the_history_format():
    mods = _imports("invariants")
    assert "simpy" not in mods
    assert not any(m.startswith(("sim.nodes", "sim.kernel", "sim.network", "reports", "scenarios")) for m in mods)


def test_reports_do_not_import_the_simulation():
    mods = _imports("reports.report")
    assert "simpy" not in mods and "sim.kernel" not in mods


def test_sim_imports_none_of_scenarios_invariants_reports():
    for path in (ROOT / "sim").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not stripped.split()[1].startswith(("scenarios", "invariants", "reports")), (path, line)
