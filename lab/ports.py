"""Free loopback UDP ports for a daemon a test starts (`ikev2d run --ike-port
--natt-port`), so parallel tests never share one."""

from __future__ import annotations

import socket


def free_udp_ports(count: int) -> list[int]:
    """`count` distinct UDP ports free on 127.0.0.1 a moment ago (held together
    while chosen, so they differ)."""
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports
