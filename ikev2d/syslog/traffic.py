"""Byte counts for 113019: what each Child SA carried, read from the data
plane just before the SA is removed, summed per session until it goes.

A session outlives an IKE rekey, and its Child SAs keep the name of the IKE
SA they were made under: the counts follow the session to the new name."""

from __future__ import annotations

import dataclasses

from esp.dataplane import SaCounters

from ..events import IkeSaDeleted


class SessionTraffic:
    def __init__(self) -> None:
        self._bytes: dict[str, tuple[int, int]] = {}  # IKE SA name -> (in, out)
        self._successor: dict[str, str] = {}  # a rekeyed IKE SA's name -> its successor's

    def _session(self, ike_sa_id: str) -> str:
        """The name the session goes by now (after any IKE rekeys)."""
        seen = {ike_sa_id}
        while (ike_sa_id := self._successor.get(ike_sa_id, ike_sa_id)) not in seen:
            seen.add(ike_sa_id)
        return ike_sa_id

    def child_removed(self, ike_sa_id: str, counters: SaCounters | None) -> None:
        if counters is None:  # a data plane that does not count: 0, as said in 113019
            counters = SaCounters()
        name = self._session(ike_sa_id)
        seen_in, seen_out = self._bytes.get(name, (0, 0))
        self._bytes[name] = (seen_in + counters.bytes_in, seen_out + counters.bytes_out)

    def ike_rekeyed(self, old: str, new: str) -> None:
        """The session goes on as `new`, with what it carried so far."""
        self._successor[old] = new
        old_in, old_out = self._bytes.pop(old, (0, 0))
        new_in, new_out = self._bytes.get(new, (0, 0))
        if old_in or old_out or new_in or new_out:
            self._bytes[new] = (old_in + new_in, old_out + new_out)

    def complete(self, e: IkeSaDeleted) -> IkeSaDeleted:
        bytes_in, bytes_out = self._bytes.pop(e.ike_sa_id, (0, 0))
        if self._session(e.ike_sa_id) == e.ike_sa_id:  # the session's end: forget its former names
            for name in [n for n in self._successor if self._session(n) == e.ike_sa_id]:
                del self._successor[name]
        return dataclasses.replace(e, bytes_in=e.bytes_in + bytes_in, bytes_out=e.bytes_out + bytes_out)
