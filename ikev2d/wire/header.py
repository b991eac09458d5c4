"""The fixed IKE header (RFC 7296 §3.1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ikev2d.iana import HeaderFlag
from ikev2d.wire.errors import InvalidMajorVersion, InvalidSyntax

HEADER_SIZE = 28
IKE_MAJOR_VERSION = 2

# SPIi, SPIr, Next Payload, MjVer|MnVer, Exchange Type, Flags, Message ID, Length
_HEADER = struct.Struct("!8s8sBBBBII")
_R = int(HeaderFlag.RESPONSE)
_I = int(HeaderFlag.INITIATOR)


def header_flags(is_response: bool, is_initiator: bool) -> int:
    """The Flags octet we send: R and I as given, every other bit clear (§3.1)."""
    return (_R if is_response else 0) | (_I if is_initiator else 0)


@dataclass(frozen=True, slots=True)
class Header:
    spi_i: bytes
    spi_r: bytes
    next_payload: int
    exchange: int
    flags: int
    message_id: int
    length: int
    major: int = IKE_MAJOR_VERSION
    minor: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.flags & _R)

    @property
    def is_initiator(self) -> bool:
        return bool(self.flags & _I)

    def pack(self) -> bytes:
        # struct's "8s" pads or truncates silently: a wrong SPI is a bug here.
        if len(self.spi_i) != 8 or len(self.spi_r) != 8:
            raise ValueError("IKE SPIs are 8 octets")
        return _HEADER.pack(
            self.spi_i,
            self.spi_r,
            self.next_payload,
            (self.major << 4) | self.minor,
            self.exchange,
            self.flags,
            self.message_id,
            self.length,
        )

    @classmethod
    def parse(cls, data: bytes | memoryview) -> Header:
        """Parse the header of one whole datagram's IKE message.

        Raises InvalidSyntax if `data` is shorter than the header or its
        Length field differs from len(data); InvalidMajorVersion if the major
        version is not 2. Reserved flag bits and the minor version are kept
        but not judged: receivers ignore them (RFC 7296 §3.1).
        """
        if len(data) < HEADER_SIZE:
            raise InvalidSyntax(f"message of {len(data)} octets is shorter than the IKE header")
        spi_i, spi_r, nxt, version, exchange, flags, message_id, length = _HEADER.unpack_from(data)
        major = version >> 4
        # The version is judged before the length: a newer major version may
        # frame its messages differently (RFC 7296 §2.5).
        if major != IKE_MAJOR_VERSION:
            raise InvalidMajorVersion(
                major, spi_i=spi_i, spi_r=spi_r, exchange=exchange, message_id=message_id
            )
        if length != len(data):
            raise InvalidSyntax(f"header Length {length} but the datagram holds {len(data)} octets")
        return cls(spi_i, spi_r, nxt, exchange, flags, message_id, length, major, version & 0x0F)
