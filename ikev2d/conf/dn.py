"""Distinguished names as an admin types them: `CN=vpn.example.test, O=Lab, C=US`.

`x509.Name.from_rfc4514_string` refuses the space after each comma that
every ASA/FMC example has, so this reads the friendlier form: RFC 4514 order
(most specific first), spaces around `,` and `=` ignored, `\\,` for a comma
inside a value.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

ATTRIBUTES: Mapping[str, ObjectIdentifier] = MappingProxyType(
    {
        "CN": NameOID.COMMON_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "L": NameOID.LOCALITY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "C": NameOID.COUNTRY_NAME,
        "E": NameOID.EMAIL_ADDRESS,
        "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
        "SERIALNUMBER": NameOID.SERIAL_NUMBER,
        "DC": NameOID.DOMAIN_COMPONENT,
    }
)


def parse_dn(text: str) -> x509.Name:
    """Parse a DN; ValueError says what is wrong with it in words."""
    attributes: list[x509.NameAttribute[str]] = []
    for part in _split_unescaped(text, ","):
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not sep or not key:
            raise ValueError(f"'{part.strip()}' is not ATTRIBUTE=value")
        oid = ATTRIBUTES.get(key)
        if oid is None:
            known = ", ".join(k for k in ATTRIBUTES if k != "EMAILADDRESS")
            raise ValueError(f"unknown attribute '{key}' (known: {known})")
        if not value:
            raise ValueError(f"{key} has no value")
        try:
            attributes.append(x509.NameAttribute(oid, value))
        except ValueError as exc:  # e.g. C must be two letters
            raise ValueError(f"{key}={value}: {exc}") from None
    if not attributes:
        raise ValueError("the name is empty")
    # Written most specific first; encoded most general first.
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in reversed(attributes)])


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError("the name ends with a lone backslash")
    parts.append("".join(current))
    return parts
