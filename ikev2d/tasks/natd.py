"""NAT detection (RFC 7296 §2.23)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import struct

from ..iana import NotifyType
from ..wire.payloads import Notify

Address = tuple[str, int]


@functools.lru_cache(maxsize=4096)
def _packed(host: str) -> bytes:
    # parsed four times per IKE_SA_INIT (two hashes each way), from a few hosts
    return ipaddress.ip_address(host).packed


def natd_hash(spi_i: bytes, spi_r: bytes, address: Address) -> bytes:
    ip = _packed(address[0])
    return hashlib.sha1(spi_i + spi_r + ip + struct.pack("!H", address[1])).digest()


def nat_detected(notifies: list[Notify], spi_i: bytes, local: Address, remote: Address) -> tuple[bool, bool] | None:
    """(peer behind NAT, we behind NAT), or None when the peer sent no NAT-D.

    The request's SPIr is zero, so its hashes use eight zero bytes.
    """
    zero = bytes(8)
    sources = [n.data for n in notifies if n.type == NotifyType.NAT_DETECTION_SOURCE_IP]
    dests = [n.data for n in notifies if n.type == NotifyType.NAT_DETECTION_DESTINATION_IP]
    if not sources or not dests:
        return None
    peer_natted = natd_hash(spi_i, zero, remote) not in sources
    we_natted = natd_hash(spi_i, zero, local) not in dests
    return peer_natted, we_natted


def natd_notifies(spi_i: bytes, spi_r: bytes, local: Address, remote: Address) -> list[Notify]:
    return [
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=natd_hash(spi_i, spi_r, local)),
        Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, data=natd_hash(spi_i, spi_r, remote)),
    ]
