"""``python -m xbarlab`` and the ``xbarlab`` command. Ctrl-C is caught from the very start, even
while the CLI's libraries are still importing, so an interrupted command always ends with its
one line and exit status 130 (never a traceback, a silent exit or a death by signal).

Until a command installs its own handler (``xbarlab run`` stops at the next safe step), Ctrl-C
raises :class:`Interrupted` rather than KeyboardInterrupt: the CLI library turns a
KeyboardInterrupt into a silent exit 130, which would swallow the message."""

import signal
import sys


class Interrupted(BaseException):
    """Ctrl-C where no command handles it."""


def _interrupt(signum, frame) -> None:
    raise Interrupted


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    try:
        from xbarlab.cli import main as cli_main

        cli_main()
    except (KeyboardInterrupt, Interrupted):
        print("xbarlab: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        # the command is over and its status decided: a further Ctrl-C must not turn the
        # interpreter's shutdown into a death by signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
