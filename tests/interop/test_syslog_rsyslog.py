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
from collections.abc import Callable
from typing import Any

import pytest

from lab.netns import Topology
from lab.rsyslog import Rsyslog

from .checks import (
    POOL_FIRST,
    assert_connected,
    assert_initiated,
    assert_no_sa,
    assert_syslog_headers,
    ping,
    session_down_lines,
    session_up_lines,
)
from .conftest import StartCharon, StartIkev2d, StartRsyslog

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


FTD, CLIENT = "198.18.0.1", "198.18.0.2"
WRONG_PW = "Not-Alices-Passw0rd-9"
TCP_PORT = 1470
PINGS = 3


@pytest.fixture
def rsyslog(topology: Topology, rsyslog_server: StartRsyslog) -> Rsyslog:
    """rsyslogd in the last client namespace (a syslog host on the outside
    network), UDP 514 and TCP 1470."""
    return rsyslog_server(topology.clients[-1], topology.client_addrs[-1], 514, TCP_PORT)


def send_syslog_to(rsyslog: Rsyslog, protocol: str, framing: str) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        port = rsyslog.udp_port if protocol == "udp" else rsyslog.tcp_port
        cfg["logging"]["syslog_servers"] = [
            {"host": rsyslog.address, "port": port, "protocol": protocol, "format": framing}]
    return edit


def connection_lines(local_port: int, remote_port: int, spi_out: int, spi_in: int, vip: str) -> list[str]:
    """The whitepaper's sequence with this session's values, the local
    database's 113012 for the AAA line."""
    return session_up_lines(FTD, CLIENT, local_port, remote_port, spi_out, spi_in, vip,
                            aaa="%FTD-6-113012: AAA user authentication Successful : local database : user = alice")


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
    assert_syslog_headers(received, msgid=False)
    if framing == "rfc5424":
        assert [r.msgid for r in received] == [line[7:13] for line in expected]

    # traffic through the tunnel, so 113019 has bytes to count
    pinged = ping(topology.clients[0], PINGS)
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
    received = rsyslog.wait_for(len(expected) + 6)
    teardown = [r.ftd for r in received[len(expected):]]
    assert teardown[:5] == session_down_lines(FTD, CLIENT, sa.remote_port, sa.local_port, int(child.spi_in, 16),
                                              int(child.spi_out, 16), vip)
    disconnected = re.fullmatch(
        rf"%FTD-4-113019: Group = GP-CCIElab, Username = alice, IP = {CLIENT}, Session disconnected\. "
        r"Session Type: IKEv2, Duration: 0h:00m:\d\ds, Bytes xmt: (\d+), Bytes rcv: (\d+), Reason: User Requested",
        teardown[5])
    assert disconnected is not None, teardown[5]
    # the data plane's counters: at least the echo requests in, the replies out
    # (84-byte IPv4 packets)
    assert int(disconnected[1]) >= PINGS * 84 and int(disconnected[2]) >= PINGS * 84, teardown[5]
    assert_syslog_headers(received, msgid=False)
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
