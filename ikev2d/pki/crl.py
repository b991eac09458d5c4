"""CRL revocation checking of a client certificate, as a trustpoint's
`revocation-check crl` does it (docs/ftd-behaviour.md, "CRL revocation
checking"). Sans-I/O: the core asks for a `CrlFetch` job (run off the event
loop by the adapter, like a RADIUS round trip) and gets `CrlFetched` back
with the raw bytes; parsing, the CRL's signature by the certificate's
issuer, its dates and the cache all live here.

A CRL is cached per trustpoint and source until the earlier of its
nextUpdate and the trustpoint's `cache-time`."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..conf.model import TrustedCa


@dataclass(frozen=True)
class CrlFetch:
    """Fetch these CRL sources (http:// URLs or absolute file paths)."""

    trustpoint: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class FetchedSource:
    source: str
    data: bytes | None  # None: unreachable
    error: str = ""


@dataclass(frozen=True)
class CrlFetched:
    trustpoint: str
    results: tuple[FetchedSource, ...]


@dataclass(frozen=True)
class Trustpoint:
    """A trusted CA object at run time: its settings and certificates."""

    config: TrustedCa
    certificates: tuple[x509.Certificate, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def checks_crl(self) -> bool:
        return self.config.revocation_check != "none"


@dataclass(frozen=True)
class CachedCrl:
    crl: x509.CertificateRevocationList
    source: str
    expires: dt.datetime


@dataclass
class CrlCache:
    entries: dict[tuple[str, str], CachedCrl] = field(default_factory=dict)

    def get(self, trustpoint: str, source: str, now: dt.datetime) -> CachedCrl | None:
        entry = self.entries.get((trustpoint, source))
        if entry is not None and now >= entry.expires:
            del self.entries[(trustpoint, source)]  # stale: fetched again (717016's case)
            return None
        return entry

    def put(self, trustpoint: str, entry: CachedCrl) -> None:
        self.entries[(trustpoint, entry.source)] = entry


class Status(enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNAVAILABLE = "revocation status unavailable"


@dataclass(frozen=True)
class CrlProblem:
    """A source that gave no usable CRL: 717010 (unreachable) or 717019 (invalid)."""

    trustpoint: str
    source: str
    unreachable: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    status: Status
    problems: tuple[CrlProblem, ...] = ()
    accepted_unchecked: bool = False  # `revocation-check crl none` let it through


def sources_for(trustpoint: Trustpoint, cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's http CRL distribution points (`policy cdp`), then
    the trustpoint's static URLs (`policy static` / `both`)."""
    config = trustpoint.config
    out: list[str] = []
    if config.crl_use_distribution_point:
        out += distribution_points(cert)
    out += [u for u in config.crl_urls if u not in out]
    return tuple(out)


def distribution_points(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    urls: list[str] = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith("http://"):
                urls.append(name.value)
    return urls


def check(trustpoint: Trustpoint, cache: CrlCache, cert: x509.Certificate, issuer: x509.Certificate,
          now: dt.datetime, fetched: CrlFetched | None = None) -> Verdict | CrlFetch:
    """The certificate's revocation status by its issuer's CRL: from the
    cache, else a `CrlFetch` to run first (once: with `fetched` given, what
    it brought is all there is)."""
    sources = sources_for(trustpoint, cert)
    problems: list[CrlProblem] = []
    if fetched is not None:
        for result in fetched.results:
            problem = _store(trustpoint, cache, issuer, result, now)
            if problem is not None:
                problems.append(problem)
    for source in sources:
        entry = cache.get(trustpoint.name, source, now)
        if entry is not None:
            revoked = entry.crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
            return Verdict(Status.REVOKED if revoked else Status.GOOD, tuple(problems))
    if fetched is None and sources:
        return CrlFetch(trustpoint.name, sources)
    if not sources:
        problems.append(CrlProblem(trustpoint.name, "-", True, "no CRL distribution point or URL"))
    lenient = trustpoint.config.revocation_check == "crl none"
    return Verdict(Status.GOOD if lenient else Status.UNAVAILABLE, tuple(problems), accepted_unchecked=lenient)


def _store(trustpoint: Trustpoint, cache: CrlCache, issuer: x509.Certificate, result: FetchedSource,
           now: dt.datetime) -> CrlProblem | None:
    if result.data is None:
        return CrlProblem(trustpoint.name, result.source, True, result.error or "unreachable")
    try:
        crl = parse_crl(result.data)
        expires = validate(crl, issuer, trustpoint.config, now)
    except ValueError as exc:
        return CrlProblem(trustpoint.name, result.source, False, str(exc))
    cache.put(trustpoint.name, CachedCrl(crl, result.source, expires))
    return None


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    try:
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise ValueError("not a DER or PEM CRL") from None


def validate(crl: x509.CertificateRevocationList, issuer: x509.Certificate, config: TrustedCa,
             now: dt.datetime) -> dt.datetime:
    """Until when the CRL may be used; ValueError why it may not at all."""
    if crl.issuer != issuer.subject:
        raise ValueError(f"CRL issuer {crl.issuer.rfc4514_string()} is not the certificate's issuer")
    key = issuer.public_key()
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)) \
            or not crl.is_signature_valid(key):
        raise ValueError("CRL signature verification failed")
    if crl.last_update_utc > now:
        raise ValueError("CRL is not yet valid (thisUpdate is in the future)")
    next_update = crl.next_update_utc
    cache_until = now + dt.timedelta(minutes=config.crl_cache_minutes)
    if next_update is None:
        if config.crl_enforce_next_update:
            raise ValueError("CRL has no NextUpdate field")
        return cache_until
    if next_update < now:
        if config.crl_enforce_next_update:
            raise ValueError("CRL has expired (NextUpdate is past)")
        return cache_until
    return min(next_update, cache_until)


def trustpoint_of(trustpoints: Sequence[Trustpoint], anchor: x509.Certificate) -> Trustpoint | None:
    for trustpoint in trustpoints:
        if anchor in trustpoint.certificates:
            return trustpoint
    return None
