"""One exception family for the whole project.

``ChatsimError`` is what the command line turns into a one-line message and
exit status 2. Anything else escaping is a bug and keeps its traceback.
"""


class ChatsimError(Exception):
    """Base of every error chatsim raises on purpose (bad input, bad wiring)."""


class HistoryError(ChatsimError):
    """A history file is malformed; the message names the file and line."""


class ConfigError(ChatsimError):
    """A scenario, a ``--set`` override or a setting is invalid."""


class WiringError(ChatsimError):
    """The simulated system cannot be assembled (checked before time starts)."""
