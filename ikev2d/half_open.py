"""IKE SAs in negotiation, counted in O(1) globally and per source address.

The global count is the FTD's `crypto ikev2 limit max-in-negotiation-sa` and
the base of its cookie-challenge threshold; the per-address count keeps one
address (proven real by a cookie) from taking every slot, as strongSwan's
`block_threshold` does. Counting by walking the SA table would make every
IKE_SA_INIT cost O(sessions), which a flood turns into a stall.

An IPv6 source is counted by its /64 (*our choice*): one host commonly holds
a whole /64 (SLAAC, privacy addresses, RFC 8981) and can pick a fresh source
per request, so a per-address limit would not hold it back; a /64 is the
smallest prefix a site is normally given (RFC 6177).
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from typing import Hashable

IPV6_SOURCE_PREFIX = 64  # the IPv6 sources counted as one


@functools.lru_cache(maxsize=4096)  # three times per IKE_SA_INIT, from a few sources
def source_key(address: str) -> str:
    """What the per-source limit counts: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return address
    if ip.ipv4_mapped is not None:  # ::ffff:198.18.0.1 is that IPv4 host
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, IPV6_SOURCE_PREFIX), strict=False))


class HalfOpen:
    def __init__(self) -> None:
        self._host_of: dict[Hashable, str] = {}
        self._per_host: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._host_of)

    def add(self, key: Hashable, address: str) -> None:
        host = source_key(address)
        if key not in self._host_of:
            self._host_of[key] = host
            self._per_host[host] += 1

    def discard(self, key: Hashable) -> None:
        host = self._host_of.pop(key, None)
        if host is not None:
            self._per_host[host] -= 1
            if not self._per_host[host]:
                del self._per_host[host]

    def for_host(self, address: str) -> int:
        """SAs in negotiation from `address` (for IPv6: from its /64)."""
        return self._per_host.get(source_key(address), 0)
