"""IPv6 inside the tunnel, for the lab: the addresses, the namespaces'
IPv6 switched on, and ikev2d's configuration with an IPv6 pool.

Lab IPv6 addresses come from the benchmarking prefix 2001:2::/48 (RFC
5180), the IPv6 counterpart of 198.18.0.0/15: the gateway's inside address
2001:2::1 and the pool 2001:2:0:1::100/64.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lab.netns import Namespace

LAB_NET6 = ipaddress.ip_network("2001:2::/48")
INSIDE6 = "2001:2::1"  # the gateway's inside IPv6 address, beside 198.19.0.1
INSIDE_NET6 = "2001:2::/64"
POOL6_NAME = "VPN-Pool6"
POOL6_START = "2001:2:0:1::100"
POOL6_PREFIX = 64
POOL6_NUMBER = 50


def check_lab_address6(addr: str) -> str:
    """Refuse any IPv6 address outside 2001:2::/48."""
    if ipaddress.ip_interface(addr).ip not in LAB_NET6:
        raise ValueError(f"{addr} is not a lab IPv6 address ({LAB_NET6})")
    return addr


def in_pool6(addr: str) -> bool:
    first = ipaddress.IPv6Address(POOL6_START)
    return first <= ipaddress.IPv6Address(addr) < first + POOL6_NUMBER


def enable_ipv6(ns: Namespace) -> None:
    """IPv6 on in `ns` (a namespace's sysctls start from the kernel's
    defaults, which a host may have changed), for devices there and to come."""
    for scope in ("all", "default", "lo"):
        ns.run(["sysctl", "-qw", f"net.ipv6.conf.{scope}.disable_ipv6=0"])


def add_inside6(gateway: Namespace) -> None:
    """The gateway's inside IPv6 address on its loopback, as 198.19.0.1 is."""
    enable_ipv6(gateway)
    gateway.ip("-6", "addr", "add", f"{check_lab_address6(INSIDE6)}/128", "dev", "lo", "nodad")


def with_ipv6_pool(cfg: dict[str, Any]) -> None:
    """An Ikev2dKnobs `edit`: the IPv6 pool, on every connection profile."""
    cfg["objects"]["ipv6_pools"] = [{"name": POOL6_NAME, "prefix": f"{POOL6_START}/{POOL6_PREFIX}",
                                     "number": POOL6_NUMBER}]
    for profile in cfg["connection_profiles"]:
        profile["ipv6_address_pools"] = [POOL6_NAME]
