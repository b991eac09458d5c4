"""How a destination that cannot deliver says so: one warning when it starts
failing, a reminder with the drop count at most every REPORT_SECONDS while
it goes on, and one line when it delivers again.

A syslog server that is down can fail every message; one log line per
message would flood the console (and, through it, the very disk the
operator is looking at). Sans I/O: the caller passes the time.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("ikev2d.syslog")

REPORT_SECONDS = 60.0  # reminders of a lasting outage, at most this often

Clock = Callable[[], float]


class Outage:
    """The reporting state of one destination, named by `what` (e.g.
    "syslog server tcp/198.19.0.10:1470"); `action` says what ikev2d does
    meanwhile, in the first warning."""

    def __init__(self, what: str, action: str, clock: Clock = time.monotonic,
                 report_seconds: float = REPORT_SECONDS) -> None:
        self.what = what
        self.action = action
        self.clock = clock
        self.report_seconds = report_seconds
        self.down_since: float | None = None
        self.failures = 0  # in all, for counters
        self._dropped_at_start = 0
        self._last_report = 0.0
        self._last_failure = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: str, dropped: int) -> None:
        """One failure; `dropped` is the destination's drop count so far."""
        now = self.clock()
        self.failures += 1
        self._last_failure = now
        if self.down_since is None:
            self.down_since = self._last_report = now
            self._dropped_at_start = dropped
            log.warning("%s: %s; %s", self.what, reason, self.action)
        elif now - self._last_report >= self.report_seconds:
            self._last_report = now
            log.warning("%s still failing for %.0f s: %s; %d messages dropped meanwhile", self.what,
                        now - self.down_since, reason, dropped - self._dropped_at_start)

    def delivered(self, dropped: int, quiet: float = 0.0) -> None:
        """A message went out. With `quiet`, the outage ends only after that
        long without a failure (UDP: an ICMP error fails only every other send)."""
        if self.down_since is None:
            return
        now = self.clock()
        if now - self._last_failure < quiet:
            return
        log.info("%s delivering again after %.0f s; %d messages dropped meanwhile", self.what,
                    now - self.down_since, dropped - self._dropped_at_start)
        self.down_since = None
