"""`show vpn-sessiondb anyconnect` and `show vpn-sessiondb ra-ikev2-ipsec`,
in the layout of asa-cli-samples/cisco_asa_show_vpn-sessiondb_anyconnect1.raw.

The ASA files a standards IKEv2 client (strongSwan, Windows, ...) under
`ra-ikev2-ipsec` ("Generic Remote-Access IKEv2 IPsec") with Protocol
`IKEv2 IPsec`, or `IKEv2 IPsecOverNatT` when ESP travels in UDP; AnyConnect
over IKEv2 adds its parent session (`IKEv2 IPsecOverNatT AnyConnect-Parent`,
docs/ftd-behaviour.md, "CLI outputs") and is listed by `anyconnect`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from . import names
from .listing import Document, Sessions, lines_text
from .snapshot import SessionSnapshot, Snapshot

EMPTY = "INFO: There are presently no active sessions"
SESSION_TYPES = {
    "anyconnect": "AnyConnect",
    # unconfirmed wording, from ASA documentation of third-party IKEv2 clients
    "generic": "Generic Remote-Access IKEv2 IPsec",
}
FILTERS = {"anyconnect": "anyconnect", "ra-ikev2-ipsec": "generic"}
LABEL_WIDTH = 13
LEFT_VALUE_WIDTH = 23
# The license an IKEv2 remote-access session takes (unconfirmed for
# generic clients; the sample's AnyConnect sessions say this).
LICENSE = "AnyConnect Premium"


def _tunnel_protocol(s: SessionSnapshot) -> str:
    return "IPsecOverNatT" if s.nat_t else "IPsec"


def session_view(s: SessionSnapshot, now_epoch: float) -> dict[str, Any]:
    ipsec = _tunnel_protocol(s)
    protocols = ["IKEv2", ipsec] + (["AnyConnect-Parent"] if s.client_type == "anyconnect" else [])
    child = s.children[0] if s.children else None
    ipsec_encr = names.session_encr(child.encr_id, child.encr_bits) if child else "none"
    ipsec_hash = names.session_hash(child.integ_id) if child else "none"
    encryption = [("IKEv2", names.session_encr(s.encr_id, s.encr_bits)), (ipsec, ipsec_encr)]
    # an IKEv2 SA with AEAD has no integrity transform: the PRF names its hash
    ike_hash = names.prf_hash(s.prf_id) if names.is_aead(s.encr_id) else names.session_hash(s.integ_id)
    hashing = [("IKEv2", ike_hash), (ipsec, ipsec_hash)]
    if s.client_type == "anyconnect":
        encryption.append(("AnyConnect-Parent", "none"))
        hashing.append(("AnyConnect-Parent", "none"))
    login = s.established_epoch or s.created_epoch
    return {
        "username": s.username,
        "index": names.session_index(s.unique_id),
        "assigned_ip": s.assigned_ip or "0.0.0.0",
        "assigned_ipv6": s.assigned_ipv6,
        "public_ip": s.remote_address,
        "protocol": protocols,
        "license": LICENSE,
        "encryption": {k: v for k, v in encryption},
        "hashing": {k: v for k, v in hashing},
        "bytes_tx": sum(c.bytes_out for c in s.children),
        "bytes_rx": sum(c.bytes_in for c in s.children),
        "group_policy": s.group_policy,
        "tunnel_group": s.tunnel_group,
        "login_time": names.login_time(login),
        "login_epoch": login,
        "duration": names.duration(now_epoch - login),
        # an IPsec session with its tunnel up is never inactive; the ASA
        # counts inactivity only for a parent session without a tunnel
        "inactivity": names.duration(0),
        "vlan_mapping": "N/A",
        "vlan": "none",
        "audit_session_id": names.audit_session_id(s.local_address, s.unique_id, login),
        "security_group": "none",
    }


def views(head: Snapshot, sessions: Sessions, which: str) -> Iterator[dict[str, Any]]:
    client_type = FILTERS[which]
    return (session_view(s, head.taken_epoch) for s in sessions
            if s.established and s.client_type == client_type)


def document(head: Snapshot, sessions: Sessions, which: str) -> Document:
    return Document({"session_type": SESSION_TYPES[FILTERS[which]]}, "sessions", views(head, sessions, which))


def as_json(snapshot: Snapshot, which: str) -> dict[str, Any]:
    return document(snapshot, snapshot.sessions, which).whole()


def _field(label: str, value: object) -> str:
    return f"{label:<{LABEL_WIDTH}}: {value}"


def _pair(left: str, lvalue: object, right: str, rvalue: object) -> str:
    text = str(lvalue)
    pad = max(LEFT_VALUE_WIDTH - len(text), 1)
    return f"{label_colon(left)}{text}{' ' * pad}{label_colon(right)}{rvalue}"


def label_colon(label: str) -> str:
    return f"{label:<{LABEL_WIDTH}}: "


def _listing(parts: dict[str, str]) -> str:
    return "  ".join(f"{k}: (1){v}" for k, v in parts.items())


def session_lines(v: dict[str, Any]) -> list[str]:
    # a dual-stack session's IPv6 address on a line of its own under the
    # IPv4 one (layout unconfirmed: docs/ftd-behaviour.md, "IPv6 inside the tunnel")
    ipv6 = [_field("Assigned IPv6", v["assigned_ipv6"])] if v.get("assigned_ipv6") else []
    return [
        _pair("Username", v["username"], "Index", v["index"]),
        _pair("Assigned IP", v["assigned_ip"], "Public IP", v["public_ip"]),
        *ipv6,
        _field("Protocol", " ".join(v["protocol"])),
        _field("License", v["license"]),
        _field("Encryption", _listing(v["encryption"])),
        _field("Hashing", _listing(v["hashing"])),
        _pair("Bytes Tx", v["bytes_tx"], "Bytes Rx", v["bytes_rx"]),
        _pair("Group Policy", v["group_policy"], "Tunnel Group", v["tunnel_group"]),
        _field("Login Time", v["login_time"]),
        _field("Duration", v["duration"]),
        _field("Inactivity", v["inactivity"]),
        _pair("VLAN Mapping", v["vlan_mapping"], "VLAN", v["vlan"]),
        _field("Audt Sess ID", v["audit_session_id"]),
        # the ASA pads this lone left-column value too
        label_colon("Security Grp") + f"{v['security_group']:<{LEFT_VALUE_WIDTH}}",
    ]


def text(head: Snapshot, sessions: Sessions, which: str) -> Iterator[str]:
    return listing(SESSION_TYPES[FILTERS[which]], views(head, sessions, which), session_lines)


def listing(session_type: str, shown: Iterable[dict[str, Any]],
            lines: Callable[[dict[str, Any]], list[str]]) -> Iterator[str]:
    """A vpn-sessiondb listing (brief or detail), one session at a time, a
    blank line between two; the ASA's words when there is none."""
    empty = True
    for v in shown:
        yield f"Session Type: {session_type}\n\n" if empty else "\n"
        empty = False
        yield lines_text(lines(v))
    if empty:
        yield EMPTY + "\n"


def render(snapshot: Snapshot, which: str) -> str:
    return "".join(text(snapshot, snapshot.sessions, which))
