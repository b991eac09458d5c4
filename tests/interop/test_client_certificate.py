"""Client certificate authentication (the FTD's "Client Certificate Only"
connection profile) against a real strongSwan client with `auth = pubkey`
and a lab user certificate: RFC 7296 §2.15 signature AUTH both ways, the
client's chain validated against the trusted CA object, then the pool
address and a ping through the tunnel as for an EAP user."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import ikev2dlog, swanlog
from lab.netns import Topology
from lab.pki import LabPki, PrivateKey, make_ca, make_client_cert, new_key

from .checks import POOL_FIRST, assert_connected, assert_healthy, assert_in_log, assert_initiated, assert_no_sa, \
    ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

CAROL_DN = "O=ikev2d lab, CN=carol"  # the lab user certificate's subject, as strongSwan sends it


def certificate_only(ca: Path) -> Callable[[dict[str, Any]], None]:
    """Config edit: every connection profile authenticates by client
    certificate, validated against `ca` (FMC: Trusted CA object)."""
    def edit(cfg: dict[str, Any]) -> None:
        cfg["objects"]["trusted_ca_certificates"] = [{"name": "LAB-CA", "certificate": str(ca)}]
        for profile in cfg["connection_profiles"]:
            profile.setdefault("authentication", {})["method"] = "client-certificate"
    return edit


def _write(folder: Path, name: str, cert: x509.Certificate, key: PrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize(("key_type", "signature"), [("rsa-2048", "RSA_EMSA_PKCS1_SHA2_256"),
                                                    ("ecdsa-p256", "ECDSA_WITH_SHA256_DER")])
def test_certificate_client_connects_and_pings(ikev2d_server: StartIkev2d, client: StartCharon,
                                               lab_pki: LabPki, topology: Topology, key_type: str,
                                               signature: str) -> None:
    """RFC 7427 signatures both ways (strongSwan signs with SHA2-256 of the
    hashes we announce), RSA and ECDSA user keys."""
    server = ikev2d_server("--dataplane", "userspace", edit=certificate_only(lab_pki.ca_cert))
    user = lab_pki.client_identity("carol", key_type)
    carol = client(0, eap="pubkey", identity=CAROL_DN, client_cert=user.cert, client_key=user.key)
    assert_initiated(carol.initiate(timeout=15), carol)
    sa = assert_connected(carol, identity=CAROL_DN)
    assert sa.local_vips == [POOL_FIRST], sa
    # both ends signed (RFC 7427): no EAP ran
    assert f"authentication of '{CAROL_DN}' (myself) with {signature}" in carol.log(), tail(carol.log())
    assert "authentication of 'vpn.example.test' with RSA_EMSA_PKCS1_SHA2_" in carol.log(), tail(carol.log())
    # one round (after reassembly): IDr CERT AUTH CP SA TSi TSr, no EAP
    [answer] = [line for line in carol.log().splitlines() if "parsed IKE_AUTH response 1 [ IDr" in line]
    assert " AUTH " in answer and "EAP" not in answer, answer
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"
    log = server.log()
    assert "%FTD-6-717022: Certificate was successfully validated." in log, tail(log)
    shown = server.show("crypto", "ikev2", "sa").stdout
    assert f"Auth verify: {key_type.split('-')[0].upper()}" in shown, shown
    assert ikev2dlog.sa_up(log, "carol"), tail(log)  # the username is the certificate's CN
    assert_healthy(server)


def test_certificate_of_an_unknown_ca_is_refused(ikev2d_server: StartIkev2d, client: StartCharon,
                                                 lab_pki: LabPki, tmp_path: Path) -> None:
    server = ikev2d_server(edit=certificate_only(lab_pki.ca_cert))
    other_key, user_key = new_key(), new_key()
    other_ca = make_ca(other_key, cn="someone else's CA")
    cert, key = _write(tmp_path, "mallory", make_client_cert(user_key, other_ca, other_key, "mallory"), user_key)
    mallory = client(0, eap="pubkey", identity="O=ikev2d lab, CN=mallory", client_cert=cert, client_key=key)
    assert not mallory.initiate(timeout=15).ok, "a certificate of an untrusted CA must not connect"
    assert_in_log(mallory.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(mallory)
    log = server.log()
    assert "%FTD-3-717009: Certificate validation failed. No suitable trustpoints found" in log, tail(log)
    assert_healthy(server)


def test_eap_client_is_refused_by_a_certificate_profile(ikev2d_server: StartIkev2d, client: StartCharon,
                                                        lab_pki: LabPki) -> None:
    server = ikev2d_server(edit=certificate_only(lab_pki.ca_cert))
    alice = client(0)
    assert not alice.initiate(timeout=15).ok
    assert_no_sa(alice)
    assert_healthy(server)


def test_expired_certificate_is_refused(ikev2d_server: StartIkev2d, client: StartCharon, lab_pki: LabPki,
                                        tmp_path: Path) -> None:
    """An expired user certificate signed by the trusted CA: AUTHENTICATION_FAILED
    and 717009 `Certificate has expired`."""
    server = ikev2d_server(edit=certificate_only(lab_pki.ca_cert))
    ca = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(lab_pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    user_key = new_key()
    now = dt.datetime.now(dt.timezone.utc)
    expired = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=dave,O=ikev2d lab"))
               .issuer_name(ca.subject).public_key(user_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    cert, key = _write(tmp_path, "dave", expired, user_key)
    dave = client(0, eap="pubkey", identity="O=ikev2d lab, CN=dave", client_cert=cert, client_key=key)
    assert not dave.initiate(timeout=15).ok, "an expired certificate must not connect"
    assert_no_sa(dave)
    log = server.log()
    assert "%FTD-3-717009: Certificate validation failed. Certificate has expired" in log, tail(log)
    assert_healthy(server)
