"""Traffic selector narrowing (RFC 7296 §2.9) for a remote-access client:
TSi becomes the client's assigned address, TSr what the group policy lets
it reach (address ranges, so "everything but these networks" stays short).

A TS payload is the union of its selectors, so selectors of one protocol
and port range whose address ranges overlap or touch merge into one, and
selectors of one protocol and address range merge their port ranges: the
union, and so the subset of the request that §2.9 lets us answer, stays
the same. Narrowing sorts and merges, then intersects two sorted lists,
so its work is O(n log n) in the request plus the selectors it returns,
and it stops at the first selector over a bound.
"""

from __future__ import annotations

from bisect import bisect_left
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Iterable, Sequence

from ..iana import TsType
from ..wire.payloads import TrafficSelector
from ..wire.ts import MAX_SELECTORS

ALL_IPV4 = IPv4Network("0.0.0.0/0")
AddressRange = tuple[IPv4Address, IPv4Address]  # first, last (inclusive)
_FIRST, _LAST = IPv4Address(0), IPv4Address(2**32 - 1)
_V4 = int(TsType.TS_IPV4_ADDR_RANGE)

# RFC 7296 §3.13: a TS payload counts its selectors in one octet.
MAX_TS_PER_PAYLOAD = MAX_SELECTORS
# The data plane installs, for one Child SA, an XFRM policy triple (out, in,
# fwd) per TSr network and TSi network, one netlink request each, and the
# kernel searches them on every packet; a client's selectors may not make one
# Child SA cost more than this. A group policy that needs more networks
# itself (a long split-tunnel list) is the administrator's choice: allowed.
MAX_CHILD_NETWORKS = 64


class TooManySelectors(Exception):
    """More selectors or networks than a TS payload or the data plane takes:
    the caller refuses with TS_UNACCEPTABLE rather than truncate."""


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint, non-adjacent inclusive ranges with the same union."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def network_ranges(networks: Sequence[IPv4Network]) -> list[AddressRange]:
    out: list[AddressRange] = []
    for net in networks:
        r = (net.network_address, net.broadcast_address)
        if r not in out:
            out.append(r)
    return out


def complement(excluded: Sequence[IPv4Network]) -> list[AddressRange]:
    """The IPv4 space outside `excluded`, as few ranges as it takes."""
    out: list[AddressRange] = []
    start: IPv4Address | None = _FIRST
    for net in sorted(excluded, key=lambda n: (n.network_address, n.broadcast_address)):
        if start is None:
            break
        if net.network_address > start:
            out.append((start, net.network_address - 1))
        if net.broadcast_address >= start:
            start = net.broadcast_address + 1 if net.broadcast_address < _LAST else None
    if start is not None:
        out.append((start, _LAST))
    return out


def _coalesce(requested: Sequence[TrafficSelector]) -> dict[tuple[int, int, int], list[tuple[int, int]]]:
    """The IPv4 selectors as (protocol, start port, end port) -> merged
    address ranges, port ranges of equal addresses merged first."""
    by_addresses: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    by_ports: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for ts in requested:
        if ts.ts_type != _V4:
            continue
        lo, hi = int(ts.start_addr), int(ts.end_addr)
        if lo > hi:
            continue  # selects nothing
        if ts.start_port > ts.end_port:
            # OPAQUE ports (§3.13.1) are no interval: kept as they are
            by_ports.setdefault((ts.ip_protocol, ts.start_port, ts.end_port), []).append((lo, hi))
            continue
        by_addresses.setdefault((ts.ip_protocol, lo, hi), []).append((ts.start_port, ts.end_port))
    for (protocol, lo, hi), ports in by_addresses.items():
        for first, last in merge_ranges(ports):
            by_ports.setdefault((protocol, first, last), []).append((lo, hi))
    return {key: merge_ranges(ranges) for key, ranges in by_ports.items()}


def narrow_to_address(requested: Sequence[TrafficSelector], address: IPv4Address,
                      limit: int = MAX_TS_PER_PAYLOAD) -> list[TrafficSelector]:
    """TSi: the client's side is exactly its virtual address; narrowed, the
    selectors differ only in protocol and ports, whose ranges merge."""
    a = int(address)
    ports: dict[int, list[tuple[int, int]]] = {}
    opaque: dict[tuple[int, int, int], None] = {}  # OPAQUE ports (§3.13.1), kept as they are
    for ts in requested:
        if ts.ts_type != _V4 or not int(ts.start_addr) <= a <= int(ts.end_addr):
            continue
        if ts.start_port > ts.end_port:
            opaque[(ts.ip_protocol, ts.start_port, ts.end_port)] = None
        else:
            ports.setdefault(ts.ip_protocol, []).append((ts.start_port, ts.end_port))
    keys = [(protocol, first, last) for protocol, wanted in ports.items() for first, last in merge_ranges(wanted)]
    keys += opaque
    if len(keys) > limit:
        raise TooManySelectors(f"TSi narrows to {len(keys)} selectors, more than {limit}")
    return [TrafficSelector(_V4, protocol, first, last, address, address) for protocol, first, last in keys]


def narrow_to_ranges(requested: Sequence[TrafficSelector], allowed: Sequence[AddressRange],
                     limit: int = MAX_TS_PER_PAYLOAD) -> list[TrafficSelector]:
    """TSr: the intersection of what the client asks for and what we allow,
    at most `limit` selectors (TooManySelectors beyond)."""
    ours = merge_ranges((int(first), int(last)) for first, last in allowed)
    ends = [hi for _, hi in ours]
    out: list[TrafficSelector] = []
    for (protocol, first_port, last_port), ranges in _coalesce(requested).items():
        for lo, hi in ranges:
            # the allowed ranges are sorted and disjoint: start at the first
            # that ends at or after `lo`, stop at the first past `hi`
            i = bisect_left(ends, lo)
            while i < len(ours) and ours[i][0] <= hi:
                if len(out) == limit:
                    raise TooManySelectors(f"TSr narrows to more than {limit} selectors")
                out.append(TrafficSelector(_V4, protocol, first_port, last_port,
                                           IPv4Address(max(lo, ours[i][0])), IPv4Address(min(hi, ours[i][1]))))
                i += 1
    return out


def network_count(ranges: Sequence[AddressRange]) -> int:
    """How many networks the data plane installs for these ranges."""
    merged = merge_ranges((int(first), int(last)) for first, last in ranges)
    return sum(1 for lo, hi in merged for _ in summarize_address_range(IPv4Address(lo), IPv4Address(hi)))


def selectors_to_networks(selectors: Sequence[TrafficSelector], limit: int | None = None) -> tuple[IPv4Network, ...]:
    """The networks the data plane installs: it matches addresses only, so
    the selectors' address ranges merge whatever their ports; more than
    `limit` networks is TooManySelectors."""
    merged = merge_ranges((int(ts.start_addr), int(ts.end_addr)) for ts in selectors
                          if ts.ts_type == _V4 and int(ts.start_addr) <= int(ts.end_addr))
    nets: list[IPv4Network] = []
    for lo, hi in merged:
        for net in summarize_address_range(IPv4Address(lo), IPv4Address(hi)):
            if limit is not None and len(nets) == limit:
                raise TooManySelectors(f"the selectors need more than {limit} networks in the data plane")
            nets.append(net)
    return tuple(nets)
