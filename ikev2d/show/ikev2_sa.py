"""`show crypto ikev2 sa [detail]`, in the ASA layout.

    IKEv2 SAs:

    Session-id:1, Status:UP-ACTIVE, IKE count:1, CHILD count:1

    Tunnel-id Local            ...   Remote          ...   Status         Role
    24576     198.18.0.1/4500  ...   198.18.0.2/4500 ...   READY    RESPONDER
          Encr: AES-CBC, keysize: 256, Hash: SHA512, DH Grp:15, Auth sign: RSA, Auth verify: EAP
          Life/Active Time: 86400/12 sec
    Child sa: local selector  198.19.0.0/0 - 198.19.0.255/65535
              remote selector 198.19.0.200/0 - 198.19.0.200/65535
              ESP spi in/out: 0x3e75843/0x460223
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterator

from . import names
from .listing import Document, Sessions, lines_text
from .snapshot import ChildSnapshot, SessionSnapshot, Snapshot

EMPTY = "There are no IKEv2 SAs"

# Column widths of the ASA's table; the data row's status is narrower than
# its header (READY, four spaces, the role), as the ASA prints it.
TUNNEL_ID_WIDTH = 10
LOCAL_WIDTH = 52
REMOTE_WIDTH = 56
STATUS_HEADER_WIDTH = 15
STATUS_WIDTH = 9
TABLE_HEADER = ("Tunnel-id".ljust(TUNNEL_ID_WIDTH) + "Local".ljust(LOCAL_WIDTH) + "Remote".ljust(REMOTE_WIDTH)
                + "Status".ljust(STATUS_HEADER_WIDTH) + "Role")
DETAIL_COLUMN = 34  # "Local spi: ...", "Remote spi: ..." side by side
INDENT = " " * 6
CHILD_INDENT = " " * 10

# ikev2d.sa.State -> (SA status, session status, status description)
_STATUS = {
    "ESTABLISHED": ("READY", "UP-ACTIVE", "Negotiation done"),
    "DELETING": ("DELETE", "DOWN", "Deleting"),
}
_NEGOTIATING = ("IN-NEG", "DOWN-NEGOTIATING", "Negotiation in progress")


def selector_range(cidr: str) -> str:
    """`172.31.1.205/0 - 172.31.1.205/65535`: first/port - last/port."""
    net = ipaddress.ip_network(cidr, strict=False)  # IPv6 too, in a dual-stack Child SA
    return f"{net.network_address}/0 - {net.broadcast_address}/65535"


def child_view(c: ChildSnapshot) -> dict[str, Any]:
    return {
        "local_selectors": [selector_range(s) for s in c.local_selectors],
        "remote_selectors": [selector_range(s) for s in c.remote_selectors],
        "esp_spi_in": f"0x{c.spi_in:x}",
        "esp_spi_out": f"0x{c.spi_out:x}",
        "encryption": names.ikev2_encr(c.encr_id),
        "keysize": c.encr_bits,
        "esp_hmac": names.ikev2_hash(c.integ_id),
        "mode": "tunnel",
    }


def sa_view(s: SessionSnapshot) -> dict[str, Any]:
    """Every value the text shows, by name: also the `--json` form."""
    sa_status, session_status, description = _STATUS.get(s.state, _NEGOTIATING)
    if s.nat_peer:
        nat = "detected  outside"
    elif s.nat_local:
        nat = "detected  inside"
    else:
        nat = "not detected"
    return {
        "session_id": names.session_index(s.unique_id),
        "status": session_status,
        "ike_count": 1,
        "child_count": len(s.children),
        "tunnel_id": s.unique_id,
        "local": f"{s.local_address}/{s.local_port}",
        "remote": f"{s.remote_address}/{s.remote_port}",
        "sa_status": sa_status,
        "role": "INITIATOR" if s.initiator else "RESPONDER",
        "encryption": names.ikev2_encr(s.encr_id),
        "keysize": s.encr_bits,
        "hash": names.ikev2_hash(s.integ_id),
        "dh_group": s.dh_id,
        "auth_sign": s.auth_sign,
        "auth_verify": s.auth_verify,
        "lifetime_seconds": s.ike_lifetime_seconds,
        "active_seconds": int(s.active_seconds),
        "status_description": description,
        "local_spi": (s.spi_i if s.initiator else s.spi_r).upper(),
        "remote_spi": (s.spi_r if s.initiator else s.spi_i).upper(),
        "local_id": s.local_id,
        "remote_id": s.remote_id,
        "remote_eap_id": s.username if s.auth_verify == "EAP" else "",
        "local_next_message_id": s.local_next_message_id,
        "remote_next_message_id": s.remote_next_message_id,
        "dpd_seconds": int(s.dpd_interval),
        "dpd_retries": s.dpd_retries,
        "nat_t": nat,
        "children": [child_view(c) for c in s.children],
    }


def document(head: Snapshot, sessions: Sessions) -> Document:
    return Document({}, "ikev2_sas", (sa_view(s) for s in sessions))


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    return document(snapshot, snapshot.sessions).whole()


def text(head: Snapshot, sessions: Sessions, detail: bool = False) -> Iterator[str]:
    """The listing, one SA at a time."""
    empty = True
    for s in sessions:
        if empty:
            yield "\nIKEv2 SAs:\n\n"
            empty = False
        yield lines_text(_sa_lines(sa_view(s), detail))
    if empty:
        yield EMPTY + "\n"


def render(snapshot: Snapshot, detail: bool = False) -> str:
    return "".join(text(snapshot, snapshot.sessions, detail))


def _pair(left: str, right: str) -> str:
    return INDENT + left.ljust(DETAIL_COLUMN - 1) + " " + right


def _sa_lines(v: dict[str, Any], detail: bool) -> list[str]:
    lines = [
        f"Session-id:{v['session_id']}, Status:{v['status']}, IKE count:{v['ike_count']}, "
        f"CHILD count:{v['child_count']}",
        "",
        TABLE_HEADER,
        (str(v["tunnel_id"]).ljust(TUNNEL_ID_WIDTH - 1) + " " + v["local"].ljust(LOCAL_WIDTH - 1) + " "
         + v["remote"].ljust(REMOTE_WIDTH - 1) + " " + v["sa_status"].ljust(STATUS_WIDTH) + v["role"]),
        f"{INDENT}Encr: {v['encryption']}, keysize: {v['keysize']}, Hash: {v['hash']}, DH Grp:{v['dh_group']}, "
        f"Auth sign: {v['auth_sign']}, Auth verify: {v['auth_verify']}",
        f"{INDENT}Life/Active Time: {v['lifetime_seconds']}/{v['active_seconds']} sec",
    ]
    if detail:
        # the responder's own request counters start at 0; the client's
        # next expected ID is one past the last request answered
        local_next, remote_next = v["local_next_message_id"], v["remote_next_message_id"]
        lines += [
            f"{INDENT}Session-id: {v['session_id']}",
            f"{INDENT}Status Description: {v['status_description']}",
            _pair(f"Local spi: {v['local_spi']}", f"Remote spi: {v['remote_spi']}"),
            f"{INDENT}Local id: {v['local_id']}",
            f"{INDENT}Remote id: {v['remote_id']}",
        ]
        if v["remote_eap_id"]:
            lines.append(f"{INDENT}Remote EAP id: {v['remote_eap_id']}")
        lines += [
            _pair(f"Local req mess id: {max(local_next - 1, 0)}", f"Remote req mess id: {max(remote_next - 1, 0)}"),
            _pair(f"Local next mess id: {local_next}", f"Remote next mess id: {remote_next}"),
            _pair("Local req queued: 0", "Remote req queued: 0"),
            _pair("Local window: 1", "Remote window: 1"),
            f"{INDENT}DPD configured for {v['dpd_seconds']} seconds, retry {v['dpd_retries']}",
            f"{INDENT}NAT-T is {v['nat_t']}",
        ]
    for child in v["children"]:
        lines += _child_lines(child, detail)
    lines.append("")
    return lines


def _child_lines(c: dict[str, Any], detail: bool) -> list[str]:
    lines: list[str] = []
    for i, sel in enumerate(c["local_selectors"]):
        lines.append(("Child sa: " if i == 0 else CHILD_INDENT) + f"local selector  {sel}")
    for sel in c["remote_selectors"]:
        lines.append(f"{CHILD_INDENT}remote selector {sel}")
    lines.append(f"{CHILD_INDENT}ESP spi in/out: {c['esp_spi_in']}/{c['esp_spi_out']}")
    if detail:
        lines += [
            f"{CHILD_INDENT}AH spi in/out: 0x0/0x0",
            f"{CHILD_INDENT}CPI in/out: 0x0/0x0",
            f"{CHILD_INDENT}Encr: {c['encryption']}, keysize: {c['keysize']}, esp_hmac: {c['esp_hmac']}",
            f"{CHILD_INDENT}ah_hmac: None, comp: IPCOMP_NONE, mode {c['mode']}",
        ]
    return lines
