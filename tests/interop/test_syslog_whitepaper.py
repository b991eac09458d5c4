"""The whitepaper's troubleshooting log, with its users in RADIUS, as a
real syslog server receives it (issue 4, item 2).

The whitepaper's FTD authenticated against a RADIUS server and sent it
accounting (its table: "AAA user authentication successful: server =
172.31.1.12", "AAA user accounting successful"), so this is the case that
must yield its sequence exactly: config/radius.yaml, whose RADIUS server
(198.19.0.12) and syslog server (198.19.0.10) sit on the gateway's inside.
Here both are real: Debian's FreeRADIUS and rsyslogd, on those addresses in
the gateway namespace. A strongSwan client connects with EAP-MSCHAPv2
(relayed to FreeRADIUS), pings once through the tunnel and disconnects; a
second client then gives a wrong password. What rsyslog received over UDP
is compared line by line with the whitepaper's sequence, carrying this
session's values (addresses, ports, SPIs and byte counts as strongSwan and
ikev2d's data plane report them). The local database's variant of the
same sequence (113012, no accounting) is test_syslog_rsyslog.py.
"""

from __future__ import annotations

import json
import re

import pytest

from lab.freeradius import FreeRadius
from lab.ikev2d import Ikev2d
from lab.netns import Topology
from lab.rsyslog import Received, Rsyslog
from lab.strongswan import Charon

from .checks import (
    POOL_FIRST,
    assert_connected,
    assert_initiated,
    assert_no_sa,
    assert_syslog_headers,
    ping,
    session_down_lines,
    session_up_lines,
    tail,
)
from .conftest import RADIUS_SECRET, RADIUS_SERVER, SYSLOG_SERVER, StartCharon, StartFreeRadius

pytestmark = [pytest.mark.interop, pytest.mark.radius, pytest.mark.timeout(90)]


FTD, ALICE_ADDR, MALLORY_ADDR = "198.18.0.1", "198.18.0.2", "198.18.0.3"
SECRET = RADIUS_SECRET
ALICE_RADIUS_PW = "Radius-Alice-Pw-1"  # not the local database's password for alice
WRONG_PW = "Not-Alices-Radius-Pw-9"
ICMP_ECHO = 84  # bytes of one IPv4 echo request or reply (20 + 8 + 56)


@pytest.fixture
def freeradius(inside_hosts: None, freeradius_server: StartFreeRadius) -> FreeRadius:
    return freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW})


@pytest.fixture
def ikev2d(radius_ikev2d: Ikev2d) -> Ikev2d:
    """config/radius.yaml as it is: the ISE group for authentication and
    accounting, the inside UDP syslog server in RFC 5424."""
    profile = radius_ikev2d.config["connection_profiles"][0]
    assert (profile["authentication"]["server_group"], profile["accounting_server_group"]) == ("ISE", "ISE")
    assert radius_ikev2d.config["logging"]["syslog_servers"] == [
        {"host": SYSLOG_SERVER, "protocol": "udp", "port": 514, "format": "rfc5424", "interface": "inside"}]
    return radius_ikev2d


def connection_lines(ftd_port: int, client_port: int, spi_out: int, spi_in: int, vip: str) -> list[str]:
    """The whitepaper's table, in its order, with this session's values: the
    RADIUS server's 113004 for the AAA line, and its accounting line last."""
    return session_up_lines(
        FTD, ALICE_ADDR, ftd_port, client_port, spi_out, spi_in, vip,
        aaa=f"%FTD-6-113004: AAA user authentication Successful : server = {RADIUS_SERVER} : user = alice",
    ) + [
        # the Accounting-Response to the Start record
        f"%FTD-6-113004: AAA user accounting Successful : server = {RADIUS_SERVER} : user = alice",
    ]


def disconnect_lines(ftd_port: int, client_port: int, spi_out: int, spi_in: int, vip: str, duration: str,
                     bytes_xmt: int, bytes_rcv: int) -> list[str]:
    return session_down_lines(FTD, ALICE_ADDR, ftd_port, client_port, spi_out, spi_in, vip) + [
        f"%FTD-4-113019: Group = GP-CCIElab, Username = alice, IP = {ALICE_ADDR}, Session disconnected. "
        f"Session Type: IKEv2, Duration: {duration}, Bytes xmt: {bytes_xmt}, Bytes rcv: {bytes_rcv}, "
        "Reason: User Requested",
        # the Accounting-Response to the Stop record
        f"%FTD-6-113004: AAA user accounting Successful : server = {RADIUS_SERVER} : user = alice",
    ]


WRONG_PASSWORD_LINES = [
    f"%FTD-5-750002: Local:{FTD}:500 Remote:{MALLORY_ADDR}:500 Username:Unknown IKEv2 Received a IKE_INIT_SA "
    "request",
    f"%FTD-6-113005: AAA user authentication Rejected : reason = AAA failure : server = {RADIUS_SERVER} : "
    f"user = ***** : user IP = {MALLORY_ADDR}",
    f"%FTD-4-750003: Local:{FTD}:4500 Remote:{MALLORY_ADDR}:4500 Username:alice IKEv2 Negotiation aborted due to "
    "ERROR: Failed to authenticate the IKE SA",
]


def ftd_lines(received: list[Received]) -> list[str]:
    return [r.ftd for r in received]


def client_bytes(client: Charon) -> tuple[int, int]:
    """(sent, received): the inner bytes of the client's one Child SA, as it counts them."""
    children = client.list_sas()[0].raw["child-sas"]
    assert isinstance(children, dict) and len(children) == 1, children
    (child,) = children.values()
    assert isinstance(child, dict), child
    sent, received = child["bytes-out"], child["bytes-in"]
    assert isinstance(sent, str) and isinstance(received, str), child
    return int(sent), int(received)


def test_whitepaper_sequence_with_radius_as_rsyslog_receives_it(
    ikev2d: Ikev2d, client: StartCharon, rsyslog: Rsyslog, freeradius: FreeRadius, topology: Topology
) -> None:
    alice = client(0, eap="eap-mschapv2", password=ALICE_RADIUS_PW)
    assert_initiated(alice.initiate(timeout=15), alice)
    sa = assert_connected(alice)
    [child] = sa.children
    vip = sa.local_vips[0]
    assert vip == POOL_FIRST
    # the client's inbound SPI is ikev2d's outbound one; its remote port is ikev2d's
    spi_out, spi_in = int(child.spi_in, 16), int(child.spi_out, 16)
    ports = (sa.remote_port, sa.local_port)
    expected = connection_lines(*ports, spi_out, spi_in, vip)
    received = rsyslog.wait_for(len(expected))
    assert ftd_lines(received) == expected, "\n".join(r.raw for r in received)
    # RADIUS said yes, not the local database (its alice has another password)
    assert "Sent Access-Accept" in freeradius.log(), tail(freeradius.log())

    pinged = ping(topology.clients[0], 1)
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    # what the data plane counted (show crypto ipsec sa) and what the client did
    shown = ikev2d.show("crypto", "ipsec", "sa", json=True)
    assert shown.returncode == 0, shown.stderr
    (dataplane,) = json.loads(shown.stdout)["ipsec_sas"]
    gateway_in, gateway_out = dataplane["bytes_in"], dataplane["bytes_out"]
    assert (gateway_in, gateway_out) == client_bytes(alice), dataplane
    assert gateway_in >= ICMP_ECHO and gateway_out >= ICMP_ECHO, dataplane

    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
    teardown = disconnect_lines(*ports, spi_out, spi_in, vip, "DURATION", gateway_out, gateway_in)
    received = rsyslog.wait_for(len(expected) + len(teardown))
    got = ftd_lines(received)[len(expected):]
    duration = re.search(r"Duration: (0h:00m:\d\ds),", got[5]) if len(got) > 5 else None
    assert duration is not None, got
    teardown[5] = teardown[5].replace("DURATION", duration[1])
    assert got == teardown, "\n".join(got)

    mallory = client(1, eap="eap-mschapv2", password=WRONG_PW)
    assert not mallory.initiate(timeout=15).ok
    assert_no_sa(mallory)
    everything = expected + teardown + WRONG_PASSWORD_LINES
    received = rsyslog.wait_for(len(everything))
    assert ftd_lines(received) == everything, "\n".join(r.raw for r in received)
    # nothing more arrives (no line after the last the whitepaper shows)
    assert len(rsyslog.wait_for(len(everything) + 1, timeout=2)) == len(everything)
    assert_syslog_headers(received, msgid=True)

    # one 113004 accounting line per record FreeRADIUS stored, Start then Stop
    records = freeradius.accounting_records()
    assert [(r["Acct-Status-Type"], r["User-Name"], r["Framed-IP-Address"]) for r in records] == [
        ("Start", "alice", vip), ("Stop", "alice", vip)]
    assert "Sent Access-Reject" in freeradius.log()
    assert [s for s in (SECRET, ALICE_RADIUS_PW, WRONG_PW) if s in rsyslog.text()] == []
    assert ikev2d.running(), tail(ikev2d.log())
