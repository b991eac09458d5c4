"""The headend's identity certificate: self-signed made once and reused,
`files` enrollment checked (PEM, chain, key match), errors name the file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import stat
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikev2d.conf.model import IdentityCertificate
from ikev2d.identity import IKE_INTERMEDIATE, IdentityError, load_identity

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def self_signed(store: Path, **changes: object) -> IdentityCertificate:
    cfg = IdentityCertificate(
        name="VPN-Identity",
        enrollment="self-signed",
        subject="CN=vpn.example.test, O=Lab",
        subject_alt_names=("vpn.example.test", "198.18.0.1"),
        key_type="ecdsa-p256",  # fast to make; RSA has its own test
        store=store,
        certificate=None,
        private_key=None,
    )
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def files(cert: Path, key: Path) -> IdentityCertificate:
    return IdentityCertificate(
        "Files", "files", "CN=unused", (), "rsa-2048", cert.parent, cert, key
    )


# --- self-signed ---------------------------------------------------------------


def test_self_signed_certificate_contents(tmp_path: Path) -> None:
    identity = load_identity(self_signed(tmp_path / "pki"), now=NOW)
    cert = identity.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "vpn.example.test"
    assert cert.subject.rfc4514_string() == "CN=vpn.example.test,O=Lab"
    assert cert.issuer == cert.subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["vpn.example.test"]
    assert sans.get_values_for_type(x509.IPAddress) == [IPv4Address("198.18.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE]
    assert IKE_INTERMEDIATE.dotted_string == "1.3.6.1.5.5.8.2.2"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    cert.verify_directly_issued_by(cert)  # really self-signed
    assert identity.chain == []
    assert identity.certificate_der == cert.public_bytes(serialization.Encoding.DER)
    assert isinstance(identity.private_key, ec.EllipticCurvePrivateKey)


def test_self_signed_files_and_modes(tmp_path: Path) -> None:
    store = tmp_path / "run" / "pki"
    load_identity(self_signed(store), now=NOW)
    key_file, cert_file = store / "VPN-Identity.key", store / "VPN-Identity.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert cert_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not list(store.glob(".*.tmp"))


def test_self_signed_is_made_once_then_reused(tmp_path: Path) -> None:
    cfg = self_signed(tmp_path)
    first = load_identity(cfg, now=NOW)
    cert_bytes = (tmp_path / "VPN-Identity.pem").read_bytes()
    second = load_identity(cfg, now=NOW + dt.timedelta(days=30))
    assert second.certificate == first.certificate
    assert (tmp_path / "VPN-Identity.pem").read_bytes() == cert_bytes
    assert second.certificate_der == first.certificate_der


def test_self_signed_remade_when_the_config_changes(tmp_path: Path) -> None:
    first = load_identity(self_signed(tmp_path), now=NOW)
    changed = self_signed(tmp_path, subject_alt_names=("other.example.test",))
    renamed = load_identity(changed, now=NOW)
    assert renamed.certificate != first.certificate
    # Same key type: the key is kept, only the certificate is reissued.
    assert renamed.certificate.public_key() == first.certificate.public_key()
    rsa_identity = load_identity(self_signed(tmp_path, key_type="rsa-2048"), now=NOW)
    assert isinstance(rsa_identity.private_key, rsa.RSAPrivateKey)
    assert rsa_identity.private_key.key_size == 2048
    assert isinstance(rsa_identity.certificate.signature_hash_algorithm, hashes.SHA256)


def test_self_signed_renewed_before_it_expires(tmp_path: Path) -> None:
    cfg = self_signed(tmp_path)
    first = load_identity(cfg, now=NOW)
    late = first.certificate.not_valid_after_utc - dt.timedelta(days=1)
    assert load_identity(cfg, now=late).certificate != first.certificate


def test_self_signed_tightens_a_readable_key(tmp_path: Path) -> None:
    cfg = self_signed(tmp_path)
    load_identity(cfg, now=NOW)
    key_file = tmp_path / "VPN-Identity.key"
    key_file.chmod(0o644)
    load_identity(cfg, now=NOW)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_self_signed_corrupt_key_names_the_file(tmp_path: Path) -> None:
    cfg = self_signed(tmp_path)
    load_identity(cfg, now=NOW)
    (tmp_path / "VPN-Identity.key").write_text("garbage\n")
    with pytest.raises(IdentityError) as caught:
        load_identity(cfg, now=NOW)
    assert caught.value.path == str(tmp_path / "VPN-Identity.key")
    assert "not a PEM private key" in str(caught.value)


def test_self_signed_issuer_key_hash_is_its_own(tmp_path: Path) -> None:
    identity = load_identity(self_signed(tmp_path), now=NOW)
    spki = identity.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert identity.issuer_key_hash == hashlib.sha1(spki).digest()


def test_private_key_not_in_repr(tmp_path: Path) -> None:
    identity = load_identity(self_signed(tmp_path), now=NOW)
    assert "private_key" not in repr(identity)


# --- files ---------------------------------------------------------------------


def make_ca_and_server() -> tuple[x509.Certificate, x509.Certificate, rsa.RSAPrivateKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lab CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpn.example.test")]))
        .issuer_name(ca_name).public_key(server_key.public_key())
        .serial_number(2).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=9))
        .sign(ca_key, hashes.SHA256())
    )
    return ca, server, server_key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_files_with_chain(tmp_path: Path) -> None:
    ca, server, server_key = make_ca_and_server()
    (tmp_path / "server.pem").write_bytes(pem(server) + pem(ca))
    (tmp_path / "server.key").write_bytes(key_pem(server_key))
    identity = load_identity(files(tmp_path / "server.pem", tmp_path / "server.key"))
    assert identity.certificate == server
    assert identity.chain == [ca]
    ca_spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert identity.issuer_key_hash == hashlib.sha1(ca_spki).digest()


def test_files_finds_the_end_entity_wherever_it_is(tmp_path: Path) -> None:
    ca, server, server_key = make_ca_and_server()
    (tmp_path / "server.pem").write_bytes(pem(ca) + pem(server))
    (tmp_path / "server.key").write_bytes(key_pem(server_key))
    identity = load_identity(files(tmp_path / "server.pem", tmp_path / "server.key"))
    assert (identity.certificate, identity.chain) == (server, [ca])


def test_files_mismatched_key_is_rejected(tmp_path: Path) -> None:
    ca, server, _ = make_ca_and_server()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "server.pem").write_bytes(pem(server))
    (tmp_path / "other.key").write_bytes(key_pem(other))
    with pytest.raises(IdentityError) as caught:
        load_identity(files(tmp_path / "server.pem", tmp_path / "other.key"))
    assert caught.value.path == str(tmp_path / "other.key")
    assert "does not match the certificate in" in str(caught.value)
    assert str(tmp_path / "server.pem") in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize(
    ("which", "content", "words"),
    [
        ("cert", None, "cannot read"),
        ("cert", b"not a certificate\n", "not a PEM certificate"),
        ("key", None, "cannot read"),
        ("key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM"),
    ],
)
def test_files_errors_name_the_file(
    tmp_path: Path, which: str, content: bytes | None, words: str
) -> None:
    _, server, server_key = make_ca_and_server()
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(pem(server))
    key_file.write_bytes(key_pem(server_key))
    target = cert_file if which == "cert" else key_file
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    with pytest.raises(IdentityError) as caught:
        load_identity(files(cert_file, key_file))
    assert caught.value.path == str(target)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{target}: ")


def test_files_encrypted_key_is_refused_clearly(tmp_path: Path) -> None:
    _, server, server_key = make_ca_and_server()
    (tmp_path / "server.pem").write_bytes(pem(server))
    (tmp_path / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass-phrase"),
        )
    )
    with pytest.raises(IdentityError) as caught:
        load_identity(files(tmp_path / "server.pem", tmp_path / "server.key"))
    assert "encrypted" in str(caught.value)
