"""Find what ikev2d says about a session in its log output.

ikev2d logs one line per core event (ikev2d/log.py), and FTD syslog
messages built on the same events (docs/ftd-behaviour.md, "Syslog messages":
``%FTD-<sev>-<id>: Local:<ip>:<port> Remote:<ip>:<port> Username:<u> ...``).
The patterns below hold for both forms, so the tests do not depend on which
one a given build prints:

- SA up:     ``Username:alice IKEv2 SA UP``                      (750006 and the plain line)
- address:   ``Username:alice ... 198.19.0.200``                  (751025 and the plain line)
- freed:     ``Freeing local pool VPN-Pool address 198.19.0.200`` (737016 and the plain line)
- refused:   ``Username:alice ... authenticat...``                (750003 and the plain line)
"""

from __future__ import annotations

import re


def _lines(log: str, pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [line for line in log.splitlines() if rx.search(line)]


def sa_up(log: str, username: str) -> list[str]:
    return _lines(log, rf"Username:{re.escape(username)} IKEv2 SA UP")


def address_assigned(log: str, username: str, addr: str) -> list[str]:
    return _lines(
        log,
        rf"Username:{re.escape(username)} .*\bIPv4 Address[=:]{re.escape(addr)}(?![\d.])",
    )


def address_freed(log: str, addr: str, pool: str = "VPN-Pool") -> list[str]:
    return _lines(log, rf"Freeing local pool {re.escape(pool)} address {re.escape(addr)}(?![\d.])")


def auth_refused(log: str, username: str) -> list[str]:
    return _lines(log, rf"Username:{re.escape(username)} .*(?i:authenticat)")


def tracebacks(log: str) -> list[str]:
    """Errors are values the peer sees, never a traceback (DESIGN.md)."""
    return _lines(log, r"^Traceback \(most recent call last\)")
