"""The FTD's "Client Certificate & AAA" connection profile against a real
strongSwan client doing RFC 4739 multiple authentication: `local-1` with
`auth = pubkey` and a lab user certificate, `local-2` with
`auth = eap-mschapv2`. The certificate round, then EAP against the local
users (or FreeRADIUS), then the pool address and a ping through the tunnel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import ikev2dlog, swanlog
from lab.freeradius import FreeRadius
from lab.netns import Topology
from lab.pki import LabPki, PrivateKey
from lab.swanctl_conf import DEFAULT_USERS

from .checks import POOL_FIRST, assert_healthy, assert_in_log, assert_initiated, assert_no_sa, ping, tail
from .conftest import StartCharon, StartFreeRadius, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

CAROL_DN = "O=ikev2d lab, CN=carol"  # the lab user certificate's subject, as strongSwan sends it
RADIUS_SECRET = "Lab-Radius-Secret-4739"
ALICE_RADIUS_PW = "Radius-Alice-Pw-4739"  # not ikev2d's local password for alice


def certificate_and_aaa(ca: Path, radius: bool = False) -> Callable[[dict[str, Any]], None]:
    """Config edit: every connection profile authenticates by client
    certificate, then AAA (the local users, or the RADIUS group ISE)."""
    def edit(cfg: dict[str, Any]) -> None:
        cfg["objects"]["trusted_ca_certificates"] = [{"name": "LAB-CA", "certificate": str(ca)}]
        if radius:
            cfg["objects"]["radius_server_groups"] = [{"name": "ISE", "servers": [
                {"host": "127.0.0.1", "secret": RADIUS_SECRET, "timeout_seconds": 2, "retries": 1}]}]
        for profile in cfg["connection_profiles"]:
            auth = profile.setdefault("authentication", {})
            auth["method"] = "aaa-and-client-certificate"
            if radius:
                auth["server_group"] = "ISE"
                auth["eap_methods"] = ["mschapv2"]
    return edit


def _carol(client: StartCharon, lab_pki: LabPki, cert: Path | None = None, key: Path | None = None,
           identity: str = CAROL_DN, **conf: Any) -> Any:
    if cert is None or key is None:
        user = lab_pki.client_identity("carol")
        cert, key = user.cert, user.key
    return client(0, eap="pubkey", identity=identity, client_cert=cert, client_key=key,
                  second_eap="eap-mschapv2", second_identity="alice", **conf)


def _assert_up_and_pinging(carol: Any, topology: Topology) -> None:
    sas = carol.list_sas()
    assert len(sas) == 1 and sas[0].state == "ESTABLISHED", sas
    assert sas[0].local_vips == [POOL_FIRST], sas[0]
    assert len(sas[0].children) == 1 and sas[0].children[0].state == "INSTALLED", sas[0]
    log = carol.log()
    # round one signed with the certificate, answered without the Child SA
    assert f"authentication of '{CAROL_DN}' (myself) with RSA_EMSA_PKCS1_SHA2_256" in log, tail(log)
    [answer] = [line for line in log.splitlines() if "parsed IKE_AUTH response 1 [ IDr" in line]
    assert " AUTH " in answer and " SA " not in answer and "EAP" not in answer, answer
    assert_in_log(log, [swanlog.eap_succeeded("EAP_MSCHAPV2", msk=True)])
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"


def test_certificate_then_eap_mschapv2_connects_and_pings(ikev2d_server: StartIkev2d, client: StartCharon,
                                                          lab_pki: LabPki, topology: Topology) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=certificate_and_aaa(lab_pki.ca_cert))
    carol = _carol(client, lab_pki, password=DEFAULT_USERS["alice"])
    assert_initiated(carol.initiate(timeout=20), carol)
    _assert_up_and_pinging(carol, topology)
    log = server.log()
    assert "%FTD-6-717022: Certificate was successfully validated." in log, tail(log)
    assert "%FTD-6-113012:" in log, tail(log)  # then the local database
    assert ikev2dlog.sa_up(log, "alice"), tail(log)  # the session is the AAA user's
    assert_healthy(server)


def test_wrong_password_after_a_good_certificate_is_refused(ikev2d_server: StartIkev2d, client: StartCharon,
                                                            lab_pki: LabPki) -> None:
    server = ikev2d_server(edit=certificate_and_aaa(lab_pki.ca_cert))
    carol = _carol(client, lab_pki, password="Not-Alices-Password-9")
    assert not carol.initiate(timeout=20).ok, "a wrong password must not connect"
    assert_in_log(carol.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(carol)
    log = server.log()
    assert "%FTD-6-717022:" in log and "%FTD-6-113015:" in log, tail(log)
    assert log.index("%FTD-6-717022:") < log.index("%FTD-6-113015:")
    assert_healthy(server)


def _write(folder: Path, name: str, cert: x509.Certificate, key: PrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_expired_certificate_with_a_good_password_is_refused(ikev2d_server: StartIkev2d, client: StartCharon,
                                                             lab_pki: LabPki, tmp_path: Path) -> None:
    """The certificate round fails (717009) before any EAP: a right password
    does not make up for an expired certificate."""
    server = ikev2d_server(edit=certificate_and_aaa(lab_pki.ca_cert))
    ca = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(lab_pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    user_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    expired = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=dave,O=ikev2d lab"))
               .issuer_name(ca.subject).public_key(user_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    cert, key = _write(tmp_path, "dave", expired, user_key)
    dave = _carol(client, lab_pki, cert, key, identity="O=ikev2d lab, CN=dave", password=DEFAULT_USERS["alice"])
    assert not dave.initiate(timeout=20).ok, "an expired certificate must not connect"
    assert_no_sa(dave)
    log = server.log()
    assert "%FTD-3-717009: Certificate validation failed. Certificate has expired" in log, tail(log)
    assert "%FTD-6-113012:" not in log and "%FTD-6-113015:" not in log, tail(log)  # no EAP ran
    assert_healthy(server)


def test_eap_only_client_is_refused(ikev2d_server: StartIkev2d, client: StartCharon, lab_pki: LabPki) -> None:
    server = ikev2d_server(edit=certificate_and_aaa(lab_pki.ca_cert))
    alice = client(0)
    assert not alice.initiate(timeout=20).ok, "EAP alone must not pass a certificate and AAA profile"
    assert_no_sa(alice)
    assert "asked for EAP only" in server.log(), tail(server.log())
    assert_healthy(server)


@pytest.mark.radius
def test_certificate_then_eap_relayed_to_radius(ikev2d_server: StartIkev2d, client: StartCharon,
                                                freeradius_server: StartFreeRadius, lab_pki: LabPki,
                                                topology: Topology) -> None:
    """The second round's EAP-MSCHAPv2 goes to FreeRADIUS (RFC 3579) as for
    an AAA-only profile; the MSK from its MS-MPPE keys makes the final AUTH."""
    radius: FreeRadius = freeradius_server(secret=RADIUS_SECRET, users={"alice": ALICE_RADIUS_PW})
    server = ikev2d_server("--dataplane", "userspace", edit=certificate_and_aaa(lab_pki.ca_cert, radius=True))
    carol = _carol(client, lab_pki, password=ALICE_RADIUS_PW)
    assert_initiated(carol.initiate(timeout=20), carol)
    _assert_up_and_pinging(carol, topology)
    assert "Sent Access-Accept" in radius.log(), tail(radius.log())
    log = server.log()
    assert "%FTD-6-717022:" in log and "%FTD-6-113004: AAA user authentication Successful" in log, tail(log)
    assert ikev2dlog.sa_up(log, "alice"), tail(log)
    assert_healthy(server, (RADIUS_SECRET, ALICE_RADIUS_PW))
