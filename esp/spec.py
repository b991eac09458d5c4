"""What the IKE core hands to a data plane: one Child SA pair, as plain values.

The core never imports a data-plane back end; it emits a `ChildSaSpec` and the
adapter gives it to whichever back end runs (kernel XFRM or userspace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Union

# an inner network: a dual-stack pair carries both families over one outer one
InnerNetwork = Union[IPv4Network, IPv6Network]


@dataclass(frozen=True)
class EspAlgorithms:
    """ESP transforms as negotiated (IANA numbers) with their key sizes."""

    encr_id: int
    encr_key_bits: int
    integ_id: int  # 0 (NONE) with an AEAD cipher
    encr_key_size: int  # bytes of KEYMAT for the cipher (GCM: key + 4-byte salt)
    integ_key_size: int
    icv_size: int  # ESP ICV length on the wire
    esn: bool = False


@dataclass(frozen=True)
class ChildSaSpec:
    """An ESP tunnel-mode SA pair from the responder's point of view.

    `spi_in` is the SPI we chose (the peer sends with it); `spi_out` the
    peer's. Keys are named by direction of travel, not by IKE role.
    """

    ike_sa_id: str
    spi_in: int
    spi_out: int
    algorithms: EspAlgorithms
    encr_key_in: bytes = field(repr=False)
    integ_key_in: bytes = field(repr=False)
    encr_key_out: bytes = field(repr=False)
    integ_key_out: bytes = field(repr=False)
    local_address: str
    remote_address: str
    # ESP in UDP (RFC 3948) when NAT-T is in use: the ports of the IKE SA.
    encap_local_port: int | None
    encap_remote_port: int | None
    local_selectors: tuple[InnerNetwork, ...]  # what we protect (TSr)
    remote_selectors: tuple[InnerNetwork, ...]  # the client's virtual address(es) (TSi)
    lifetime_seconds: int
    lifetime_kilobytes: int
    username: str = ""
    # the vpn-sessiondb index of the session the pair belongs to, across
    # Child and IKE rekeys: what a RADIUS Stop adds up
    session: int = 0
