"""The simulation: kernel, network, faults, nodes and the two architectures.

Importing ``sim`` itself pulls in nothing heavy: ``sim.history`` (the history
format) is pure msgspec so that ``invariants`` can read histories without
importing SimPy or any node.
"""

__version__ = "0.1.0"
