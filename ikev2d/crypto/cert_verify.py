"""Client certificate validation for IKE certificate authentication.

The chain a client sends in its CERT payloads is checked against the
trusted CAs (the FTD's trustpoints with `validation-usage ipsec-client`) by
`cryptography`'s RFC 5280 path builder (`x509.verification`): validity
dates, signatures, BasicConstraints and the CA's key usage. End-entity
extensions are checked here instead of by its Web PKI profile, which would
demand a subjectAltName: an AnyConnect user certificate often has none.
An ExtendedKeyUsage, when present, must allow clientAuth (or anyEKU, or
the IPsec ones of RFC 4945 §5.1.3.12).

Each failure carries what kind it is, for the FTD's syslog lines (717009 /
717027, docs/ftd-behaviour.md "Client certificate authentication").
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

# RFC 4945 §5.1.3.12: id-kp-ipsecIKE; strongSwan's older ikeIntermediate
_IPSEC_IKE = ObjectIdentifier("1.3.6.1.5.5.7.3.17")
_IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")
_CLIENT_USAGES = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
                  _IPSEC_IKE, _IKE_INTERMEDIATE}


class Failure(enum.Enum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    UNKNOWN_CA = "unknown CA"  # no trusted CA issued it
    INVALID_CHAIN = "invalid chain"  # a signature, constraint or usage failed
    MALFORMED = "malformed"  # the CERT payload is not a DER X.509 certificate
    REVOKED = "revoked"  # its issuer's CRL lists it (pki/crl.py)
    REVOCATION_UNAVAILABLE = "revocation status unavailable"  # `revocation-check crl` and no CRL


@dataclass(frozen=True)
class CertificateError(Exception):
    failure: Failure
    detail: str
    serial: str = ""
    subject: str = ""

    def __str__(self) -> str:
        return f"{self.failure.value}: {self.detail}"


def parse_chain(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """The client's CERT payloads, its own certificate first (RFC 7296 §3.6)."""
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except ValueError as exc:
        raise CertificateError(Failure.MALFORMED, f"CERT payload is not a DER certificate ({exc})") from None


def serial_text(cert: x509.Certificate) -> str:
    """The serial as an ASA prints it: upper-case hex."""
    return format(cert.serial_number, "X")


def verify_client_chain(chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate],
                        now: dt.datetime) -> x509.Certificate:
    """The client's certificate, once its chain verifies to a trusted CA
    at `now` (timezone-aware); CertificateError otherwise."""
    return verify_client_path(chain, trusted, now)[0]


def verify_client_path(chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate],
                       now: dt.datetime) -> list[x509.Certificate]:
    """The verified path, the client's certificate first and the trusted CA
    last (its issuer's CRL and its trustpoint come from it)."""
    if not chain:
        raise CertificateError(Failure.MALFORMED, "no certificate")
    leaf, intermediates = chain[0], list(chain[1:])
    ids = {"serial": serial_text(leaf), "subject": leaf.subject.rfc4514_string()}
    if now < leaf.not_valid_before_utc or now > leaf.not_valid_after_utc:
        failure = Failure.NOT_YET_VALID if now < leaf.not_valid_before_utc else Failure.EXPIRED
        raise CertificateError(failure, f"valid {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to "
                               f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC", **ids)
    if not trusted:
        raise CertificateError(Failure.UNKNOWN_CA, "no trusted CA is configured", **ids)
    issuers = {c.subject for c in (*trusted, *intermediates)}
    if leaf.issuer not in issuers:
        raise CertificateError(Failure.UNKNOWN_CA, f"issuer {leaf.issuer.rfc4514_string()} is not trusted", **ids)
    _check_client_usage(leaf, ids)
    builder = (PolicyBuilder().store(Store(list(trusted))).time(now.astimezone(dt.timezone.utc).replace(tzinfo=None))
               .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                   ee_policy=_ee_policy()))
    try:
        verified = builder.build_client_verifier().verify(leaf, intermediates)
    except VerificationError as exc:
        # the leaf's own dates and issuer were checked above: what fails
        # here is a CA's (dates, signature, constraints), the chain's fault
        raise CertificateError(Failure.INVALID_CHAIN, str(exc), **ids) from None
    return list(verified.chain)


def _ee_policy() -> ExtensionPolicy:
    # BasicConstraints must not make the end entity a CA; the rest is ours
    def not_a_ca(policy: object, cert: x509.Certificate, ext: x509.BasicConstraints | None) -> None:
        if ext is not None and ext.ca:
            raise ValueError("the client certificate is a CA certificate")

    return ExtensionPolicy.permit_all().may_be_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, not_a_ca)


def _check_client_usage(leaf: x509.Certificate, ids: dict[str, str]) -> None:
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if not _CLIENT_USAGES.intersection(eku):
            raise CertificateError(Failure.INVALID_CHAIN, "extended key usage does not allow client "
                                   "authentication", **ids)
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise CertificateError(Failure.INVALID_CHAIN, "key usage does not allow signatures", **ids)
