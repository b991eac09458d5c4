"""The Configuration payload CP (RFC 7296 §3.15)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from ikev2d.iana import ConfigAttr, PayloadType
from ikev2d.wire.base import TYPE_AND_RESERVED, BytesLike, PayloadBase
from ikev2d.wire.errors import InvalidSyntax

# R|Attribute Type, Length
_ATTRIBUTE = struct.Struct("!HH")
_TYPE_MASK = 0x7FFF  # the R bit is reserved and ignored on receipt (§3.15.1)

# The lengths §3.15.1's table allows; a request sends the empty form.
_LENGTHS: dict[int, frozenset[int]] = {
    ConfigAttr.INTERNAL_IP4_ADDRESS: frozenset({0, 4}),
    ConfigAttr.INTERNAL_IP4_NETMASK: frozenset({0, 4}),
    ConfigAttr.INTERNAL_IP4_DNS: frozenset({0, 4}),
    ConfigAttr.INTERNAL_IP4_NBNS: frozenset({0, 4}),
    ConfigAttr.INTERNAL_IP4_DHCP: frozenset({0, 4}),
    ConfigAttr.INTERNAL_IP6_ADDRESS: frozenset({0, 17}),
    ConfigAttr.INTERNAL_IP6_DNS: frozenset({0, 16}),
    ConfigAttr.INTERNAL_IP6_DHCP: frozenset({0, 16}),
    ConfigAttr.INTERNAL_IP4_SUBNET: frozenset({0, 8}),
    ConfigAttr.INTERNAL_IP6_SUBNET: frozenset({0, 17}),
}
_SUPPORTED_ATTRIBUTES = int(ConfigAttr.SUPPORTED_ATTRIBUTES)  # a list of 2-octet types


@dataclass(frozen=True, slots=True)
class ConfigAttribute:
    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        return _ATTRIBUTE.pack(self.type & _TYPE_MASK, len(self.value)) + self.value


@dataclass(frozen=True, slots=True)
class CP(PayloadBase):
    payload_type: ClassVar[int] = PayloadType.CP
    cfg_type: int
    attributes: list[ConfigAttribute]

    def body(self) -> bytes:
        return TYPE_AND_RESERVED.pack(self.cfg_type) + b"".join(a.encode() for a in self.attributes)

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        end = len(body)
        if end < TYPE_AND_RESERVED.size:
            raise InvalidSyntax("CP payload shorter than its header")
        (cfg_type,) = TYPE_AND_RESERVED.unpack_from(body)
        attributes: list[ConfigAttribute] = []
        pos = TYPE_AND_RESERVED.size
        while pos < end:
            if end - pos < _ATTRIBUTE.size:
                raise InvalidSyntax("CP payload ends inside an attribute header")
            word, length = _ATTRIBUTE.unpack_from(body, pos)
            atype = word & _TYPE_MASK
            start = pos + _ATTRIBUTE.size
            pos = start + length
            if pos > end:
                raise InvalidSyntax(f"configuration attribute {atype} runs past its payload")
            allowed = _LENGTHS.get(atype)
            if (allowed is not None and length not in allowed) or (
                atype == _SUPPORTED_ATTRIBUTES and length % 2
            ):
                raise InvalidSyntax(f"configuration attribute {atype} with length {length}")
            attributes.append(ConfigAttribute(atype, bytes(body[start:pos])))
        return cls(cfg_type, attributes, critical=critical)
