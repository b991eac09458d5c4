"""`ikev2d show ...`: the FTD's show commands, answered by the running
daemon through its control socket.

    ikev2d show crypto ikev2 sa [detail]
    ikev2d show crypto ipsec sa
    ikev2d show vpn-sessiondb [summary | anyconnect | ra-ikev2-ipsec]
    ikev2d show vpn-sessiondb [detail] ra-ikev2-ipsec [filter name USER]
    ikev2d show asp table socket
    ikev2d show running-config [SECTION WORDS]
    ikev2d show ip local pool NAME
    ikev2d show ipv6 local pool NAME
    ikev2d show logging
    ikev2d show crypto ikev2 stats
    ikev2d show crypto ca certificates
    ikev2d show session USER [--ladder | --packets | --html FILE]   (ikev2d's own)

Words may be abbreviated as on the FTD (`show cry ikev2 sa`); `--json`
prints the same values as JSON. Exit 0 shown, 1 a bad answer, 3 no daemon
answers on the control socket, 64 an unknown command. The daemon streams its answer, one session
at a time, and the listing is printed as it comes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, Callable

from ..control.client import request, stream
from ..control.protocol import DEFAULT_PATH, ControlError, ControlUnreachable
from ..control.snapshot_stream import SnapshotReader
from ..show import (asp_socket, ikev2_sa, ip_local_pool, ipsec_sa, ipv6_local_pool, running_config,
                    sessiondb_detail, sessiondb_sessions, sessiondb_summary)
from ..show import ca_certificates, ikev2_stats
from ..show import logging as show_logging
from ..show.listing import Document, Listing, write_json
from ..show.snapshot import Snapshot
from . import session
from .common import CONTROL_ENV, INVALID, UNREACHABLE, USAGE, default_control_path


def _head_only(render_text: Callable[[Snapshot], str], render_json: Callable[[Snapshot], dict[str, Any]]) -> Listing:
    """A command answered by the snapshot's head: no session records asked for."""
    return Listing(lambda head, _: [render_text(head)], lambda head, _: Document(render_json(head)), sessions=False)


SNAPSHOT_COMMANDS: dict[tuple[str, ...], Listing] = {
    ("crypto", "ikev2", "sa"): Listing(ikev2_sa.text, ikev2_sa.document),
    ("crypto", "ikev2", "sa", "detail"): Listing(lambda h, s: ikev2_sa.text(h, s, detail=True), ikev2_sa.document),
    ("crypto", "ipsec", "sa"): Listing(ipsec_sa.text, ipsec_sa.document),
    ("vpn-sessiondb",): _head_only(sessiondb_summary.render, sessiondb_summary.as_json),
    ("vpn-sessiondb", "summary"): _head_only(sessiondb_summary.render, sessiondb_summary.as_json),
    ("vpn-sessiondb", "anyconnect"): Listing(lambda h, s: sessiondb_sessions.text(h, s, "anyconnect"),
                                             lambda h, s: sessiondb_sessions.document(h, s, "anyconnect")),
    ("vpn-sessiondb", "ra-ikev2-ipsec"): Listing(lambda h, s: sessiondb_sessions.text(h, s, "ra-ikev2-ipsec"),
                                                 lambda h, s: sessiondb_sessions.document(h, s, "ra-ikev2-ipsec")),
    ("vpn-sessiondb", "detail", "anyconnect"): Listing(
        lambda h, s: sessiondb_detail.text(h, s, "anyconnect"),
        lambda h, s: sessiondb_detail.document(h, s, "anyconnect")),
    ("vpn-sessiondb", "detail", "ra-ikev2-ipsec"): Listing(
        lambda h, s: sessiondb_detail.text(h, s, "ra-ikev2-ipsec"),
        lambda h, s: sessiondb_detail.document(h, s, "ra-ikev2-ipsec")),
    ("asp", "table", "socket"): _head_only(asp_socket.render, asp_socket.as_json),
}
# the listings of sessions that `filter name USER` may follow
FILTERABLE = {c for c in SNAPSHOT_COMMANDS if c[0] == "vpn-sessiondb" and c[-1] in ("anyconnect", "ra-ikev2-ipsec")}
RUNNING_CONFIG = ("running-config",)
# answered by a control request of their own: (op, renderer)
REQUEST_COMMANDS: dict[tuple[str, ...], tuple[str, Callable[[Any], str]]] = {
    ("logging",): ("logging", show_logging.render),
    ("crypto", "ikev2", "stats"): ("ikev2-stats", ikev2_stats.render),
    ("crypto", "ca", "certificates"): ("ca-certificates", ca_certificates.render),
}
IP_LOCAL_POOL = ("ip", "local", "pool")  # and the pool's name
IPV6_LOCAL_POOL = ("ipv6", "local", "pool")  # and the pool's name
ALL_COMMANDS = [*SNAPSHOT_COMMANDS, *REQUEST_COMMANDS, RUNNING_CONFIG]


class CommandError(Exception):
    pass


def add_control_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--control", default=default_control_path(), metavar="PATH",
                   help=f"control socket of the running ikev2d (default ${CONTROL_ENV} or {DEFAULT_PATH})")
    p.add_argument("--json", action="store_true", help="print the values as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="FTD show commands, from the running daemon",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="WORD", help="e.g. crypto ikev2 sa detail")
    add_control_option(p)
    session.add_options(p)
    p.set_defaults(func=run)


def resolve(words: list[str]) -> tuple[str, ...]:
    """The command the words name, each word possibly abbreviated;
    `running-config` may be followed by the words of a section."""
    typed = tuple(w.lower() for w in words)
    if len(typed) > 1 and len(typed[0]) >= 3 and RUNNING_CONFIG[0].startswith(typed[0]):
        return RUNNING_CONFIG
    if len(typed) >= 3 and all(full.startswith(w) for full, w in zip(IP_LOCAL_POOL, typed)) and typed[0] == "ip":
        if len(typed) != 4:
            raise CommandError("ERROR: % Incomplete command: show ip local pool <pool name>")
        return IP_LOCAL_POOL
    if len(typed) >= 3 and all(full.startswith(w) for full, w in zip(IPV6_LOCAL_POOL, typed)) and typed[0] == "ipv6":
        if len(typed) != 4:
            raise CommandError("ERROR: % Incomplete command: show ipv6 local pool <pool name>")
        return IPV6_LOCAL_POOL
    if typed in ALL_COMMANDS:
        return typed
    matches = [c for c in ALL_COMMANDS
               if len(c) == len(typed) and all(full.startswith(w) for full, w in zip(c, typed))]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError("ERROR: % Ambiguous command")
    raise CommandError(f"ERROR: % Invalid input detected: show {' '.join(words)}")


def split_filter(words: list[str]) -> tuple[list[str], str | None]:
    """`... filter name USER` off the end of the words: (the rest, USER)."""
    typed = [w.lower() for w in words]
    for at in range(len(typed) - 1, 0, -1):
        if len(typed[at]) >= 3 and "filter".startswith(typed[at]):
            tail = words[at + 1:]
            if len(tail) != 2 or not "name".startswith(tail[0].lower()):
                raise CommandError("ERROR: % Incomplete command: filter name <username>")
            return words[:at], tail[1]
    return words, None


def run(args: argparse.Namespace) -> int:
    if args.words[0].lower() == "session":  # ikev2d's own: a session's ladder
        try:
            return session.run(args, args.words[1:])
        except ControlUnreachable as exc:
            print(f"ikev2d: control socket: {exc}", file=sys.stderr)
            return UNREACHABLE
        except ControlError as exc:
            print(f"ikev2d: control socket: {exc}", file=sys.stderr)
            return INVALID
    try:
        words, user = split_filter(args.words)
        command = resolve(words)
        if user is not None and command not in FILTERABLE:
            raise CommandError(f"ERROR: % Invalid input detected: show {' '.join(args.words)}")
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    try:
        if command == RUNNING_CONFIG:
            return _running_config(args)
        if command == IP_LOCAL_POOL:
            return _ip_local_pool(args)
        if command == IPV6_LOCAL_POOL:
            return _ipv6_local_pool(args)
        if command in REQUEST_COMMANDS:
            return _requested(args, *REQUEST_COMMANDS[command])
        return _listing(args, SNAPSHOT_COMMANDS[command], user)
    except ControlUnreachable as exc:
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return UNREACHABLE
    except (ControlError, KeyError, TypeError, ValueError) as exc:
        # a listing cut short has printed part of itself: the status says so
        sys.stdout.flush()
        print(f"ikev2d: control socket: {exc}", file=sys.stderr)
        return INVALID


def _running_config(args: argparse.Namespace) -> int:
    text = request(args.control, {"op": "running-config"}).get("text")
    if text is not None and len(args.words) > 1:
        text = running_config.section(text, tuple(args.words[1:]))
    if args.json:
        print(json.dumps(running_config.as_json(text), indent=2))
    else:
        sys.stdout.write(running_config.render(text))
    return 0 if text is not None else 1


def _ip_local_pool(args: argparse.Namespace) -> int:
    answer = request(args.control, {"op": "pool", "name": args.words[3]})
    if args.json:
        print(json.dumps(answer["pool"], indent=2))
    else:
        sys.stdout.write(ip_local_pool.render(answer["pool"]))
    return 0


def _ipv6_local_pool(args: argparse.Namespace) -> int:
    answer = request(args.control, {"op": "pool6", "name": args.words[3]})
    if args.json:
        print(json.dumps(answer["pool"], indent=2))
    else:
        sys.stdout.write(ipv6_local_pool.render(answer["pool"]))
    return 0


def _requested(args: argparse.Namespace, op: str, render: Callable[[Any], str]) -> int:
    values = request(args.control, {"op": op})[op]
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        sys.stdout.write(render(values))
    return 0


def _listing(args: argparse.Namespace, listing: Listing, user: str | None = None) -> int:
    """Render the answer as it arrives: one session in memory at a time."""
    lines = stream(args.control, {"op": "show", "sessions": listing.sessions})
    with contextlib.closing(lines):
        reader = SnapshotReader(lines)
        sessions = reader.sessions()
        shown = sessions if user is None else (s for s in sessions if s.username == user)
        if args.json:
            write_json(listing.document(reader.head, shown), sys.stdout)
        else:
            for piece in listing.text(reader.head, shown):
                sys.stdout.write(piece)
        for _ in sessions:
            pass  # read to the end line: an answer cut short is an error, not a short listing
    return 0
