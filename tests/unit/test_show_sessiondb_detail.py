"""`show vpn-sessiondb detail ra-ikev2-ipsec [filter name USER]`: the ASA's
detail layout (its IKEv2 sub-section as in asa-cli-samples/
cisco_asa_show_vpn-sessiondb_detail_l2l2.raw), every value from the snapshot."""

from __future__ import annotations

import dataclasses

import pytest

from ikev2d.commands.show import CommandError, split_filter
from ikev2d.iana import EncrId, IntegId
from ikev2d.show import sessiondb_detail
from test_show_support import LOGIN, child, sample_lines, session, snapshot, timezone


def _text(*sessions, taken: float = LOGIN + 12) -> list[str]:
    with timezone("UTC"):
        return sessiondb_detail.render(snapshot(*sessions, taken=taken), "ra-ikev2-ipsec").splitlines()


def test_one_session_in_the_detail_layout() -> None:
    lines = _text(session(idle_seconds=90.0))
    assert lines[0] == "Session Type: Generic Remote-Access IKEv2 IPsec Detailed"
    assert "Username     : adm-marin              Index        : 1" in lines
    assert "Bytes Tx     : 1234567                Bytes Rx     : 98765" in lines
    # the packet counts come right after the bytes
    assert lines[lines.index("Bytes Tx     : 1234567                Bytes Rx     : 98765") + 1] == \
        "Pkts Tx      : 1000                   Pkts Rx      : 1145"
    assert lines[lines.index("IKEv2 Tunnels: 1") + 1] == "IPsecOverNatT Tunnels: 1"
    ike = lines[lines.index("IKEv2:"):lines.index("IPsecOverNatT:")]
    assert ike == [
        "IKEv2:",
        "  Tunnel ID    : 1.1",
        "  UDP Src Port : 59395                  UDP Dst Port : 4500",
        "  Rem Auth Mode: EAP",
        "  Loc Auth Mode: rsaCertificate",
        "  Encryption   : AES256                 Hashing      : SHA512",
        # created a second before the login, shown 12 s after it
        "  Rekey Int (T): 86400 Seconds          Rekey Left(T): 86387 Seconds",
        "  PRF          : SHA512                 D/H Group    : 15",
        "  Filter Name  : ",
        "",
    ]
    ipsec = lines[lines.index("IPsecOverNatT:"):]
    assert ipsec == [
        "IPsecOverNatT:",
        "  Tunnel ID    : 1.2",
        "  Local Addr   : 0.0.0.0/0.0.0.0/0/0",
        "  Remote Addr  : 172.31.1.205/255.255.255.255/0/0",
        "  Encryption   : AES256                 Hashing      : SHA512",
        "  Encapsulation: Tunnel",
        "  Rekey Int (T): 28800 Seconds          Rekey Left(T): 28788 Seconds",
        # 1234567 + 98765 bytes carried: 1302 KB of the volume lifetime
        "  Rekey Int (D): 4608000 K-Bytes        Rekey Left(D): 4606698 K-Bytes",
        # idle 90 s of 30 minutes
        "  Idle Time Out: 30 Minutes             Idle TO Left : 28 Minutes",
        "  Bytes Tx     : 1234567                Bytes Rx     : 98765",
        "  Pkts Tx      : 1000                   Pkts Rx      : 1145",
    ]


def test_ike_subsection_lines_up_with_the_asa_sample() -> None:
    sample = sample_lines("cisco_asa_show_vpn-sessiondb_detail_l2l2.raw")
    theirs = [line for line in sample if line.startswith(("  Rekey Int (T): 86400", "  UDP Src Port : 500 "))]
    ours = _text(session(remote_port=500, local_port=500))
    for line in theirs[:2]:
        label = line[:line.index(":") + 2]
        mine = next(m for m in ours if m.startswith(label))
        # the right-hand label starts in the same column
        right = line.split(":")[1].rstrip().rsplit(" ", 1)[-1]
        assert mine.index(right) == line.index(right), (mine, line)


def test_plain_esp_gcm_no_idle_timeout_and_no_volume_lifetime() -> None:
    gcm = child(nat_t=False, encr_id=EncrId.AES_GCM_16, integ_id=IntegId.NONE, lifetime_kilobytes=0)
    lines = _text(session(nat_peer=False, children=(gcm,), idle_timeout_minutes=0, auth_verify="ECDSA",
                          auth_sign="ECDSA"))
    assert "IPsec Tunnels: 1" in lines and "IPsec:" in lines
    assert "  Rem Auth Mode: ecdsaCertificate" in lines
    assert not any(line.startswith(("  Rekey Int (D)", "  Idle Time Out")) for line in lines)


def test_only_established_generic_sessions_and_none() -> None:
    assert _text() == ["INFO: There are presently no active sessions"]
    assert _text(session(state="CONNECTING")) == ["INFO: There are presently no active sessions"]


def test_two_children_after_a_rekey_are_numbered_in_order() -> None:
    two = session(children=(child(), child(spi_in=0x1234)))
    lines = _text(two)
    assert "IPsecOverNatT Tunnels: 2" in lines
    assert [line for line in lines if "Tunnel ID" in line] == [
        "  Tunnel ID    : 1.1", "  Tunnel ID    : 1.2", "  Tunnel ID    : 1.3"]


def test_json_has_the_printed_values() -> None:
    data = sessiondb_detail.as_json(snapshot(session()), "ra-ikev2-ipsec")
    (v,) = data["sessions"]
    assert data["session_type"] == "Generic Remote-Access IKEv2 IPsec Detailed"
    assert v["ike"]["rekey_left_seconds"] == 86387 and v["ipsec"][0]["rekey_left_seconds"] == 28788
    assert (v["pkts_tx"], v["pkts_rx"]) == (1000, 1145)


@pytest.mark.parametrize("words, rest, user", [
    ("vpn-sessiondb detail ra-ikev2-ipsec filter name bob", "vpn-sessiondb detail ra-ikev2-ipsec", "bob"),
    ("vpn det ra filt na Bob", "vpn det ra", "Bob"),
    ("vpn-sessiondb ra-ikev2-ipsec", "vpn-sessiondb ra-ikev2-ipsec", None),
])
def test_filter_words(words: str, rest: str, user: str | None) -> None:
    assert split_filter(words.split()) == (rest.split(), user)


def test_filter_without_a_name_is_refused() -> None:
    with pytest.raises(CommandError):
        split_filter("vpn-sessiondb detail ra-ikev2-ipsec filter name".split())


def test_a_session_is_shown_idle_from_its_snapshot() -> None:
    idle = dataclasses.replace(session(), idle_seconds=29 * 60 + 59)
    assert "  Idle Time Out: 30 Minutes             Idle TO Left : 0 Minutes" in _text(idle)
