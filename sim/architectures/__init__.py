"""The registry of architectures (DESIGN §5).

Architectures are found through the entry-point group
``chatsim.architectures``: each entry point names an ``Architecture`` value
(``sim.architectures.base``). chatsim registers its own the same way
(pyproject.toml), so a user's package adds a design by declaring::

    [project.entry-points."chatsim.architectures"]
    mine = "my_package.arch:ARCHITECTURE"

and nothing in chatsim changes. The registry is read once per process and
ordered: chatsim's own in their declared order, then plugins by name. When
chatsim runs from a source tree that was never installed (no entry points),
its built-in designs are still found.

Every entry point is checked when the registry is read, so a wrong
registration is one ``ConfigError`` naming it (exit 2 on the command line)
before anything runs, never a traceback mid-run: a name registered twice
with different targets (a plugin called ``old``, or two plugins with one
name: which one won depended on the order the distributions were found), a
target that fails to import, a value that is not an ``Architecture``, one
whose ``name`` is not its entry point's, and one whose parts are not what
``Architecture`` declares (``check_shape``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib import import_module
from importlib.metadata import entry_points

from ..errors import ConfigError
from .base import Architecture, Step, System

GROUP = "chatsim.architectures"
BUILTIN = {"old": "sim.architectures.old:ARCHITECTURE", "new": "sim.architectures.new:ARCHITECTURE",
           "rt2023": "sim.architectures.rt2023:ARCHITECTURE"}

_registry: dict[str, Architecture] | None = None


def _load(name: str, target: str) -> Architecture:
    module, _, attr = target.partition(":")
    try:
        value = getattr(import_module(module), attr)
    except Exception as e:  # a broken plugin must say which, not crash the CLI
        raise ConfigError(f"architecture plugin {name!r} ({target}) failed to load: "
                          f"{type(e).__name__}: {e}") from None
    if not isinstance(value, Architecture):
        raise ConfigError(f"architecture plugin {name!r} ({target}) is a {type(value).__name__}, "
                          "not a sim.architectures.base.Architecture")
    if value.name != name:
        raise ConfigError(f"architecture plugin {name!r} ({target}) calls itself {value.name!r}")
    problem = check_shape(value)
    if problem:
        raise ConfigError(f"architecture plugin {name!r} ({target}): {problem}")
    return value


def check_shape(arch: Architecture) -> str | None:
    """What is wrong with ``arch``'s parts, in a few words, or None: the
    checks the runner would otherwise fail on mid-run with a traceback
    (``build`` called with ``(sim, cfg)``, ``settings.model_validate``,
    ``step.name``)."""
    from ..config import Strict
    from ..faults import FaultKind
    from ..nodes.protocol import ApiError
    from .base import Step

    if not (isinstance(arch.settings, type) and issubclass(arch.settings, Strict)):
        return f"settings is {arch.settings!r}, not a subclass of sim.config.Strict (a frozen pydantic model)"
    if not callable(arch.build):
        return f"build is {arch.build!r}, not a function (sim, RunConfig) -> System"
    try:
        inspect.signature(arch.build).bind(None, None)
    except TypeError:
        return f"build{inspect.signature(arch.build)} cannot be called as build(sim, cfg)"
    except ValueError:  # a callable without a signature (a C function): trust it
        pass
    if not all(isinstance(s, Step) for s in arch.steps):
        return "steps must be sim.architectures.Step values (name, role, label)"
    names = [s.name for s in arch.steps]
    if len(set(names)) != len(names):
        return f"steps name one step twice ({', '.join(names)})"
    if not isinstance(arch.client, type):
        return f"client is {arch.client!r}, not a class"
    for part, value, kind in (("errors", arch.errors, ApiError), ("faults", arch.faults, FaultKind)):
        if not (isinstance(value, Mapping) and all(isinstance(v, kind) for v in value.values())):
            return f"{part} must map names to {kind.__module__}.{kind.__name__} values"
    if not (isinstance(arch.profiles, Mapping)
            and all(isinstance(o, (tuple, list)) and all(isinstance(x, str) for x in o) for o in arch.profiles.values())):
        return "profiles must map a profile name to a tuple of --set overrides (strings)"
    return None


def registry() -> dict[str, Architecture]:
    """Every registered architecture by name, in a stable order."""
    global _registry
    if _registry is None:
        found: dict[str, str] = {}
        for ep in entry_points(group=GROUP):
            # a name twice with one target is the same install found twice (a source tree
            # on the path and its editable install); with two targets, one would silently win
            clash = found.get(ep.name, BUILTIN.get(ep.name, ep.value))
            if clash != ep.value:
                raise ConfigError(f"architecture name {ep.name!r} is registered twice ({clash} and {ep.value}"
                                  f"{', a built-in' if ep.name in BUILTIN else ''}): rename the plugin's entry point")
            found[ep.name] = ep.value
        targets = {name: found.pop(name, target) for name, target in BUILTIN.items()
                   if name in found or _importable(target)}
        targets.update(sorted(found.items()))
        _registry = {name: _load(name, target) for name, target in targets.items()}
    return _registry


def _importable(target: str) -> bool:
    from importlib.util import find_spec

    return find_spec(target.partition(":")[0]) is not None


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Architecture:
    arch = registry().get(name)
    if arch is None:
        raise ConfigError(f"unknown architecture {name!r} (registered: {', '.join(registry())})")
    return arch


def register(arch: Architecture) -> None:
    """Add an architecture in-process (tests, notebooks); plugins use entry points."""
    registry()[arch.name] = arch


__all__ = ["Architecture", "Step", "System", "get", "names", "register", "registry"]
