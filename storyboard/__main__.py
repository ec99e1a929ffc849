"""``python -m storyboard`` and the ``storyboard`` command.

The signal handlers go in before anything heavy is imported, so that Ctrl-C during the
imports also ends with exit code 130 and a message, not a traceback.
"""

import sys


def run() -> int:
    """Run the command; its exit code, which is the one the process ends with."""
    from storyboard.interrupts import install, keep_exit_code

    install()
    try:
        return _command()
    finally:
        keep_exit_code()


def _command() -> int:
    from storyboard.interrupts import received

    try:
        from storyboard.cli import main
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or received():
            print("\nstoryboard: interrupted", file=sys.stderr)
            return 130
        raise
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
