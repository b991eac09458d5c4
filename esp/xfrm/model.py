"""Typed values for XFRM states and policies: what the message builders take
and what the parsers return. Plain data, no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Union

from . import consts as c
from .algorithms import KernelAlg

Network = Union[IPv4Network, IPv6Network]


def family_of(address: str) -> int:
    return c.AF_INET6 if ipaddress.ip_address(address).version == 6 else c.AF_INET


@dataclass(frozen=True)
class Selector:
    """struct xfrm_selector: which packets (inner addresses, ports, protocol)."""

    src: Network
    dst: Network
    proto: int = 0
    sport: int = 0
    dport: int = 0

    @property
    def family(self) -> int:
        return c.AF_INET6 if self.src.version == 6 else c.AF_INET

    def fields(self, prefix: str = "sel_") -> dict[str, object]:
        return {
            prefix + "saddr": self.src.network_address,
            prefix + "daddr": self.dst.network_address,
            prefix + "prefixlen_s": self.src.prefixlen,
            prefix + "prefixlen_d": self.dst.prefixlen,
            prefix + "proto": self.proto,
            prefix + "sport": self.sport,
            prefix + "sport_mask": 0xFFFF if self.sport else 0,
            prefix + "dport": self.dport,
            prefix + "dport_mask": 0xFFFF if self.dport else 0,
            prefix + "family": self.family,
        }


@dataclass(frozen=True)
class Lifetime:
    """struct xfrm_lifetime_cfg; XFRM_INF (bytes/packets) and 0 (seconds) mean none."""

    soft_bytes: int = c.XFRM_INF
    hard_bytes: int = c.XFRM_INF
    soft_packets: int = c.XFRM_INF
    hard_packets: int = c.XFRM_INF
    soft_add_seconds: int = 0
    hard_add_seconds: int = 0
    soft_use_seconds: int = 0
    hard_use_seconds: int = 0

    def fields(self, prefix: str = "lft_") -> dict[str, int]:
        return {
            prefix + "soft_byte_limit": self.soft_bytes,
            prefix + "hard_byte_limit": self.hard_bytes,
            prefix + "soft_packet_limit": self.soft_packets,
            prefix + "hard_packet_limit": self.hard_packets,
            prefix + "soft_add_expires_seconds": self.soft_add_seconds,
            prefix + "hard_add_expires_seconds": self.hard_add_seconds,
            prefix + "soft_use_expires_seconds": self.soft_use_seconds,
            prefix + "hard_use_expires_seconds": self.hard_use_seconds,
        }


@dataclass(frozen=True)
class Encap:
    """XFRMA_ENCAP: ESP in UDP (RFC 3948) between these ports."""

    sport: int
    dport: int
    type: int = c.UDP_ENCAP_ESPINUDP


@dataclass(frozen=True)
class SaParams:
    """One ESP state to add. Tunnel mode by default, with no selector on the
    state itself (the policies select; as strongSwan does)."""

    src: str
    dst: str
    spi: int
    reqid: int
    algs: tuple[KernelAlg, ...] = field(repr=False)
    mode: int = c.XFRM_MODE_TUNNEL
    encap: Encap | None = None
    lifetime: Lifetime = Lifetime()
    replay_window: int = 32
    esn: bool = False
    selector: Selector | None = None
    # (last sequence number sent, highest received): an SA re-added at a new
    # address carries on from there, or the peer's replay window drops it
    replay: tuple[int, int] | None = None

    @property
    def family(self) -> int:
        return family_of(self.dst)


@dataclass(frozen=True)
class SaCurrent:
    """struct xfrm_lifetime_cur and xfrm_stats and the replay state of one SA."""

    bytes: int = 0
    packets: int = 0
    add_time: int = 0
    use_time: int = 0
    replay_window: int = 0
    replay: int = 0
    integrity_failed: int = 0
    oseq: int = 0  # last sequence number sent (outbound)
    seq: int = 0  # highest sequence number seen (inbound)


@dataclass(frozen=True)
class SaState:
    """An SA as the kernel reports it (GETSA, dumps, expire events)."""

    src: str
    dst: str
    spi: int
    proto: int
    reqid: int
    mode: int
    family: int
    lifetime: Lifetime
    current: SaCurrent
    encap: Encap | None
    alg_names: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """struct xfrm_user_tmpl: which SA (tunnel endpoints, reqid) a policy wants."""

    src: str
    dst: str
    reqid: int
    mode: int = c.XFRM_MODE_TUNNEL
    proto: int = c.IPPROTO_ESP
    spi: int = 0

    def fields(self) -> dict[str, object]:
        return {
            "id_daddr": self.dst,
            "id_spi": self.spi,
            "id_proto": self.proto,
            "family": family_of(self.dst),
            "saddr": self.src,
            "reqid": self.reqid,
            "mode": self.mode,
            "share": c.XFRM_SHARE_ANY,
            "optional": 0,
            # any algorithm: the SA, found by reqid, decides
            "aalgos": 0xFFFFFFFF,
            "ealgos": 0xFFFFFFFF,
            "calgos": 0xFFFFFFFF,
        }


@dataclass(frozen=True)
class PolicyParams:
    selector: Selector
    direction: int  # XFRM_POLICY_IN / OUT / FWD
    templates: tuple[Template, ...]
    priority: int = 0x100000
    action: int = c.XFRM_POLICY_ALLOW


@dataclass(frozen=True)
class PolicyState:
    selector: Selector
    direction: int
    index: int
    priority: int
    action: int
    templates: tuple[Template, ...]


@dataclass(frozen=True)
class ExpireEvent:
    """XFRM_MSG_EXPIRE: an SA reached a soft (rekey) or hard (gone) limit."""

    state: SaState
    hard: bool

    @property
    def reason(self) -> str:
        """Which limit: the counters against the limits tell (the kernel does not say)."""
        cur, lft = self.state.current, self.state.lifetime
        limit_bytes = lft.hard_bytes if self.hard else lft.soft_bytes
        limit_packets = lft.hard_packets if self.hard else lft.soft_packets
        if limit_packets != c.XFRM_INF and cur.packets >= limit_packets:
            return "packets"
        if limit_bytes != c.XFRM_INF and cur.bytes >= limit_bytes:
            return "bytes"
        return "time"


@dataclass(frozen=True)
class MappingEvent:
    """XFRM_MSG_MAPPING: ESP in UDP for the inbound SA (dst, spi) passed its
    integrity check but came from `new`, not from `old` where the SA's peer
    is (a NAT mapping changed, or a copy was sent on from elsewhere)."""

    dst: str
    spi: int
    reqid: int
    old: tuple[str, int]
    new: tuple[str, int]
