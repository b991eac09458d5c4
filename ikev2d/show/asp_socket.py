"""`show asp table socket`, as the whitepaper lists it:

    Protocol  Socket      State      Local Address      Foreign Address
    SSL       00008bd8    LISTEN     192.168.0.204:443  0.0.0.0:*

Which sockets appear: the whitepaper's three listings (SSL+DTLS; SSL only,
with IPsec-IKEv2 enabled on that interface; nothing) never show IKE's UDP
500/4500, although in the second and third the FTD is serving IKEv2. So the
FTD's table holds the SSL/DTLS (client services) sockets, not IKE's: we list
the daemon's listeners of those protocols and leave IKE and NAT-T out.
"""

from __future__ import annotations

from typing import Any

from .snapshot import ListenerSnapshot, Snapshot

LISTED_PROTOCOLS = ("SSL", "DTLS")
# column starts in the whitepaper: 0, 10, 22, 33, 52
WIDTHS = (10, 12, 11, 19)
HEADER = "".join(t.ljust(w) for t, w in zip(("Protocol", "Socket", "State", "Local Address"), WIDTHS)) + \
    "Foreign Address"


def listed(snapshot: Snapshot) -> list[ListenerSnapshot]:
    return [entry for entry in snapshot.listeners if entry.protocol in LISTED_PROTOCOLS]


def socket_view(entry: ListenerSnapshot) -> dict[str, Any]:
    return {
        "protocol": entry.protocol,
        "socket": f"{entry.socket_id & 0xFFFFFFFF:08x}",
        "state": entry.state,
        "local_address": f"{entry.address}:{entry.port}",
        "foreign_address": entry.foreign,
    }


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    return {"sockets": [socket_view(e) for e in listed(snapshot)]}


def _cell(text: str, width: int) -> str:
    # a value as wide as its column still gets a separating space
    return text.ljust(width) if len(text) < width else text + " "


def render(snapshot: Snapshot) -> str:
    lines = ["", HEADER]
    for v in as_json(snapshot)["sockets"]:
        cells = (v["protocol"], v["socket"], v["state"], v["local_address"])
        lines.append("".join(_cell(t, w) for t, w in zip(cells, WIDTHS)) + v["foreign_address"])
    return "\n".join(lines) + "\n"
