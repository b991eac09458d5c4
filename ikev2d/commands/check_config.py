"""`ikev2d check-config FILE`: validate a configuration file."""

from __future__ import annotations

import argparse

from .common import load_or_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a configuration file")
    p.add_argument("file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if load_or_report(args.file) is None:
        return 1
    print(f"{args.file}: configuration is valid")
    return 0
