"""Checkers: pure functions of a history (DESIGN §7).

``check(history)`` runs every invariant by name and composes the verdicts;
``CHECKERS`` maps each name to its function. Only ``sim.history`` (the
format) is imported here: no SimPy, no node objects.
"""

from .checkers import CHECKERS, check, check_bytes, check_file, explain, story, story_lines

__all__ = ["CHECKERS", "check", "check_bytes", "check_file", "explain", "story", "story_lines"]
