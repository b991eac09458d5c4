"""`ikev2d show ...`: the FTD's show commands, answered by the running
daemon through its control socket.

    ikev2d show crypto ikev2 sa [detail]
    ikev2d show crypto ipsec sa
    ikev2d show vpn-sessiondb [summary | anyconnect | ra-ikev2-ipsec]
    ikev2d show asp table socket
    ikev2d show running-config

Words may be abbreviated as on the FTD (`show cry ikev2 sa`); `--json`
prints the same values as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from ..control.client import request
from ..control.protocol import DEFAULT_PATH, ControlError
from ..show import asp_socket, ikev2_sa, ipsec_sa, running_config, sessiondb_sessions, sessiondb_summary
from ..show.snapshot import Snapshot, from_dict

# (text, json) from a snapshot
Renderers = tuple[Callable[[Snapshot], str], Callable[[Snapshot], dict[str, Any]]]

SNAPSHOT_COMMANDS: dict[tuple[str, ...], Renderers] = {
    ("crypto", "ikev2", "sa"): (ikev2_sa.render, ikev2_sa.as_json),
    ("crypto", "ikev2", "sa", "detail"): (lambda s: ikev2_sa.render(s, detail=True), ikev2_sa.as_json),
    ("crypto", "ipsec", "sa"): (ipsec_sa.render, ipsec_sa.as_json),
    ("vpn-sessiondb",): (sessiondb_summary.render, sessiondb_summary.as_json),
    ("vpn-sessiondb", "summary"): (sessiondb_summary.render, sessiondb_summary.as_json),
    ("vpn-sessiondb", "anyconnect"): (lambda s: sessiondb_sessions.render(s, "anyconnect"),
                                      lambda s: sessiondb_sessions.as_json(s, "anyconnect")),
    ("vpn-sessiondb", "ra-ikev2-ipsec"): (lambda s: sessiondb_sessions.render(s, "ra-ikev2-ipsec"),
                                          lambda s: sessiondb_sessions.as_json(s, "ra-ikev2-ipsec")),
    ("asp", "table", "socket"): (asp_socket.render, asp_socket.as_json),
}
RUNNING_CONFIG = ("running-config",)
ALL_COMMANDS = [*SNAPSHOT_COMMANDS, RUNNING_CONFIG]


class CommandError(Exception):
    pass


def add_control_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--control", default=DEFAULT_PATH, metavar="PATH",
                   help=f"control socket of the running ikev2d (default {DEFAULT_PATH})")
    p.add_argument("--json", action="store_true", help="print the values as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="FTD show commands, from the running daemon",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="WORD", help="e.g. crypto ikev2 sa detail")
    add_control_option(p)
    p.set_defaults(func=run)


def resolve(words: list[str]) -> tuple[str, ...]:
    """The command the words name, each word possibly abbreviated."""
    typed = tuple(w.lower() for w in words)
    if typed in ALL_COMMANDS:
        return typed
    matches = [c for c in ALL_COMMANDS
               if len(c) == len(typed) and all(full.startswith(w) for full, w in zip(c, typed))]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError("ERROR: % Ambiguous command")
    raise CommandError(f"ERROR: % Invalid input detected: show {' '.join(words)}")


def run(args: argparse.Namespace) -> int:
    try:
        command = resolve(args.words)
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        if command == RUNNING_CONFIG:
            text = request(args.control, {"op": "running-config"}).get("text")
            data = running_config.as_json(text)
            out = running_config.render(text)
            status = 0 if text is not None else 1
        else:
            snapshot = from_dict(Snapshot, request(args.control, {"op": "snapshot"})["snapshot"])
            render_text, render_json = SNAPSHOT_COMMANDS[command]
            data, out, status = render_json(snapshot), render_text(snapshot), 0
    except (ControlError, KeyError, TypeError) as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(out)
    return status
