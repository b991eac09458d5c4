"""The configuration payload (RFC 7296 §3.15): the client's virtual address
and netmask (and, dual stack, its IPv6 address and prefix length), and
what its group policy gives it: DNS servers, default domain, banner and
split-tunnel networks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Sequence

from ..conf.model import GroupPolicy
from ..iana import ConfigAttr, ConfigType
from ..wire.payloads import CP, ConfigAttribute

# RFC 7296 has no attribute for a default domain, a banner or networks to
# exclude. These travel in the Cisco Unity attributes (the IKEv1 mode-config
# numbers, which Cisco IOS FlexVPN also sends over IKEv2). Whether an FTD
# does the same for IKEv2 is unconfirmed (docs/ftd-behaviour.md, "AnyConnect client"):
# this is the one place to change if it does not.
# strongSwan 5.9 parses all three in IKEv2; its unity plugin acts on
# LOCAL_LAN (a bypass policy) but has no handler for DEF_DOMAIN or BANNER.
DEFAULT_DOMAIN_ATTR = ConfigAttr.UNITY_DEF_DOMAIN
BANNER_ATTR = ConfigAttr.UNITY_BANNER
SPLIT_EXCLUDE_ATTR = ConfigAttr.UNITY_LOCAL_LAN
# A Unity subnet entry: address, mask, then 6 octets (protocol and ports in
# IKEv1, zero here) that strongSwan skips.
_UNITY_SUBNET_PAD = bytes(6)


def requested_ipv4(cp: CP | None) -> bool:
    return cp is not None and cp.cfg_type == ConfigType.CFG_REQUEST and any(
        a.type == ConfigAttr.INTERNAL_IP4_ADDRESS for a in cp.attributes
    )


def requested_ipv6(cp: CP | None) -> bool:
    """The client asks for an IPv6 address too (INTERNAL_IP6_ADDRESS, empty
    or with the address it would like: §3.15.1)."""
    return cp is not None and cp.cfg_type == ConfigType.CFG_REQUEST and any(
        a.type == ConfigAttr.INTERNAL_IP6_ADDRESS for a in cp.attributes
    )


def application_version(cp: CP | None) -> str:
    """The client's own name and version, if its request carries one
    (APPLICATION_VERSION, RFC 7296 §3.15.1: printable ASCII)."""
    if cp is None or cp.cfg_type != ConfigType.CFG_REQUEST:
        return ""
    for a in cp.attributes:
        if a.type == ConfigAttr.APPLICATION_VERSION:
            return "".join(c for c in a.value.decode("ascii", "replace") if c.isprintable())
    return ""


def build_reply(address: IPv4Address, netmask: IPv4Address, policy: GroupPolicy,
                ipv6: tuple[IPv6Address, int] | None = None) -> CP:
    """`ipv6`: the IPv6 address and its prefix length (the pool's), for a
    client that asked for one too."""
    attrs = [
        ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS, address.packed),
        ConfigAttribute(ConfigAttr.INTERNAL_IP4_NETMASK, netmask.packed),
    ]
    if ipv6 is not None:
        # 16 octets of address, one of prefix length (§3.15.1); no netmask
        # attribute in IPv6
        attrs.append(ConfigAttribute(ConfigAttr.INTERNAL_IP6_ADDRESS, ipv6[0].packed + bytes([ipv6[1]])))
    attrs += [ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS, d.packed) for d in policy.dns_servers if d.version == 4]
    if ipv6 is not None:  # reachable through the tunnel only with an IPv6 address of its own
        attrs += [ConfigAttribute(ConfigAttr.INTERNAL_IP6_DNS, d.packed) for d in policy.dns_servers
                  if d.version == 6]
    if policy.default_domain:
        attrs.append(ConfigAttribute(DEFAULT_DOMAIN_ATTR, policy.default_domain.encode()))
    if policy.banner:
        attrs.append(ConfigAttribute(BANNER_ATTR, policy.banner.encode()))
    if policy.split_tunnel == "tunnel-specified":
        # the protected sub-networks (§3.15.2); TSr is narrowed to the same
        attrs += [ConfigAttribute(ConfigAttr.INTERNAL_IP4_SUBNET, n.network_address.packed + n.netmask.packed)
                  for n in policy.split_tunnel_networks]
    elif policy.split_tunnel == "exclude-specified" and policy.split_tunnel_networks:
        attrs.append(ConfigAttribute(SPLIT_EXCLUDE_ATTR, unity_subnets(policy.split_tunnel_networks)))
    return CP(ConfigType.CFG_REPLY, attrs)


def unity_subnets(networks: Sequence[IPv4Network]) -> bytes:
    return b"".join(n.network_address.packed + n.netmask.packed + _UNITY_SUBNET_PAD for n in networks)
