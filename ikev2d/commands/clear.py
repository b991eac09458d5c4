"""`ikev2d clear crypto ikev2 sa [local A.B.C.D] [remote A.B.C.D]`: delete
the IKE SAs of the running daemon (all, or those with that local or remote
address), each with a Delete notify to its client, as a logoff does; the
113019 line says the reason.

Like the ASA it prints nothing (`--json` prints the count) and exits 0,
also when no SA matched; 3 when no daemon answers, 64 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from ipaddress import ip_address

from ..control.client import request
from ..control.protocol import ControlError, ControlUnreachable
from .common import INVALID, UNREACHABLE, USAGE
from .show import add_control_option

USAGE_TEXT = "usage: ikev2d clear crypto ikev2 sa [local A.B.C.D] [remote A.B.C.D]"
COMMAND = ("crypto", "ikev2", "sa")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clear", help="clear crypto ikev2 sa: end IKE SAs of the running daemon",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="WORD", help="crypto ikev2 sa [local A] [remote A]")
    add_control_option(p)
    p.set_defaults(func=run)


def parse(words: list[str]) -> dict[str, str]:
    """The addresses after `crypto ikev2 sa` (words may be abbreviated)."""
    typed = [w.lower() for w in words]
    if len(typed) < 3 or not all(len(w) >= 2 and full.startswith(w) for full, w in zip(COMMAND, typed)):
        raise ValueError(USAGE_TEXT)
    rest, chosen = words[3:], {}
    while rest:
        if len(rest) < 2:
            raise ValueError(USAGE_TEXT)
        key = next((k for k in ("local", "remote") if len(rest[0]) >= 2 and k.startswith(rest[0].lower())), None)
        if key is None or key in chosen:
            raise ValueError(USAGE_TEXT)
        try:
            chosen[key] = str(ip_address(rest[1]))
        except ValueError:
            raise ValueError(f"ERROR: % Invalid IP address: {rest[1]}") from None
        rest = rest[2:]
    return chosen


def run(args: argparse.Namespace) -> int:
    try:
        chosen = parse(args.words)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    try:
        count = int(request(args.control, {"op": "clear-ikev2-sa", **chosen})["count"])
    except ControlUnreachable as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return UNREACHABLE
    except (ControlError, KeyError, ValueError) as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return INVALID
    if args.json:
        print(json.dumps({**chosen, "cleared": count}))
    return 0
