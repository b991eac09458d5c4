"""Baseline: a strongSwan client against strongSwan's own responder, with the
whitepaper's NSA suite (IKE aes256-sha512-prfsha512-modp3072, ESP
aes256-sha512) and EAP-MSCHAPv2 with an address pool.

This validates the lab harness (namespaces, PKI, charon control, log and
capture parsing) and the observations the ikev2d tests rely on: the same
checks pass here against the reference implementation.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lab import swanlog
from lab.capture import Capture

from .checks import (
    POOL_FIRST,
    assert_connected,
    assert_fragmented_ike_auth_response,
    assert_in_log,
    assert_initiated,
    assert_no_sa,
    assert_on_port_4500,
)
from .conftest import StartCharon

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]



@pytest.mark.parametrize(("eap", "method", "msk"), [("eap-mschapv2", "EAP_MSCHAPV2", True), ("eap-md5", "EAP_MD5", False)])
def test_eap_client_gets_pool_address(
    reference_responder: StartCharon, client: StartCharon, eap: str, method: str, msk: bool
) -> None:
    responder = reference_responder(eap=eap)
    alice = client(0, eap=eap)

    result = alice.initiate(timeout=10)

    assert_initiated(result, alice)
    sa = assert_connected(alice)
    assert sa.local_vips == [POOL_FIRST]
    assert_on_port_4500(sa)
    assert_in_log(
        alice.log(),
        [
            swanlog.eap_requested(method),
            swanlog.eap_succeeded(method, msk=msk),
            swanlog.established("198.18.0.2", "alice", "198.18.0.1", "vpn.example.test"),
        ],
    )
    (peer,) = responder.list_sas()
    assert peer.state == "ESTABLISHED" and not peer.initiator
    assert peer.remote_vips == [POOL_FIRST]
    assert peer.remote_id == "alice"

    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
    assert responder.wait_for_sas(0) == []


def test_wrong_mschapv2_password_is_refused(reference_responder: StartCharon, client: StartCharon) -> None:
    """For comparison with ikev2d: strongSwan's responder refuses a wrong
    MSCHAPv2 password with an MS-CHAPv2 Failure Request (RFC 2759 §6) and the
    client ends the exchange itself; it does NOT send AUTHENTICATION_FAILED
    (the ikev2d test asks ikev2d for that notify)."""
    reference_responder()
    mallory = client(0, password="Not-Alices-Passw0rd-9")

    result = mallory.initiate(timeout=10)

    assert not result.ok
    assert_in_log(mallory.log(), ["EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE"])
    assert swanlog.AUTHENTICATION_FAILED not in mallory.log()
    assert_no_sa(mallory)


def test_two_clients_get_distinct_addresses(reference_responder: StartCharon, client: StartCharon) -> None:
    reference_responder()
    alice = client(0)
    bob = client(1, identity="bob", password="Lab-Passw0rd-2")

    for c in (alice, bob):
        assert_initiated(c.initiate(timeout=10), c)

    vips = [assert_connected(alice).local_vips[0], assert_connected(bob, identity="bob").local_vips[0]]
    assert len(set(vips)) == 2, vips


def test_small_fragment_size_fragments_ike_auth_response(
    reference_responder: StartCharon, client: StartCharon, gateway_capture: Callable[[], Capture]
) -> None:
    reference_responder(fragment_size=576)
    alice = client(0, fragment_size=576)
    cap = gateway_capture()

    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)
    summary = cap.stop()

    frags = assert_fragmented_ike_auth_response(alice.log())
    wire = summary.fragments("IKE_AUTH", response=True, msg_id=1)
    assert sorted(p.fragment[1] for p in wire if p.fragment) == [frags.total] * frags.total
    assert all(p.sport == 4500 and p.dport == 4500 for p in wire)
    assert all(p.ip_len <= 576 for p in wire), [p.ip_len for p in wire]


def test_dh_group_14_only_gets_no_proposal_chosen(reference_responder: StartCharon, client: StartCharon) -> None:
    reference_responder()
    alice = client(0, proposals="aes256-sha512-prfsha512-modp2048")

    result = alice.initiate(timeout=10)

    assert not result.ok
    assert_in_log(alice.log(), [swanlog.NO_PROP_RESPONSE, swanlog.NO_PROPOSAL_CHOSEN])
    assert_no_sa(alice)


def test_dh_group_14_then_15_gets_invalid_ke_then_connects(
    reference_responder: StartCharon, client: StartCharon
) -> None:
    reference_responder()
    alice = client(0, proposals="aes256-sha512-prfsha512-modp2048-modp3072")

    assert_initiated(alice.initiate(timeout=10), alice)

    assert_in_log(
        alice.log(),
        [swanlog.INVALID_KE_RESPONSE, swanlog.invalid_ke_retry("MODP_2048", "MODP_3072")],
    )
    sa = assert_connected(alice)
    assert sa.proposal.endswith("/MODP_3072")
