"""ikev2d against a real strongSwan 5.9.8 client (the product's proof).

`ikev2d run` serves config/ikev2d.yaml (the whitepaper's FTD: IKEv2 policy
NSA = AES-256/SHA-512/PRF SHA-512/group 15, IPsec proposal NSA =
AES-256/SHA-512, VPN-Pool 198.19.0.200-250, local users alice and bob, EAP
methods mschapv2, md5, gtc) in the gateway namespace, with the lab PKI's
server certificate.  Each test asserts on what strongSwan reports (list-sas,
its charon log) and on ikev2d's own log.  The same client-side checks pass
against strongSwan's responder in test_reference_responder.py.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from lab import ikev2dlog, swanlog
from lab.capture import Capture
from lab.ikev2d import Ikev2d

from .checks import (
    NSA_IKE_PROPOSAL,
    POOL_FIRST,
    assert_connected,
    assert_fragmented_ike_auth_response,
    assert_healthy,
    assert_in_log,
    assert_initiated,
    assert_no_sa,
    assert_on_port_4500,
    tail,
)
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


ALICE_PW = "Lab-Passw0rd-1"
BOB_PW = "Lab-Passw0rd-2"
WRONG_PW = "Not-Alices-Passw0rd-9"
POOL_SECOND = "198.19.0.201"
USERS = {"alice": ALICE_PW, "bob": BOB_PW, "carol": "Lab-Passw0rd-3", "dave": "Lab-Passw0rd-4"}
DH14_ONLY = "aes256-sha512-prfsha512-modp2048"
DH14_THEN_15 = "aes256-sha512-prfsha512-modp2048-modp3072"
PASSWORDS = (ALICE_PW, BOB_PW, WRONG_PW)  # none of them may reach ikev2d's log


def assert_ikev2d_reports_session(server: Ikev2d, username: str, vip: str) -> None:
    log = server.log()
    assert ikev2dlog.sa_up(log, username), f"ikev2d did not log SA UP for {username}:\n{tail(log)}"
    assert ikev2dlog.address_assigned(log, username, vip), (
        f"ikev2d did not log {vip} assigned to {username}:\n{tail(log)}"
    )


@pytest.mark.parametrize(
    ("eap", "method", "msk"),
    [
        ("eap-mschapv2", "EAP_MSCHAPV2", True),
        ("eap-md5", "EAP_MD5", False),
        ("eap-gtc", "EAP_GTC", False),
    ],
)
def test_eap_method_connects_with_nsa_suite_and_pool_address(
    ikev2d_server: StartIkev2d, client: StartCharon, eap: str, method: str, msk: bool
) -> None:
    """Whitepaper: IKE AES-256/SHA-512/PRF SHA-512/group 15, ESP AES-256/SHA-512,
    address from VPN-Pool.  ikev2d offers MSCHAPv2 first; an MD5 or GTC
    client answers with a legacy Nak (RFC 3748 §5.3.1) and gets its method."""
    server = ikev2d_server()
    alice = client(0, eap=eap)

    result = alice.initiate(timeout=10)

    assert_initiated(result, alice)
    sa = assert_connected(alice, proposal=NSA_IKE_PROPOSAL)
    assert sa.local_vips == [POOL_FIRST], "a fresh pool hands out its lowest address first"
    assert_in_log(
        alice.log(),
        [
            swanlog.eap_requested(method),
            swanlog.eap_succeeded(method, msk=msk),
            swanlog.established("198.18.0.2", "alice", "198.18.0.1", "vpn.example.test"),
        ],
    )
    assert_ikev2d_reports_session(server, "alice", POOL_FIRST)
    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
    assert_healthy(server, PASSWORDS)


def test_ike_sa_floats_to_port_4500(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """RFC 7296 §2.23 / RFC 3948: NAT detected (kernel-libipsec always fakes
    it), so IKE_AUTH onwards and ESP use UDP 4500."""
    server = ikev2d_server()
    alice = client(0)

    assert_initiated(alice.initiate(timeout=10), alice)

    sa = assert_connected(alice)
    assert_on_port_4500(sa)
    assert_in_log(alice.log(), ["sending packet: from 198.18.0.2[4500] to 198.18.0.1[4500]"])
    assert "Local:198.18.0.1:4500" in "\n".join(ikev2dlog.sa_up(server.log(), "alice")), (
        "ikev2d should report the SA on its port 4500"
    )
    assert_healthy(server, PASSWORDS)


def test_two_clients_get_distinct_addresses_and_disconnect_frees_them(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    """Two sessions at once hold two pool addresses; terminating both frees
    both: the pool hands out its lowest free address, so two new users
    (not the same identities, so no per-user lease stickiness can help)
    get the same two lowest addresses again."""
    server = ikev2d_server(users=USERS)
    alice = client(0)
    bob = client(1, identity="bob", password=BOB_PW)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: c.initiate(timeout=10), [alice, bob]))
    for result, c in zip(results, (alice, bob)):
        assert_initiated(result, c)
    vip_alice = assert_connected(alice).local_vips[0]
    vip_bob = assert_connected(bob, identity="bob").local_vips[0]
    assert {vip_alice, vip_bob} == {POOL_FIRST, POOL_SECOND}
    assert_ikev2d_reports_session(server, "alice", vip_alice)
    assert_ikev2d_reports_session(server, "bob", vip_bob)

    assert alice.terminate().ok and bob.terminate().ok
    assert alice.wait_for_sas(0) == [] and bob.wait_for_sas(0) == []

    carol = client(2, identity="carol", password=USERS["carol"])
    assert_initiated(carol.initiate(timeout=10), carol)
    assert assert_connected(carol, identity="carol").local_vips == [POOL_FIRST], "freed lowest address not reused"
    dave = client(3, identity="dave", password=USERS["dave"])
    assert_initiated(dave.initiate(timeout=10), dave)
    assert assert_connected(dave, identity="dave").local_vips == [POOL_SECOND], "second freed address not reused"
    assert_healthy(server, secrets=tuple(USERS.values()))


def test_small_fragment_size_sends_ike_auth_response_in_skf_fragments(
    ikev2d_server: StartIkev2d, client: StartCharon, gateway_capture: Callable[[], Capture]
) -> None:
    """RFC 7383: with fragment_size 576 on both sides, ikev2d's first
    IKE_AUTH response (IDr CERT AUTH EAP) leaves as several SKF messages,
    each IP datagram at most 576 bytes, and the client reassembles it."""
    server = ikev2d_server(fragment_size=576)
    alice = client(0, fragment_size=576)
    cap = gateway_capture()

    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)
    summary = cap.stop()

    frags = assert_fragmented_ike_auth_response(alice.log())
    wire = [p for p in summary.fragments("IKE_AUTH", response=True, msg_id=1) if p.src == "198.18.0.1"]
    assert len(wire) == frags.total, f"SKF datagrams on the wire: {wire}"
    assert all((p.sport, p.dport) == (4500, 4500) for p in wire), wire
    assert all(p.ip_len <= 576 for p in wire), [p.ip_len for p in wire]
    assert_healthy(server, PASSWORDS)


def test_wrong_password_refused_then_next_client_served(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    """RFC 7296 §2.21.2: a failed EAP authentication is answered with
    AUTHENTICATION_FAILED; no address is spent; the daemon goes on serving."""
    server = ikev2d_server()
    mallory = client(0, password=WRONG_PW)

    result = mallory.initiate(timeout=10)

    assert not result.ok, "a wrong password must not connect"
    assert_in_log(mallory.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(mallory)
    assert ikev2dlog.auth_refused(server.log(), "alice"), f"ikev2d did not log the refusal:\n{tail(server.log())}"

    alice = client(1)
    assert_initiated(alice.initiate(timeout=10), alice)
    sa = assert_connected(alice)
    assert sa.local_vips == [POOL_FIRST], "the refused attempt must not hold a pool address"
    assert_healthy(server, PASSWORDS)


def test_dh_group_14_only_gets_no_proposal_chosen(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """NSA policy is group 15 only: a group-14-only proposal gets
    NO_PROPOSAL_CHOSEN (RFC 7296 §2.7) in the IKE_SA_INIT response."""
    server = ikev2d_server()
    alice = client(0, proposals=DH14_ONLY)

    result = alice.initiate(timeout=10)

    assert not result.ok
    assert_in_log(alice.log(), [swanlog.NO_PROP_RESPONSE, swanlog.NO_PROPOSAL_CHOSEN])
    assert_no_sa(alice)
    assert_healthy(server, PASSWORDS)


def test_dh_group_14_then_15_gets_invalid_ke_then_connects_on_15(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    """RFC 7296 §1.2: the client guesses group 14 in KE but also offers 15;
    ikev2d answers INVALID_KE_PAYLOAD asking for 15 (MODP_3072), and the
    retry with group 15 connects."""
    server = ikev2d_server()
    alice = client(0, proposals=DH14_THEN_15)

    assert_initiated(alice.initiate(timeout=10), alice)

    assert_in_log(
        alice.log(),
        [swanlog.INVALID_KE_RESPONSE, swanlog.invalid_ke_retry("MODP_2048", "MODP_3072")],
    )
    sa = assert_connected(alice)
    assert sa.proposal == NSA_IKE_PROPOSAL
    assert sa.proposal.endswith("/MODP_3072")
    assert_healthy(server, PASSWORDS)
