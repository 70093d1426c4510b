"""Python's cyclic garbage collector, paused where it is pure cost.

A simulation allocates millions of container objects (events, messages,
connections, per-client state) that live long or die by reference counting;
what the cyclic collector finds while a run is going is almost nothing:
tens of objects per run, measured for every architecture (a storm run to
60 or 100 simulated seconds with the collector off, then one collection with
``gc.DEBUG_SAVEALL``: 25 garbage objects for old, 48 for rt2023, 70 for new
at 2,000 clients — a few requests' reply/connection webs and the loader's
closures; ``tests/test_gc_pause.py`` keeps that bound). Yet with the default
thresholds (700, 10, 10) its young collections walk every surviving young
object and each full collection walks the whole heap, which grows with the
clients: a 10,000-client storm spent 8.9 of 33 CPU seconds in the collector
(`docs/performance.md`, "Round 4 — GC"), more per client the larger the run.

So a run pauses it from the build to the end of the simulation (and
``chatsim.api.run_one`` on to the point where it drops the simulation and
collects once). Paused, not tuned: a higher young threshold only batches
the same walking, and a frozen or never-collected old generation still pays
the young walks, half of the cost (measured).

Why histories cannot change: the collector only runs code of the model
through finalizers (``__del__``), weakref callbacks, or by closing an
unreachable suspended generator (its ``finally`` / ``with`` exits). None of
the model's or SimPy's classes has a finalizer or uses weak references, and
every live process is reachable from its node (``Node._procs``) until it
ends, so no suspended generator becomes unreachable during a run; the one
collection after the simulation closes the ones left suspended at the end,
after the history and journal are written. Addresses (``id``) are never
part of an ordering (no identity-hashed sets are iterated). ``bench/
snapshot_compare.sh`` confirms it on the 51 fixed runs.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for the block, then back as it was (nested
    pauses leave it off until the outermost ends). Explicit ``gc.collect()``
    still works inside."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
