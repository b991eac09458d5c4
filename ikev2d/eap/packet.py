"""EAP packet encoding (RFC 3748 §4).

    0                   1                   2                   3
    | Code          | Identifier    | Length                        |
    | Type (Request/Response only)  | Type-Data ...

Inside IKEv2 an EAP payload carries exactly one EAP message (RFC 7296 §3.16),
so the Length field must equal the number of octets received: strongSwan
rejects any mismatch and so do we.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ikev2d.iana import EapCode

_HEADER = struct.Struct("!BBH")
MAX_LENGTH = 0xFFFF


class EapSyntaxError(ValueError):
    """The octets are not a well-formed EAP packet."""


class NotTheResponse(ValueError):
    """An EAP message that does not answer the outstanding Request: an
    authenticator discards it (RFC 3748 §2.3). The message says why."""


@dataclass(frozen=True)
class EapPacket:
    code: int
    identifier: int
    type: int | None
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.identifier <= 0xFF:
            raise ValueError(f"EAP identifier out of range: {self.identifier}")
        if self.code in (EapCode.REQUEST, EapCode.RESPONSE):
            if self.type is None or not 0 <= self.type <= 0xFF:
                raise ValueError("EAP Request/Response needs a Type octet")
        elif self.code in (EapCode.SUCCESS, EapCode.FAILURE):
            # RFC 3748 §4.2: Success and Failure are exactly four octets
            if self.type is not None or self.data:
                raise ValueError("EAP Success/Failure carries no Type or data")
        else:
            raise ValueError(f"unknown EAP code {self.code}")
        if self._length() > MAX_LENGTH:
            raise ValueError("EAP packet longer than 65535 octets")

    def _length(self) -> int:
        return 4 if self.type is None else 5 + len(self.data)

    def pack(self) -> bytes:
        head = _HEADER.pack(self.code, self.identifier, self._length())
        if self.type is None:
            return head
        return head + bytes((self.type,)) + self.data

    @classmethod
    def parse(cls, raw: bytes) -> EapPacket:
        if len(raw) < 4:
            raise EapSyntaxError(f"EAP packet too short ({len(raw)} octets)")
        code, identifier, length = _HEADER.unpack_from(raw)
        if length != len(raw):
            raise EapSyntaxError(
                f"EAP Length field {length} does not match {len(raw)} octets received"
            )
        if code in (EapCode.REQUEST, EapCode.RESPONSE):
            if length < 5:
                raise EapSyntaxError("EAP Request/Response without a Type octet")
            return cls(code, identifier, raw[4], bytes(raw[5:]))
        if code in (EapCode.SUCCESS, EapCode.FAILURE):
            if length != 4:
                raise EapSyntaxError("EAP Success/Failure with data")
            return cls(code, identifier, None, b"")
        raise EapSyntaxError(f"unknown EAP code {code}")

    @classmethod
    def response_to(cls, request: EapPacket, raw: bytes) -> EapPacket:
        """`raw` parsed as the Response to `request`, checked as an
        authenticator checks Code and Identifier (RFC 3748 §2.3); raises
        NotTheResponse otherwise."""
        try:
            packet = cls.parse(raw)
        except EapSyntaxError as exc:
            raise NotTheResponse(f"not an EAP packet: {exc}") from None
        if packet.code != EapCode.RESPONSE:
            raise NotTheResponse(f"EAP code {packet.code} is not a Response")
        if packet.identifier != request.identifier:
            raise NotTheResponse(
                f"Identifier {packet.identifier} does not match the outstanding "
                f"Request {request.identifier}"
            )
        return packet

    def __repr__(self) -> str:
        # Type-Data can hold a GTC password: show only its size.
        return (
            f"EapPacket(code={self.code}, identifier={self.identifier}, "
            f"type={self.type}, data=<{len(self.data)} octets>)"
        )
