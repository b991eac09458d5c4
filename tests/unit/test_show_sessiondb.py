"""`show vpn-sessiondb [summary | anyconnect | ra-ikev2-ipsec]` against
asa-cli-samples/cisco_asa_show_vpn-sessiondb2.raw and
cisco_asa_show_vpn-sessiondb_anyconnect1.raw."""

from __future__ import annotations

from ikev2d.show import names, sessiondb_sessions, sessiondb_summary
from ikev2d.show.sessiondb_summary import Row
from ikev2d.show.snapshot import Counter, SessionTotals
from test_show_support import LOGIN, child, sample_lines, session, snapshot, timezone


def test_summary_tables_reproduce_the_sample() -> None:
    sample = sample_lines("cisco_asa_show_vpn-sessiondb2.raw")[1:]  # without the prompt line
    sessions = [Row("Site-to-Site VPN", Counter(99, 3506999, 99)), Row("  IKEv2 IPsec", Counter(9, 3999, 9)),
                Row("  IKEv1 IPsec", Counter(99, 3502999, 99))]
    tunnels = [Row("IKEv1", Counter(99, 3502999, 99)), Row("IKEv2", Counter(9, 3999, 9)),
               Row("IPsec", Counter(99, 9302, 99)), Row("IPsecOverNatT", Counter(9, 1999, 9))]
    ours = sessiondb_summary.render_tables(sessions, tunnels, 750).splitlines()
    # The sample's own numbers are edited (99 of 750 is not 2 %, and its
    # Totals column is one short of its width): those two lines differ.
    differing = {sample.index("Device Load                  :     2%"),
                 sample.index("Totals                       :     99 :    351999")}
    assert len(ours) == len(sample)
    for i, (mine, theirs) in enumerate(zip(ours, sample)):
        if i not in differing:
            assert mine == theirs, f"line {i + 1}"
    assert ours[min(differing)] == "Device Load                  :    14%"


def test_summary_of_one_generic_ikev2_session() -> None:
    text = sessiondb_summary.render(snapshot(session()))
    lines = text.splitlines()
    assert "Generic IKEv2 Remote Access  :      1 :          1 :           1" in lines
    assert "Total Active and Inactive    :      1             Total Cumulative :      1" in lines
    assert "Device Total VPN Capacity    :    250" in lines
    assert "Device Load                  :     1%" in lines
    assert "IKEv2                        :      1 :          1 :               1" in lines
    assert "IPsecOverNatT                :      1 :          1 :               1" in lines
    assert "Totals                       :      2 :          2" in lines
    assert not any(line.startswith(("IPsec ", "AnyConnect")) for line in lines)


def test_summary_counts_past_sessions_and_anyconnect_rows() -> None:
    totals = SessionTotals(generic_ikev2=Counter(0, 3, 2), anyconnect=Counter(1, 1, 1),
                           ikev2_tunnels=Counter(1, 4, 2), ipsec_natt_tunnels=Counter(1, 4, 2))
    lines = sessiondb_summary.render(snapshot(totals=totals)).splitlines()
    assert "AnyConnect Client            :      1 :          1 :           1 :        0" in lines
    assert "  IKEv2 IPsec                :      1 :          1 :           1 :        0" in lines
    assert "Generic IKEv2 Remote Access  :      0 :          3 :           2" in lines
    assert "Total Active and Inactive    :      1             Total Cumulative :      4" in lines
    data = sessiondb_summary.as_json(snapshot(totals=totals))
    assert data["vpn_session_summary"][2] == {"label": "Generic IKEv2 Remote Access", "active": 0,
                                              "cumulative": 3, "peak": 2}


def test_session_lines_reproduce_the_anyconnect_sample() -> None:
    """The sample's second session (its first has an edited username); the
    sample's Assigned IP and Group Policy lines are edited too (their right
    column moved), and its Encryption/Hashing are SSL-era free text."""
    sample = sample_lines("cisco_asa_show_vpn-sessiondb_anyconnect1.raw")
    start = sample.index("Username     : lee                    Index        : 1")
    theirs = sample[start:start + 14]
    view = {
        "username": "lee", "index": 1, "assigned_ip": "192.168.246.1", "public_ip": "10.139.1.2",
        "protocol": ["AnyConnect-Parent", "SSL-Tunnel", "DTLS-Tunnel"], "license": "AnyConnect Premium",
        "encryption": {}, "hashing": {}, "bytes_tx": 11079, "bytes_rx": 4942, "group_policy": "EngPolicy",
        "tunnel_group": "EngGroup", "login_time": "15:25:13 EST Fri Jan 28 2011", "duration": "0h:00m:15s",
        "inactivity": "0h:00m:00s", "vlan_mapping": "N/A", "vlan": "none", "audit_session_id": "a31867c632efaeaad",
        "security_group": "none",
    }
    ours = sessiondb_sessions.session_lines(view)
    edited = {"Assigned IP", "Encryption", "Hashing", "Group Policy"}
    for mine, line in zip(ours, theirs):
        if line.split(":")[0].strip() not in edited:
            assert mine == line
    assert len(ours) == len(theirs)


def test_ra_ikev2_ipsec_lists_a_standards_client() -> None:
    with timezone("UTC"):
        text = sessiondb_sessions.render(snapshot(session()), "ra-ikev2-ipsec")
    assert text.splitlines() == [
        "Session Type: Generic Remote-Access IKEv2 IPsec",
        "",
        "Username     : adm-marin              Index        : 1",
        "Assigned IP  : 172.31.1.205           Public IP    : 192.168.0.205",
        "Protocol     : IKEv2 IPsecOverNatT",
        "License      : AnyConnect Premium",
        "Encryption   : IKEv2: (1)AES256  IPsecOverNatT: (1)AES256",
        "Hashing      : IKEv2: (1)SHA512  IPsecOverNatT: (1)SHA512",
        "Bytes Tx     : 1234567                Bytes Rx     : 98765",
        "Group Policy : GP-CCIElab             Tunnel Group : CCIElab",
        "Login Time   : 11:40:38 UTC Fri Oct 8 2021",
        "Duration     : 0h:00m:12s",
        "Inactivity   : 0h:00m:00s",
        "VLAN Mapping : N/A                    VLAN         : none",
        "Audt Sess ID : c0a800cc0000600061602e36",
        "Security Grp : none                   ",
    ]


def test_standards_clients_are_not_anyconnect_sessions_and_vice_versa() -> None:
    generic = snapshot(session())
    assert sessiondb_sessions.render(generic, "anyconnect") == "INFO: There are presently no active sessions\n"
    ac = snapshot(session(client_type="anyconnect"))
    assert sessiondb_sessions.render(ac, "ra-ikev2-ipsec") == "INFO: There are presently no active sessions\n"
    text = sessiondb_sessions.render(ac, "anyconnect")
    assert text.startswith("Session Type: AnyConnect\n")
    assert "Protocol     : IKEv2 IPsecOverNatT AnyConnect-Parent\n" in text
    assert ("Encryption   : IKEv2: (1)AES256  IPsecOverNatT: (1)AES256  AnyConnect-Parent: (1)none\n"
            in text)


def test_without_nat_it_is_ipsec_and_several_sessions_are_separated() -> None:
    plain = session(unique_id=0x6005, username="bob", nat_peer=False, children=(child(nat_t=False),))
    text = sessiondb_sessions.render(snapshot(session(), plain), "ra-ikev2-ipsec")
    assert "Protocol     : IKEv2 IPsec\n" in text
    assert "Encryption   : IKEv2: (1)AES256  IPsec: (1)AES256\n" in text
    assert "Username     : bob                    Index        : 6\n" in text
    assert "\n\nUsername     : bob" in text


def test_json_values() -> None:
    data = sessiondb_sessions.as_json(snapshot(session()), "ra-ikev2-ipsec")
    (s,) = data["sessions"]
    assert s["username"] == "adm-marin" and s["assigned_ip"] == "172.31.1.205"
    assert s["public_ip"] == "192.168.0.205" and s["protocol"] == ["IKEv2", "IPsecOverNatT"]
    assert s["encryption"] == {"IKEv2": "AES256", "IPsecOverNatT": "AES256"}
    assert (s["group_policy"], s["tunnel_group"]) == ("GP-CCIElab", "CCIElab")
    assert s["login_epoch"] == LOGIN and s["duration"] == "0h:00m:12s"


def test_names() -> None:
    assert names.duration(2 * 3600 + 21 * 60 + 21) == "2h:21m:21s"
    assert names.duration(10 * 86400 + 7 * 3600 + 26 * 60 + 52) == "10d 7h:26m:52s"
    # the sample's `ac1063fe003fa0005e715555`: 172.16.99.254, handle 0x3fa000, time 0x5e715555
    assert names.audit_session_id("172.16.99.254", 0x3FA000, 0x5E715555) == "ac1063fe003fa0005e715555"
    with timezone("EST5EDT"):
        assert names.login_time(1296246313) == "15:25:13 EST Fri Jan 28 2011"
    with timezone("MST7MDT"):  # a one-digit day is not padded (the l2l sample)
        assert names.login_time(1530914463) == "16:01:03 MDT Fri Jul 6 2018"
    assert names.session_index(0x6000) == 1
