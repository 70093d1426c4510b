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
"""

from __future__ import annotations

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
    return value


def registry() -> dict[str, Architecture]:
    """Every registered architecture by name, in a stable order."""
    global _registry
    if _registry is None:
        found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
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
