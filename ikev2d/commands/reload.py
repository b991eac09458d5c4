"""`ikev2d reload`: the running daemon re-reads its configuration file (as
SIGHUP does) and answers what it did, one line per change:

    ikev2 policy NSA: encryption aes-256 -> aes-256 aes-192
    session 0x00006000 (alice) ended: group policy GP-CCIElab changed
    /etc/ikev2d/ikev2d.yaml: 1 change(s) applied, 0 need(s) a restart, 1 session(s) ended

A file that does not load is refused whole: the daemon keeps serving its
running configuration, and this prints the FILE:LINE problems exactly as
`ikev2d check-config` does. Exit 0 applied, 1 refused, 3 no daemon
answers on the control socket.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..control.client import request
from ..control.protocol import ControlError, ControlUnreachable
from .common import UNREACHABLE
from .show import add_control_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reload", help="make the running daemon re-read its configuration file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_control_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        answer = request(args.control, {"op": "reload"}, timeout=30.0)
        applied, lines = bool(answer["applied"]), [str(line) for line in answer["lines"]]
    except ControlUnreachable as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return UNREACHABLE
    except (ControlError, KeyError, TypeError) as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"applied": applied, "lines": lines}))
    elif applied:
        for line in lines:
            print(line)
    else:
        # the problems as check-config prints them, then the verdict
        print("ikev2d: " + "\n".join(lines[:-1]), file=sys.stderr)
        print("ikev2d: reload " + lines[-1], file=sys.stderr)
    return 0 if applied else 1
