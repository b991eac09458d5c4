"""Every algorithm of the FTD's IKEv2 policy and IKEv2 IPsec proposal
objects against a real strongSwan client (issue 9, point 2): each
combination below connects and carries a ping through ikev2d's userspace
data plane. Together they use every encryption, every integrity/PRF and
every DH group at least once (docs/ftd-behaviour.md, "Algorithms").

One ikev2d and one client charon serve the whole module (the lab set-up is
the slow part); each combination is one connection: load the proposal,
initiate, check what strongSwan negotiated, ping, terminate. A combination
is skipped only when this strongSwan build lacks one of its algorithms
(`swanctl --list-algs` says which), never because ikev2d does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.ikev2d import REPO, Ikev2d, Ikev2dKnobs, lab_config, load_default_config
from lab.netns import Topology, run_prefix
from lab.pki import LabPki
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig

from .checks import assert_connected, assert_healthy, assert_initiated, ping, tail

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SERVER_DN = "O=ikev2d lab, CN=vpn.example.test"  # the lab PKI's server certificate
ALL_GROUPS = [1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31]
# The FTD does not mix AES-GCM with the CBC ciphers in one IKEv2 policy: two policies.
POLICIES = [
    {"name": "CBC", "priority": 10, "encryption": ["AES-256", "AES-192", "AES", "3DES", "DES"],
     "integrity": ["SHA512", "SHA384", "SHA256", "SHA", "MD5"],
     "prf": ["SHA512", "SHA384", "SHA256", "SHA", "MD5"], "dh_groups": ALL_GROUPS},
    {"name": "GCM", "priority": 20, "encryption": ["AES-GCM-256", "AES-GCM-192", "AES-GCM"],
     "integrity": ["NULL"], "prf": ["SHA512", "SHA384", "SHA256", "SHA"], "dh_groups": ALL_GROUPS},
]
PROPOSALS = [
    {"name": "CBC", "esp_encryption": ["AES-256", "AES-192", "AES", "3DES", "DES", "NULL"],
     "esp_hash": ["SHA-512", "SHA-384", "SHA-256", "SHA-1", "MD5"]},
    {"name": "AEAD", "esp_encryption": ["AES-GCM-256", "AES-GCM-192", "AES-GCM",
                                        "AES-GMAC-256", "AES-GMAC-192", "AES-GMAC"],
     "esp_hash": ["NULL"]},
]


@dataclass(frozen=True)
class Combination:
    """One client offer (strongSwan keywords) and what list-sas must show."""

    name: str
    ike: str
    esp: str
    ike_shown: str
    esp_shown: str
    # strongSwan's names of what this needs from its crypto plugins (list-algs)
    needs: tuple[str, ...]


COMBINATIONS = [
    # Windows' built-in client's default offer (3DES, SHA-1, group 2)
    Combination("3des-sha1-modp1024", "3des-sha1-modp1024", "3des-sha1",
                "3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", "3DES_CBC/HMAC_SHA1_96",
                ("3DES_CBC", "HMAC_SHA1_96", "MODP_1024")),
    Combination("des-md5-modp768", "des-md5-modp768", "des-md5",
                "DES_CBC/HMAC_MD5_96/PRF_HMAC_MD5/MODP_768", "DES_CBC/HMAC_MD5_96",
                ("DES_CBC", "HMAC_MD5_96", "MODP_768")),
    Combination("aes128-sha256-modp1536", "aes128-sha256-modp1536", "aes128-sha256",
                "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1536", "AES_CBC-128/HMAC_SHA2_256_128",
                ("AES_CBC", "HMAC_SHA2_256_128", "MODP_1536")),
    Combination("aes192-sha384-modp2048s256", "aes192-sha384-modp2048s256", "aes192-sha384",
                "AES_CBC-192/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_2048_256", "AES_CBC-192/HMAC_SHA2_384_192",
                ("AES_CBC", "HMAC_SHA2_384_192", "MODP_2048_256")),
    Combination("aes256-sha512-modp2048-esp-null", "aes256-sha512-modp2048", "null-sha512",
                "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_2048", "NULL/HMAC_SHA2_512_256",
                ("AES_CBC", "NULL", "HMAC_SHA2_512_256", "MODP_2048")),
    Combination("aes256-md5-modp4096", "aes256-md5-modp4096", "aes256-md5",
                "AES_CBC-256/HMAC_MD5_96/PRF_HMAC_MD5/MODP_4096", "AES_CBC-256/HMAC_MD5_96",
                ("AES_CBC", "HMAC_MD5_96", "MODP_4096")),
    Combination("aes128gcm16-ecp256", "aes128gcm16-prfsha256-ecp256", "aes128gcm16",
                "AES_GCM_16-128/PRF_HMAC_SHA2_256/ECP_256", "AES_GCM_16-128",
                ("AES_GCM_16", "ECP_256")),
    Combination("aes192gcm16-ecp521", "aes192gcm16-prfsha384-ecp521", "aes192gcm16",
                "AES_GCM_16-192/PRF_HMAC_SHA2_384/ECP_521", "AES_GCM_16-192",
                ("AES_GCM_16", "ECP_521")),
    Combination("aes256gcm16-sha1prf-curve25519", "aes256gcm16-prfsha1-curve25519", "aes256gcm16",
                "AES_GCM_16-256/PRF_HMAC_SHA1/CURVE_25519", "AES_GCM_16-256",
                ("AES_GCM_16", "CURVE_25519")),
    Combination("aes256gcm16-prfsha512-ecp384", "aes256gcm16-prfsha512-ecp384", "aes256gcm16",
                "AES_GCM_16-256/PRF_HMAC_SHA2_512/ECP_384", "AES_GCM_16-256",
                ("AES_GCM_16", "ECP_384")),
    # ESP authentication only (RFC 4543), on an IKE suite the others already carry
    Combination("esp-aes256gmac", "aes128-sha256-modp2048", "aes256gmac",
                "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", "NULL_AUTH_AES_GMAC-256",
                ("AES_CBC", "HMAC_SHA2_256_128", "MODP_2048", "NULL_AUTH_AES_GMAC")),
    Combination("aes256-sha1-modp3072", "aes256-sha1-modp3072", "aes192-sha1",
                "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_3072", "AES_CBC-192/HMAC_SHA1_96",
                ("AES_CBC", "HMAC_SHA1_96", "MODP_3072")),
]


def _configure(config: dict[str, Any]) -> None:
    config["objects"]["ikev2_policies"] = POLICIES
    config["objects"]["ikev2_ipsec_proposals"] = PROPOSALS
    config["remote_access_vpn"]["ike_policies"] = [p["name"] for p in POLICIES]
    config["remote_access_vpn"]["ipsec_proposals"] = [p["name"] for p in PROPOSALS]


@dataclass
class Lab:
    topology: Topology
    server: Ikev2d
    client: Charon
    algorithms: str  # `swanctl --list-algs` of the client
    ca_cert: Path


@pytest.fixture(scope="module")
def lab(lab_session: None, lab_pki: LabPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("algorithms")
    topology = Topology(run_prefix("alg"), 1).create()
    started: list[Ikev2d | Charon] = []
    try:
        cfg = lab_config(lab_pki, store=folder / "pki-store", knobs=Ikev2dKnobs(edit=_configure))
        server = Ikev2d(topology.gateway, folder / "ikev2d", cfg, extra_args=("--dataplane", "userspace"))
        started.append(server)
        server.start()
        client = Charon(topology.clients[0], folder / "client")
        started.append(client)
        client.start()
        yield Lab(topology, server, client, client.swanctl("--list-algs"), lab_pki.ca_cert)
    finally:
        for daemon in reversed(started):
            daemon.stop()
        topology.destroy()


def test_the_combinations_cover_every_ftd_algorithm() -> None:
    """The acceptance: every encryption, integrity, PRF and DH group at least once."""
    ike = " ".join(c.ike_shown for c in COMBINATIONS)
    esp = " ".join(c.esp_shown for c in COMBINATIONS)
    for name in ("AES_CBC-128", "AES_CBC-192", "AES_CBC-256", "3DES_CBC", "DES_CBC",
                 "AES_GCM_16-128", "AES_GCM_16-192", "AES_GCM_16-256",
                 "HMAC_MD5_96", "HMAC_SHA1_96", "HMAC_SHA2_256_128", "HMAC_SHA2_384_192", "HMAC_SHA2_512_256"):
        assert name in ike and name in esp, name
    for name in ("PRF_HMAC_MD5", "PRF_HMAC_SHA1", "PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_512"):
        assert name in ike, name
    assert "NULL/" in esp and "NULL_AUTH_AES_GMAC" in esp  # ESP only
    groups = {c.ike_shown.split("/")[-1] for c in COMBINATIONS}
    assert groups == {"MODP_768", "MODP_1024", "MODP_1536", "MODP_2048", "MODP_3072", "MODP_4096", "ECP_256",
                      "ECP_384", "ECP_521", "MODP_2048_256", "CURVE_25519"}


@pytest.mark.parametrize("combo", COMBINATIONS, ids=[c.name for c in COMBINATIONS])
def test_combination_connects_and_carries_a_ping(lab: Lab, combo: Combination) -> None:
    missing = [n for n in combo.needs if f"  {n}[" not in lab.algorithms]
    if missing:
        pytest.skip(f"this strongSwan build (its crypto plugins, as kernel-libipsec uses them) lacks "
                    f"{', '.join(missing)}: swanctl --list-algs lists none")
    client, topology = lab.client, lab.topology
    client.load(ClientConfig(local_addr=topology.client_addrs[0], remote_addr=topology.gateway_addr,
                             ca_cert=lab.ca_cert, proposals=combo.ike, esp_proposals=combo.esp))
    try:
        assert_initiated(client.initiate(timeout=10), client)
        assert_connected(client, proposal=combo.ike_shown, esp_proposal=combo.esp_shown)
        result = ping(topology.clients[0], count=2)
        assert result.returncode == 0, result.stdout + result.stderr + "\n" + tail(lab.server.log())
    finally:
        client.terminate(timeout=5)
        client.wait_for_sas(0, timeout=5)
    assert_healthy(lab.server)


def test_config_weak_yaml_runs_windows_default_offer(lab: Lab, lab_pki: LabPki,
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """config/weak.yaml, which check-config flags, really runs: Windows'
    default offer (3DES, SHA-1, group 2; ESP 3DES/SHA-1) matches its LEGACY
    policy and proposal, and carries a ping."""
    folder = tmp_path_factory.mktemp("weak")
    lab.server.stop()  # one ikev2d on the gateway's ports at a time
    base = load_default_config(REPO / "config" / "weak.yaml")
    for interface in base.get("interfaces", []):  # SSL and client services off: not what this tests
        interface.pop("hardware", None)
    for access in base["remote_access_vpn"]["access_interfaces"]:
        access["enable_ssl"] = access["enable_dtls"] = False
    for profile in base["connection_profiles"]:
        profile["enable_client_services"] = False
    cfg = lab_config(lab_pki, store=folder / "pki-store", base=base)
    server = Ikev2d(lab.topology.gateway, folder / "ikev2d", cfg, extra_args=("--dataplane", "userspace"))
    server.start()
    client, topology = lab.client, lab.topology
    try:
        # weak.yaml's profile names no ike_identity: ikev2d presents its certificate's DN
        client.load(ClientConfig(local_addr=topology.client_addrs[0], remote_addr=topology.gateway_addr,
                                 ca_cert=lab.ca_cert, proposals="3des-sha1-modp1024", esp_proposals="3des-sha1",
                                 remote_id=SERVER_DN))
        assert_initiated(client.initiate(timeout=10), client)
        assert_connected(client, proposal="3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024",
                         esp_proposal="3DES_CBC/HMAC_SHA1_96", remote_id=SERVER_DN)
        result = ping(topology.clients[0], count=2)
        assert result.returncode == 0, result.stdout + result.stderr + "\n" + tail(server.log())
        client.terminate(timeout=5)
        client.wait_for_sas(0, timeout=5)
        assert_healthy(server)
    finally:
        server.stop()
        lab.server.start()  # the module's ikev2d back, for any test after this one
