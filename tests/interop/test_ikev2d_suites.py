"""Suites other than the whitepaper's against a real strongSwan client: the
"Suite B"/CNSA style AEAD suite the whitepaper mentions (AES-256-GCM for IKE
and ESP, PRF SHA-384, ECDH P-384), and the FTD's rule that its own policy
priority, not the client's order, picks the suite."""

from __future__ import annotations

from typing import Any

import pytest

from .checks import POOL_FIRST, assert_connected, assert_healthy, assert_initiated, ping
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

GCM_POLICY = {"name": "SUITE-B", "priority": 20, "encryption": ["AES-GCM-256"], "integrity": ["NULL"],
              "prf": ["SHA384"], "dh_groups": [20], "lifetime_seconds": 86400}
GCM_PROPOSAL = {"name": "SUITE-B", "esp_encryption": ["AES-GCM-256"], "esp_hash": ["NULL"],
                "lifetime_seconds": 28800, "lifetime_kilobytes": 4608000}


def _add_suite_b(config: dict[str, Any]) -> None:
    config["objects"]["ikev2_policies"].append(GCM_POLICY)
    config["objects"]["ikev2_ipsec_proposals"].append(GCM_PROPOSAL)
    config["remote_access_vpn"]["ike_policies"] = ["NSA", "SUITE-B"]
    config["remote_access_vpn"]["ipsec_proposals"] = ["NSA", "SUITE-B"]


def test_aes_gcm_ike_and_esp_with_ecp384(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """RFC 5282 (AEAD in IKEv2's SK payload) and RFC 4106 (GCM in ESP) with a
    client that offers only the AEAD suite: it matches the second policy."""
    server = ikev2d_server(edit=_add_suite_b)
    alice = client(0, proposals="aes256gcm16-prfsha384-ecp384", esp_proposals="aes256gcm16")
    assert_initiated(alice.initiate(timeout=10), alice)
    sa = assert_connected(alice, proposal="AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384",
                          esp_proposal="AES_GCM_16-256")
    assert sa.local_vips == [POOL_FIRST]
    result = ping(alice.ns)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_healthy(server)


def test_our_policy_priority_wins_over_the_clients_order(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """The client prefers the AEAD suite (and guesses ECP-384 in KE); policy
    NSA has the better priority (10 < 20), so ikev2d asks for group 15 with
    INVALID_KE_PAYLOAD and the SA comes up on the NSA suite."""
    server = ikev2d_server(edit=_add_suite_b)
    alice = client(0, proposals="aes256gcm16-prfsha384-ecp384,aes256-sha512-prfsha512-modp3072")
    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)  # the NSA suite, ESP AES-256/SHA-512
    assert "requested MODP_3072" in alice.log()
    assert_healthy(server)
