"""Routes to client addresses (IPv4, and IPv6 for dual-stack clients)
through the TUN device, over rtnetlink.

A few fixed messages (RTM_NEWROUTE / RTM_DELROUTE with RTA_DST and RTA_OIF)
sent on a blocking NETLINK_ROUTE socket, each acknowledged. pyroute2's
synchronous API cannot be used here: it runs its own asyncio loop and
refuses to start inside ikev2d's running one.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import struct
from ipaddress import IPv4Network, IPv6Network

NETLINK_ROUTE = 0
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
RTN_BLACKHOLE = 6
RTA_DST = 1
RTA_OIF = 4

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")


def _attr(kind: int, data: bytes) -> bytes:
    raw = _RTATTR.pack(_RTATTR.size + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


class RouteTable:
    """Adds and removes device routes in the main table of this namespace."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sock.settimeout(2.0)
        self._seq = itertools.count(1)

    def _request(self, kind: int, flags: int, dst: IPv4Network | IPv6Network, oif: int | None) -> None:
        """A device route through `oif`, or a blackhole route with None."""
        family = socket.AF_INET6 if dst.version == 6 else socket.AF_INET
        scope, route_type = (RT_SCOPE_LINK, RTN_UNICAST) if oif is not None else (RT_SCOPE_UNIVERSE, RTN_BLACKHOLE)
        body = _RTMSG.pack(family, dst.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, scope, route_type, 0)
        body += _attr(RTA_DST, dst.network_address.packed)
        if oif is not None:
            body += _attr(RTA_OIF, struct.pack("=I", oif))
        seq = next(self._seq)
        self._sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                                       seq, 0) + body)
        while True:
            reply = self._sock.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(reply):
                length, mtype, _, rseq, _ = _NLMSGHDR.unpack_from(reply, offset)
                if mtype == NLMSG_ERROR and rseq == seq:
                    code = -struct.unpack_from("=i", reply, offset + _NLMSGHDR.size)[0]
                    if code:
                        raise OSError(code, f"{os.strerror(code)} (route {dst})")
                    return
                offset += max(length, _NLMSGHDR.size) + (-length % 4)

    def replace(self, dst: IPv4Network | IPv6Network, oif: int) -> None:
        """Route `dst` through interface `oif` (replacing any route to it)."""
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, oif)

    def add(self, dst: IPv4Network | IPv6Network, oif: int) -> None:
        """Route `dst` through interface `oif`; a route to `dst` already
        there (another's) is left alone: OSError EEXIST."""
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, dst, oif)

    def add_blackhole(self, dst: IPv4Network | IPv6Network) -> None:
        """Drop what is routed to `dst` (longer routes, a client's, still
        win); a route to `dst` already there is left alone: OSError EEXIST."""
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, dst, None)

    def delete(self, dst: IPv4Network | IPv6Network, oif: int | None) -> None:
        """Remove the route (through `oif`, or the blackhole with None); an
        absent route is not an error."""
        try:
            self._request(RTM_DELROUTE, 0, dst, oif)
        except OSError as exc:
            if exc.errno not in (errno.ESRCH, errno.ENODEV, errno.ENOENT):
                raise

    def close(self) -> None:
        self._sock.close()
