"""Client certificate authentication (the FTD's "Client Certificate Only"):
RFC 7296 §2.15 / §3.6 signature AUTH by a client whose certificate chains
to a trusted CA, the IDi naming that certificate (RFC 4945 §3.1), and the
FTD's 717xxx lines when it does not."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ikev2d.crypto.cert_verify import CertificateError, Failure, verify_client_chain
from ikev2d.events import AuthSucceeded, CertificateChecked, IkeSaEstablished
from ikev2d.iana import AuthMethod, IdType, NotifyType
from ikev2d.syslog.render import records_for
from ikev2d.tasks.client_cert import dn_attributes
from ikev2d.wire.message import decode_message
from ikev2d.wire.payloads import CERTREQ, IDi
from lab.initiator import IkeFailure
from lab.pki import LabPki, make_ca, make_client_cert, make_lab_pki, new_key

from responder_harness import Harness, certificate_harness, load_client


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("labpki"))


@pytest.fixture
def harness(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> Harness:
    return certificate_harness(tmp_path, pki_dir, lab_pki.ca_cert, "client-certificate")


def _lines(h: Harness) -> list[str]:
    return [r.line() for e in h.events(CertificateChecked) for r in records_for(e)]


def _refused(h: Harness, **options: object) -> IkeFailure:
    client = h.client(**options)
    with pytest.raises(IkeFailure) as caught:
        client.connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert not h.events(IkeSaEstablished)
    return caught.value


def test_good_certificate_connects_with_an_address_and_a_child_sa(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    result = harness.client(client_certificate=cert, client_key=key).connect()
    assert result.address is not None and result.address.packed[:3] == bytes((198, 19, 0))
    assert result.esp_spi_out and result.tsr
    [ok] = harness.events(AuthSucceeded)
    assert (ok.username, ok.method, ok.profile) == ("carol", "certificate", "CCIElab")  # CN, our choice
    lines = _lines(harness)
    assert lines[0].startswith("%FTD-6-717022: Certificate was successfully validated. serial number: "
                               f"{cert.serial_number:X}, subject name: CN=carol,O=ikev2d lab.")
    assert lines[1].startswith("%FTD-6-717028:")
    assert len(harness.events(IkeSaEstablished)) == 1
    [sa] = harness.responder.sas.values()
    assert sa.peer_auth == "RSA"  # `show crypto ikev2 sa`: Auth verify: RSA


def test_a_fqdn_idi_naming_a_san_is_accepted(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    harness.client(client_certificate=cert, client_key=key, client_idi=IDi(IdType.ID_FQDN, b"carol")).connect()
    assert len(harness.events(IkeSaEstablished)) == 1


def test_expired_certificate_is_refused_with_717009(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    harness.responder.settings.wall_clock = lambda: cert.not_valid_after_utc + dt.timedelta(days=1)
    _refused(harness, client_certificate=cert, client_key=key)
    [line] = _lines(harness)
    assert line.startswith("%FTD-3-717009: Certificate validation failed. Certificate has expired, serial number:")


def test_certificate_not_yet_valid_is_refused_with_717009(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    harness.responder.settings.wall_clock = lambda: cert.not_valid_before_utc - dt.timedelta(days=1)
    _refused(harness, client_certificate=cert, client_key=key)
    [line] = _lines(harness)
    assert line.startswith("%FTD-3-717009: Certificate validation failed. Certificate is not yet valid, serial")


def test_certificate_of_an_untrusted_ca_is_refused_with_717009(harness: Harness, lab_pki: LabPki) -> None:
    other_ca_key = new_key()
    other_ca = make_ca(other_ca_key, cn="someone else's CA")
    user_key = new_key()
    cert = make_client_cert(user_key, other_ca, other_ca_key, "carol")
    _refused(harness, client_certificate=cert, client_key=user_key)
    [line] = _lines(harness)
    assert "717009: Certificate validation failed. No suitable trustpoints found to validate certificate" in line


def test_certificate_forged_under_the_trusted_ca_name_fails_the_chain_717027(harness: Harness) -> None:
    # a CA with the lab CA's very name but another key: the issuer matches, the signature does not
    impostor_key = new_key()
    impostor = make_ca(impostor_key)
    user_key = new_key()
    cert = make_client_cert(user_key, impostor, impostor_key, "carol")
    _refused(harness, client_certificate=cert, client_key=user_key)
    assert _lines(harness) == ["%FTD-3-717027: Certificate chain failed validation. "
                               "Certificate chain is either invalid or not authorized."]


def test_idi_not_in_the_certificate_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    _refused(harness, client_certificate=cert, client_key=key, client_idi=IDi(IdType.ID_FQDN, b"mallory"))
    assert not harness.events(AuthSucceeded)


def test_signature_by_another_key_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    cert, _ = load_client(lab_pki, "carol")
    _, other_key = load_client(lab_pki, "dave")
    _refused(harness, client_certificate=cert, client_key=other_key)
    assert _lines(harness)[0].startswith("%FTD-6-717022:")  # the chain was fine, the AUTH was not
    assert not harness.events(AuthSucceeded)


def test_client_certificate_with_server_auth_only_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    ca = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(lab_pki.ca_key.read_bytes(), password=None)
    user_key = new_key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=erin"))
            .issuer_name(ca.subject).public_key(user_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _refused(harness, client_certificate=cert, client_key=user_key)
    assert "717027" in _lines(harness)[0]


def test_eap_client_on_a_certificate_profile_is_refused(harness: Harness) -> None:
    _refused(harness)
    assert not harness.events(CertificateChecked)


def test_certificate_client_on_an_eap_profile_is_refused(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    h = certificate_harness(tmp_path, pki_dir, lab_pki.ca_cert, "aaa-only")
    cert, key = load_client(lab_pki, "carol")
    _refused(h, client_certificate=cert, client_key=key)


def test_ecdsa_client_with_the_classic_rfc4754_method(harness: Harness, lab_pki: LabPki) -> None:
    ca = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(lab_pki.ca_key.read_bytes(), password=None)
    user_key = new_key("ecdsa-p256")
    cert = make_client_cert(user_key, ca, ca_key, "frank")  # type: ignore[arg-type]
    client = harness.client(client_certificate=cert, client_key=user_key)
    client.ike_sa_init()
    client.peer_hash_algorithms = set()  # as if no RFC 7427: ECDSA method 9 (RFC 4754)
    assert client._certificate_auth(client._own_idi())[-1].method == AuthMethod.ECDSA_SHA256_P256  # type: ignore[attr-defined]
    client.ike_auth()
    assert len(harness.events(IkeSaEstablished)) == 1
    [sa] = harness.responder.sas.values()
    assert sa.peer_auth == "ECDSA"


def test_certreq_names_the_trusted_ca(harness: Harness, lab_pki: LabPki) -> None:
    """RFC 7296 §3.7: CERTREQ lists SHA-1 hashes of the CAs' public keys, so a
    client (strongSwan's send_cert = ifasked) sends the certificate we can check."""
    client = harness.client()
    client.ike_sa_init()
    [certreq] = [p for p in decode_message(client.init_response).payloads if isinstance(p, CERTREQ)]
    ca = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    hashes = [certreq.data[i:i + 20] for i in range(0, len(certreq.data), 20)]
    assert hashlib.sha1(spki).digest() in hashes


def test_dn_idi_matches_whatever_string_type_encodes_it() -> None:
    """strongSwan sends the subject DN with PrintableString values where the
    certificate (made by cryptography) has UTF8String: the same DN."""
    printable = bytes.fromhex("302531133011060355040a130a696b65763264206c6162310e300c060355040313056361726f6c")
    utf8 = x509.Name.from_rfc4514_string("CN=carol,O=ikev2d lab").public_bytes()
    assert printable != utf8 and dn_attributes(printable) == dn_attributes(utf8)
    assert dn_attributes(x509.Name.from_rfc4514_string("CN=mallory,O=ikev2d lab").public_bytes()) != \
        dn_attributes(utf8)
    for broken in (b"", b"\x30", b"\x30\x05\x31", printable[:-1], printable + b"\x00", b"\x30\x84\xff\xff\xff\xff"):
        assert dn_attributes(broken) is None


def test_expired_ca_fails_the_chain_not_as_an_unknown_ca() -> None:
    """RFC 5280 §6.1.3: every certificate of the path must be valid now; the
    CA is known, so this is the chain's failure (717027), not an unknown CA."""
    ca_key, user_key = new_key(), new_key()
    now = dt.datetime.now(dt.timezone.utc)
    leaf = make_client_cert(user_key, make_ca(ca_key), ca_key, "carol")
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    expired_ca = (x509.CertificateBuilder().subject_name(leaf.issuer).issuer_name(leaf.issuer)
                  .public_key(ca_key.public_key()).serial_number(5)
                  .not_valid_before(now - dt.timedelta(days=10)).not_valid_after(now - dt.timedelta(minutes=1))
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                  .add_extension(usage, critical=True).sign(ca_key, hashes.SHA256()))
    with pytest.raises(CertificateError) as caught:
        verify_client_chain([leaf], [expired_ca], now)
    assert caught.value.failure is Failure.INVALID_CHAIN
    assert verify_client_chain([leaf], [make_ca(ca_key)], now) == leaf
