"""609001 / 609002 (severity 7): the local-host entry of a VPN client's
assigned address, built when its session starts (after 109201) and torn
down when the address goes back to the pool (after 109210), with how long
it lived. The pipeline's wall clock times it: the core keeps none."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Callable, Mapping

from .. import events as ev
from .catalogue import CATALOGUE, Record


def duration(seconds: float) -> str:
    """`0:05:09`: hours:minutes:seconds, as the guide's teardowns print it."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


class LocalHosts:
    def __init__(self, interfaces: Mapping[str, str], clock: Callable[[], datetime]) -> None:
        self.interfaces = dict(interfaces)  # local address -> nameif
        self.clock = clock
        self._built: dict[tuple[str, IPv4Address | IPv6Address], datetime] = {}

    def _interface(self, local: ev.Address) -> str:
        return self.interfaces.get(local[0], local[0])

    def records(self, event: ev.Event) -> list[Record]:
        if isinstance(event, ev.SessionStarted):
            where = self._interface(event.local)
            self._built[(where, event.address)] = self.clock()
            return [CATALOGUE[609001].record(interface=where, address=str(event.address))]
        if isinstance(event, ev.AddressReleased):
            where = self._interface(event.local)
            built = self._built.pop((where, event.address), None)
            if built is None:  # no session started on it (no Child SA): no entry was built
                return []
            lived = (self.clock() - built).total_seconds()
            return [CATALOGUE[609002].record(interface=where, address=str(event.address), duration=duration(lived))]
        return []
