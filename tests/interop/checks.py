"""Assertions on what a strongSwan client reports, shared by the tests against
strongSwan's reference responder and against ikev2d, so both are held to
the same observations; and the FTD syslog lines of one session as the two
syslog tests (local users, RADIUS) expect rsyslog to receive them."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Iterable

from lab import ikev2dlog, swanlog
from lab.ikev2d import Ikev2d
from lab.netns import Namespace
from lab.rsyslog import Received
from lab.strongswan import Charon, CommandResult, IkeSa

# How strongSwan 5.9.8 names the whitepaper's NSA suite in list-sas.
NSA_IKE_PROPOSAL = "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"
NSA_ESP_PROPOSAL = "AES_CBC-256/HMAC_SHA2_512_256"
POOL_FIRST = "198.19.0.200"
POOL_LAST = "198.19.0.250"
INSIDE_NET = "198.19.0.0/24"
INSIDE = "198.19.0.1"  # the gateway's inside address, reached through the tunnel


def in_pool(addr: str, first: str = POOL_FIRST, last: str = POOL_LAST) -> bool:
    a = ipaddress.ip_address(addr)
    return ipaddress.ip_address(first) <= a <= ipaddress.ip_address(last)


def assert_initiated(result: CommandResult, client: Charon) -> None:
    assert result.ok, (
        f"initiate failed ({result.errmsg!r}); control log:\n{result.text()}\n"
        f"--- client charon log tail:\n{tail(client.log())}"
    )


def assert_connected(
    client: Charon,
    *,
    proposal: str = NSA_IKE_PROPOSAL,
    esp_proposal: str = NSA_ESP_PROPOSAL,
    identity: str = "alice",
    remote_id: str = "vpn.example.test",
) -> IkeSa:
    """Exactly one ESTABLISHED IKE SA with the expected suite, a pool
    address, and one INSTALLED ESP child; returns it."""
    sas = client.list_sas()
    assert len(sas) == 1, f"expected one IKE SA, list-sas shows {sas}"
    sa = sas[0]
    assert sa.state == "ESTABLISHED", sa
    assert sa.initiator, sa
    assert sa.proposal == proposal, f"IKE proposal {sa.proposal!r}, expected {proposal!r}"
    assert sa.local_id == identity, sa
    assert sa.remote_id == remote_id, sa
    assert len(sa.local_vips) == 1, f"expected one virtual IP, got {sa.local_vips}"
    vip = sa.local_vips[0]
    assert in_pool(vip), f"virtual IP {vip} outside {POOL_FIRST}-{POOL_LAST}"
    assert len(sa.children) == 1, f"expected one CHILD SA, got {sa.children}"
    child = sa.children[0]
    assert child.state == "INSTALLED", child
    assert child.protocol == "ESP", child
    assert child.proposal == esp_proposal, f"ESP proposal {child.proposal!r}, expected {esp_proposal!r}"
    assert child.local_ts == [f"{vip}/32"], child
    assert child.remote_ts == [INSIDE_NET], child
    log = client.log()
    assert swanlog.installing_vip(vip) in log
    return sa


def assert_on_port_4500(sa: IkeSa) -> None:
    """RFC 7296 §2.23: after NAT detection (kernel-libipsec always claims
    NAT) the IKE SA floats to 4500, and ESP is UDP-encapsulated."""
    assert sa.local_port == 4500, sa
    assert sa.remote_port == 4500, f"remote port {sa.remote_port}, expected 4500"
    assert all(c.encap for c in sa.children), sa.children


def assert_no_sa(client: Charon) -> None:
    sas = client.list_sas()
    assert sas == [], f"expected no IKE SA, list-sas shows {sas}"


def assert_in_log(log: str, lines: Iterable[str]) -> None:
    missing = [line for line in lines if line not in log]
    assert not missing, f"client log lacks {missing}:\n{tail(log)}"


def assert_fragmented_ike_auth_response(log: str, min_fragments: int = 2) -> swanlog.ReceivedFragments:
    """The client got IKE_AUTH response 1 as SKF fragments 1..N of N (N >=
    min_fragments) and reassembled it (RFC 7383 §2.6)."""
    frags = swanlog.received_fragments(log, "IKE_AUTH", "response", 1)
    assert frags.total >= min_fragments, f"IKE_AUTH response 1 not fragmented: {frags}\n{tail(log)}"
    assert sorted(frags.numbers) == list(range(1, frags.total + 1)), frags
    assert frags.reassembled_bytes is not None, f"no reassembly logged: {frags}"
    return frags


def ping(ns: Namespace, count: int = 3) -> subprocess.CompletedProcess[str]:
    """`count` pings from a client namespace to INSIDE, through the tunnel."""
    return ns.run(["ping", "-c", str(count), "-i", "0.2", "-W", "2", INSIDE], check=False, timeout=15)


def assert_healthy(server: Ikev2d, secrets: Iterable[str] = ()) -> None:
    """ikev2d still serves, logged no traceback, and logged none of `secrets`
    (DESIGN.md: errors are values the peer sees; secrets never reach a log)."""
    log = server.log()
    assert server.running(), f"ikev2d exited:\n{tail(log)}"
    assert ikev2dlog.tracebacks(log) == [], f"traceback in ikev2d's log:\n{tail(log)}"
    leaked = [s for s in secrets if s in log]
    assert leaked == [], "a password or secret reached ikev2d's log"


# -- FTD syslog ------------------------------------------------------------------

SYSLOG_HOSTNAME = "FTDv-1"  # config/ikev2d.yaml's and config/radius.yaml's


def session_up_lines(ftd: str, client: str, ftd_port: int, client_port: int, spi_out: int, spi_in: int,
                     vip: str, aaa: str) -> list[str]:
    """The whitepaper's sequence for alice's session coming up, with this
    session's values (spi_out: ikev2d's outbound SA, whose SPI the client
    chose); `aaa` is the authentication line, which tells the local
    database (113012) from a RADIUS server (113004)."""
    ike = f"Local:{ftd}:{ftd_port} Remote:{client}:{client_port} Username:alice IKEv2"
    ipsec = f"between {ftd} and {client} (user= alice) has been created."
    s = "IPAA: Session=0x00006000,"
    return [
        f"%FTD-5-750002: Local:{ftd}:500 Remote:{client}:500 Username:Unknown IKEv2 Received a IKE_INIT_SA "
        "request",
        aaa,
        "%FTD-6-113009: AAA retrieved default group policy (GP-CCIElab) for user = alice",
        "%FTD-6-113008: AAA transaction status ACCEPT : user = alice",
        f"%FTD-6-734001: DAP: User alice, Addr {client}, Connection AnyConnect: The following DAP records "
        "were selected for this connection: DfltAccessPolicy",
        f"%FTD-6-113039: Group <GP-CCIElab> User <alice> IP <{client}> AnyConnect parent session started.",
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
        # the whitepaper's table has this line after 602303 (the issue's
        # summary leaves it out)
        f"%FTD-5-109201: UAUTH: Session=0x00006000, User=alice, Assigned IP={vip}, Succeeded adding entry.",
    ]


def session_down_lines(ftd: str, client: str, ftd_port: int, client_port: int, spi_out: int, spi_in: int,
                       vip: str) -> list[str]:
    """The lines of alice's session going down as the client asked, up to
    the 113019 that counts its bytes."""
    ipsec = f"between {ftd} and {client} (user= alice) has been deleted."
    return [
        f"%FTD-6-602304: IPSEC: An outbound remote access SA (SPI= 0x{spi_out:X}) {ipsec}",
        f"%FTD-6-602304: IPSEC: An inbound remote access SA (SPI= 0x{spi_in:X}) {ipsec}",
        f"%FTD-6-737016: IPAA: Session=0x00006000, Freeing local pool VPN-Pool address {vip}",
        f"%FTD-5-109210: UAUTH: Session=0x00006000, User=alice, Assigned IP={vip}, Succeeded removing entry.",
        f"%FTD-5-750007: Local:{ftd}:{ftd_port} Remote:{client}:{client_port} Username:alice IKEv2 "
        "SA DOWN. Reason: User Requested",
    ]


def assert_syslog_headers(received: list[Received], *, msgid: bool) -> None:
    """rsyslog parsed each header as sent: local4, the tag's severity, our
    host name, and with `msgid` (RFC 5424) the message ID as MSGID."""
    for r in received:
        tag = re.match(r"%FTD-(\d)-(\d{6}):", r.ftd)
        assert tag is not None, r.raw
        assert (r.facility, r.severity, r.hostname) == (20, int(tag[1]), SYSLOG_HOSTNAME), r.raw
        if msgid:
            assert r.msgid == tag[2], r.raw


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])
