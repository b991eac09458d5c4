"""Traffic selector narrowing (RFC 7296 §2.9) for a remote-access client:
TSi becomes the client's assigned address, TSr what the group policy lets
it reach (address ranges, so "everything but these networks" stays short).

A TS payload is the union of its selectors, so selectors of one protocol
and port range whose address ranges overlap or touch merge into one, and
selectors of one protocol and address range merge their port ranges: the
union, and so the subset of the request that §2.9 lets us answer, stays
the same. Each address family is narrowed on its own (a dual-stack
Child SA has IPv4 and IPv6 selectors side by side, RFC 7296 §2.9): a
selector of the other family never matches. Narrowing sorts and merges,
then intersects two sorted lists,
so its work is O(n log n) in the request plus the selectors it returns,
and it stops at the first selector over a bound.
"""

from __future__ import annotations

from bisect import bisect_left
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, summarize_address_range
from typing import Iterable, Sequence, Union

from ..iana import TsType
from ..wire.payloads import TrafficSelector
from ..wire.ts import MAX_SELECTORS

ALL_IPV4 = IPv4Network("0.0.0.0/0")
ALL_IPV6 = IPv6Network("::/0")
Address = Union[IPv4Address, IPv6Address]
Network = Union[IPv4Network, IPv6Network]
AddressRange = tuple[Address, Address]  # first, last (inclusive), of one family
_FIRST, _LAST = IPv4Address(0), IPv4Address(2**32 - 1)
_V4 = int(TsType.TS_IPV4_ADDR_RANGE)
_V6 = int(TsType.TS_IPV6_ADDR_RANGE)
_TS_TYPE = {4: _V4, 6: _V6}


def ts_type_of(address: Address) -> int:
    return _TS_TYPE[address.version]


def _address(ts_type: int, value: int) -> Address:
    return IPv6Address(value) if ts_type == _V6 else IPv4Address(value)


def _summarize(ts_type: int, lo: int, hi: int) -> list[Network]:
    """The fewest networks that cover lo..hi, addresses of `ts_type`."""
    if ts_type == _V6:
        return list(summarize_address_range(IPv6Address(lo), IPv6Address(hi)))
    return list(summarize_address_range(IPv4Address(lo), IPv4Address(hi)))

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


def network_ranges(networks: Sequence[Network]) -> list[AddressRange]:
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


def _coalesce(requested: Sequence[TrafficSelector],
              ts_type: int = _V4) -> dict[tuple[int, int, int], list[tuple[int, int]]]:
    """The selectors of `ts_type` as (protocol, start port, end port) ->
    merged address ranges, port ranges of equal addresses merged first."""
    by_addresses: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    by_ports: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for ts in requested:
        if ts.ts_type != ts_type:
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


def narrow_to_address(requested: Sequence[TrafficSelector], address: Address,
                      limit: int = MAX_TS_PER_PAYLOAD) -> list[TrafficSelector]:
    """TSi: the client's side is exactly its virtual address (the selectors
    of its family); narrowed, the selectors differ only in protocol and
    ports, whose ranges merge."""
    a = int(address)
    ts_type = ts_type_of(address)
    ports: dict[int, list[tuple[int, int]]] = {}
    opaque: dict[tuple[int, int, int], None] = {}  # OPAQUE ports (§3.13.1), kept as they are
    for ts in requested:
        lo, hi = int(ts.start_addr), int(ts.end_addr)
        # the unspecified address alone stands for "the address you assign me":
        # OpenIKED's `from dynamic` sends it (our choice to accept: docs/ftd-behaviour.md)
        if ts.ts_type != ts_type or not (lo <= a <= hi or lo == hi == 0):
            continue
        if ts.start_port > ts.end_port:
            opaque[(ts.ip_protocol, ts.start_port, ts.end_port)] = None
        else:
            ports.setdefault(ts.ip_protocol, []).append((ts.start_port, ts.end_port))
    keys = [(protocol, first, last) for protocol, wanted in ports.items() for first, last in merge_ranges(wanted)]
    keys += opaque
    if len(keys) > limit:
        raise TooManySelectors(f"TSi narrows to {len(keys)} selectors, more than {limit}")
    return [TrafficSelector(ts_type, protocol, first, last, address, address) for protocol, first, last in keys]


def narrow_to_ranges(requested: Sequence[TrafficSelector], allowed: Sequence[AddressRange],
                     limit: int = MAX_TS_PER_PAYLOAD) -> list[TrafficSelector]:
    """TSr: the intersection of what the client asks for and what we allow
    (ranges of one family: the requested selectors of that family), at most
    `limit` selectors (TooManySelectors beyond)."""
    if not allowed:
        return []
    ts_type = ts_type_of(allowed[0][0])
    ours = merge_ranges((int(first), int(last)) for first, last in allowed)
    ends = [hi for _, hi in ours]
    out: list[TrafficSelector] = []
    for (protocol, first_port, last_port), ranges in _coalesce(requested, ts_type).items():
        for lo, hi in ranges:
            # the allowed ranges are sorted and disjoint: start at the first
            # that ends at or after `lo`, stop at the first past `hi`
            i = bisect_left(ends, lo)
            while i < len(ours) and ours[i][0] <= hi:
                if len(out) == limit:
                    raise TooManySelectors(f"TSr narrows to more than {limit} selectors")
                out.append(TrafficSelector(ts_type, protocol, first_port, last_port,
                                           _address(ts_type, max(lo, ours[i][0])),
                                           _address(ts_type, min(hi, ours[i][1]))))
                i += 1
    return out


def network_count(ranges: Sequence[AddressRange]) -> int:
    """How many networks the data plane installs for these ranges (of one family)."""
    if not ranges:
        return 0
    ts_type = ts_type_of(ranges[0][0])
    merged = merge_ranges((int(first), int(last)) for first, last in ranges)
    return sum(len(_summarize(ts_type, lo, hi)) for lo, hi in merged)


def selectors_to_networks(selectors: Sequence[TrafficSelector], limit: int | None = None) -> tuple[Network, ...]:
    """The networks the data plane installs: it matches addresses only, so
    the selectors' address ranges merge whatever their ports; IPv4
    networks first, then IPv6; more than `limit` networks is TooManySelectors."""
    nets: list[Network] = []
    for ts_type in (_V4, _V6):
        merged = merge_ranges((int(ts.start_addr), int(ts.end_addr)) for ts in selectors
                              if ts.ts_type == ts_type and int(ts.start_addr) <= int(ts.end_addr))
        for lo, hi in merged:
            for net in _summarize(ts_type, lo, hi):
                if limit is not None and len(nets) == limit:
                    raise TooManySelectors(f"the selectors need more than {limit} networks in the data plane")
                nets.append(net)
    return tuple(nets)
