"""Host names and subject alternative names: an IP address or a DNS name.

Shared by the loader (to reject a bad name on its line) and by
`ikev2d.identity` (to put each name in the certificate as the right kind).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address, ip_address

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def is_dns_name(text: str, wildcard: bool = False) -> bool:
    """RFC 1123 host name (a leading `*.` allowed when `wildcard`)."""
    if wildcard and text.startswith("*."):
        text = text[2:]
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.split("."))


def parse_san(text: str) -> IPv4Address | IPv6Address | str:
    """An IP address object, or the DNS name as text; ValueError if neither."""
    value = text.strip()
    try:
        return ip_address(value)
    except ValueError:
        pass
    if is_dns_name(value, wildcard=True):
        return value
    raise ValueError(f"'{value}' is neither an IP address nor a DNS name")


def parse_host(text: str) -> IPv4Address | str:
    """A server to reach: an IPv4 address object, or a DNS name as text."""
    value = text.strip()
    try:
        return IPv4Address(value)
    except ValueError:
        pass
    if ":" in value:
        raise ValueError(f"'{value}' is not an IPv4 address (only IPv4 is supported)")
    if is_dns_name(value) and not value.replace(".", "").isdecimal():
        return value
    raise ValueError(f"'{value}' is neither an IPv4 address nor a DNS name")
