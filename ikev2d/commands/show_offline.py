"""`ikev2d show running-config --config FILE`: the configuration file as
the ASA/FTD CLI would print it, without a running daemon.

`show` itself (ikev2d/commands/show.py) asks the running daemon. This
module adds `--config FILE` to that parser: with it, `running-config` is
rendered here from the file; without it, the live command runs as before.
When no live `show` is registered, it provides a `show` of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from ..running_config import render_running_config
from ..show.running_config import section
from .common import USAGE, load_or_report

COMMAND = ("running-config",)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = sub.choices.get("show")
    if show is None:
        show = sub.add_parser("show", help="FTD show commands")
        show.add_argument("words", nargs="+", metavar="WORD", help="running-config")
        live: Callable[[argparse.Namespace], int] | None = None
    else:
        live = show.get_default("func")
    if "--config" not in show._option_string_actions:
        show.add_argument("--config", metavar="FILE",
                          help="render running-config from this configuration file (offline)")
    show.set_defaults(func=lambda args: run(args, live))


def run(args: argparse.Namespace, live: Callable[[argparse.Namespace], int] | None) -> int:
    if getattr(args, "config", None) is None:
        if live is None:
            print("ikev2d: show needs --config FILE here", file=sys.stderr)
            return USAGE
        return live(args)
    if not _names_running_config(args.words):
        print(f"ikev2d: only show running-config works offline (--config);"
              f" got: show {' '.join(args.words)}", file=sys.stderr)
        return USAGE
    config = load_or_report(args.config)
    if config is None:
        return 1
    text = render_running_config(config)
    if len(args.words) > 1:
        text = section(text, tuple(args.words[1:]))
    if getattr(args, "json", False):
        print(json.dumps({"available": True, "lines": text.splitlines()}, indent=2))
    else:
        sys.stdout.write(text)
    return 0


def _names_running_config(words: list[str]) -> bool:
    # FTD abbreviations count: `show run`, `show running`.
    typed = [w.lower() for w in words]
    return len(typed) >= 1 and len(typed[0]) >= 3 and COMMAND[0].startswith(typed[0])
