"""The lab's own parsers, without namespaces or daemons (no root needed):
IKE headers in a capture, strongSwan and ikev2d log lines."""

from __future__ import annotations

import struct

import pytest

from lab import ikev2dlog, swanlog
from lab.capture import SKF, parse_ike
from lab.netns import check_lab_address


def _ike_header(first: int, exch: int, flags: int, msg_id: int, body: bytes = b"") -> bytes:
    return b"\x11" * 8 + b"\x22" * 8 + struct.pack("!BBBBII", first, 0x20, exch, flags, msg_id, 28 + len(body)) + body


def test_capture_reads_skf_number_and_total_after_non_esp_marker() -> None:
    skf = struct.pack("!BBHHH", 0, 0, 8, 2, 3)  # RFC 7383 §2.5: next, flags, length, number 2, total 3
    pkt = parse_ike("198.18.0.1", 4500, "198.18.0.2", 4500, b"\0\0\0\0" + _ike_header(SKF, 35, 0x20, 1, skf), 600)
    assert pkt is not None
    assert (pkt.exchange, pkt.response, pkt.msg_id, pkt.fragment, pkt.ip_len) == ("IKE_AUTH", True, 1, (2, 3), 600)


def test_capture_ignores_esp_in_udp_and_keepalives() -> None:
    assert parse_ike("a", 4500, "b", 4500, b"\x01\x02\x03\x04" + b"\0" * 40) is None
    assert parse_ike("a", 4500, "b", 4500, b"\xff") is None


def test_received_fragments_from_client_log() -> None:
    log = "\n".join(
        [
            "10[ENC] <ftd-ra|1> parsed IKE_AUTH response 1 [ EF(1/3) ]",
            "10[ENC] <ftd-ra|1> received fragment #1 of 3, waiting for complete IKE message",
            "12[ENC] <ftd-ra|1> parsed IKE_AUTH response 1 [ EF(3/3) ]",
            "12[ENC] <ftd-ra|1> received fragment #3 of 3, waiting for complete IKE message",
            "10[ENC] <ftd-ra|1> parsed IKE_AUTH response 1 [ EF(2/3) ]",
            "10[ENC] <ftd-ra|1> received fragment #2 of 3, reassembled fragmented IKE message (1312 bytes)",
        ]
    )
    frags = swanlog.received_fragments(log)
    assert (frags.numbers, frags.total, frags.reassembled_bytes) == ((1, 3, 2), 3, 1312)
    assert swanlog.received_fragments(log, msg_id=2).total == 0


def test_ikev2d_log_matchers_read_plain_and_ftd_forms() -> None:
    plain = "2024-01-01 ikev2d INFO Local:198.18.0.1:4500 Remote:198.18.0.2:4500 Username:alice IPv4 Address=198.19.0.200 assigned from local pool VPN-Pool"
    ftd = "%FTD-5-751025: Local:198.18.0.1:4500 Remote:198.18.0.2:4500 Username:alice IKEv2 Group:GP-CCIElab IPv4 Address=198.19.0.201 IPv6 address=invalid-addr-2-0.0.0.0 assigned to session"
    log = plain + "\n" + ftd
    assert ikev2dlog.address_assigned(log, "alice", "198.19.0.200") == [plain]
    assert ikev2dlog.address_assigned(log, "alice", "198.19.0.201") == [ftd]
    assert ikev2dlog.address_assigned(log, "alice", "198.19.0.20") == []
    assert ikev2dlog.address_assigned(log, "bob", "198.19.0.200") == []
    up = "%FTD-5-750006: Local:198.18.0.1:4500 Remote:198.18.0.2:4500 Username:alice IKEv2 SA UP. Reason: New Connection Established"
    assert ikev2dlog.sa_up(up, "alice") == [up]
    refused = "Local:198.18.0.1:4500 Remote:198.18.0.2:4500 Username:alice authentication failed: wrong password"
    assert ikev2dlog.auth_refused(refused, "alice") == [refused]
    assert ikev2dlog.tracebacks("x\nTraceback (most recent call last):\n  File") != []


def test_lab_addresses_only() -> None:
    assert check_lab_address("198.19.0.1/32") == "198.19.0.1/32"
    with pytest.raises(ValueError):
        check_lab_address("192.0.2.1/24")


def test_message_payloads_and_peer_authenticated() -> None:
    log = "\n".join(
        [
            "09[ENC] <ftd-ra|1> generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(REDIR_SUP) ]",
            "14[ENC] <ftd-ra|1> parsed IKE_SA_INIT response 0 [ SA KE No N(FRAG_SUP) N(HASH_ALG) ]",
            "14[IKE] <ftd-ra|1> authentication of 'vpn.example.test' with ECDSA-256 signature successful",
        ]
    )
    sent = swanlog.message_payloads(log, "generating", "IKE_SA_INIT", "request", 0)
    assert sent == ["SA", "KE", "No", "N(NATD_S_IP)", "N(NATD_D_IP)", "N(FRAG_SUP)", "N(REDIR_SUP)"]
    assert swanlog.message_payloads(log, "parsed", "IKE_SA_INIT", "response", 0) == ["SA", "KE", "No", "N(FRAG_SUP)", "N(HASH_ALG)"]
    assert swanlog.message_payloads(log, "parsed", "IKE_AUTH", "response", 1) is None
    assert swanlog.peer_authenticated("vpn.example.test", "ECDSA-256 signature") in log
    assert swanlog.peer_authenticated("vpn.example.test", "ECDSA-384 signature") not in log
