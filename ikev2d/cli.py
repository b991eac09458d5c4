"""Command line: `ikev2d <command>`; each command lives in ikev2d/commands/."""

from __future__ import annotations

import argparse
import importlib

from . import __version__
from .commands import COMMANDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ikev2d", description="IKEv2 remote-access VPN headend, FTD-style")
    parser.add_argument("--version", action="version", version=f"ikev2d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))
