"""Whole messages: the payload chain (RFC 7296 §3.2) behind the header.

Encrypted payloads (SK, SKF) stay opaque here; ikev2d.protect opens them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, TypeVar

from ikev2d.wire.base import (
    CRITICAL,
    GENERIC_HEADER,
    GENERIC_HEADER_SIZE,
    MAX_PAYLOAD_LENGTH,
    BytesLike,
)
from ikev2d.wire.errors import InvalidSyntax, UnsupportedCriticalPayload
from ikev2d.wire.header import HEADER_SIZE, Header, header_flags
from ikev2d.wire.payloads import PAYLOAD_CLASSES, SK, SKF, Notify, Payload, Unknown

P = TypeVar("P")


@dataclass
class Message:
    spi_i: bytes
    spi_r: bytes
    exchange: int
    message_id: int
    is_response: bool
    is_initiator: bool
    payloads: list[Payload] = field(default_factory=list)

    def get(self, cls: type[P]) -> P | None:
        """The first payload of that class, or None."""
        for p in self.payloads:
            if isinstance(p, cls):
                return p
        return None

    def get_all(self, cls: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, cls)]

    def notify(self, notify_type: int) -> Notify | None:
        for p in self.payloads:
            if isinstance(p, Notify) and p.type == notify_type:
                return p
        return None

    def notifies(self) -> list[Notify]:
        return [p for p in self.payloads if isinstance(p, Notify)]

    @property
    def flags(self) -> int:
        return header_flags(self.is_response, self.is_initiator)


def encode_payloads(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """Chain payloads: (the first one's type, their octets).

    An SK or SKF payload must come last (RFC 7296 §3.14); its Next Payload
    field carries its inner_next_payload.
    """
    parts: list[bytes] = []
    last = len(payloads) - 1
    for i, p in enumerate(payloads):
        if isinstance(p, (SK, SKF)):
            if i != last:
                raise ValueError("an encrypted payload must be the last payload")
            nxt = p.inner_next_payload
        else:
            nxt = payloads[i + 1].payload_type if i < last else 0
        body = p.body()
        length = GENERIC_HEADER_SIZE + len(body)
        if length > MAX_PAYLOAD_LENGTH:
            raise ValueError(f"payload {p.payload_type} of {length} octets is too long")
        parts.append(GENERIC_HEADER.pack(nxt, CRITICAL if p.critical else 0, length))
        parts.append(body)
    first = payloads[0].payload_type if payloads else 0
    return first, b"".join(parts)


def decode_payloads(first: int, data: BytesLike, *, allow_encrypted: bool = True) -> list[Payload]:
    """Walk the payload chain starting with type `first` over all of `data`.

    Stops after an SK or SKF payload, which must end the data (RFC 7296
    §3.14); with allow_encrypted=False (inside an SK payload) they are
    InvalidSyntax. An unknown payload is kept as Unknown, or raises
    UnsupportedCriticalPayload if its critical bit is set (§2.5). Raises
    nothing but WireError subclasses.
    """
    buf = data if isinstance(data, memoryview) else memoryview(data)
    end = len(buf)
    out: list[Payload] = []
    nxt = first
    pos = 0
    while nxt:
        ptype = nxt
        if end - pos < GENERIC_HEADER_SIZE:
            raise InvalidSyntax(f"message ends where payload type {ptype} was announced")
        nxt, flags, length = GENERIC_HEADER.unpack_from(buf, pos)
        stop = pos + length
        if length < GENERIC_HEADER_SIZE or stop > end:
            raise InvalidSyntax(f"payload type {ptype} with length {length} does not fit the message")
        body = buf[pos + GENERIC_HEADER_SIZE:stop]
        critical = bool(flags & CRITICAL)
        pos = stop
        cls = PAYLOAD_CLASSES.get(ptype)
        if cls is None:
            if critical:
                raise UnsupportedCriticalPayload(ptype)
            out.append(Unknown(ptype, bytes(body)))
        elif issubclass(cls, (SK, SKF)):
            if not allow_encrypted:
                raise InvalidSyntax("an encrypted payload inside an encrypted payload")
            if pos != end:
                raise InvalidSyntax("octets after the encrypted payload, which must be last")
            out.append(cls.parse_body(body, critical=critical, next_payload=nxt))
            return out
        else:
            out.append(cls.parse_body(body, critical=critical))
    if pos != end:
        raise InvalidSyntax(f"{end - pos} octets after the last payload")
    return out


def encode_message(msg: Message) -> bytes:
    """A whole unencrypted message (IKE_SA_INIT and its errors)."""
    first, body = encode_payloads(msg.payloads)
    header = Header(
        msg.spi_i, msg.spi_r, first, msg.exchange, msg.flags, msg.message_id,
        HEADER_SIZE + len(body),
    )
    return header.pack() + body


def decode_message(data: bytes, header: Header | None = None) -> Message:
    """Decode one datagram; SK/SKF payloads stay opaque. `header`: `data`'s,
    when the caller has parsed it already."""
    if header is None:
        header = Header.parse(data)
    return message_from(header, decode_payloads(header.next_payload, memoryview(data)[HEADER_SIZE:]))


def message_from(header: Header, payloads: list[Payload]) -> Message:
    return Message(
        header.spi_i, header.spi_r, header.exchange, header.message_id,
        header.is_response, header.is_initiator, payloads,
    )
