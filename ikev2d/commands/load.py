"""`ikev2d load TARGET`: emulate many standards-EAP IKEv2 clients against
a headend (ikev2d, strongSwan, a real FTD) over the network and report
per-phase latency percentiles, connects/s and errors by notify.

Each client does IKE_SA_INIT (answering COOKIE and INVALID_KE_PAYLOAD),
IKE_AUTH with EAP (MSCHAPv2, MD5 or GTC) and a configuration request,
takes RFC 7383 fragments, then (after --hold) deletes its IKE SA. Sources
are one UDP socket per address given with --source (a range such as
198.18.0.100-198.18.0.119, or a list); the addresses must be on this
host. The password comes from --password or IKEV2D_LOAD_PASSWORD.

    ikev2d load 198.18.0.1 -n 200 -c 50 --user alice --source 198.18.0.100-198.18.0.119
    ikev2d load 198.18.0.1:4500 -n 1000 --rate 100 --hold 30 --json

SIGINT or SIGTERM (Ctrl-C) stops starting clients and ends the hold:
the established sessions are still deleted and the report printed.
Exit 0 when every session was established (and deleted) and every ping
answered, 1 otherwise.

--ping ADDRESS sends ICMP echo requests through each tunnel once its
Child SA is up: from the address the headend assigned (CP) to ADDRESS
inside, ESP in UDP (RFC 3948) with the negotiated keys, and waits for the
echo replies through the inbound SA; their round trip is the "ping"
latency. For ESP in UDP the clients claim a NAT as strongSwan's
`encap = yes` does (a made-up NAT_DETECTION_SOURCE_IP; --encap alone does
the same without pinging) and move to port 4500. Without --ping the
tunnels are negotiated, not used.

    ikev2d load 198.18.0.1 -n 50 --user 'load{n}' --ping 198.19.0.1 --ping-count 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from ipaddress import IPv4Address, ip_address

from ..iana import DhId, EapType
from ..load.runner import LoadOptions, run_until_signalled, run_workers
from ..load.session import ClientProfile

EAP_METHODS = {"mschapv2": EapType.MSCHAPV2, "md5": EapType.MD5_CHALLENGE, "gtc": EapType.GTC}
MAX_SOURCES = 4096


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="emulate many EAP clients against a headend and measure it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="the headend: ADDRESS[:PORT] (port 500 by default; 4500 adds the non-ESP marker)")
    p.add_argument("-n", "--sessions", type=int, default=1, help="clients to connect (default 1)")
    p.add_argument("-c", "--concurrency", type=int, default=50, help="handshakes in flight at once (default 50)")
    p.add_argument("--rate", type=float, default=0.0, help="new clients per second (default: as fast as -c allows)")
    p.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                   help="hold the established sessions this long before deleting them")
    p.add_argument("--no-delete", action="store_true", help="leave the sessions on the headend (no Delete)")
    p.add_argument("--source", action="append", default=[], metavar="RANGE",
                   help="source addresses: A, A-B, A,B,... (repeatable; default: the kernel's choice)")
    p.add_argument("--source-port", type=int, default=0, help="UDP source port (default: any)")
    p.add_argument("--user", default="alice", help="the EAP identity and IDi; {n} numbers the clients from 1"
                   " (load{n}: load1, load2, ...), one password for all")
    p.add_argument("--initial-contact", action="store_true",
                   help="send INITIAL_CONTACT (the headend then drops other SAs of the same identity)")
    p.add_argument("--password", default=None, help="the EAP password (default: $IKEV2D_LOAD_PASSWORD)")
    p.add_argument("--no-certreq", action="store_true",
                   help="send no CERTREQ (then strongSwan, for one, sends no certificate)")
    p.add_argument("--eap", choices=sorted(EAP_METHODS), default="mschapv2")
    p.add_argument("--responder-id", default="vpn.example.test", help="the IDr (FQDN) to ask for")
    p.add_argument("--dh-group", default="15", metavar="G[,G...]",
                   help="DH groups proposed, in order (default 15, MODP-3072)")
    p.add_argument("--ke-group", type=int, default=None, metavar="G",
                   help="the group of the first KE (default: the first proposed); INVALID_KE is answered")
    p.add_argument("--fragment-size", type=int, default=1280, help="fragment our IKE_AUTH above this (default 1280)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before the first retransmission")
    p.add_argument("--retries", type=int, default=3, help="retransmissions before a session counts as timed out")
    p.add_argument("--ping", default=None, metavar="ADDRESS",
                   help="ICMP echo to this inside IPv4 address through each tunnel once it is up (implies --encap)")
    p.add_argument("--ping-count", type=int, default=1, metavar="N", help="echo requests per tunnel, one at a"
                   " time (default 1)")
    p.add_argument("--ping-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="wait this long for each echo reply (default 2)")
    p.add_argument("--encap", action="store_true",
                   help="claim a NAT (fake NAT-D hash) so the headend carries ESP in UDP on port 4500")
    p.add_argument("--workers", type=int, default=1,
                   help="share the clients among this many processes (one core each; no progress line)")
    p.add_argument("--json", action="store_true", help="the report as JSON on standard output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port or host.count(":"):
        host, port = text, "500"
    host = host.strip("[]")
    ip_address(host)
    return host, int(port)


def parse_sources(ranges: list[str]) -> list[str]:
    """'A', 'A-B' (IPv4 inclusive range) and comma lists, in order."""
    out: list[str] = []
    for part in (p.strip() for r in ranges for p in r.split(",") if p.strip()):
        first, sep, last = part.partition("-")
        if not sep:
            out.append(str(ip_address(first)))
            continue
        start, end = int(IPv4Address(first)), int(IPv4Address(last))
        if end < start or end - start >= MAX_SOURCES:
            raise ValueError(f"bad source range {part}")
        out += [str(IPv4Address(a)) for a in range(start, end + 1)]
    if len(out) > MAX_SOURCES:
        raise ValueError(f"more than {MAX_SOURCES} source addresses")
    return out or ["0.0.0.0"]


def run(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else os.environ.get("IKEV2D_LOAD_PASSWORD")
    if password is None:
        print("ikev2d load: give --password or set IKEV2D_LOAD_PASSWORD", file=sys.stderr)
        return 2
    try:
        remote = parse_target(args.target)
        sources = parse_sources(args.source)
        groups = tuple(DhId(int(g)) for g in args.dh_group.split(","))
        ke_group = DhId(args.ke_group) if args.ke_group is not None else None
        ping = IPv4Address(args.ping) if args.ping is not None else None
        if args.ping_count < 1 or args.ping_count > 65535 or args.ping_timeout <= 0:
            raise ValueError("--ping-count takes 1 to 65535, --ping-timeout a positive number")
    except ValueError as exc:
        print(f"ikev2d load: {exc}", file=sys.stderr)
        return 2
    profile = ClientProfile(username=args.user, password=password, eap_method=EAP_METHODS[args.eap],
                            responder_id=args.responder_id, dh_groups=groups, ke_group=ke_group,
                            fragment_size=args.fragment_size, initial_contact=args.initial_contact,
                            certreq=not args.no_certreq, fake_nat=args.encap or ping is not None)
    show_progress = not args.quiet and sys.stderr.isatty() and args.workers <= 1
    options = LoadOptions(remote=remote, sources=sources, sessions=args.sessions, concurrency=args.concurrency,
                          rate=args.rate, hold=args.hold, delete=not args.no_delete, timeout=args.timeout,
                          retries=args.retries, source_port=args.source_port, ping=ping,
                          ping_count=args.ping_count, ping_timeout=args.ping_timeout,
                          progress=_progress_line if show_progress else None)
    try:
        if args.workers > 1:
            stats = run_workers(options, profile, args.workers)
        else:
            stats = asyncio.run(run_until_signalled(options, profile))
    except OSError as exc:
        print(f"ikev2d load: {exc.strerror or exc} (are the --source addresses on this host?)", file=sys.stderr)
        return 1
    if show_progress:
        sys.stderr.write("\n")
    print(json.dumps(stats.as_dict(), indent=2) if args.json else stats.text())
    complete = stats.established == args.sessions and not stats.errors and stats.pings_lost == 0
    return 0 if complete else 1


def _progress_line(text: str) -> None:
    sys.stderr.write(f"\r{text}\x1b[K")
    sys.stderr.flush()
