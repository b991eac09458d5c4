"""Traffic selector narrowing (RFC 7296 §2.9) for a remote-access client:
TSi becomes the client's assigned address, TSr what the group policy lets
it reach (address ranges, so "everything but these networks" stays short)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Sequence

from ..iana import TsType
from ..wire.payloads import TrafficSelector

ALL_IPV4 = IPv4Network("0.0.0.0/0")
AddressRange = tuple[IPv4Address, IPv4Address]  # first, last (inclusive)
_FIRST, _LAST = IPv4Address(0), IPv4Address(2**32 - 1)


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


def _intersect(ts: TrafficSelector, first: IPv4Address, last: IPv4Address) -> TrafficSelector | None:
    if ts.ts_type != TsType.TS_IPV4_ADDR_RANGE:
        return None
    lo = max(IPv4Address(ts.start_addr), first)
    hi = min(IPv4Address(ts.end_addr), last)
    if lo > hi:
        return None
    return TrafficSelector(ts.ts_type, ts.ip_protocol, ts.start_port, ts.end_port, lo, hi)


def narrow_to_address(requested: Sequence[TrafficSelector], address: IPv4Address) -> list[TrafficSelector]:
    """TSi: the client's side is exactly its virtual address."""
    out = []
    for ts in requested:
        narrowed = _intersect(ts, address, address)
        if narrowed is not None and narrowed not in out:
            out.append(narrowed)
    return out


def narrow_to_ranges(requested: Sequence[TrafficSelector], allowed: Sequence[AddressRange]) -> list[TrafficSelector]:
    """TSr: the intersection of what the client asks for and what we allow."""
    out = []
    for ts in requested:
        for first, last in allowed:
            narrowed = _intersect(ts, first, last)
            if narrowed is not None and narrowed not in out:
                out.append(narrowed)
    return out


def selectors_to_networks(selectors: Sequence[TrafficSelector]) -> tuple[IPv4Network, ...]:
    nets: list[IPv4Network] = []
    for ts in selectors:
        if ts.ts_type == TsType.TS_IPV4_ADDR_RANGE:
            nets.extend(summarize_address_range(IPv4Address(ts.start_addr), IPv4Address(ts.end_addr)))
    return tuple(nets)
