"""Routes toward a client's virtual address, for a responder that installs
its own SAs: without one, the reply to the client's ping has no route, and
XFRM is only asked after routing has found one (kernel-esp.md).

The route goes where the client's outer address is routed (same device and
next hop), with a preferred source inside our protected networks so that
locally sent packets match the outbound policy. Over rtnetlink, with
pyroute2's rtmsg/ifaddrmsg classes on the same plain channel as XFRM.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass
from typing import Sequence

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from . import consts as c
from .model import Network
from .netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NetlinkChannel, NetlinkError

RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWADDR = 20
RTM_GETADDR = 22
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253

CLASSES = {RTM_NEWROUTE: rtmsg, RTM_NEWADDR: ifaddrmsg}


def open_route_channel() -> NetlinkChannel:
    return NetlinkChannel(c.NETLINK_ROUTE, CLASSES)


@dataclass(frozen=True)
class Route:
    """One route we added (and so will remove)."""

    dst: Network
    oif: int
    gateway: str | None
    prefsrc: str | None


def _family(net: Network) -> int:
    return c.AF_INET6 if net.version == 6 else c.AF_INET


def lookup(nl: NetlinkChannel, address: str) -> tuple[int, str | None]:
    """(output interface, next hop or None) the kernel would use toward `address`."""
    ip = ipaddress.ip_address(address)
    msg = rtmsg()
    msg["family"] = c.AF_INET6 if ip.version == 6 else c.AF_INET
    msg["dst_len"] = ip.max_prefixlen
    msg["attrs"] = [("RTA_DST", str(ip))]
    for answer in nl.request(msg, RTM_GETROUTE):
        if isinstance(answer, rtmsg):
            return int(answer.get_attr("RTA_OIF") or 0), answer.get_attr("RTA_GATEWAY")
    raise NetlinkError(errno.ENETUNREACH, f"no route to {address}")


def local_addresses(nl: NetlinkChannel) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for msg in nl.dump(ifaddrmsg(), RTM_GETADDR):
        if isinstance(msg, ifaddrmsg):
            addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if addr:
                out.append(ipaddress.ip_address(addr))
    return out


def source_inside(nl: NetlinkChannel, networks: Sequence[Network]) -> str | None:
    """A local address inside one of `networks` (none needed if one is /0)."""
    if any(n.prefixlen == 0 for n in networks):
        return None
    for addr in local_addresses(nl):
        if any(addr.version == n.version and addr in n for n in networks):
            return str(addr)
    return None


def _route_message(route: Route) -> rtmsg:
    msg = rtmsg()
    msg["family"] = _family(route.dst)
    msg["dst_len"] = route.dst.prefixlen
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = RTPROT_STATIC
    msg["type"] = RTN_UNICAST
    msg["scope"] = RT_SCOPE_UNIVERSE if route.gateway else RT_SCOPE_LINK
    attrs: list[tuple[str, object]] = [("RTA_DST", str(route.dst.network_address)), ("RTA_OIF", route.oif)]
    if route.gateway:
        attrs.append(("RTA_GATEWAY", route.gateway))
    if route.prefsrc:
        attrs.append(("RTA_PREFSRC", route.prefsrc))
    msg["attrs"] = attrs
    return msg


def add_route(nl: NetlinkChannel, route: Route) -> bool:
    """Add; False if the very same destination is already routed (not ours)."""
    try:
        nl.request(_route_message(route), RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    except NetlinkError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    return True


def delete_route(nl: NetlinkChannel, route: Route) -> bool:
    try:
        nl.request(_route_message(route), RTM_DELROUTE)
    except NetlinkError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True


def route_toward(nl: NetlinkChannel, dst: Network, peer: str, local_networks: Sequence[Network]) -> Route:
    """The route to `dst` that follows the path to `peer`. An inner address
    of the other family than the peer's (IPv6 inside an IPv4 SA) gets a
    device route: the next hop toward the peer has the wrong family to be
    a gateway, and XFRM takes the packet before any neighbour lookup."""
    oif, gateway = lookup(nl, peer)
    if gateway is not None and ipaddress.ip_address(gateway).version != dst.version:
        gateway = None
    same_family = [n for n in local_networks if n.version == dst.version]
    return Route(dst=dst, oif=oif, gateway=gateway, prefsrc=source_inside(nl, same_family))
