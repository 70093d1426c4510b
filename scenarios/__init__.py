"""Scenario files (TOML data) and their validating loader."""

from .loader import BUILTIN_DIR, Scenario, apply_overrides, list_builtin, load_scenario

__all__ = ["BUILTIN_DIR", "Scenario", "apply_overrides", "list_builtin", "load_scenario"]
