"""ikev2d's FTD syslog as a real syslog server receives it.

A strongSwan client connects to ikev2d at VPN logging level informational
(as the whitepaper sets it); ikev2d sends its syslog to Debian's rsyslogd,
running in another lab namespace with files of its own (lab/rsyslog.py).
What rsyslog received is compared line by line with the whitepaper's
sequence, carrying this session's values: the strongSwan client's
addresses and SPIs, the pool address, session 0x00006000. The local user
database authenticates, so the AAA line is 113012, the local database's ID
(ikev2d/syslog/catalogue.py; a RADIUS server gives 113004 and accounting).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.netns import Topology
from lab.rsyslog import Received, Rsyslog

from .checks import POOL_FIRST, assert_connected, assert_initiated, assert_no_sa, ping
from .conftest import LabLogs, StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


FTD, CLIENT = "198.18.0.1", "198.18.0.2"
HOSTNAME = "FTDv-1"
WRONG_PW = "Not-Alices-Passw0rd-9"
TCP_PORT = 1470
PINGS = 3


@pytest.fixture
def rsyslog(topology: Topology, tmp_path: Path, lab_logs: LabLogs) -> Iterator[Rsyslog]:
    """rsyslogd in the last client namespace (a syslog host on the outside
    network), UDP 514 and TCP 1470."""
    server = Rsyslog(topology.clients[-1], tmp_path / "rsyslog", topology.client_addrs[-1], 514, TCP_PORT)
    lab_logs.add("rsyslog received", server.text)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def send_syslog_to(rsyslog: Rsyslog, protocol: str, framing: str) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        port = rsyslog.udp_port if protocol == "udp" else rsyslog.tcp_port
        cfg["logging"]["syslog_servers"] = [
            {"host": rsyslog.address, "port": port, "protocol": protocol, "format": framing}]
    return edit


def connection_lines(local_port: int, remote_port: int, spi_out: int, spi_in: int, vip: str) -> list[str]:
    """The whitepaper's sequence with this session's values (spi_out: the
    SA towards the client, whose SPI the client chose)."""
    ike = f"Local:{FTD}:{local_port} Remote:{CLIENT}:{remote_port} Username:alice IKEv2"
    ipsec = f"between {FTD} and {CLIENT} (user= alice) has been created."
    s = "IPAA: Session=0x00006000,"
    return [
        f"%FTD-5-750002: Local:{FTD}:500 Remote:{CLIENT}:500 Username:Unknown IKEv2 Received a IKE_INIT_SA request",
        "%FTD-6-113012: AAA user authentication Successful : local database : user = alice",
        "%FTD-6-113009: AAA retrieved default group policy (GP-CCIElab) for user = alice",
        "%FTD-6-113008: AAA transaction status ACCEPT : user = alice",
        f"%FTD-6-734001: DAP: User alice, Addr {CLIENT}, Connection AnyConnect: The following DAP records "
        "were selected for this connection: DfltAccessPolicy",
        f"%FTD-6-113039: Group <GP-CCIElab> User <alice> IP <{CLIENT}> AnyConnect parent session started.",
        f"%FTD-5-737003: {s} DHCP configured, no viable servers found for tunnel-group 'CCIElab'",
        f"%FTD-6-737026: {s} Client assigned {vip} from local pool VPN-Pool",
        f"%FTD-6-737006: {s} Local pool request succeeded for tunnel-group 'CCIElab'",
        f"%FTD-5-737034: {s} IPv6 address: no IPv6 address available from local pools",
        f"%FTD-5-737034: {s} IPv6 address: no IPv6 address returned",
        f"%FTD-5-750006: {ike} SA UP. Reason: New Connection Established",
        f"%FTD-5-751025: {ike} Group:GP-CCIElab IPv4 Address={vip} IPv6 address=invalid-addr-2-0.0.0.0 "
        "assigned to session",
        f"%FTD-6-751026: {ike} Client OS: Unknown Client: Unknown",
        f"%FTD-6-602303: IPSEC: An outbound remote access SA (SPI= 0x{spi_out:X}) {ipsec}",
        f"%FTD-6-602303: IPSEC: An inbound remote access SA (SPI= 0x{spi_in:X}) {ipsec}",
        f"%FTD-5-109201: UAUTH: Session=0x00006000, User=alice, Assigned IP={vip}, Succeeded adding entry.",
    ]


def assert_headers(received: list[Received]) -> None:
    """rsyslog parsed each header as sent: local4, the tag's severity, our host name."""
    for r in received:
        tag = re.match(r"%FTD-(\d)-(\d{6}):", r.ftd)
        assert tag is not None, r.raw
        assert (r.facility, r.severity, r.hostname) == (20, int(tag[1]), HOSTNAME), r.raw


@pytest.mark.parametrize(("protocol", "framing"), [("udp", "rfc5424"), ("tcp", "rfc3164")])
def test_connection_and_disconnect_as_rsyslog_receives_them(
    ikev2d_server: StartIkev2d, client: StartCharon, rsyslog: Rsyslog, topology: Topology, protocol: str,
    framing: str
) -> None:
    server = ikev2d_server(logging_level="informational", edit=send_syslog_to(rsyslog, protocol, framing))
    alice = client(0)

    assert_initiated(alice.initiate(timeout=10), alice)
    sa = assert_connected(alice)
    [child] = sa.children
    vip = sa.local_vips[0]
    assert vip == POOL_FIRST
    # the client's inbound SPI is ikev2d's outbound one
    expected = connection_lines(sa.remote_port, sa.local_port, int(child.spi_in, 16), int(child.spi_out, 16), vip)
    received = rsyslog.wait_for(len(expected))
    assert [r.ftd for r in received] == expected
    assert_headers(received)
    if framing == "rfc5424":
        assert [r.msgid for r in received] == [line[7:13] for line in expected]

    # traffic through the tunnel, so 113019 has bytes to count
    pinged = ping(topology.clients[0], PINGS)
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
    received = rsyslog.wait_for(len(expected) + 6)
    teardown = [r.ftd for r in received[len(expected):]]
    ipsec = f"between {FTD} and {CLIENT} (user= alice) has been deleted."
    assert teardown[:5] == [
        f"%FTD-6-602304: IPSEC: An outbound remote access SA (SPI= 0x{int(child.spi_in, 16):X}) {ipsec}",
        f"%FTD-6-602304: IPSEC: An inbound remote access SA (SPI= 0x{int(child.spi_out, 16):X}) {ipsec}",
        f"%FTD-6-737016: IPAA: Session=0x00006000, Freeing local pool VPN-Pool address {vip}",
        f"%FTD-5-109210: UAUTH: Session=0x00006000, User=alice, Assigned IP={vip}, Succeeded removing entry.",
        f"%FTD-5-750007: Local:{FTD}:{sa.remote_port} Remote:{CLIENT}:{sa.local_port} Username:alice IKEv2 "
        "SA DOWN. Reason: User Requested",
    ]
    disconnected = re.fullmatch(
        rf"%FTD-4-113019: Group = GP-CCIElab, Username = alice, IP = {CLIENT}, Session disconnected\. "
        r"Session Type: IKEv2, Duration: 0h:00m:\d\ds, Bytes xmt: (\d+), Bytes rcv: (\d+), Reason: User Requested",
        teardown[5])
    assert disconnected is not None, teardown[5]
    # the data plane's counters: at least the echo requests in, the replies out
    # (84-byte IPv4 packets)
    assert int(disconnected[1]) >= PINGS * 84 and int(disconnected[2]) >= PINGS * 84, teardown[5]
    assert_headers(received)
    assert len(received) == len(expected) + 6
    assert server.running()


def test_wrong_password_as_rsyslog_receives_it(
    ikev2d_server: StartIkev2d, client: StartCharon, rsyslog: Rsyslog
) -> None:
    ikev2d_server(logging_level="informational", edit=send_syslog_to(rsyslog, "udp", "rfc5424"))
    mallory = client(0, password=WRONG_PW)

    assert not mallory.initiate(timeout=10).ok
    assert_no_sa(mallory)
    received = rsyslog.wait_for(3)
    assert [r.ftd for r in received] == [
        f"%FTD-5-750002: Local:{FTD}:500 Remote:{CLIENT}:500 Username:Unknown IKEv2 Received a IKE_INIT_SA request",
        f"%FTD-6-113015: AAA user authentication Rejected : reason = Invalid password : local database : "
        f"user = ***** : user IP = {CLIENT}",
        f"%FTD-4-750003: Local:{FTD}:4500 Remote:{CLIENT}:4500 Username:alice IKEv2 Negotiation aborted due to "
        "ERROR: Failed to authenticate the IKE SA",
    ]
    assert WRONG_PW not in rsyslog.text()


def test_default_errors_level_sends_nothing_for_a_good_session(
    ikev2d_server: StartIkev2d, client: StartCharon, rsyslog: Rsyslog
) -> None:
    """FTD's default VPN logging level is errors: a normal session is silent."""
    ikev2d_server(logging_level="errors", edit=send_syslog_to(rsyslog, "udp", "rfc5424"))
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)
    assert alice.terminate().ok
    assert rsyslog.wait_for(1, timeout=2) == []
