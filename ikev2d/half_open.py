"""IKE SAs in negotiation, counted in O(1) globally and per source address.

The global count is the FTD's `crypto ikev2 limit max-in-negotiation-sa` and
the base of its cookie-challenge threshold; the per-address count keeps one
address (proven real by a cookie) from taking every slot, as strongSwan's
`block_threshold` does. Counting by walking the SA table would make every
IKE_SA_INIT cost O(sessions), which a flood turns into a stall.
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable


class HalfOpen:
    def __init__(self) -> None:
        self._host_of: dict[Hashable, str] = {}
        self._per_host: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._host_of)

    def add(self, key: Hashable, host: str) -> None:
        if key not in self._host_of:
            self._host_of[key] = host
            self._per_host[host] += 1

    def discard(self, key: Hashable) -> None:
        host = self._host_of.pop(key, None)
        if host is not None:
            self._per_host[host] -= 1
            if not self._per_host[host]:
                del self._per_host[host]

    def for_host(self, host: str) -> int:
        return self._per_host.get(host, 0)
