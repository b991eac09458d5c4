"""Byte counts for 113019: what each Child SA carried, read from the data
plane just before the SA is removed, summed per IKE SA until it goes."""

from __future__ import annotations

import dataclasses

from esp.dataplane import SaCounters

from ..events import IkeSaDeleted


class SessionTraffic:
    def __init__(self) -> None:
        self._bytes: dict[str, tuple[int, int]] = {}  # IKE SA name -> (in, out)

    def child_removed(self, ike_sa_id: str, counters: SaCounters | None) -> None:
        if counters is None:  # a data plane that does not count: 0, as said in 113019
            counters = SaCounters()
        seen_in, seen_out = self._bytes.get(ike_sa_id, (0, 0))
        self._bytes[ike_sa_id] = (seen_in + counters.bytes_in, seen_out + counters.bytes_out)

    def complete(self, e: IkeSaDeleted) -> IkeSaDeleted:
        bytes_in, bytes_out = self._bytes.pop(e.ike_sa_id, (0, 0))
        return dataclasses.replace(e, bytes_in=e.bytes_in + bytes_in, bytes_out=e.bytes_out + bytes_out)
