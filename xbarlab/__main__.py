"""``python -m xbarlab`` and the ``xbarlab`` command. Ctrl-C is caught from the very start, even
while the CLI's libraries are still importing, so an interrupted command always ends with its
one line and exit status 130 (never a traceback, a silent exit or a death by signal).

Until a command installs its own handler (``xbarlab run`` stops at the next safe step), Ctrl-C
raises :class:`Interrupted` rather than KeyboardInterrupt: the CLI library turns a
KeyboardInterrupt into a silent exit 130, which would swallow the message. Libraries may wrap
the exception on its way out (pydantic-core turns it into a ``SchemaError`` when it lands
while a model class is being built at import), so whatever ends the command after a Ctrl-C
counts as the interruption."""

import signal
import sys


class Interrupted(BaseException):
    """Ctrl-C where no command handles it."""


_interrupted = False


def _interrupt(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise Interrupted


def _stop_interrupted() -> None:
    print("xbarlab: interrupted", file=sys.stderr)
    sys.exit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    try:
        from xbarlab.cli import main as cli_main

        cli_main()
    except (KeyboardInterrupt, Interrupted):
        _stop_interrupted()
    except SystemExit as exc:
        if _interrupted and exc.code not in (0, 130, None):
            _stop_interrupted()
        raise
    except Exception:
        if _interrupted:
            _stop_interrupted()
        raise
    finally:
        # the command is over and its status decided: a further Ctrl-C must not turn the
        # interpreter's shutdown into a death by signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
