"""One trace record, and the levels that choose records.

The FTD's `debug crypto ikev2 protocol|platform` take a level of 1-255, 127
showing everything; which detail appears at which level is *our choice*
(docs/ftd-behaviour.md, "Debug trace"): a record appears at its level and
above, and 127 shows all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "ikev2d-trace/1"  # the JSON lines' schema: bump on any incompatible change

PROTOCOL = "protocol"
PLATFORM = "platform"
FACILITIES = (PROTOCOL, PLATFORM)

ERRORS = 1  # refusals, failures and their reasons
PACKETS = 2  # each message in and out, one line (strongSwan's [ SA KE No ... ] notation)
EVENTS = 3  # what happened to SAs and sessions (established, address assigned, deleted)
PAYLOADS = 4  # every payload's fields
STATES = 5  # the SA state machine
DETAIL = 6  # retransmits and fragments
MAX_LEVEL = 255
ALL = 127  # the level the FTD's guides use to see everything


@dataclass(frozen=True)
class TraceRecord:
    facility: str
    level: int
    event: str  # message | retransmit | state | event | dataplane
    text: str  # one line saying what happened
    sa: str = ""  # the IKE SA's name, SPIi_i SPIr_r
    sa_id: int = 0  # its unique id (the session index's source)
    peer: str = ""  # address:port of the client
    local: str = ""
    user: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self, time: float) -> dict[str, Any]:
        """The stable JSON object of one record (one line of `--json`)."""
        return {"schema": SCHEMA, "time": round(time, 6), "facility": self.facility, "level": self.level,
                "event": self.event, "sa": self.sa, "sa_id": self.sa_id, "peer": self.peer, "local": self.local,
                "user": self.user, "text": self.text, "data": self.data}


def address(pair: tuple[str, int]) -> str:
    host, port = pair
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
