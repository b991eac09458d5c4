"""A lab CA and the VPN server certificate, made with `cryptography`.

The server certificate is what a Cisco FTD would enroll: subject
CN=vpn.example.test, SAN dNSName vpn.example.test and iPAddress 198.18.0.1,
EKU serverAuth + ikeIntermediate (RFC 4945 §5.1.3.12; strongSwan's `pki
--flag ikeIntermediate`).  Files are PEM: ``ca.pem``, ``ca.key``,
``server.pem``, ``server.key`` (PKCS#8, unencrypted).

The server key type is a knob (:data:`KEY_TYPES`, the config's
``key_type`` values): ``make_lab_pki(folder, key_type=...)`` picks the
default one, and :meth:`LabPki.server_identity` issues one more server
certificate of another type from the same (RSA) CA, so one client trusts
them all.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

# id-kp-ipsecIKE is 1.3.6.1.5.5.7.3.17; strongSwan's "ikeIntermediate" is the
# older IETF draft's 1.3.6.1.5.5.8.2.2, which is what its `pki` tool writes.
IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")

SERVER_NAME = "vpn.example.test"
SERVER_ADDR = "198.18.0.1"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

KEY_TYPES = ("rsa-2048", "rsa-3072", "ecdsa-p256", "ecdsa-p384")
DEFAULT_KEY_TYPE = "rsa-2048"


def new_key(key_type: str = "rsa-2048") -> PrivateKey:
    """rsa-2048 | rsa-3072 | ecdsa-p256 | ecdsa-p384 (the config's key types)."""
    match key_type:
        case "rsa-2048":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        case "rsa-3072":
            return rsa.generate_private_key(public_exponent=65537, key_size=3072)
        case "ecdsa-p256":
            return ec.generate_private_key(ec.SECP256R1())
        case "ecdsa-p384":
            return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key type {key_type!r}")


def _name(cn: str, org: str = "ikev2d lab", org_unit: str | None = None) -> x509.Name:
    unit = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit)] if org_unit else []
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            *unit,
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _validity() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(days=365)


def make_ca(key: PrivateKey, cn: str = "ikev2d lab CA") -> x509.Certificate:
    not_before, not_after = _validity()
    name = _name(cn)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(key: PrivateKey, ca_cert: x509.Certificate, ca_key: PrivateKey, cn: str,
          sans: list[x509.GeneralName], usage: list[x509.ObjectIdentifier],
          org_unit: str | None = None) -> x509.CertificateBuilder:
    """What a server's and a user's certificate share: subject, issuer,
    validity, not a CA, SANs, extended key usage and key identifiers."""
    not_before, not_after = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org_unit=org_unit))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )


def make_server_cert(
    key: PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    dns_name: str = SERVER_NAME,
    ip_addr: str = SERVER_ADDR,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(ip_addr))]
    return (
        _leaf(key, ca_cert, ca_key, dns_name, sans, [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE])
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def make_client_cert(key: PrivateKey, ca_cert: x509.Certificate, ca_key: PrivateKey, name: str,
                     org_unit: str | None = None, crl_url: str | None = None) -> x509.Certificate:
    """A user's certificate (EAP-TLS, or IKE certificate authentication):
    CN and a DNS SAN of `name`, so a strongSwan identity `name` finds it;
    an OU (for certificate maps) and a CRL distribution point if asked."""
    builder = _leaf(key, ca_cert, ca_key, name, [x509.DNSName(name)], [ExtendedKeyUsageOID.CLIENT_AUTH], org_unit)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_crl(ca_cert: x509.Certificate, ca_key: PrivateKey, revoked: list[x509.Certificate],
             next_update: dt.timedelta = dt.timedelta(days=1),
             this_update: dt.datetime | None = None) -> x509.CertificateRevocationList:
    """A CRL of the CA listing `revoked` (RFC 5280 §5), issued at
    `this_update` (5 minutes ago) and valid `next_update` longer."""
    now = this_update or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject).last_update(now)
               .next_update(now + next_update))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build())
    return builder.sign(ca_key, hashes.SHA256())


def _write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class ServerIdentity:
    """A server certificate and its key, of one key type."""

    key_type: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class LabPki:
    """Where the PEM files are."""

    folder: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server_name: str = SERVER_NAME
    server_addr: str = SERVER_ADDR
    key_type: str = DEFAULT_KEY_TYPE

    def _ca(self) -> tuple[x509.Certificate, PrivateKey]:
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        if not isinstance(ca_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError(f"{self.ca_key}: not an RSA or ECDSA key")
        return ca_cert, ca_key

    def server_identity(self, key_type: str | None = None) -> ServerIdentity:
        """The server certificate of `key_type` (default: this PKI's own),
        issued by the lab CA into ``server-<key_type>.pem``/``.key`` the
        first time it is asked for."""
        key_type = key_type or self.key_type
        if key_type == self.key_type:
            return ServerIdentity(key_type, self.server_cert, self.server_key)
        _check_key_type(key_type)
        ident = ServerIdentity(
            key_type, self.folder / f"server-{key_type}.pem", self.folder / f"server-{key_type}.key"
        )
        if not (ident.cert.exists() and ident.key.exists()):
            ca_cert, ca_key = self._ca()
            key = new_key(key_type)
            cert = make_server_cert(key, ca_cert, ca_key, self.server_name, self.server_addr)
            _write_cert(ident.cert, cert)
            _write_key(ident.key, key)
        return ident


    def client_identity(self, name: str, key_type: str = "rsa-2048", org_unit: str | None = None,
                        crl_url: str | None = None) -> ServerIdentity:
        """A certificate of user `name` with a `key_type` key, issued by the
        lab CA into ``client-<name>.pem``/``.key`` (RSA-2048) or
        ``client-<name>-<key_type>.pem``/``.key`` the first time it is asked for
        (with an OU, ``-ou-<unit>``; with a CRL distribution point, ``-cdp``)."""
        _check_key_type(key_type)
        stem = f"client-{name}" if key_type == "rsa-2048" else f"client-{name}-{key_type}"
        if org_unit:
            stem += "-ou-" + "".join(c if c.isalnum() else "_" for c in org_unit)
        if crl_url:
            stem += "-cdp"
        ident = ServerIdentity(key_type, self.folder / f"{stem}.pem", self.folder / f"{stem}.key")
        if not (ident.cert.exists() and ident.key.exists()):
            ca_cert, ca_key = self._ca()
            key = new_key(key_type)
            _write_cert(ident.cert, make_client_cert(key, ca_cert, ca_key, name, org_unit, crl_url))
            _write_key(ident.key, key)
        return ident

    def issue_crl(self, path: Path, revoked: list[Path] = [], pem: bool = False,  # noqa: B006 (read only)
                  next_update: dt.timedelta = dt.timedelta(days=1)) -> Path:
        """Write the lab CA's CRL revoking the certificates in the files
        `revoked` to `path` (DER, as CRL distribution points serve it, or PEM)."""
        ca_cert, ca_key = self._ca()
        certs = [x509.load_pem_x509_certificate(p.read_bytes()) for p in revoked]
        crl = make_crl(ca_cert, ca_key, certs, next_update)
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER))
        return path


def _check_key_type(key_type: str) -> None:
    if key_type not in KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}, expected one of {KEY_TYPES}")


def make_lab_pki(
    folder: Path,
    key_type: str = DEFAULT_KEY_TYPE,
    dns_name: str = SERVER_NAME,
    ip_addr: str = SERVER_ADDR,
) -> LabPki:
    """Write ca.pem/ca.key/server.pem/server.key into `folder`; the server
    key is of `key_type` (the CA's is always RSA-2048)."""
    _check_key_type(key_type)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = new_key("rsa-2048")
    ca_cert = make_ca(ca_key)
    srv_key = new_key(key_type)
    srv_cert = make_server_cert(srv_key, ca_cert, ca_key, dns_name, ip_addr)
    pki = LabPki(
        folder=folder,
        ca_cert=folder / "ca.pem",
        ca_key=folder / "ca.key",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        server_name=dns_name,
        server_addr=ip_addr,
        key_type=key_type,
    )
    _write_cert(pki.ca_cert, ca_cert)
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.server_cert, srv_cert)
    _write_key(pki.server_key, srv_key)
    return pki
