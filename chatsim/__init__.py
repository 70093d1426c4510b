"""chatsim: a discrete-event simulator and verification harness for real-time
chat messaging architectures. ``chatsim.api`` is the library (one run, many
runs); ``chatsim.cli`` is the command line over it."""

__version__ = "0.1.0"


def main(argv=None):
    try:
        from .cli import main as _main
    except KeyboardInterrupt:  # Ctrl-C while the command line is still importing: nothing was written
        import sys

        sys.stderr.write("chatsim: interrupted (SIGINT) while starting; nothing was written\n")
        raise SystemExit(130) from None
    return _main(argv)
