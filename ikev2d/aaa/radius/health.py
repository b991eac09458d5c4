"""Which server of a group to ask first: failover and dead servers, sans I/O.

The ASA tries the servers of an `aaa-server` group in order. A server that
leaves `max-failed-attempts` (default 3) requests in a row unanswered is
marked FAILED and skipped until its dead time (default 10 minutes) is over.
When every server of the group is marked, ikev2d still tries them all in
order rather than refuse every user for the dead time: a lab headend should
notice a server that came back.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_FAILED_ATTEMPTS = 3  # ASA `aaa-server NAME protocol radius` / `max-failed-attempts 3`
DEAD_TIME = 600.0  # ASA `reactivation-mode ... deadtime 10` (minutes)


@dataclass
class _Server:
    failures: int = 0  # requests in a row left unanswered
    dead_until: float | None = None


class ServerHealth:
    def __init__(self, count: int, max_failed_attempts: int = MAX_FAILED_ATTEMPTS,
                 dead_time: float = DEAD_TIME) -> None:
        if count < 1:
            raise ValueError("a server group has at least one server")
        if max_failed_attempts < 1:
            raise ValueError("max_failed_attempts is at least 1")
        self.max_failed_attempts = max_failed_attempts
        self.dead_time = dead_time
        self._servers = [_Server() for _ in range(count)]

    def order(self, now: float) -> list[int]:
        """Server indexes to try, in order: the live ones, or all if none is."""
        live = [i for i in range(len(self._servers)) if not self.is_dead(i, now)]
        return live or list(range(len(self._servers)))

    def is_dead(self, index: int, now: float) -> bool:
        until = self._servers[index].dead_until
        return until is not None and now < until

    def answered(self, index: int) -> None:
        self._servers[index] = _Server()

    def failed(self, index: int, now: float) -> bool:
        """Count one unanswered request; True when that marks the server dead."""
        server = self._servers[index]
        if server.dead_until is not None and now >= server.dead_until:
            server.dead_until = None  # its dead time is over: a fresh start
            server.failures = 0
        server.failures += 1
        if server.dead_until is None and server.failures >= self.max_failed_attempts:
            server.dead_until = now + self.dead_time
            return True
        return False
