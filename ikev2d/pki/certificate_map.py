"""Certificate maps: the FTD's `crypto ca certificate map` rules and its
`tunnel-group-map` (FMC: RA VPN Advanced > Certificate Maps), which pick a
connection profile from what a client certificate says
(docs/ftd-behaviour.md, "Certificate maps").

A map matches when every one of its rules does; mappings are tried in
their order and the first map that matches names the profile. Values are
compared ignoring case."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..conf.model import CertificateMap, CertificateMapRule

# the ASA's `attr` tags (crypto ca certificate map > subject-name attr TAG)
DN_ATTRIBUTES: dict[str, ObjectIdentifier] = {
    "c": NameOID.COUNTRY_NAME,
    "cn": NameOID.COMMON_NAME,
    "dnq": NameOID.DN_QUALIFIER,
    "ea": NameOID.EMAIL_ADDRESS,
    "genq": NameOID.GENERATION_QUALIFIER,
    "gn": NameOID.GIVEN_NAME,
    "i": NameOID.INITIALS,
    "l": NameOID.LOCALITY_NAME,
    "n": ObjectIdentifier("2.5.4.41"),  # name
    "o": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "ser": NameOID.SERIAL_NUMBER,
    "sn": NameOID.SURNAME,
    "sp": NameOID.STATE_OR_PROVINCE_NAME,
    "st": NameOID.STATE_OR_PROVINCE_NAME,
    "t": NameOID.TITLE,
    "uid": NameOID.USER_ID,
}
_TAG_OF = {oid: tag for tag, oid in reversed(DN_ATTRIBUTES.items())}  # st wins over sp

# `extended-key-usage co NAME`
EKU_NAMES: dict[str, ObjectIdentifier] = {
    "clientauth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverauth": ExtendedKeyUsageOID.SERVER_AUTH,
    "codesigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailprotection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ocspsigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
}


def eku_oid(value: str) -> ObjectIdentifier:
    """A key purpose by the ASA's name or as a dotted OID (ValueError otherwise)."""
    known = EKU_NAMES.get(value.strip().lower())
    if known is not None:
        return known
    return ObjectIdentifier(value.strip())


def dn_text(name: x509.Name) -> str:
    """A DN as the ASA prints it in 717036/717037 (`c=US,st=MD,...,cn=...`):
    in the certificate's order, lower-case tags."""
    parts = []
    for attribute in name:
        tag = _TAG_OF.get(attribute.oid) or attribute.oid.dotted_string
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        parts.append(f"{tag}={value}")
    return ",".join(parts)


def _compare(operator: str, candidates: Iterable[str], wanted: str) -> bool:
    # eq/co hold when some value does; ne/nc when none does (an absent
    # attribute therefore never equals, and always differs)
    wanted = wanted.casefold()
    values = [c.casefold() for c in candidates]
    if operator in ("eq", "ne"):
        hit = wanted in values
    else:
        hit = any(wanted in v for v in values)
    return hit if operator in ("eq", "co") else not hit


def _name_values(name: x509.Name, component: str | None) -> list[str]:
    if component is None:
        return [dn_text(name)]
    return [a.value for a in name.get_attributes_for_oid(DN_ATTRIBUTES[component]) if isinstance(a.value, str)]


def _alt_names(cert: x509.Certificate) -> list[str]:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    out: list[str] = []
    for general in sans:
        value = general.value
        out.append(value.rfc4514_string() if isinstance(value, x509.Name) else str(value))
    return out


def _key_usages(cert: x509.Certificate) -> list[ObjectIdentifier]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (x509.ExtensionNotFound, ValueError):
        return []


def rule_matches(rule: CertificateMapRule, cert: x509.Certificate) -> bool:
    if rule.field == "subject-name":
        return _compare(rule.operator, _name_values(cert.subject, rule.component), rule.value)
    if rule.field == "issuer-name":
        return _compare(rule.operator, _name_values(cert.issuer, rule.component), rule.value)
    if rule.field == "alt-subject-name":
        return _compare(rule.operator, _alt_names(cert), rule.value)
    present = eku_oid(rule.value) in _key_usages(cert)
    return present if rule.operator == "co" else not present


def map_matches(certificate_map: CertificateMap, cert: x509.Certificate) -> bool:
    return all(rule_matches(rule, cert) for rule in certificate_map.rules)


@dataclass(frozen=True)
class MapMatch:
    certificate_map: str
    profile: str


def first_match(mappings: Sequence[tuple[CertificateMap, str]], cert: x509.Certificate) -> MapMatch | None:
    """The first (map, profile) mapping whose map the certificate matches."""
    for certificate_map, profile in mappings:
        if map_matches(certificate_map, cert):
            return MapMatch(certificate_map.name, profile)
    return None
