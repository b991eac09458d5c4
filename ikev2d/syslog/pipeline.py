"""Events in, FTD syslog records out to every destination, filtered by the
VPN logging level (FMC Platform Settings > Syslog > VPN Logging Settings).

Lives on the adapter side: it reads the wall clock, and the core stays free
of it. An event the FTD has no message for (a dropped datagram, a protocol
error) keeps its plain line in ikev2d's own log (`log.py`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from esp.dataplane import SaCounters

from .. import events as ev
from ..log import is_failure, log_event
from .buffer import LogBuffer
from .catalogue import Record
from .destinations import Destination
from .local_host import LocalHosts
from .render import records_for
from .traffic import SessionTraffic

log = logging.getLogger("ikev2d.syslog")

Clock = Callable[[], datetime]

ERRORS = 3  # the FTD's default VPN logging level


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class SyslogPipeline:
    def __init__(self, level: int = ERRORS, destinations: Sequence[Destination] = (), clock: Clock = _utc_now,
                 buffer: LogBuffer | None = None, interfaces: Mapping[str, str] | None = None) -> None:
        self.level = level
        self.destinations = list(destinations)
        self.clock = clock
        # local address -> nameif, for the messages that name an interface
        self.local_hosts = LocalHosts(interfaces or {}, lambda: self.clock())
        self.traffic = SessionTraffic()
        # the internal buffer has a level of its own, as each ASA destination
        self.buffer = buffer if buffer is not None else LogBuffer("")
        self.filtered = 0  # records no destination wanted, never formatted
        self.published = 0  # records at or below the level, given to the destinations
        # others fed every event (the control socket's counters), first
        self.observers: list[Callable[[ev.Event], None]] = []

    def emit(self, event: ev.Event) -> None:
        for observe in self.observers:
            observe(event)
        if isinstance(event, ev.IkeSaDeleted):
            event = self.traffic.complete(event)
        elif isinstance(event, ev.IkeSaRekeyed):
            self.traffic.ike_rekeyed(event.ike_sa_id, event.new_ike_sa_id)
        try:
            records = records_for(event) + self.local_hosts.records(event)
        except Exception:  # a rendering bug must not stop the effects after it
            log.exception("cannot render %s for syslog", type(event).__name__)
            records = []
        if not records:
            log_event(event)
            return
        for record in records:
            self.publish(record)
        if is_failure(event) and all(r.severity > self.level for r in records):
            # the FTD's line sits below the VPN logging level (113005 is
            # informational, 750003 a warning), but a failed negotiation
            # always says why in one line at the default verbosity
            log_event(event)

    def publish(self, record: Record) -> None:
        wanted = record.severity <= self.level  # lower numbers are more severe
        buffered = self.buffer.wants(record)
        if not (wanted or buffered):
            self.filtered += 1
            return
        when = self.clock()
        if buffered:
            self.buffer.send(record, when)
        if wanted:
            self.published += 1
            for destination in self.destinations:
                destination.send(record, when)

    def reconfigure(self, fresh: "SyslogPipeline") -> list[Destination]:
        """Take a reloaded configuration's level and destinations (`fresh`
        is built and not started); the buffer keeps its lines and counts.
        Returns the destinations retired, for the caller to close."""
        retired = self.destinations
        self.level, self.destinations = fresh.level, fresh.destinations
        self.local_hosts.interfaces = fresh.local_hosts.interfaces
        self.buffer.configure(fresh.buffer.hostname, fresh.buffer.level, fresh.buffer.size)
        return retired

    def child_removed(self, ike_sa_id: str, counters: SaCounters | None) -> None:
        self.traffic.child_removed(ike_sa_id, counters)

    @property
    def dropped(self) -> int:
        return sum(d.dropped for d in self.destinations)

    async def aclose(self) -> None:
        for destination in self.destinations:
            await destination.aclose()
