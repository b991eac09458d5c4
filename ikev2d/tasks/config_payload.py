"""The configuration payload (RFC 7296 §3.15): the client's virtual address,
netmask, DNS and split-tunnel networks from the pool and group policy."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Sequence

from ..iana import ConfigAttr, ConfigType
from ..wire.payloads import CP, ConfigAttribute


def requested_ipv4(cp: CP | None) -> bool:
    return cp is not None and cp.cfg_type == ConfigType.CFG_REQUEST and any(
        a.type == ConfigAttr.INTERNAL_IP4_ADDRESS for a in cp.attributes
    )


def build_reply(address: IPv4Address, netmask: IPv4Address, dns: Sequence[IPv4Address],
                split_networks: Sequence[IPv4Network]) -> CP:
    attrs = [
        ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS, address.packed),
        ConfigAttribute(ConfigAttr.INTERNAL_IP4_NETMASK, netmask.packed),
    ]
    attrs += [ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS, d.packed) for d in dns]
    attrs += [ConfigAttribute(ConfigAttr.INTERNAL_IP4_SUBNET, n.network_address.packed + n.netmask.packed)
              for n in split_networks]
    return CP(ConfigType.CFG_REPLY, attrs)
