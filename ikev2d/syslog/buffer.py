"""The internal log buffer (`logging buffered LEVEL`, `logging buffer-size
BYTES`; FMC Platform Settings > Syslog > Logging Destinations: Internal
Buffer): the latest lines in memory, the oldest dropped once they exceed the
size, read by `show logging`. Off unless configured, as on the ASA."""

from __future__ import annotations

import collections
from datetime import datetime

from .catalogue import Record
from .framing import local_line

DEFAULT_SIZE = 4096  # bytes: the ASA's `logging buffer-size` default
MIN_SIZE = 4096
MAX_SIZE = 52428800


class LogBuffer:
    def __init__(self, hostname: str, level: int | None = None, size: int = DEFAULT_SIZE) -> None:
        self.hostname = hostname
        self.level = level  # None: buffer logging disabled
        self.size = size
        self.lines: collections.deque[str] = collections.deque()
        self.used = 0  # bytes of the lines held, a newline each
        self.logged = 0  # lines put in since start: "N messages logged"

    @property
    def enabled(self) -> bool:
        return self.level is not None

    def wants(self, record: Record) -> bool:
        return self.level is not None and record.severity <= self.level

    def send(self, record: Record, when: datetime) -> None:
        line = local_line(record, self.hostname, when)
        self.lines.append(line)
        self.used += len(line.encode()) + 1
        self.logged += 1
        self._trim()

    def configure(self, hostname: str, level: int | None, size: int) -> None:
        """New settings from a reload: what is held stays, as far as it fits."""
        self.hostname, self.level, self.size = hostname, level, size
        self._trim()

    def _trim(self) -> None:
        # a line longer than the whole buffer is still kept (the newest one)
        while self.used > self.size and len(self.lines) > 1:
            self.used -= len(self.lines.popleft().encode()) + 1
