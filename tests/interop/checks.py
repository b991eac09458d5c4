"""Assertions on what a strongSwan client reports, shared by the tests against
strongSwan's reference responder and against ikev2d, so both are held to
the same observations."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable

from lab import ikev2dlog, swanlog
from lab.ikev2d import Ikev2d
from lab.netns import Namespace
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


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])
