"""The core's side of the trace: an outbox of records, filled only while
someone listens (`active` is one comparison when nobody does), emptied by
the adapter after every entry into the core, like its effects."""

from __future__ import annotations

from .record import PLATFORM, PROTOCOL, TraceRecord


class Tracer:
    def __init__(self) -> None:
        # the highest level any listener asked for, per facility (0: nobody)
        self.levels = {PROTOCOL: 0, PLATFORM: 0}
        self._outbox: list[TraceRecord] = []

    def wants(self, level: int, facility: str = PROTOCOL) -> bool:
        return 0 < level <= self.levels[facility]

    def add(self, record: TraceRecord) -> None:
        if self.wants(record.level, record.facility):
            self._outbox.append(record)

    def drain(self) -> list[TraceRecord]:
        out, self._outbox = self._outbox, []
        return out


# for SAs outside a responder (tests, tools): nobody ever listens
SILENT = Tracer()
