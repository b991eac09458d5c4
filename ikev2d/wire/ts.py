"""Traffic Selector payloads TSi and TSr (RFC 7296 §3.13)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import ClassVar, Self

from ikev2d.iana import PayloadType, TsType
from ikev2d.wire.base import TYPE_AND_RESERVED, BytesLike, PayloadBase
from ikev2d.wire.errors import InvalidSyntax

# TS Type, IP Protocol ID, Selector Length, Start Port, End Port
_SELECTOR = struct.Struct("!BBHHH")
_V4 = int(TsType.TS_IPV4_ADDR_RANGE)
_V6 = int(TsType.TS_IPV6_ADDR_RANGE)
MAX_SELECTORS = 255  # Number of TSs is one octet (§3.13)
# Selector Length and address width per TS type (§3.13.1)
_LAYOUT: dict[int, tuple[int, int, type[IPv4Address] | type[IPv6Address]]] = {
    _V4: (16, 4, IPv4Address),
    _V6: (40, 16, IPv6Address),
}


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    ts_type: int
    ip_protocol: int
    start_port: int
    end_port: int
    start_addr: IPv4Address | IPv6Address
    end_addr: IPv4Address | IPv6Address

    def encode(self) -> bytes:
        layout = _LAYOUT.get(self.ts_type)
        if layout is None:
            raise ValueError(f"cannot encode TS type {self.ts_type}")
        length, _, addr_type = layout
        if not (isinstance(self.start_addr, addr_type) and isinstance(self.end_addr, addr_type)):
            raise ValueError(f"TS type {self.ts_type} needs {addr_type.__name__} addresses")
        return (
            _SELECTOR.pack(self.ts_type, self.ip_protocol, length, self.start_port, self.end_port)
            + self.start_addr.packed
            + self.end_addr.packed
        )


@dataclass(frozen=True, slots=True)
class _TrafficSelectors(PayloadBase):
    selectors: list[TrafficSelector]

    def body(self) -> bytes:
        if not 0 < len(self.selectors) <= MAX_SELECTORS:
            # the count is one octet (§3.13); callers bound what they send
            raise ValueError(f"a TS payload holds 1 to {MAX_SELECTORS} selectors, not {len(self.selectors)}")
        return TYPE_AND_RESERVED.pack(len(self.selectors)) + b"".join(
            s.encode() for s in self.selectors
        )

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        return cls(_parse_selectors(body), critical=critical)


@dataclass(frozen=True, slots=True)
class TSi(_TrafficSelectors):
    payload_type: ClassVar[int] = PayloadType.TSi


@dataclass(frozen=True, slots=True)
class TSr(_TrafficSelectors):
    payload_type: ClassVar[int] = PayloadType.TSr


def _parse_selectors(buf: BytesLike) -> list[TrafficSelector]:
    end = len(buf)
    if end < TYPE_AND_RESERVED.size:
        raise InvalidSyntax("TS payload shorter than its header")
    (count,) = TYPE_AND_RESERVED.unpack_from(buf)
    if count == 0:
        raise InvalidSyntax("TS payload with no traffic selectors")
    out: list[TrafficSelector] = []
    pos = TYPE_AND_RESERVED.size
    while pos < end:
        if end - pos < _SELECTOR.size:
            raise InvalidSyntax("TS payload ends inside a selector header")
        ts_type, proto, length, start_port, end_port = _SELECTOR.unpack_from(buf, pos)
        layout = _LAYOUT.get(ts_type)
        if layout is None:
            raise InvalidSyntax(f"unsupported TS type {ts_type}")
        want, width, addr_type = layout
        if length != want:
            raise InvalidSyntax(f"TS type {ts_type} with Selector Length {length}, not {want}")
        if pos + length > end:
            raise InvalidSyntax("traffic selector runs past its payload")
        a = pos + _SELECTOR.size
        out.append(TrafficSelector(
            ts_type, proto, start_port, end_port,
            addr_type(bytes(buf[a:a + width])), addr_type(bytes(buf[a + width:a + 2 * width])),
        ))
        pos += length
    if len(out) != count:
        raise InvalidSyntax(f"TS payload announces {count} selectors but holds {len(out)}")
    return out
