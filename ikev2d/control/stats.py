"""Cumulative and peak counts for `show vpn-sessiondb summary`.

The core keeps no history, so the control server samples which sessions and
tunnels are up (every second and at each `show`) and counts the new ones.
A session that comes and goes between two samples is missed: the counts
are a lower bound (an event hook in the core would make them exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..show.snapshot import Counter, SessionTotals


@dataclass(frozen=True)
class Presence:
    """An established session as the sampler sees it."""

    unique_id: int
    client_type: str  # "generic" | "anyconnect"
    children: tuple[tuple[int, bool], ...]  # (inbound SPI, NAT-T)


class _Tally:
    def __init__(self) -> None:
        self.present: set[object] = set()
        self.cumulative = 0
        self.peak = 0

    def update(self, keys: set[object]) -> None:
        self.cumulative += len(keys - self.present)
        self.present = keys
        self.peak = max(self.peak, len(keys))

    def counter(self) -> Counter:
        return Counter(len(self.present), self.cumulative, self.peak)


class SessionStats:
    def __init__(self) -> None:
        self._generic = _Tally()
        self._anyconnect = _Tally()
        self._ikev2 = _Tally()
        self._ipsec = _Tally()
        self._natt = _Tally()

    def observe(self, sessions: Iterable[Presence]) -> SessionTotals:
        sessions = list(sessions)
        self._generic.update({s.unique_id for s in sessions if s.client_type != "anyconnect"})
        self._anyconnect.update({s.unique_id for s in sessions if s.client_type == "anyconnect"})
        self._ikev2.update({s.unique_id for s in sessions})
        children = [(s.unique_id, spi, nat) for s in sessions for spi, nat in s.children]
        self._ipsec.update({(u, spi) for u, spi, nat in children if not nat})
        self._natt.update({(u, spi) for u, spi, nat in children if nat})
        return self.totals()

    def totals(self) -> SessionTotals:
        return SessionTotals(
            generic_ikev2=self._generic.counter(), anyconnect=self._anyconnect.counter(),
            ikev2_tunnels=self._ikev2.counter(), ipsec_tunnels=self._ipsec.counter(),
            ipsec_natt_tunnels=self._natt.counter(),
        )
