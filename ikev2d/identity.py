"""The headend's identity certificate (an FTD trustpoint) and its private key.

Two enrollments, as in FMC's Cert Enrollment object:

* ``files``: a PEM certificate (optionally followed by its intermediates in
  the same file) and a PEM private key, which must match.
* ``self-signed``: a key of ``key_type`` and a self-signed certificate are
  made once under ``store`` (``<name>.pem``, ``<name>.key`` mode 0600) and
  reused; they are remade only when the configuration asks for something
  else (subject, SANs, key type) or the certificate is near its end.

The self-signed certificate is an end-entity certificate (CA:FALSE,
digitalSignature, EKU serverAuth + ikeIntermediate), not a CA: that is what
Windows and macOS IKEv2 clients expect of a server. A strongSwan client
trusts it as a *pinned peer certificate*: put the PEM in ``swanctl/x509/``
(or name it in ``remote.certs``); strongSwan accepts a trusted self-signed
certificate directly ("using trusted certificate"). Do **not** put it in
``swanctl/x509ca/`` or ``remote.cacerts``: vici rejects a CA certificate
without the CA basic constraint. For a CA-based lab, issue the server
certificate from a CA and use ``enrollment: files``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from .conf.dn import parse_dn
from .conf.model import IdentityCertificate, KeyType
from .conf.san import parse_san

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

# RFC 4945 §5.1.3.12 / Microsoft: "IP security IKE intermediate".
IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")
SELF_SIGNED_VALIDITY = dt.timedelta(days=3650)
# Backdated so a client whose clock is a little behind still accepts it.
CLOCK_SKEW = dt.timedelta(days=1)
# Remade this long before it expires, so a running lab never meets the end.
RENEW_BEFORE = dt.timedelta(days=30)

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


class IdentityError(Exception):
    """The identity certificate cannot be used; names the file at fault."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Identity:
    certificate: x509.Certificate
    chain: list[x509.Certificate]  # intermediates, may be empty
    private_key: PrivateKey = field(repr=False)

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(_DER)

    @property
    def issuer_key_hash(self) -> bytes | None:
        """SHA-1 of the issuer's SubjectPublicKeyInfo, as a CERTREQ lists a CA
        (RFC 7296 §3.7); None when the issuer's certificate is not at hand."""
        for candidate in [self.certificate, *self.chain]:
            if candidate.subject == self.certificate.issuer and _issued(
                self.certificate, candidate
            ):
                return hashlib.sha1(candidate.public_key().public_bytes(_DER, _SPKI)).digest()
        return None


def load_identity(cfg: IdentityCertificate, now: dt.datetime | None = None) -> Identity:
    now = now or dt.datetime.now(dt.timezone.utc)
    if cfg.enrollment == "files":
        return _load_files(cfg)
    return _self_signed(cfg, now)


# --- enrollment: files ---------------------------------------------------------


def _load_files(cfg: IdentityCertificate) -> Identity:
    if cfg.certificate is None or cfg.private_key is None:
        raise IdentityError(cfg.name, "enrollment files needs certificate and private_key")
    certificates = _read_certificates(cfg.certificate)
    key = _read_key(cfg.private_key)
    wanted = _spki(key)
    # The end-entity certificate is the one the key belongs to, wherever it
    # sits in the file; the others are its chain.
    for index, cert in enumerate(certificates):
        if cert.public_key().public_bytes(_DER, _SPKI) == wanted:
            chain = certificates[:index] + certificates[index + 1 :]
            return Identity(cert, chain, key)
    raise IdentityError(
        cfg.private_key,
        f"this private key does not match the certificate in {cfg.certificate}",
    )


def load_trusted_ca(path: Path) -> list[x509.Certificate]:
    """A trusted CA file's certificates (IdentityError names the file)."""
    return _read_certificates(path)


def _read_certificates(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise IdentityError(
            path, "not a PEM certificate (expected -----BEGIN CERTIFICATE-----)"
        ) from None
    if not certificates:
        raise IdentityError(path, "no certificate in the file")
    return certificates


def _read_key(path: Path) -> PrivateKey:
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise IdentityError(
            path, "the private key is encrypted; store it unencrypted (mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise IdentityError(path, "not a PEM private key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise IdentityError(path, "only RSA and ECDSA private keys are supported")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(path, f"cannot read: {exc.strerror or exc}") from None


# --- enrollment: self-signed -----------------------------------------------------


def _self_signed(cfg: IdentityCertificate, now: dt.datetime) -> Identity:
    cert_path = cfg.store / f"{cfg.name}.pem"
    key_path = cfg.store / f"{cfg.name}.key"
    key: PrivateKey | None = None
    if key_path.exists():
        key = _read_key(key_path)
        _tighten(key_path)
        if not _key_is(key, cfg.key_type):
            key = None  # the configuration now asks for another key type
    if key is not None and cert_path.exists():
        cert = _read_certificates(cert_path)[0]
        if _fits(cert, key, cfg, now):
            return Identity(cert, [], key)
    fresh_key = key is None
    key = key or _generate_key(cfg.key_type)
    cert = _issue(cfg, key, now)
    _makedirs(cfg.store)
    if fresh_key:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(key_path, pem, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return Identity(cert, [], key)


def _generate_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return ec.generate_private_key(ec.SECP384R1())


def _key_is(key: PrivateKey, key_type: KeyType) -> bool:
    if isinstance(key, rsa.RSAPrivateKey):
        return key_type == f"rsa-{key.key_size}"
    return key_type == {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(key.curve.name)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    # Match the hash to the key's strength (SP 800-57): 2048/P-256 -> SHA-256.
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256() if key.key_size < 3072 else hashes.SHA384()
    return hashes.SHA256() if key.curve.key_size <= 256 else hashes.SHA384()


def _san_list(cfg: IdentityCertificate) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for text in cfg.subject_alt_names:
        value = parse_san(text)
        names.append(x509.DNSName(value) if isinstance(value, str) else x509.IPAddress(value))
    return names


def _issue(cfg: IdentityCertificate, key: PrivateKey, now: dt.datetime) -> x509.Certificate:
    subject = parse_dn(cfg.subject)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SELF_SIGNED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
        )
    )
    sans = _san_list(cfg)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, _hash_for(key))


def _fits(
    cert: x509.Certificate, key: PrivateKey, cfg: IdentityCertificate, now: dt.datetime
) -> bool:
    """Is the stored certificate still the one the configuration describes?"""
    if cert.public_key().public_bytes(_DER, _SPKI) != _spki(key):
        return False
    if cert.subject != parse_dn(cfg.subject) or cert.issuer != cert.subject:
        return False
    try:
        stored = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        stored = set()
    if stored != set(_san_list(cfg)):
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > now


# --- helpers -------------------------------------------------------------------


def _spki(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(_DER, _SPKI)


def _issued(subject: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        subject.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _makedirs(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise IdentityError(folder, f"cannot create the folder: {exc.strerror or exc}") from None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a new file created with its final mode, then rename:
    the key is never readable by others, not even for a moment."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if tmp.exists():
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have taken bits away
        os.replace(tmp, path)
    except OSError as exc:
        raise IdentityError(path, f"cannot write: {exc.strerror or exc}") from None


def _tighten(key_path: Path) -> None:
    """A key file others can read is made private again (mode 0600)."""
    try:
        if key_path.stat().st_mode & 0o077:
            key_path.chmod(0o600)
    except OSError as exc:
        raise IdentityError(
            key_path, f"cannot make the key private: {exc.strerror or exc}"
        ) from None
