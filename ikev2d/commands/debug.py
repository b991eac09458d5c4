"""`ikev2d debug crypto ikev2 protocol [LEVEL] [platform [LEVEL]]`: the
running daemon's IKEv2 debug trace, live, as the FTD's `debug crypto ikev2
protocol 127` / `platform 127` show it: every IKE message both ways,
decrypted and decoded (never a key or password), fragments and
retransmits, the SA state machine, why each refusal happened, and (platform)
what is programmed into the data plane.

Levels 1-255 (the FTD's range; the default is 1, errors only): 1 refusals
and failures, 2 each message in one line, 3 session events, 4 every
payload's fields, 5 SA states, 6 retransmits; 127 shows everything.

    ikev2d debug crypto ikev2 protocol 127 platform 127
    ikev2d debug crypto ikev2 protocol 4 --peer 198.18.0.2 --json

`--json` prints one object per record (schema ikev2d-trace/1). It runs until
interrupted, or `--duration` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from types import FrameType

from ..control.client import stream
from ..control.protocol import ControlError, ControlUnreachable
from ..trace.record import ERRORS, MAX_LEVEL, PLATFORM, PROTOCOL, SCHEMA
from ..trace.render import render
from .common import INVALID, UNREACHABLE, USAGE
from .show import add_control_option

USAGE_TEXT = "usage: ikev2d debug crypto ikev2 protocol [LEVEL] [platform [LEVEL]]"


class _Done(Exception):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("debug", help="live IKEv2 debug trace (debug crypto ikev2 protocol 127)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="WORD", help="crypto ikev2 protocol [LEVEL] [platform [LEVEL]]")
    p.add_argument("--peer", metavar="ADDRESS", help="only this client's IKE SAs (debug crypto condition peer)")
    p.add_argument("--user", metavar="NAME", help="only this user's IKE SAs (debug crypto condition username)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    add_control_option(p)
    p.set_defaults(func=run)


def parse(words: list[str]) -> dict[str, int]:
    """{facility: level} from `crypto ikev2 protocol [N] [platform [N]]`."""
    lowered = [w.lower() for w in words]
    if lowered[:2] != ["crypto", "ikev2"] or len(lowered) == 2:
        raise ValueError(USAGE_TEXT)
    levels: dict[str, int] = {}
    rest = lowered[2:]
    while rest:
        facility = rest.pop(0)
        if facility not in (PROTOCOL, PLATFORM) or facility in levels:
            raise ValueError(USAGE_TEXT)
        level = ERRORS
        if rest and rest[0].isdecimal():
            level = int(rest.pop(0))
            if not 1 <= level <= MAX_LEVEL:
                raise ValueError(f"ERROR: % Invalid level {level}: 1-{MAX_LEVEL}")
        levels[facility] = level
    return levels


def run(args: argparse.Namespace) -> int:
    try:
        levels = parse(args.words)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    request = {"op": "debug", **levels, "peer": args.peer, "user": args.user}
    if args.duration is not None:
        signal.signal(signal.SIGALRM, _stop)
        signal.setitimer(signal.ITIMER_REAL, max(args.duration, 0.001))
    lines = stream(args.control, request, timeout=None)  # type: ignore[arg-type]
    try:
        with contextlib.closing(lines):
            first = next(lines)
            if args.json:  # a header line, as qlog has: what follows and how it was asked for
                print(json.dumps({"schema": SCHEMA, "debug": first.get("debug")}), flush=True)
            else:
                said = " ".join(f"{f} {n}" for f, n in levels.items())
                print(f"debug crypto ikev2 {said}" + (f" (peer {args.peer})" if args.peer else "")
                      + (f" (user {args.user})" if args.user else ""), flush=True)
            for record in lines:
                _print(record, levels, args.json)
    except ControlUnreachable as exc:
        print(f"ikev2d: {exc}", file=sys.stderr)
        return UNREACHABLE
    except ControlError as exc:
        print(f"ikev2d: {exc}", file=sys.stderr)
        return INVALID
    except (_Done, KeyboardInterrupt):
        pass
    return 0


def _print(record: dict, levels: dict[str, int], as_json: bool) -> None:
    if "lost" in record:
        print(f"% {record['lost']} debug records lost: this terminal did not keep up", file=sys.stderr)
        return
    if as_json:
        print(json.dumps(record), flush=True)
        return
    for line in render(record, levels.get(record["facility"], 0)):
        print(line)
    sys.stdout.flush()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Done()
