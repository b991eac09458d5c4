"""Traffic selector narrowing (RFC 7296 §2.9) for a remote-access client:
TSi becomes the client's assigned address, TSr what the group policy lets
it reach."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Sequence

from ..iana import TsType
from ..wire.payloads import TrafficSelector

ALL_IPV4 = IPv4Network("0.0.0.0/0")


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


def narrow_to_networks(requested: Sequence[TrafficSelector], allowed: Sequence[IPv4Network]) -> list[TrafficSelector]:
    """TSr: the intersection of what the client asks for and what we allow."""
    out = []
    for ts in requested:
        for net in allowed:
            narrowed = _intersect(ts, net.network_address, net.broadcast_address)
            if narrowed is not None and narrowed not in out:
                out.append(narrowed)
    return out


def selectors_to_networks(selectors: Sequence[TrafficSelector]) -> tuple[IPv4Network, ...]:
    nets: list[IPv4Network] = []
    for ts in selectors:
        if ts.ts_type == TsType.TS_IPV4_ADDR_RANGE:
            nets.extend(summarize_address_range(IPv4Address(ts.start_addr), IPv4Address(ts.end_addr)))
    return tuple(nets)
