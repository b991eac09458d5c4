"""`show crypto ipsec sa`, in the ASA layout of asa-cli-samples/
cisco_asa_show_crypto_ipsec_sa.raw (the 9.x form with SA State and the
anti-replay bitmap), one block per Child SA, with remote-access lines
(`dynamic allocated peer ip`) as the sample's RA entry prints them.
Counters come from the data plane."""

from __future__ import annotations

import ipaddress
from typing import Any, Iterator

from . import names
from .listing import Document, Sessions, lines_text
from .snapshot import ChildSnapshot, SessionSnapshot, Snapshot

EMPTY = "There are no ipsec sas"

# ESP overhead, read off the samples: "ipsec overhead 82(52)" for
# AES-256/MD5 in UDP = IP 20 + ESP header 8 + trailer 2 + (UDP 8 + IV 16 +
# ICV 12 + padding 16); without UDP "74(44)".
_FIXED_OVERHEAD = 20 + 8 + 2
MEDIA_MTU = 1500


def ident(cidr: str) -> str:
    """`(172.16.122.32/255.255.255.240/0/0)`: address/mask/protocol/port; an
    IPv6 selector (dual stack) with its prefix length for the mask
    (unconfirmed: docs/ftd-behaviour.md, "IPv6 inside the tunnel")."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version == 6:
        return f"({net.network_address}/{net.prefixlen}/0/0)"
    return f"({net.network_address}/{net.netmask}/0/0)"


def overhead(c: ChildSnapshot) -> tuple[int, int]:
    variable = ((8 if c.nat_t else 0) + names.esp_iv_size(c.encr_id)
                + names.esp_icv_size(c.encr_id, c.integ_id) + names.esp_block_size(c.encr_id))
    return _FIXED_OVERHEAD + variable, variable


def replay_bitmap(highest: int) -> tuple[int, int]:
    """The 64-packet window as two words, high first. We know the highest
    sequence number seen, not which below it were lost: every one is
    shown received, which is what an ASA shows on a clean link."""
    window = (1 << min(64, max(0, highest))) - 1
    return window >> 32, window & 0xFFFFFFFF


def child_view(s: SessionSnapshot, c: ChildSnapshot) -> dict[str, Any]:
    map_tag, seq = names.dynamic_crypto_map(s.interface)
    total, variable = overhead(c)
    remaining_s = max(0, int(c.lifetime_seconds - c.age_seconds))
    settings = ["RA", "Tunnel"] + (["NAT-T-Encaps"] if c.nat_t else []) + ["IKEv2"]
    local_port = s.local_port if c.nat_t else 500
    remote_port = s.remote_port if c.nat_t else 500
    return {
        "interface": s.interface,
        "crypto_map_tag": map_tag,
        "seq_num": seq,
        "local_addr": s.local_address,
        "local_idents": [ident(x) for x in c.local_selectors],
        "remote_idents": [ident(x) for x in c.remote_selectors],
        "current_peer": s.remote_address,
        "username": s.username,
        "dynamic_allocated_peer_ip": s.assigned_ip or "0.0.0.0",
        "pkts_encaps": c.packets_out,
        "pkts_decaps": c.packets_in,
        "bytes_out": c.bytes_out,
        "bytes_in": c.bytes_in,
        "send_errors": 0,
        "recv_errors": c.replay_drops + c.integrity_failures + c.other_drops,
        "replay_drops": c.replay_drops,
        "integrity_failures": c.integrity_failures,
        "local_crypto_endpt": f"{s.local_address}/{local_port}",
        "remote_crypto_endpt": f"{s.remote_address}/{remote_port}",
        "path_mtu": MEDIA_MTU,
        "ipsec_overhead": total,
        "ipsec_overhead_variable": variable,
        "media_mtu": MEDIA_MTU,
        "current_outbound_spi": f"{c.spi_out:08X}",
        "current_inbound_spi": f"{c.spi_in:08X}",
        "transform": names.esp_transform(c.encr_id, c.encr_bits, c.integ_id),
        "in_use_settings": settings,
        "conn_id": s.unique_id,
        "remaining_kb_in": max(0, c.lifetime_kilobytes - c.bytes_in // 1024),
        "remaining_kb_out": max(0, c.lifetime_kilobytes - c.bytes_out // 1024),
        "remaining_seconds": remaining_s,
        "iv_size": names.esp_iv_size(c.encr_id),
        "replay_bitmap_in": ["0x%08X" % w for w in replay_bitmap(c.seq_in_highest)],
        # outbound: the ASA shows the lowest bit only
        "replay_bitmap_out": ["0x00000000", "0x00000001"],
        "spi_in": c.spi_in,
        "spi_out": c.spi_out,
    }


def views(sessions: Sessions) -> Iterator[dict[str, Any]]:
    return (child_view(s, c) for s in sessions if s.established for c in s.children)


def document(head: Snapshot, sessions: Sessions) -> Document:
    return Document({}, "ipsec_sas", views(sessions))


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    return document(snapshot, snapshot.sessions).whole()


def text(head: Snapshot, sessions: Sessions) -> Iterator[str]:
    """One block per Child SA, grouped under their interface as they come."""
    interface = None
    for v in views(sessions):
        if v["interface"] != interface:
            yield ("\n" if interface is not None else "") + f"interface: {v['interface']}\n"
            interface = v["interface"]
        else:
            yield "\n"
        yield lines_text(_block(v))
    if interface is None:
        yield EMPTY + "\n"


def render(snapshot: Snapshot) -> str:
    return "".join(text(snapshot, snapshot.sessions))


def _esp_sa(direction: str, spi: int, v: dict[str, Any], kb: int, bitmap: list[str]) -> list[str]:
    settings = "{" + ", ".join(v["in_use_settings"]).replace(", NAT-T", ",  NAT-T") + ", }"
    return [
        f"    {direction} esp sas:",
        f"      spi: 0x{spi:08X} ({spi})",
        "         SA State: active",
        f"         transform: {v['transform']} no compression",
        f"         in use settings ={settings}",
        f"         slot: 0, conn_id: {v['conn_id']}, crypto-map: {v['crypto_map_tag']}",
        f"         sa timing: remaining key lifetime (kB/sec): ({kb}/{v['remaining_seconds']})",
        f"         IV size: {v['iv_size']} bytes",
        "         replay detection support: Y",
        "         Anti replay bitmap:",
        f"          {bitmap[0]} {bitmap[1]}",
    ]


def _block(v: dict[str, Any]) -> list[str]:
    enc, dec = v["pkts_encaps"], v["pkts_decaps"]
    lines = [f"    Crypto map tag: {v['crypto_map_tag']}, seq num: {v['seq_num']}, local addr: {v['local_addr']}", ""]
    for local in v["local_idents"]:
        for remote in v["remote_idents"]:
            lines.append(f"      local ident (addr/mask/prot/port): {local}")
            lines.append(f"      remote ident (addr/mask/prot/port): {remote}")
    peer = f"      current_peer: {v['current_peer']}"
    lines += [
        peer + (f", username: {v['username']}" if v["username"] else ""),
        f"      dynamic allocated peer ip: {v['dynamic_allocated_peer_ip']}",
        "",
        f"      #pkts encaps: {enc}, #pkts encrypt: {enc}, #pkts digest: {enc}",
        f"      #pkts decaps: {dec}, #pkts decrypt: {dec}, #pkts verify: {dec}",
        "      #pkts compressed: 0, #pkts decompressed: 0",
        f"      #pkts not compressed: {enc}, #pkts comp failed: 0, #pkts decomp failed: 0",
        "      #pre-frag successes: 0, #pre-frag failures: 0, #fragments created: 0",
        "      #PMTUs sent: 0, #PMTUs rcvd: 0, #decapsulated frgs needing reassembly: 0",
        "      #TFC rcvd: 0, #TFC sent: 0",
        "      #Valid ICMP Errors rcvd: 0, #Invalid ICMP Errors rcvd: 0",
        f"      #send errors: {v['send_errors']}, #recv errors: {v['recv_errors']}",
        "",
        f"      local crypto endpt.: {v['local_crypto_endpt']}, remote crypto endpt.: {v['remote_crypto_endpt']}",
        f"      path mtu {v['path_mtu']}, ipsec overhead {v['ipsec_overhead']}({v['ipsec_overhead_variable']}), "
        f"media mtu {v['media_mtu']}",
        "      PMTU time remaining (sec): 0, DF policy: copy-df",
        "      ICMP error validation: disabled, TFC packets: disabled",
        f"      current outbound spi: {v['current_outbound_spi']}",
        f"      current inbound spi : {v['current_inbound_spi']}",
        "",
    ]
    lines += _esp_sa("inbound", v["spi_in"], v, v["remaining_kb_in"], v["replay_bitmap_in"])
    lines += _esp_sa("outbound", v["spi_out"], v, v["remaining_kb_out"], v["replay_bitmap_out"])
    return lines
