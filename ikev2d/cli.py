"""Command line: `ikev2d <command>`; each command lives in ikev2d/commands/."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from . import __version__
from .commands import COMMANDS
from .commands.common import USAGE


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; 2 is check-config's "not
    compliant", so usage errors exit 64 (EX_USAGE) here, subcommands too."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="ikev2d", description="IKEv2 remote-access VPN headend, FTD-style")
    parser.add_argument("--version", action="version", version=f"ikev2d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))
