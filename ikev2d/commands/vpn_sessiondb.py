"""`ikev2d vpn-sessiondb logoff all | name USER | index N | ipaddress A |
tunnel-group NAME [noconfirm]`: end
sessions of the running daemon, each with a Delete notify to its client.

The ASA asks `Do you want to logoff the VPN session(s)? [confirm]` unless
told `noconfirm`; this command never asks (it is run from scripts and
tests), so `noconfirm` and `--noconfirm` are accepted and change nothing.
It prints what the ASA prints after the confirmation:

    INFO: Number of sessions with name "alice" logged off : 1

and exits 0 when at least one session was logged off, 1 when none matched,
3 when no daemon answers on the control socket, 64 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from ipaddress import IPv4Address

from ..control.client import request
from ..control.protocol import ControlError, ControlUnreachable
from .common import INVALID, UNREACHABLE, USAGE
from .show import add_control_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vpn-sessiondb", help="log VPN sessions off (vpn-sessiondb logoff name USER)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="WORD",
                   help="logoff all | name USER | index N | ipaddress A.B.C.D | tunnel-group NAME [noconfirm]")
    p.add_argument("--noconfirm", action="store_true", help="accepted for the ASA's habit; never asks anyway")
    add_control_option(p)
    p.set_defaults(func=run)


USAGE_TEXT = ("usage: ikev2d vpn-sessiondb logoff all | name USER | index N | ipaddress A.B.C.D"
              " | tunnel-group NAME [noconfirm]")
# the words after `logoff` -> the control request's key
KINDS = {"name": "name", "index": "index", "ipaddress": "ipaddress", "tunnel-group": "tunnel_group"}


def parse(words: list[str]) -> tuple[str, str | int | bool]:
    """(request key, value) from `logoff all | name USER | index N |
    ipaddress A | tunnel-group NAME [noconfirm]`."""
    if words and words[-1].lower() == "noconfirm":
        words = words[:-1]
    if len(words) == 2 and [w.lower() for w in words] == ["logoff", "all"]:
        return "all", True
    if len(words) != 3 or words[0].lower() != "logoff" or words[1].lower() not in KINDS:
        raise ValueError(USAGE_TEXT)
    kind, value = KINDS[words[1].lower()], words[2]
    if kind == "index":
        if not value.isdigit():
            raise ValueError(f"ERROR: % Invalid index: {value}")
        return kind, int(value)
    if kind == "ipaddress":
        try:
            IPv4Address(value)
        except ValueError:
            raise ValueError(f"ERROR: % Invalid IP address: {value}") from None
    return kind, value


_WHAT = {"name": "name", "index": "index", "ipaddress": "IP address", "tunnel_group": "tunnel-group"}


def run(args: argparse.Namespace) -> int:
    try:
        kind, value = parse(args.words)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    try:
        count = int(request(args.control, {"op": "logoff", kind: value})["count"])
    except ControlUnreachable as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return UNREACHABLE
    except (ControlError, KeyError, ValueError) as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return INVALID
    if args.json:
        print(json.dumps({kind: value, "logged_off": count}))
    elif kind == "all":
        print(f"INFO: Number of sessions logged off : {count}")
    else:
        print(f'INFO: Number of sessions with {_WHAT[kind]} "{value}" logged off : {count}')
    return 0 if count else INVALID
