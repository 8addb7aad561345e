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
from typing import Any, Literal

import duckdb

from . import progress
from .catalog import Strict, Text, load_yaml
from .commands import HANDLERS, state_formats
from .errors import EquityOutcomesError
from .paths import config_dir
from .warehouse import ROOM_FIX, out_of_room

TYPES = {"path": Path, "int": int, "float": float, "formats": state_formats}  # an argument's `type` in config/cli.yaml


class _Options(Strict):
    """An argument's options: those of argparse's ``add_argument`` (``type`` by its name in :data:`TYPES`)."""

    type: Literal["path", "int", "float", "formats"] | None = None
    action: Literal["store_true", "append"] | None = None
    nargs: Literal["?", "*", "+"] | None = None
    default: Any = None
    const: Any = None
    choices: list | None = None
    required: bool | None = None
    dest: str | None = None
    metavar: str | None = None
    help: str | None = None


Arguments = tuple[str | dict[str, _Options], ...]  # `--flag: {options}` or `name: {options}`, or a group's name


class _Command(Strict):
    help: Text
    arguments: Arguments = ()


class _CommandLine(Strict):
    common: Arguments
    groups: dict[str, Arguments]
    commands: dict[str, _Command]


def _add(p: argparse.ArgumentParser, arguments: Arguments, groups: dict[str, Arguments]) -> None:
    for item in arguments:
        if isinstance(item, str):
            _add(p, groups[item], groups)
            continue
        for name, options in item.items():
            given = options.model_dump(exclude_unset=True)
            p.add_argument(name, **({**given, "type": TYPES[options.type]} if options.type else given))


def build_parser() -> argparse.ArgumentParser:
    """The commands and arguments of config/cli.yaml, each command's handler from :data:`commands.HANDLERS`."""
    table = load_yaml(_CommandLine, config_dir() / "cli.yaml", "the command line's table",
                      "restore config/cli.yaml from version control")
    parser = argparse.ArgumentParser(prog="equity-outcomes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _add(common, table.common, table.groups)
    for name, command in table.commands.items():
        p = sub.add_parser(name, help=command.help, description=command.help, parents=[common])
        _add(p, command.arguments, table.groups)
        p.set_defaults(handler=HANDLERS[name])
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
    except duckdb.Error as exc:  # a stage's own query past the memory and spill caps (a model's: build.fix_for)
        if not out_of_room(str(exc)):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"error: {args.command}: DuckDB ran out of room ({str(exc).splitlines()[0]}). How to fix: {ROOM_FIX}, "
              f"and run {args.command} again.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m equity_outcomes.cli: run the package's module, where commands register
    from equity_outcomes.cli import main as package_main

    sys.exit(package_main())
