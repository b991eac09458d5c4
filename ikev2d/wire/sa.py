"""The SA payload and its Proposal and Transform substructures
(RFC 7296 §3.3)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from ikev2d.iana import PayloadType, ProtocolId, TransformAttr
from ikev2d.wire.base import BytesLike, PayloadBase
from ikev2d.wire.errors import InvalidSyntax

# Last Substruc, RESERVED, Length, Proposal Num, Protocol ID, SPI Size, Num Transforms
_PROPOSAL = struct.Struct("!BBHBBBB")
# Last Substruc, RESERVED, Length, Transform Type, RESERVED, Transform ID
_TRANSFORM = struct.Struct("!BBHBBH")
# AF|Attribute Type, Attribute Length or Value
_ATTRIBUTE = struct.Struct("!HH")

_MORE_PROPOSALS = 2  # "Last Substruc" values (RFC 7296 §3.3.1, §3.3.2)
_MORE_TRANSFORMS = 3
_LAST = 0
_AF_TV = 0x8000
_KEY_LENGTH = int(TransformAttr.KEY_LENGTH)
_KEY_LENGTH_TV = struct.Struct("!HH")

# SPI sizes a proposal may carry per protocol (RFC 7296 §3.3.1): IKE is 0 in
# IKE_SA_INIT and 8 when rekeying; AH and ESP SPIs are 4 octets.
_SPI_SIZES: dict[int, tuple[int, ...]] = {
    ProtocolId.IKE: (0, 8),
    ProtocolId.AH: (4,),
    ProtocolId.ESP: (4,),
}


@dataclass(frozen=True, slots=True)
class Transform:
    """One transform (RFC 7296 §3.3.2).

    `key_length` is the Key Length attribute (§3.3.5, always TV format).
    `other_attributes` holds any other attribute octets verbatim: RFC 7296
    §3.3.6 says a transform carrying an attribute we do not understand is
    unacceptable, so proposal selection must skip it when non-empty.
    """

    type: int
    id: int
    key_length: int | None = None
    other_attributes: bytes = b""

    def encode(self, last: bool) -> bytes:
        attrs = self.other_attributes
        if self.key_length is not None:
            attrs = _KEY_LENGTH_TV.pack(_AF_TV | _KEY_LENGTH, self.key_length) + attrs
        return _TRANSFORM.pack(
            _LAST if last else _MORE_TRANSFORMS, 0, 8 + len(attrs), self.type, 0, self.id
        ) + attrs


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposal (RFC 7296 §3.3.1); `spi` is b"" in IKE_SA_INIT."""

    number: int
    protocol: int
    spi: bytes
    transforms: list[Transform]

    def encode(self, last: bool) -> bytes:
        count = len(self.transforms)
        parts = [t.encode(i == count - 1) for i, t in enumerate(self.transforms)]
        body = b"".join(parts)
        length = 8 + len(self.spi) + len(body)
        head = _PROPOSAL.pack(
            _LAST if last else _MORE_PROPOSALS, 0, length,
            self.number, self.protocol, len(self.spi), count,
        )
        return head + self.spi + body


@dataclass(frozen=True, slots=True)
class SA(PayloadBase):
    payload_type: ClassVar[int] = PayloadType.SA
    proposals: list[Proposal]

    def body(self) -> bytes:
        count = len(self.proposals)
        return b"".join(p.encode(i == count - 1) for i, p in enumerate(self.proposals))

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        return cls(_parse_proposals(body), critical=critical)


def _parse_proposals(buf: BytesLike) -> list[Proposal]:
    end = len(buf)
    if end == 0:
        raise InvalidSyntax("SA payload without proposals")
    out: list[Proposal] = []
    pos = 0
    while True:
        if end - pos < _PROPOSAL.size:
            raise InvalidSyntax("SA payload ends inside a proposal header")
        last, _, length, number, protocol, spi_size, count = _PROPOSAL.unpack_from(buf, pos)
        if last not in (_LAST, _MORE_PROPOSALS):
            raise InvalidSyntax(f"proposal Last Substruc is {last}, not 0 or 2")
        stop = pos + length
        if length < _PROPOSAL.size + spi_size or stop > end:
            raise InvalidSyntax(f"proposal length {length} does not fit its SPI and the SA payload")
        # §3.3.1: numbers start at 1 and go up by one; a response carries
        # the single accepted proposal with the number it had.
        if number == 0:
            raise InvalidSyntax("proposal number 0")
        if out and number != out[-1].number + 1:
            raise InvalidSyntax(f"proposal number {number} follows {out[-1].number}")
        allowed = _SPI_SIZES.get(protocol)
        if allowed is not None and spi_size not in allowed:
            raise InvalidSyntax(f"SPI size {spi_size} for protocol {protocol}")
        spi_end = pos + _PROPOSAL.size + spi_size
        transforms = _parse_transforms(buf, spi_end, stop)
        if len(transforms) != count:
            raise InvalidSyntax(f"proposal announces {count} transforms but holds {len(transforms)}")
        out.append(Proposal(number, protocol, bytes(buf[pos + _PROPOSAL.size:spi_end]), transforms))
        pos = stop
        if last == _LAST:
            if pos != end:
                raise InvalidSyntax("octets after the proposal marked last")
            break
        if pos == end:
            raise InvalidSyntax("SA payload ends where a further proposal was announced")
    if len(out) > 1 and out[0].number != 1:
        raise InvalidSyntax("the first of several proposals is not number 1")
    return out


def _parse_transforms(buf: BytesLike, pos: int, end: int) -> list[Transform]:
    out: list[Transform] = []
    last = _LAST
    while pos < end:
        if end - pos < _TRANSFORM.size:
            raise InvalidSyntax("proposal ends inside a transform header")
        last, _, length, ttype, _, tid = _TRANSFORM.unpack_from(buf, pos)
        if last not in (_LAST, _MORE_TRANSFORMS):
            raise InvalidSyntax(f"transform Last Substruc is {last}, not 0 or 3")
        stop = pos + length
        if length < _TRANSFORM.size or stop > end:
            raise InvalidSyntax(f"transform length {length} does not fit its proposal")
        if length == _TRANSFORM.size:  # the common case: no attributes
            key_length, other = None, b""
        else:
            key_length, other = _parse_attributes(buf, pos + _TRANSFORM.size, stop)
        out.append(Transform(ttype, tid, key_length, other))
        pos = stop
        if last == _LAST:
            break
    if pos != end:
        raise InvalidSyntax("octets after the transform marked last")
    if last != _LAST:
        raise InvalidSyntax("the final transform is not marked last")
    return out


def _parse_attributes(buf: BytesLike, pos: int, end: int) -> tuple[int | None, bytes]:
    key_length: int | None = None
    other = bytearray()
    while pos < end:
        if end - pos < _ATTRIBUTE.size:
            raise InvalidSyntax("transform ends inside an attribute header")
        word, value = _ATTRIBUTE.unpack_from(buf, pos)
        size = _ATTRIBUTE.size if word & _AF_TV else _ATTRIBUTE.size + value
        if pos + size > end:
            raise InvalidSyntax("transform attribute runs past its transform")
        if word & 0x7FFF == _KEY_LENGTH:
            if not word & _AF_TV:
                raise InvalidSyntax("Key Length attribute in TLV format (RFC 7296 §3.3.5 wants TV)")
            if key_length is not None:
                raise InvalidSyntax("Key Length attribute repeated")
            key_length = value
        else:
            other += buf[pos:pos + size]
        pos += size
    return key_length, bytes(other)
