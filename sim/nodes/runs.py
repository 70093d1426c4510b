"""Sets of integers that come mostly in runs: a client's seen sequence numbers.

A client remembers, per channel, the sequence numbers it has seen (and in
rt2023 the messages it has shown) to drop a redelivery. Those numbers arrive
almost in order — from the first message after the client connected on, with
a hole where it was away and never caught up — so a Python ``set`` of them
(216 bytes empty, 728 past four members, 2,264 past eighteen, plus an int
object per number above 256) spends ~1–2 KB per client of a storm on what two
or three ``[start, end)`` pairs say. ``Runs`` keeps exactly those pairs.

Membership is a set's: integers go to the runs, anything else (``None``, a
string) to an ordinary set made on first use. The one difference: a set finds
``1.0`` or ``True`` where ``1`` was added, ``Runs`` does not (sequence
numbers are never floats or bools).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Iterator


class Runs:
    """A set of integers as sorted, disjoint, non-adjacent half-open runs,
    flattened: ``b = [s0, e0, s1, e1, …]`` with ``s0 < e0 < s1 < e1 …``.

    ``x`` is a member iff an odd number of boundaries are ≤ ``x`` (it lies
    in some ``[s_k, e_k)``): one ``bisect_right``, O(log runs). ``add`` grows
    a neighbouring run, joins two runs it closes the gap between, or inserts
    a run of one."""

    __slots__ = ("b", "other")

    def __init__(self, items=()):
        self.b: list[int] = []
        self.other: set | None = None  # members that are not ints
        for x in items:
            self.add(x)

    def __contains__(self, x: Any) -> bool:
        if type(x) is int:
            return bisect_right(self.b, x) & 1 == 1
        other = self.other
        return other is not None and x in other

    def add(self, x: Any) -> None:
        if type(x) is not int:
            if self.other is None:
                self.other = set()
            self.other.add(x)
            return
        b = self.b
        i = bisect_right(b, x)
        if i & 1:  # inside a run already
            return
        n = len(b)
        if i and b[i - 1] == x:  # right after the run before: it grows
            if i < n and b[i] == x + 1:  # and now touches the next: they join
                del b[i - 1:i + 1]
            else:
                b[i - 1] = x + 1
        elif i < n and b[i] == x + 1:  # right before the next run: it grows down
            b[i] = x
        else:
            b[i:i] = (x, x + 1)

    def __iter__(self) -> Iterator[Any]:
        b = self.b
        for k in range(0, len(b), 2):
            yield from range(b[k], b[k + 1])
        if self.other:
            yield from self.other

    def __len__(self) -> int:
        b = self.b
        return sum(b[k + 1] - b[k] for k in range(0, len(b), 2)) + (len(self.other) if self.other else 0)

    def __repr__(self) -> str:
        b = self.b
        runs = ", ".join(f"{b[k]}..{b[k + 1] - 1}" for k in range(0, len(b), 2))
        return f"Runs({runs}{', ' if runs and self.other else ''}{sorted(map(repr, self.other or ()))})"


class Numbering:
    """Per channel, a number for each message id, in the order first asked
    for: what lets a client keep the messages it has shown as ``Runs`` (a
    channel's messages are shown in nearly the order they were first shown
    anywhere). One per run, shared by every client (``Simulation.shared``):
    an entry per message, where per-client sets held an entry per message
    per member."""

    __slots__ = ("of",)

    def __init__(self):
        self.of: dict[str, dict[str, int]] = {}

    def get(self, channel: str, msg: str) -> int | None:
        """The message's number, or None if no client has been given one."""
        nums = self.of.get(channel)
        return None if nums is None else nums.get(msg)

    def number(self, channel: str, msg: str) -> int:
        nums = self.of.get(channel)
        if nums is None:
            nums = self.of[channel] = {}
        n = nums.get(msg)
        if n is None:
            n = nums[msg] = len(nums)
        return n
