"""Soft and hard lifetimes of one SA pair (RFC 4301 §4.4.2.1).

Time, bytes and packets each have a hard limit and a soft one at
`soft_fraction` of it. Either direction reaching a limit fires it for the
pair; soft and hard each fire once. After the hard limit the pair carries
nothing more (the kernel deletes its states there) until the IKE side
removes it.

The per-packet cost is one comparison per counter: each direction keeps the
next threshold it must reach (`next_packets`, `next_bytes`) and calls
`passes` only when it reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from ..dataplane import Expiry

NEVER = 1 << 128


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits; 0 means none."""

    seconds: float = 0
    bytes: int = 0
    packets: int = 0
    soft_fraction: float = 0.9


class Direction(Protocol):
    next_packets: int
    next_bytes: int
    packet_cap: int  # an extra hard packet limit (sequence space), 0 = none


class Lifetime:
    __slots__ = ("spi_in", "limits", "added_at", "soft_sent", "hard_sent", "_report", "_directions")

    def __init__(self, spi_in: int, limits: Limits, added_at: float, report: Callable[[Expiry], None]) -> None:
        self.spi_in = spi_in
        self.limits = limits
        self.added_at = added_at
        self.soft_sent = False
        self.hard_sent = False
        self._report = report
        self._directions: list[Direction] = []

    def register(self, d: Direction) -> None:
        self._directions.append(d)
        d.next_packets = self._next(self._hard_packets(d), 0)
        d.next_bytes = self._next(self.limits.bytes, 0)

    def _hard_packets(self, d: Direction) -> int:
        caps = [x for x in (self.limits.packets, d.packet_cap) if x]
        return min(caps) if caps else 0

    def _soft(self, hard: int) -> int:
        return max(1, int(hard * self.limits.soft_fraction))

    def _next(self, hard: int, value: int) -> int:
        """The next threshold above `value` for a counter with this hard limit."""
        if not hard:
            return NEVER
        if not self.soft_sent and value < self._soft(hard):
            return self._soft(hard)
        return hard if value < hard else NEVER

    def passes(self, d: Direction, packets: int, nbytes: int) -> bool:
        """`d` is about to count a packet reaching a threshold: fire what it
        reached and say whether this packet may still pass."""
        if self.hard_sent:
            return False
        hard_p, hard_b = self._hard_packets(d), self.limits.bytes
        for kind, value, hard in (("packets", packets, hard_p), ("bytes", nbytes, hard_b)):
            if hard and value >= hard:
                self._fire(True, kind)
                return True
            if hard and value >= self._soft(hard) and not self.soft_sent:
                self._fire(False, kind)
        d.next_packets = self._next(hard_p, packets)
        d.next_bytes = self._next(hard_b, nbytes)
        return True

    def check_time(self, now: float) -> None:
        seconds = self.limits.seconds
        if not seconds or self.hard_sent:
            return
        age = now - self.added_at
        if age >= seconds:
            self._fire(True, "time")
        elif age >= seconds * self.limits.soft_fraction and not self.soft_sent:
            self._fire(False, "time")

    def _fire(self, hard: bool, reason: str) -> None:
        if hard:
            self.hard_sent = True
            self.soft_sent = True
            for d in self._directions:  # every next packet comes to `passes`, which drops it
                d.next_packets = d.next_bytes = -1
        else:
            self.soft_sent = True
        self._report(Expiry(self.spi_in, hard, reason))
