"""The FTD message catalogue and the rendering of core events into it.

The whitepaper test feeds events carrying the whitepaper's own values (its
RADIUS server, user, group policy, SPIs, session 0x6000) and expects its
log table line by line, in the device's wording (the table is FMC's
rendering of the same messages; the differences are noted beside each).
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from ikev2d import events as ev
from ikev2d.syslog.catalogue import CATALOGUE, Record
from ikev2d.syslog.render import duration, records_for, session_id, spi

FTD = ("192.168.0.204", 4500)
INIT_FROM = ("192.168.0.205", 59394)
PEER = ("192.168.0.205", 59395)
NAME = "8f0e_i 77aa_r"
USER, GP, TG, POOL = "adm-marin", "GP-CCIElab", "CCIElab", "VPN-Pool"
ISE = "172.31.1.12"
VIP = IPv4Address("172.31.1.205")
SESSION = 0x6000

WHITEPAPER_CONNECTION = [
    "%FTD-5-750002: Local:192.168.0.204:4500 Remote:192.168.0.205:59394 Username:Unknown IKEv2 "
    "Received a IKE_INIT_SA request",
    # FMC: "successful: server = 172.31.1.12 user = adm-marin"
    "%FTD-6-113004: AAA user authentication Successful : server = 172.31.1.12 : user = adm-marin",
    "%FTD-6-113009: AAA retrieved default group policy (GP-CCIElab) for user = adm-marin",
    # FMC: "status accept: user"
    "%FTD-6-113008: AAA transaction status ACCEPT : user = adm-marin",
    # the table's "DftAccessPolicy" is a transcription slip for the default record
    "%FTD-6-734001: DAP: User adm-marin, Addr 192.168.0.205, Connection AnyConnect: "
    "The following DAP records were selected for this connection: DfltAccessPolicy",
    # FMC: "Group:GP-CCIElab-User adm-marin IP = 192.168.0.205: AnyConnect ..."
    "%FTD-6-113039: Group <GP-CCIElab> User <adm-marin> IP <192.168.0.205> AnyConnect parent session started.",
    # the table: "Session=0x00006000:" and "no stable servers"
    "%FTD-5-737003: IPAA: Session=0x00006000, DHCP configured, no viable servers found for tunnel-group 'CCIElab'",
    "%FTD-6-737026: IPAA: Session=0x00006000, Client assigned 172.31.1.205 from local pool VPN-Pool",
    "%FTD-6-737006: IPAA: Session=0x00006000, Local pool request succeeded for tunnel-group 'CCIElab'",
    "%FTD-5-737034: IPAA: Session=0x00006000, IPv6 address: no IPv6 address available from local pools",
    "%FTD-5-737034: IPAA: Session=0x00006000, IPv6 address: no IPv6 address returned",
    "%FTD-5-750006: Local:192.168.0.204:4500 Remote:192.168.0.205:59395 Username:adm-marin IKEv2 "
    "SA UP. Reason: New Connection Established",
    # the table's 751025 says 172.31.1.200 while every other line says .205
    "%FTD-5-751025: Local:192.168.0.204:4500 Remote:192.168.0.205:59395 Username:adm-marin IKEv2 "
    "Group:GP-CCIElab IPv4 Address=172.31.1.205 IPv6 address=invalid-addr-2-0.0.0.0 assigned to session",
    # the OS only AnyConnect's own EAP tells; the table: "Windows Client. AnyConnect 4.10.03104"
    "%FTD-6-751026: Local:192.168.0.204:4500 Remote:192.168.0.205:59395 Username:adm-marin IKEv2 "
    "Client OS: Unknown Client: AnyConnect 4.10.03104",
    "%FTD-6-602303: IPSEC: An outbound remote access SA (SPI= 0x460223) between 192.168.0.204 and "
    "192.168.0.205 (user= adm-marin) has been created.",
    "%FTD-6-602303: IPSEC: An inbound remote access SA (SPI= 0x3E75843) between 192.168.0.204 and "
    "192.168.0.205 (user= adm-marin) has been created.",
    # the table: "Session=0x00006000: User=adm-marin. Assigned IP=172.31.1.205. Succeeded adding entry"
    "%FTD-5-109201: UAUTH: Session=0x00006000, User=adm-marin, Assigned IP=172.31.1.205, Succeeded adding entry.",
    "%FTD-6-113004: AAA user accounting Successful : server = 172.31.1.12 : user = adm-marin",
]


def whitepaper_events() -> list[ev.Event]:
    return [
        ev.IkeInitReceived(NAME, FTD, INIT_FROM),
        ev.AuthSucceeded(NAME, FTD, PEER, USER, "EAP_MSCHAPV2", GP, TG, aaa_server=ISE),
        ev.AddressAssigned(NAME, FTD, PEER, USER, POOL, VIP, TG, GP, session=SESSION),
        ev.IkeSaEstablished(NAME, FTD, PEER, USER, "AES_CBC-256/...", session=SESSION, group_policy=GP,
                            address=VIP, client="AnyConnect 4.10.03104"),
        ev.ChildSaCreated(NAME, FTD, PEER, USER, spi_in=0x3E75843, spi_out=0x460223, proposal="ESP"),
        ev.SessionStarted(NAME, FTD, PEER, USER, SESSION, VIP, GP),
        ev.AccountingSucceeded(NAME, FTD, PEER, USER, ISE),
    ]


def lines(events: list[ev.Event]) -> list[str]:
    return [r.line() for e in events for r in records_for(e)]


def test_whitepaper_connection_line_by_line() -> None:
    assert lines(whitepaper_events()) == WHITEPAPER_CONNECTION


def test_local_database_uses_its_own_ids_and_hides_a_rejected_name() -> None:
    ok = records_for(ev.AuthSucceeded(NAME, FTD, PEER, "alice", "EAP_MD5", GP, TG))
    assert ok[0].line() == "%FTD-6-113012: AAA user authentication Successful : local database : user = alice"
    refused = records_for(ev.AuthFailed(NAME, FTD, PEER, "alice", "wrong password", aaa_rejected=True))
    assert [r.line() for r in refused] == [
        "%FTD-6-113015: AAA user authentication Rejected : reason = Invalid password : local database : "
        "user = ***** : user IP = 192.168.0.205"]


def test_radius_rejection_is_113005_with_the_server() -> None:
    refused = records_for(ev.AuthFailed(NAME, FTD, PEER, "alice", "Access-Reject", aaa_server=ISE, aaa_rejected=True))
    assert [r.line() for r in refused] == [
        "%FTD-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 172.31.1.12 : "
        "user = ***** : user IP = 192.168.0.205"]


def test_protocol_errors_are_not_aaa_rejections() -> None:
    assert records_for(ev.AuthFailed(NAME, FTD, PEER, "alice", "AUTH from the EAP MSK did not verify")) == []
    assert records_for(ev.MessageDropped(NAME, FTD, PEER, "integrity check failed")) == []


def test_negotiation_aborted() -> None:
    [r] = records_for(ev.NegotiationAborted(NAME, FTD, PEER, "alice", "Failed to authenticate the IKE SA"))
    assert r.line() == ("%FTD-4-750003: Local:192.168.0.204:4500 Remote:192.168.0.205:59395 Username:alice "
                        "IKEv2 Negotiation aborted due to ERROR: Failed to authenticate the IKE SA")
    [anonymous] = records_for(ev.NegotiationAborted(NAME, FTD, PEER, "", "Failed to authenticate the IKE SA"))
    assert "Username:Unknown " in anonymous.text


def test_disconnect_lines() -> None:
    events = [
        ev.ChildSaDeleted(NAME, FTD, PEER, USER, spi_in=0x3E75843, spi_out=0x460223),
        ev.AddressReleased(NAME, FTD, PEER, USER, POOL, VIP, session=SESSION),
        ev.IkeSaDeleted(NAME, FTD, PEER, USER, "User Requested", 309.7, session=SESSION, group_policy=GP,
                        bytes_in=27473152, bytes_out=54735230),
    ]
    assert lines(events) == [
        "%FTD-6-602304: IPSEC: An outbound remote access SA (SPI= 0x460223) between 192.168.0.204 and "
        "192.168.0.205 (user= adm-marin) has been deleted.",
        "%FTD-6-602304: IPSEC: An inbound remote access SA (SPI= 0x3E75843) between 192.168.0.204 and "
        "192.168.0.205 (user= adm-marin) has been deleted.",
        "%FTD-6-737016: IPAA: Session=0x00006000, Freeing local pool VPN-Pool address 172.31.1.205",
        "%FTD-5-109210: UAUTH: Session=0x00006000, User=adm-marin, Assigned IP=172.31.1.205, "
        "Succeeded removing entry.",
        "%FTD-5-750007: Local:192.168.0.204:4500 Remote:192.168.0.205:59395 Username:adm-marin IKEv2 "
        "SA DOWN. Reason: User Requested",
        "%FTD-4-113019: Group = GP-CCIElab, Username = adm-marin, IP = 192.168.0.205, Session disconnected. "
        "Session Type: IKEv2, Duration: 0h:05m:09s, Bytes xmt: 54735230, Bytes rcv: 27473152, "
        "Reason: User Requested",
    ]


@pytest.mark.parametrize(("core", "ftd"), [("Administrator Reset", "Administrator Reset"),
                                           ("Peer not responding (DPD)", "Lost Service"),
                                           ("something new", "Unknown")])
def test_disconnect_reasons(core: str, ftd: str) -> None:
    records = records_for(ev.IkeSaDeleted(NAME, FTD, PEER, USER, core, 1.0, group_policy=GP))
    assert records[0].text.endswith(f"SA DOWN. Reason: {core}")
    assert records[1].text.endswith(f"Reason: {ftd}")


@pytest.mark.parametrize(("notify", "line"), [
    ("NO_PROPOSAL_CHOSEN", "%FTD-4-750003: Local:192.168.0.204:4500 Remote:192.168.0.205:59394 Username:Unknown "
                           "IKEv2 Negotiation aborted due to ERROR: Failed to find a matching policy"),
    ("COOKIE", "%FTD-5-750004: Local:192.168.0.204:4500 Remote:192.168.0.205:59394 Username:Unknown "
               "IKEv2 Sending COOKIE challenge to throttle possible DoS"),
])
def test_refused_ike_sa_init(notify: str, line: str) -> None:
    assert lines([ev.IkeInitRejected(NAME, FTD, INIT_FROM, notify, "detail")]) == [line]


def test_pool_exhausted() -> None:
    ids = [r.id for r in records_for(ev.AddressAssignmentFailed(NAME, FTD, PEER, USER, TG, session=SESSION))]
    assert ids == [737003, 737019, 737012]


def test_client_without_application_version() -> None:
    [up, _, client] = records_for(ev.IkeSaEstablished(NAME, FTD, PEER, USER, "p", session=SESSION, group_policy=GP,
                                                      address=VIP))
    assert up.id == 750006
    assert client.text.endswith("IKEv2 Client OS: Unknown Client: Unknown")


def test_sa_up_without_an_address_has_no_751025() -> None:
    ids = [r.id for r in records_for(ev.IkeSaEstablished(NAME, FTD, PEER, USER, "p"))]
    assert ids == [750006, 751026]


@pytest.mark.parametrize(("value", "text"), [(0x460223, "0x460223"), (0x3E75843, "0x3E75843"), (0x100, "0x100")])
def test_spi_notation(value: int, text: str) -> None:
    assert spi(value) == text


def test_session_and_duration_notation() -> None:
    assert session_id(0x6000) == "0x00006000"
    assert session_id(0x6001A) == "0x0006001a"
    assert duration(0) == "0h:00m:00s"
    assert duration(309.9) == "0h:05m:09s"
    assert duration(2 * 3600 + 28 * 60 + 9) == "2h:28m:09s"
    assert duration(-3) == "0h:00m:00s"


def test_catalogue_entries_are_well_formed() -> None:
    for message_id, message in CATALOGUE.items():
        assert message.id == message_id and 100000 <= message_id <= 999999
        assert 1 <= message.severity <= 7
        values = {name: f"<{name}>" for name in message.fields()}
        record = message.record(**values)
        assert record.line().startswith(f"%FTD-{message.severity}-{message_id}: ")
        assert all(v in record.text for v in values.values())  # every field is shown
        assert "{" not in record.text and "}" not in record.text


def test_catalogue_severities_match_the_reference() -> None:
    # docs/ftd-behaviour.md ("Syslog messages") and the ASA guide
    expected = {750002: 5, 750003: 4, 750006: 5, 750007: 5, 751025: 5, 751026: 6, 113004: 6, 113005: 6,
                113008: 6, 113009: 6, 113012: 6, 113015: 6, 113019: 4, 113039: 6, 734001: 6, 737003: 5,
                737006: 6, 737016: 6, 737026: 6, 737034: 5, 602303: 6, 602304: 6, 109201: 5}
    assert {i: CATALOGUE[i].severity for i in expected} == expected


def test_record_tag() -> None:
    assert Record(113008, 6, "x").line() == "%FTD-6-113008: x"
