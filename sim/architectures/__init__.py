"""The two architectures, each a function that wires nodes from a config.

An architecture module exposes ``STEPS`` (the named steps of its send path,
usable as fault triggers) and ``build(sim, cfg) -> System``.
"""

from __future__ import annotations

from . import new, old

ARCHITECTURES = {"old": old, "new": new}


def register(name: str, module) -> None:
    ARCHITECTURES[name] = module
