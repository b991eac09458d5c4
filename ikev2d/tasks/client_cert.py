"""The client's certificate authentication in IKE_AUTH (RFC 7296 §2.15,
§3.6, §3.8; RFC 7427): its CERT chain must verify to a trusted CA, its IDi
must name the certificate, and its AUTH must be a signature over its signed
octets by the certificate's key. Any failure is an AuthError (the caller
answers AUTHENTICATION_FAILED); certificate failures also emit the event
behind the FTD's 717009/717027 lines."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ..crypto import auth as ike_auth_crypto
from ..crypto.cert_verify import CertificateError, Failure, parse_chain, serial_text, verify_client_path
from ..effects import Effect, Emit
from ..events import CertificateChecked, CrlUnusable
from ..pki import crl as revocation
from ..pki.crl import CrlFetch, CrlFetched
from ..iana import AuthMethod, CertEncoding, IdType
from ..sa_types import AuthError
from ..settings import ProfileSettings
from ..wire.message import Message
from ..wire.payloads import AUTH, CERT, ID
from .ike_init import OUR_HASH_ALGORITHMS

if TYPE_CHECKING:
    from ..sa import IkeSa

_SIGNATURE_METHODS = {AuthMethod.RSA_SIG, AuthMethod.ECDSA_SHA256_P256, AuthMethod.ECDSA_SHA384_P384,
                      AuthMethod.ECDSA_SHA512_P521, AuthMethod.DIGITAL_SIGNATURE}


def authenticate(sa: "IkeSa", profile: ProfileSettings, message: Message, idi: ID,
                 effects: list[Effect], crl: CrlFetched | None = None) -> str | CrlFetch:
    """Check the client's certificate authentication; its username (the
    certificate's CN, else its whole subject DN) once it holds. When the
    trustpoint checks CRLs and none is cached: the `CrlFetch` to run first,
    then this again with what it brought (`crl`); nothing is emitted yet."""
    auth = message.get(AUTH)
    if auth is None:
        raise AuthError(f"connection profile {profile.name} requires a client certificate; "
                        "the client sent no AUTH payload (it asked for EAP)")
    if auth.method not in _SIGNATURE_METHODS:
        raise AuthError(f"client AUTH method {auth.method} is not a signature; the profile requires a "
                        "client certificate")
    ders = [c.data for c in message.payloads if isinstance(c, CERT)
            and c.encoding == CertEncoding.X509_SIGNATURE]
    if not ders:
        raise AuthError("client sent AUTH but no X.509 CERT payload")
    leaf = _verified(sa, profile, ders, effects, crl)
    if isinstance(leaf, CrlFetch):
        return leaf
    if not _names(idi, leaf):
        raise AuthError(f"client identity {_describe(idi)} is not in its certificate "
                        f"(subject {leaf.subject.rfc4514_string()})")
    if auth.method == AuthMethod.DIGITAL_SIGNATURE and \
            ike_auth_crypto.digital_signature_hash(auth.data) not in OUR_HASH_ALGORITHMS:
        raise AuthError("client AUTH uses a signature hash we did not offer (RFC 7427 §4)")
    key = leaf.public_key()
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise AuthError(f"client certificate holds a {type(key).__name__}, not an RSA or ECDSA key")
    octets = ike_auth_crypto.signed_octets(sa.init_request, sa.nonce_r, sa.prf, sa.keys.sk_pi, idi.body())
    if not ike_auth_crypto.verify(key, auth.method, auth.data, octets):
        raise AuthError("client AUTH signature did not verify with its certificate's key")
    sa.peer_auth = "ECDSA" if isinstance(key, ec.EllipticCurvePublicKey) else "RSA"
    return _username(leaf)


def _verified(sa: "IkeSa", profile: ProfileSettings, ders: list[bytes], effects: list[Effect],
              crl: CrlFetched | None) -> x509.Certificate | CrlFetch:
    now = sa.settings.wall_clock()
    try:
        path = verify_client_path(parse_chain(ders), profile.trusted_cas, now)
        leaf = path[0]
        verdict = _revocation(sa, path, now, crl)
        if isinstance(verdict, CrlFetch):
            return verdict
        if verdict is not None:
            effects.extend(Emit(CrlUnusable(sa.name, sa.local, sa.remote, p.trustpoint, p.source, p.unreachable,
                                            p.reason)) for p in verdict.problems)
            if verdict.status is not revocation.Status.GOOD:
                failure = Failure.REVOKED if verdict.status is revocation.Status.REVOKED \
                    else Failure.REVOCATION_UNAVAILABLE
                raise CertificateError(failure, "by its issuer's certificate revocation list" if
                                       failure is Failure.REVOKED else "no CRL could be had",
                                       serial_text(leaf), leaf.subject.rfc4514_string())
    except CertificateError as exc:
        effects.append(Emit(CertificateChecked(sa.name, sa.local, sa.remote, exc.serial or "unknown",
                                               exc.subject or "unknown", exc.failure.value)))
        raise AuthError(f"client certificate refused: {exc}") from None
    checked = verdict is not None and not verdict.accepted_unchecked
    effects.append(Emit(CertificateChecked(sa.name, sa.local, sa.remote, serial_text(leaf),
                                           leaf.subject.rfc4514_string(), revocation_checked=checked)))
    return leaf


def _revocation(sa: "IkeSa", path: list[x509.Certificate], now: dt.datetime,
                fetched: CrlFetched | None) -> revocation.Verdict | CrlFetch | None:
    """The client certificate's CRL verdict, when its trustpoint checks
    CRLs (None when it does not); the issuing CA's CRL covers the client's
    certificate only, not the CAs above it (docs/ftd-behaviour.md)."""
    trustpoint = revocation.trustpoint_of(sa.settings.trustpoints, path[-1])
    if trustpoint is None or not trustpoint.checks_crl or len(path) < 2:
        return None
    return revocation.check(trustpoint, sa.settings.crl_cache, path[0], path[1], now, fetched)


def _names(idi: ID, cert: x509.Certificate) -> bool:
    """RFC 4945 §3.1: the IDi must be the subject DN or one of the
    certificate's subjectAltNames of the same kind."""
    if idi.id_type == IdType.ID_DER_ASN1_DN:
        given = dn_attributes(idi.data)
        return given is not None and given == dn_attributes(cert.subject.public_bytes())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    text = idi.data.decode("utf-8", "replace").lower()
    if idi.id_type == IdType.ID_FQDN:
        return text in (n.lower() for n in sans.get_values_for_type(x509.DNSName))
    if idi.id_type == IdType.ID_RFC822_ADDR:
        return text in (n.lower() for n in sans.get_values_for_type(x509.RFC822Name))
    if idi.id_type == IdType.ID_IPV4_ADDR and len(idi.data) == 4:
        return ipaddress.IPv4Address(idi.data) in sans.get_values_for_type(x509.IPAddress)
    return False


def dn_attributes(der: bytes) -> list[tuple[bytes, str]] | None:
    """A DER Name as (attribute type OID, value) pairs in order, the string
    type ignored and values case-folded: clients encode the same DN as
    PrintableString or UTF8String (strongSwan does the former, cryptography
    the latter). None when `der` is not a Name."""
    try:
        rdns, rest = _tlv(der, 0x30)
        if rest:
            return None
        out: list[tuple[bytes, str]] = []
        while rdns:
            rdn, rdns = _tlv(rdns, 0x31)
            while rdn:
                pair, rdn = _tlv(rdn, 0x30)
                oid, value = _tlv(pair, 0x06)
                tag = value[0]
                content, extra = _tlv(value, tag)
                if extra:
                    return None
                text = content.decode("utf-16-be") if tag == 0x1E else content.decode("utf-8")
                out.append((oid, text.casefold()))
        return out
    except (ValueError, IndexError):
        return None


def _tlv(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """One DER element of `tag`: its content and what follows (ValueError if malformed)."""
    if len(data) < 2 or data[0] != tag:
        raise ValueError("unexpected tag")
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 3 or len(data) < 2 + count:
            raise ValueError("bad length")
        length, offset = int.from_bytes(data[2:2 + count], "big"), 2 + count
    if len(data) < offset + length:
        raise ValueError("truncated")
    return data[offset:offset + length], data[offset + length:]


def _username(cert: x509.Certificate) -> str:
    # the ASA's username-from-certificate default, CN (docs/ftd-behaviour.md)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return names[0].value
    return cert.subject.rfc4514_string()


def _describe(idi: ID) -> str:
    try:
        kind = IdType(idi.id_type).name
    except ValueError:
        kind = str(idi.id_type)
    if idi.id_type == IdType.ID_DER_ASN1_DN:
        return f"{kind} {idi.data.hex()}"  # cryptography parses a Name only inside a certificate
    return f"{kind} {idi.data.decode('utf-8', 'replace')!r}"
