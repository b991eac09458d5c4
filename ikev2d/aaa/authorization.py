"""What a AAA server decides about a user beyond yes or no, as an FTD
applies it (docs/ftd-behaviour.md, "RADIUS authorization"): the group
policy (RADIUS Class `OU=name;`, or Cisco's Group-Policy attribute), an
address (Framed-IP-Address, and Framed-IPv6-Address), and session and idle timeouts that take
precedence over the group policy's."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Sequence


@dataclass(frozen=True)
class Authorization:
    group_policy: str | None = None
    framed_ip: IPv4Address | None = None
    session_timeout: int | None = None  # seconds: the maximum connect time (vpn-session-timeout)
    idle_timeout: int | None = None  # seconds (vpn-idle-timeout)
    framed_ipv6: IPv6Address | None = None  # Framed-IPv6-Address (RFC 6911), for a dual-stack client


NONE = Authorization()


def group_policy_from_class(values: Sequence[bytes]) -> str | None:
    """The group policy a Class attribute names: `OU=name;` as the ASA reads
    it (the name up to the semicolon, which may be left out), or a bare
    name. The first Class that names one wins; a Class that is not text
    (a server's opaque session cookie) names none."""
    for value in values:
        try:
            text = value.decode("utf-8").strip()
        except UnicodeDecodeError:
            continue
        for part in text.split(";"):
            part = part.strip()
            if part[:3].upper() == "OU=" and part[3:].strip():
                return part[3:].strip()
        if text and "=" not in text and ";" not in text and text.isprintable():
            return text
    return None
