"""``python -m storyboard`` and the ``storyboard`` command.

The signal handlers go in before anything heavy is imported, so that Ctrl-C during the
imports also ends with exit code 130 and a message, not a traceback.
"""

import sys


def run() -> int:
    """The command's exit code; a signal that arrives after it is chosen cannot change it."""
    from storyboard.interrupts import ignore_from_now, install, received

    install()
    try:
        from storyboard.cli import main
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or received():
            print("\nstoryboard: interrupted", file=sys.stderr)
            ignore_from_now()
            return 130
        raise
    code = main()
    ignore_from_now()
    return code


if __name__ == "__main__":
    raise SystemExit(run())
