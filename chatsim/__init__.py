"""chatsim: a discrete-event simulator and verification harness for real-time
chat messaging architectures. ``chatsim.api`` is the library (one run, many
runs); ``chatsim.cli`` is the command line over it."""

__version__ = "0.1.0"


def main(argv=None):
    from .cli import main as _main

    return _main(argv)
