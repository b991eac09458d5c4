"""Find FTD syslog messages in ikev2d's log output.

The wire form (shared/reference/ftd-behaviour.md) is
``<PRI>TIMESTAMP HOST : %FTD-<sev>-<id>: <text>``; only the
``%FTD-<sev>-<id>: <text>`` part is relied on here, anywhere in a line, so
ikev2d may prefix lines with whatever it likes.  The message IDs and the text
fragments the tests look for are named below, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"%FTD-(\d)-(\d{6}): (.*)$")

SA_UP = 750006  # ... Username:<u> IKEv2 SA UP. Reason: New Connection Established
ADDRESS_ASSIGNED = 751025  # ... Username:<u> IKEv2 Group:<GP> IPv4 Address=<a> ... assigned to session
IPAA_ASSIGNED = 737026  # IPAA: Session=0x<hex>, Client assigned <ip> from local pool <POOL>
AAA_REJECTED = 113005  # AAA user authentication Rejected : reason = ... : user = ***** ...


@dataclass(frozen=True)
class FtdMessage:
    severity: int
    msg_id: int
    text: str


def messages(log: str, msg_id: int | None = None) -> list[FtdMessage]:
    out: list[FtdMessage] = []
    for line in log.splitlines():
        m = _LINE.search(line)
        if m is None:
            continue
        msg = FtdMessage(int(m.group(1)), int(m.group(2)), m.group(3))
        if msg_id is None or msg.msg_id == msg_id:
            out.append(msg)
    return out


def sa_up(log: str, username: str) -> list[FtdMessage]:
    """750006 lines for `username` (whitepaper: ``Username:adm-marin IKEv2 SA UP``)."""
    return [
        m
        for m in messages(log, SA_UP)
        if f"Username:{username} " in m.text and "SA UP" in m.text
    ]


def pool_assigned(log: str, addr: str, pool: str = "VPN-Pool") -> list[FtdMessage]:
    """737026 lines: ``Client assigned <addr> from local pool <pool>``."""
    want = f"Client assigned {addr} from local pool {pool}"
    return [m for m in messages(log, IPAA_ASSIGNED) if want in m.text]


def aaa_rejected(log: str) -> list[FtdMessage]:
    """113005 lines: ``AAA user authentication Rejected``."""
    return [m for m in messages(log, AAA_REJECTED) if "AAA user authentication Rejected" in m.text]
