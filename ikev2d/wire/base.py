"""What every payload shares: the generic payload header (RFC 7296 §3.2)
and the class protocol the message codec relies on."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeAlias

# Bodies arrive as memoryview slices of the datagram (no copy) or bytes.
BytesLike: TypeAlias = bytes | memoryview

# Next Payload, C|RESERVED, Payload Length
GENERIC_HEADER = struct.Struct("!BBH")
GENERIC_HEADER_SIZE = 4
CRITICAL = 0x80
MAX_PAYLOAD_LENGTH = 0xFFFF

# "type (1) | RESERVED (3)": the body prefix of ID, AUTH, CP, TS
TYPE_AND_RESERVED = struct.Struct("!B3x")


@dataclass(frozen=True, slots=True)
class PayloadBase:
    """One IKEv2 payload. `critical` is the C bit of its generic header:
    kept for round trips, meaningless for the types we implement."""

    payload_type: ClassVar[int]
    critical: bool = field(default=False, kw_only=True)

    def body(self) -> bytes:
        """The payload's octets after the generic header."""
        raise NotImplementedError

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        """Decode a body; raises InvalidSyntax (only) when malformed."""
        raise NotImplementedError
