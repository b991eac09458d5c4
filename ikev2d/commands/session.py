"""`ikev2d show session USER [--ladder] [--packets] [--html FILE]`: a live
session's exchanges as a ladder diagram (the default), as the packet list
Wireshark shows (the whitepaper's), or as a page with an SVG ladder a
teacher can project. `--json` gives the steps. USER may also be `index N`
(the vpn-sessiondb index)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..control.client import request
from ..ladder import Step, packet_list, render_html, render_text
from .common import INVALID


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ladder", action="store_true", help="show session: the ladder diagram (the default)")
    p.add_argument("--packets", action="store_true", help="show session: the packet list, as Wireshark shows it")
    p.add_argument("--html", type=Path, metavar="FILE", help="show session: write the ladder as an HTML/SVG page")


def run(args: argparse.Namespace, words: list[str]) -> int:
    """`words`: after `session`: USER, or `index N`."""
    if len(words) == 2 and words[0].lower() == "index" and words[1].isdecimal():
        query: dict[str, object] = {"op": "ladder", "index": int(words[1])}
        who = f"index {words[1]}"
    elif len(words) == 1:
        query, who = {"op": "ladder", "user": words[0]}, words[0]
    else:
        print("usage: ikev2d show session USER | index N [--ladder] [--packets] [--html FILE]", file=sys.stderr)
        return INVALID
    answer = request(args.control, query)
    sessions, nat_t_port = answer["sessions"], int(answer.get("nat_t_port", 4500))
    if args.json:
        print(json.dumps(sessions, indent=2))
        return 0 if sessions else 1
    if not sessions:
        print(f"INFO: There is no active session for {who}")
        return 1
    for session in sessions:
        steps = [Step.from_json(s) for s in session["steps"]]
        client, server = f"client {session['client']}", f"ikev2d {session['server']}"
        title = f"Session {session['index']}: {session['user']} ({len(steps)} messages)"
        if args.html is not None:
            path = args.html if len(sessions) == 1 else args.html.with_stem(f"{args.html.stem}-{session['index']}")
            path.write_text(render_html(steps, client, server, title, nat_t_port), encoding="utf-8")
            print(f"{title}: ladder written to {path}")
            continue
        print(title)
        sys.stdout.write(packet_list(steps, _host(session["client"]), _host(session["server"]), nat_t_port)
                         if args.packets
                         else render_text(steps, client, server))
    return 0


def _host(address: str) -> str:
    """The packet list names hosts, as Wireshark's Source and Destination do."""
    host = address.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host
