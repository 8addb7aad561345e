"""Command line: ``equity-outcomes <command>``. Each command is a thin wrapper over library functions.

Every command takes ``--workspace DIR`` (default: the workspace holding the current folder), ``--quiet`` (no
progress) and ``--debug`` (a traceback with errors). A user error is one message, what, where and the fix, and
exit status 2; a check that finds a file it would refuse exits 1.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from . import progress
from .commands import COMMANDS
from .errors import EquityOutcomesError


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                        help="the workspace to use (default: the one holding the current folder; "
                             "the project checkout is the demo workspace)")
    common.add_argument("--quiet", action="store_true", help="no progress display")
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="equity-outcomes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()
    for name, (help_text, func) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        func(p)  # each command adds its arguments and sets its handler
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    display = progress.Display(progress.choose_mode(quiet=args.quiet))
    try:
        with progress.activated(display):
            return int(args.handler(args) or 0)
    except EquityOutcomesError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m equity_outcomes.cli: run the package's module, where commands register
    from equity_outcomes.cli import main as package_main

    sys.exit(package_main())
