"""Command line: ``equity-outcomes <command>``. Each command is a thin wrapper over library functions."""

from __future__ import annotations

import argparse
import sys

from .errors import EquityOutcomesError

COMMANDS: dict[str, tuple[str, object]] = {}


def command(name: str, help_text: str):
    def register(func):
        COMMANDS[name] = (help_text, func)
        return func

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="equity-outcomes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, func) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        func(p)  # each command adds its arguments and sets its handler
    return parser


def main(argv: list[str] | None = None) -> int:
    from . import commands  # noqa: F401  (registers the commands)

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except EquityOutcomesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
