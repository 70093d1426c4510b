"""DESIGN §1: arrows point one way.

Two views of the same rule: what importing a package actually loads (a
subprocess, so transitive imports count), and every import statement in the
source read from the AST — every form (``import a, b``, ``import a.b as c``,
``from a import b``, relative ``from . import x`` / ``from ..x import y``),
wherever it stands (module level, inside functions, under ``if``/``try``), so
an import that only runs on some path cannot hide.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _loaded(package: str) -> set[str]:
    code = f"import sys, {package}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


def imported(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` for every module the source may import.

    ``module`` is the dotted name of the file (``sim.nodes.kafka``); relative
    imports resolve against its package. For ``from P import n`` both ``P``
    and ``P.n`` are reported (``n`` may be a submodule: ``from . import x``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:max(0, len(package) - node.level + 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if prefix:
                out.append((node.lineno, prefix))
            out += [(node.lineno, f"{prefix}.{a.name}" if prefix else a.name) for a in node.names if a.name != "*"]
    return out


def _sources(top: str):
    for path in sorted((ROOT / top).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield path, ".".join(parts), is_package


def _violations(top: str, forbidden: tuple[str, ...]) -> list[str]:
    bad: dict[tuple, str] = {}  # one per statement: (file, line) -> the first forbidden name
    for path, module, is_package in _sources(top):
        for line, name in imported(path.read_text(), module, is_package):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.setdefault((path, line), f"{path.relative_to(ROOT)}:{line} imports {name}")
    return list(bad.values())


def test_sim_imports_none_of_scenarios_invariants_reports():
    assert _violations("sim", ("scenarios", "invariants", "reports")) == []


def test_invariants_read_only_the_history_format():
    assert _violations("invariants", ("simpy", "sim.nodes", "sim.kernel", "sim.network", "sim.architectures",
                                      "sim.runner", "reports", "scenarios")) == []
    mods = _loaded("invariants")
    assert "simpy" not in mods
    assert not any(m.startswith(("sim.nodes", "sim.kernel", "sim.network", "reports", "scenarios")) for m in mods)


def test_reports_do_not_import_the_simulation():
    assert _violations("reports", ("simpy", "sim.kernel", "sim.network", "sim.nodes", "sim.runner")) == []
    mods = _loaded("reports.report")
    assert "simpy" not in mods and "sim.kernel" not in mods


# -- the reader itself: every form is seen -------------------------------------------
CANARY = '''
import os, scenarios
import json as j, reports.plots as rp
from invariants import check
from . import sibling
from .. import scenarios as s2
from ..invariants.checkers import validity
from .kernel import *

def later():
    import reports
    if True:
        from scenarios.loader import load_raw

class K:
    def m(self):
        try:
            from ...reports import x
        except ImportError:
            pass
'''


@pytest.mark.parametrize("module, is_package, want", [
    ("sim.nodes.kafka", False, {"os", "scenarios", "json", "reports.plots", "invariants", "invariants.check",
                                "sim.nodes", "sim.nodes.sibling", "sim", "sim.scenarios", "sim.invariants.checkers",
                                "sim.invariants.checkers.validity", "sim.nodes.kernel", "reports",
                                "scenarios.loader", "scenarios.loader.load_raw", "reports.x"}),
    ("sim.nodes", True, {"sim.nodes.sibling", "sim.scenarios", "sim.invariants.checkers", "sim.nodes.kernel",
                         "reports.x"}),
])
def test_the_reader_sees_every_form_of_import(module, is_package, want):
    got = {name for _, name in imported(CANARY, module, is_package)}
    assert want <= got, want - got
    lines: dict[str, int] = {}
    for line, name in sorted(imported(CANARY, module, is_package)):
        lines.setdefault(name, line)
    assert lines["scenarios"] == 2 and lines["reports"] == 11  # a function-level import, with its line


def test_a_function_level_import_of_a_forbidden_package_is_caught(tmp_path, monkeypatch):
    """The check over the tree, on a fake tree: ``import a, scenarios`` inside a
    function and an import under ``if TYPE_CHECKING`` are violations naming
    the file and line; relative imports within sim are not."""
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "__init__.py").write_text("")
    (tmp_path / "sim" / "bad.py").write_text("def f():\n    import os, scenarios\n")
    (tmp_path / "sim" / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                               "    from reports.plots import save\n")
    (tmp_path / "sim" / "fine.py").write_text("from . import bad\nfrom .bad import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _violations("sim", ("scenarios", "invariants", "reports")) == [
        "sim/bad.py:2 imports scenarios", "sim/typed.py:3 imports reports.plots"]
