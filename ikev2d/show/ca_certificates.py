"""`show crypto ca certificates`: the certificates the running daemon holds,
in the ASA's layout: each identity certificate (the one a connection profile
authenticates with) and the CA certificates, of its chain and of the trusted
CA objects client certificates are validated against, each with the
trustpoints it belongs to (docs/ftd-behaviour.md, "show commands")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from ..conf.model import Config
from ..identity import IdentityError, load_trusted_ca
from ..settings import ResponderSettings

_SHORT = {NameOID.COMMON_NAME: "cn", NameOID.ORGANIZATIONAL_UNIT_NAME: "ou", NameOID.ORGANIZATION_NAME: "o",
          NameOID.LOCALITY_NAME: "l", NameOID.STATE_OR_PROVINCE_NAME: "st", NameOID.COUNTRY_NAME: "c",
          NameOID.EMAIL_ADDRESS: "ea", NameOID.SERIAL_NUMBER: "serialNumber", NameOID.DOMAIN_COMPONENT: "dc"}
_SIGNATURES = {SignatureAlgorithmOID.RSA_WITH_SHA256: "SHA256 with RSA Encryption",
               SignatureAlgorithmOID.RSA_WITH_SHA384: "SHA384 with RSA Encryption",
               SignatureAlgorithmOID.RSA_WITH_SHA512: "SHA512 with RSA Encryption",
               SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA1 with RSA Encryption",
               SignatureAlgorithmOID.ECDSA_WITH_SHA256: "SHA256 with ECDSA Encryption",
               SignatureAlgorithmOID.ECDSA_WITH_SHA384: "SHA384 with ECDSA Encryption",
               SignatureAlgorithmOID.ECDSA_WITH_SHA512: "SHA512 with ECDSA Encryption"}


def _name(name: x509.Name) -> list[str]:
    """One `attr=value` a line, most specific first, as the ASA prints a DN."""
    return [f"{_SHORT.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in reversed(list(name))]


def _key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA ({key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA ({key.curve.key_size} bits)"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EDDSA (256 bits)"
    return type(key).__name__


def _usage(cert: x509.Certificate) -> str:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "General Purpose"
    signs = ku.digital_signature or ku.key_cert_sign or ku.crl_sign
    encrypts = ku.key_encipherment or ku.key_agreement
    if signs and encrypts:
        return "General Purpose"
    return "Signature" if signs else "Encryption" if encrypts else "General Purpose"


def _date(when: dt.datetime) -> str:
    """`21:47:36 UTC Mar 11 2016`."""
    return f"{when:%H:%M:%S} UTC {when:%b} {when.day} {when.year}"


def certificate_view(cert: x509.Certificate, kind: str, trustpoints: Iterable[str], now: dt.datetime) -> dict[str, Any]:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return {
        "kind": kind,  # "Certificate" (an identity) | "CA Certificate"
        # held and usable; one outside its validity dates is said so
        "status": "Available" if start <= now <= end else "Expired" if now > end else "Not yet valid",
        "serial_number": f"{cert.serial_number:x}",
        "usage": _usage(cert),
        "public_key_type": _key_type(cert),
        "signature_algorithm": _SIGNATURES.get(cert.signature_algorithm_oid,
                                               cert.signature_algorithm_oid.dotted_string),
        "issuer": _name(cert.issuer),
        "subject": _name(cert.subject),
        "start_date": _date(start),
        "end_date": _date(end),
        "storage": "config",
        "trustpoints": sorted(set(trustpoints)),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _ca_trustpoints(config: Config) -> dict[bytes, list[str]]:
    """Which trusted CA object (trustpoint) each CA certificate is in, by DER."""
    named: dict[bytes, list[str]] = {}
    for ca in config.trusted_cas:
        try:
            certs = load_trusted_ca(Path(ca.certificate))
        except IdentityError:  # changed on disk since the start: its certificates stay unnamed
            continue
        for cert in certs:
            named.setdefault(cert.fingerprint(hashes.SHA256()), []).append(ca.name)
    return named


def snapshot(settings: ResponderSettings, config: Config, now: dt.datetime) -> list[dict[str, Any]]:
    """The certificates as the daemon holds them: identities first, then
    the CA certificates, each once, with every trustpoint it is in."""
    identities: dict[bytes, tuple[x509.Certificate, set[str]]] = {}
    cas: dict[bytes, tuple[x509.Certificate, set[str]]] = {}
    trusted_names = _ca_trustpoints(config)
    for profile in settings.profiles.values():
        trustpoint = profile.profile.identity_certificate
        ident = profile.identity
        key = ident.certificate.fingerprint(hashes.SHA256())
        identities.setdefault(key, (ident.certificate, set()))[1].add(trustpoint)
        for cert in ident.chain:
            cas.setdefault(cert.fingerprint(hashes.SHA256()), (cert, set()))[1].add(trustpoint)
        for cert in profile.trusted_cas:
            fp = cert.fingerprint(hashes.SHA256())
            cas.setdefault(fp, (cert, set()))[1].update(trusted_names.get(fp, []))
    return ([certificate_view(c, "Certificate", tps, now) for c, tps in identities.values()]
            + [certificate_view(c, "CA Certificate", tps, now) for c, tps in cas.values()])


def _lines(v: dict[str, Any]) -> list[str]:
    return [
        v["kind"],
        f"  Status: {v['status']}",
        f"  Certificate Serial Number: {v['serial_number']}",
        f"  Certificate Usage: {v['usage']}",
        f"  Public Key Type: {v['public_key_type']}",
        f"  Signature Algorithm: {v['signature_algorithm']}",
        "  Issuer Name: ",
        *(f"    {part}" for part in v["issuer"]),
        "  Subject Name:",
        *(f"    {part}" for part in v["subject"]),
        "  Validity Date: ",
        f"    start date: {v['start_date']}",
        f"    end   date: {v['end_date']}",
        f"  Storage: {v['storage']}",
        f"  Associated Trustpoints: {' '.join(v['trustpoints'])} ",
    ]


def render(values: list[dict[str, Any]]) -> str:
    return "".join("\n".join(_lines(v)) + "\n\n" for v in values)
