"""`show vpn-sessiondb detail ra-ikev2-ipsec [filter name USER]`, in the
ASA's detail layout: the session's lines of `show vpn-sessiondb
ra-ikev2-ipsec` with packet counts, then one sub-section for the IKEv2
tunnel and one for each IPsec tunnel (docs/ftd-behaviour.md, "show
commands"). Every value is the engine's: lifetimes and what is left of
them are the deadlines the SAs are rekeyed or ended at, the idle time is
what the group policy's idle timeout counts, the byte and packet counts
are the data plane's.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterator

from . import names
from .listing import Document, Sessions
from .sessiondb_sessions import FILTERS, SESSION_TYPES, label_colon, listing, session_lines, session_view
from .snapshot import ChildSnapshot, SessionSnapshot, Snapshot

LEFT_VALUE_WIDTH = 23
SUB_INDENT = "  "
# how each side authenticated, in the ASA's words (the ASA's IKEv1 detail
# says rsaCertificate / preSharedKeys; "EAP" for a standards EAP client and
# ecdsaCertificate are unconfirmed)
AUTH_MODES = {"EAP": "EAP", "RSA": "rsaCertificate", "ECDSA": "ecdsaCertificate"}


def _left(seconds: float) -> int:
    return max(0, int(seconds))


def _selector(cidr: str) -> str:
    """`172.31.1.205/255.255.255.255/0/0`: address, mask, protocol, port
    (any protocol and port: the selectors ikev2d narrows to are addresses)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return f"{net.network_address}/{net.netmask}/0/0"


def ike_view(s: SessionSnapshot, now_epoch: float) -> dict[str, Any]:
    aead = names.is_aead(s.encr_id)
    # the IKE SA's lifetime runs from its creation (ikev2d.sa lifetime_deadline)
    left = s.ike_lifetime_seconds - (now_epoch - s.created_epoch)
    return {
        "tunnel_id": f"{names.session_index(s.unique_id)}.1",
        "udp_src_port": s.remote_port,
        "udp_dst_port": s.local_port,
        "rem_auth_mode": AUTH_MODES.get(s.auth_verify, s.auth_verify),
        "loc_auth_mode": AUTH_MODES.get(s.auth_sign, s.auth_sign),
        "encryption": names.session_encr(s.encr_id, s.encr_bits),
        "hashing": names.prf_hash(s.prf_id) if aead else names.session_hash(s.integ_id),
        "rekey_int_seconds": s.ike_lifetime_seconds,
        "rekey_left_seconds": _left(left),
        "prf": names.prf_hash(s.prf_id),
        "dh_group": s.dh_id,
        "filter_name": "",  # no VPN filter: ikev2d enforces none
    }


def ipsec_view(s: SessionSnapshot, c: ChildSnapshot, number: int) -> dict[str, Any]:
    carried_kb = (c.bytes_in + c.bytes_out) // 1024
    idle_minutes = s.idle_timeout_minutes
    return {
        "tunnel_id": f"{names.session_index(s.unique_id)}.{number}",
        "local_addr": [_selector(x) for x in c.local_selectors],
        "remote_addr": [_selector(x) for x in c.remote_selectors],
        "encryption": names.session_encr(c.encr_id, c.encr_bits),
        "hashing": names.session_hash(c.integ_id),
        "encapsulation": "Tunnel",
        "rekey_int_seconds": c.lifetime_seconds,
        "rekey_left_seconds": _left(c.lifetime_seconds - c.age_seconds),
        "rekey_int_kilobytes": c.lifetime_kilobytes,
        "rekey_left_kilobytes": max(0, c.lifetime_kilobytes - carried_kb) if c.lifetime_kilobytes else 0,
        "idle_timeout_minutes": idle_minutes,
        "idle_left_minutes": _left(idle_minutes - s.idle_seconds / 60) if idle_minutes else 0,
        "bytes_tx": c.bytes_out, "bytes_rx": c.bytes_in,
        "pkts_tx": c.packets_out, "pkts_rx": c.packets_in,
    }


def detail_view(s: SessionSnapshot, now_epoch: float) -> dict[str, Any]:
    view = session_view(s, now_epoch)
    ipsec_name = view["protocol"][1]
    view.update(
        pkts_tx=sum(c.packets_out for c in s.children),
        pkts_rx=sum(c.packets_in for c in s.children),
        ipsec_protocol=ipsec_name,
        ike=ike_view(s, now_epoch),
        ipsec=[ipsec_view(s, c, i + 2) for i, c in enumerate(s.children)],
    )
    return view


def views(head: Snapshot, sessions: Sessions, which: str) -> Iterator[dict[str, Any]]:
    client_type = FILTERS[which]
    return (detail_view(s, head.taken_epoch) for s in sessions if s.established and s.client_type == client_type)


def session_type(which: str) -> str:
    return f"{SESSION_TYPES[FILTERS[which]]} Detailed"


def document(head: Snapshot, sessions: Sessions, which: str) -> Document:
    return Document({"session_type": session_type(which)}, "sessions", views(head, sessions, which))


def as_json(snapshot: Snapshot, which: str) -> dict[str, Any]:
    return document(snapshot, snapshot.sessions, which).whole()


def _pair(left: str, lvalue: object, right: str, rvalue: object, indent: str = "") -> str:
    text = str(lvalue)
    pad = max(LEFT_VALUE_WIDTH - len(text), 1)
    return f"{indent}{label_colon(left)}{text}{' ' * pad}{label_colon(right)}{rvalue}"


def _field(label: str, value: object, indent: str = SUB_INDENT) -> str:
    return f"{indent}{label_colon(label)}{value}"


def detail_lines(v: dict[str, Any]) -> list[str]:
    session = session_lines(v)
    # the packet counts follow the byte counts in the detail layout
    at = next(i for i, line in enumerate(session) if line.startswith("Bytes Tx")) + 1
    session[at:at] = [_pair("Pkts Tx", v["pkts_tx"], "Pkts Rx", v["pkts_rx"])]
    ike, name, i = v["ike"], v["ipsec_protocol"], SUB_INDENT
    lines = session + [
        "",
        "IKEv2 Tunnels: 1",
        f"{name} Tunnels: {len(v['ipsec'])}",
        "",
        "IKEv2:",
        _field("Tunnel ID", ike["tunnel_id"]),
        _pair("UDP Src Port", ike["udp_src_port"], "UDP Dst Port", ike["udp_dst_port"], i),
        _field("Rem Auth Mode", ike["rem_auth_mode"]),
        _field("Loc Auth Mode", ike["loc_auth_mode"]),
        _pair("Encryption", ike["encryption"], "Hashing", ike["hashing"], i),
        _pair("Rekey Int (T)", f"{ike['rekey_int_seconds']} Seconds",
              "Rekey Left(T)", f"{ike['rekey_left_seconds']} Seconds", i),
        _pair("PRF", ike["prf"], "D/H Group", ike["dh_group"], i),
        _field("Filter Name", ike["filter_name"]),
    ]
    for t in v["ipsec"]:
        lines += ["", f"{name}:", _field("Tunnel ID", t["tunnel_id"])]
        lines += [_field("Local Addr", a) for a in t["local_addr"]]
        lines += [_field("Remote Addr", a) for a in t["remote_addr"]]
        lines += [
            _pair("Encryption", t["encryption"], "Hashing", t["hashing"], i),
            _field("Encapsulation", t["encapsulation"]),
            _pair("Rekey Int (T)", f"{t['rekey_int_seconds']} Seconds",
                  "Rekey Left(T)", f"{t['rekey_left_seconds']} Seconds", i),
        ]
        if t["rekey_int_kilobytes"]:  # 0: no volume lifetime, no line
            lines.append(_pair("Rekey Int (D)", f"{t['rekey_int_kilobytes']} K-Bytes",
                               "Rekey Left(D)", f"{t['rekey_left_kilobytes']} K-Bytes", i))
        if t["idle_timeout_minutes"]:
            lines.append(_pair("Idle Time Out", f"{t['idle_timeout_minutes']} Minutes",
                               "Idle TO Left", f"{t['idle_left_minutes']} Minutes", i))
        lines += [
            _pair("Bytes Tx", t["bytes_tx"], "Bytes Rx", t["bytes_rx"], i),
            _pair("Pkts Tx", t["pkts_tx"], "Pkts Rx", t["pkts_rx"], i),
        ]
    return lines


def text(head: Snapshot, sessions: Sessions, which: str) -> Iterator[str]:
    return listing(session_type(which), views(head, sessions, which), detail_lines)


def render(snapshot: Snapshot, which: str) -> str:
    return "".join(text(snapshot, snapshot.sessions, which))
