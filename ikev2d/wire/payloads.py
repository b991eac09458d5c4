"""One dataclass per IKEv2 payload (RFC 7296 §3.2-§3.16, RFC 7383 §2.5).

Each payload knows its body (`body()`, `parse_body()`); the generic header
and the chaining live in message.py. SA, TS and CP have substructures of
their own and sit in sa.py, ts.py and cp.py; they are re-exported here so
callers import every payload from one place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self, Union

from ikev2d.iana import IdType, PayloadType, ProtocolId
from ikev2d.wire.base import TYPE_AND_RESERVED, BytesLike, PayloadBase
from ikev2d.wire.cp import CP, ConfigAttribute
from ikev2d.wire.errors import InvalidSyntax
from ikev2d.wire.sa import SA, Proposal, Transform
from ikev2d.wire.ts import TSi, TSr, TrafficSelector

__all__ = [
    "AUTH", "CERT", "CERTREQ", "CP", "EAP", "ID", "IDi", "IDr", "KE", "KnownPayload", "PAYLOAD_CLASSES",
    "SA", "SK", "SKF", "TSi", "TSr", "ConfigAttribute", "Delete", "Nonce", "Notify",
    "Payload", "Proposal", "TrafficSelector", "Transform", "Unknown", "Vendor",
]

_GROUP = struct.Struct("!H2x")  # KE: DH Group Num, RESERVED
_ENCODING = struct.Struct("!B")  # CERT, CERTREQ: Cert Encoding
_NOTIFY = struct.Struct("!BBH")  # Protocol ID, SPI Size, Notify Message Type
_DELETE = struct.Struct("!BBH")  # Protocol ID, SPI Size, Num of SPIs
_FRAGMENT = struct.Struct("!HH")  # Fragment Number, Total Fragments

NONCE_MIN = 16  # RFC 7296 §3.9
NONCE_MAX = 256
SHA1_SIZE = 20  # CERTREQ Certification Authority entries (§3.7)
EAP_HEADER_SIZE = 4  # Code, Identifier, Length (RFC 3748 §4)


def _need(body: BytesLike, size: int, what: str) -> None:
    if len(body) < size:
        raise InvalidSyntax(f"{what} payload of {len(body)} octets is shorter than its {size}-octet header")


@dataclass(frozen=True, slots=True)
class KE(PayloadBase):
    """Key Exchange (§3.4); whether `data` fits the group is crypto's check."""

    payload_type: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes

    def body(self) -> bytes:
        return _GROUP.pack(self.group) + self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, _GROUP.size + 1, "KE")
        return cls(_GROUP.unpack_from(body)[0], bytes(body[_GROUP.size:]), critical=critical)


# Exact data sizes for address IDs; other known types just need content (§3.5).
_ID_SIZES: dict[int, int] = {IdType.ID_IPV4_ADDR: 4, IdType.ID_IPV6_ADDR: 16}
_ID_TYPES = frozenset(int(t) for t in IdType)


@dataclass(frozen=True, slots=True)
class ID(PayloadBase):
    """Identification (§3.5). body() is what the AUTH octets sign (§2.15)."""

    id_type: int
    data: bytes

    def body(self) -> bytes:
        return TYPE_AND_RESERVED.pack(self.id_type) + self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, TYPE_AND_RESERVED.size, "ID")
        (id_type,) = TYPE_AND_RESERVED.unpack_from(body)
        size = len(body) - TYPE_AND_RESERVED.size
        if id_type not in _ID_TYPES:
            raise InvalidSyntax(f"unknown ID type {id_type}")
        if size != _ID_SIZES.get(id_type, size) or size == 0:
            raise InvalidSyntax(f"ID type {id_type} with {size} octets of data")
        return cls(id_type, bytes(body[TYPE_AND_RESERVED.size:]), critical=critical)


@dataclass(frozen=True, slots=True)
class IDi(ID):
    payload_type: ClassVar[int] = PayloadType.IDi


@dataclass(frozen=True, slots=True)
class IDr(ID):
    payload_type: ClassVar[int] = PayloadType.IDr


@dataclass(frozen=True, slots=True)
class _Certificate(PayloadBase):
    encoding: int
    data: bytes

    def body(self) -> bytes:
        return _ENCODING.pack(self.encoding) + self.data


@dataclass(frozen=True, slots=True)
class CERT(_Certificate):
    """Certificate (§3.6)."""

    payload_type: ClassVar[int] = PayloadType.CERT

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, _ENCODING.size + 1, "CERT")
        return cls(body[0], bytes(body[1:]), critical=critical)


@dataclass(frozen=True, slots=True)
class CERTREQ(_Certificate):
    """Certificate Request (§3.7); for X.509 `data` is a run of SHA-1
    hashes of trusted CA public keys, possibly empty."""

    payload_type: ClassVar[int] = PayloadType.CERTREQ

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, _ENCODING.size, "CERTREQ")
        # Only X.509 signature certs define the field's layout (§3.7).
        if body[0] == 4 and (len(body) - 1) % SHA1_SIZE:
            raise InvalidSyntax("CERTREQ Certification Authority is not a list of SHA-1 hashes")
        return cls(body[0], bytes(body[1:]), critical=critical)


@dataclass(frozen=True, slots=True)
class AUTH(PayloadBase):
    """Authentication (§3.8)."""

    payload_type: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes

    def body(self) -> bytes:
        return TYPE_AND_RESERVED.pack(self.method) + self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, TYPE_AND_RESERVED.size + 1, "AUTH")
        return cls(body[0], bytes(body[TYPE_AND_RESERVED.size:]), critical=critical)


@dataclass(frozen=True, slots=True)
class Nonce(PayloadBase):
    """Nonce (§3.9): 16 to 256 octets."""

    payload_type: ClassVar[int] = PayloadType.NONCE
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        if not NONCE_MIN <= len(body) <= NONCE_MAX:
            raise InvalidSyntax(f"nonce of {len(body)} octets, not {NONCE_MIN}..{NONCE_MAX}")
        return cls(bytes(body), critical=critical)


# SPI sizes a Notify may carry per protocol (§3.10): none at all, or the
# protocol's own, 4 octets for AH and ESP. For the IKE SA the SPI "MUST be
# zero" octets; an 8-octet IKE SPI, which older peers send, is tolerated.
_NOTIFY_SPI_SIZES: dict[int, tuple[int, ...]] = {ProtocolId.IKE: (0, 8), ProtocolId.AH: (0, 4), ProtocolId.ESP: (0, 4)}


@dataclass(frozen=True, slots=True)
class Notify(PayloadBase):
    """Notify (§3.10)."""

    payload_type: ClassVar[int] = PayloadType.NOTIFY
    type: int
    protocol: int = 0
    spi: bytes = b""
    data: bytes = b""

    def body(self) -> bytes:
        return _NOTIFY.pack(self.protocol, len(self.spi), self.type) + self.spi + self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, _NOTIFY.size, "Notify")
        protocol, spi_size, notify_type = _NOTIFY.unpack_from(body)
        spi_end = _NOTIFY.size + spi_size
        if spi_end > len(body):
            raise InvalidSyntax(f"Notify SPI size {spi_size} runs past the payload")
        if spi_size not in _NOTIFY_SPI_SIZES.get(protocol, (spi_size,)):
            raise InvalidSyntax(f"Notify for protocol {protocol} with SPI size {spi_size}")
        return cls(
            notify_type, protocol, bytes(body[_NOTIFY.size:spi_end]), bytes(body[spi_end:]),
            critical=critical,
        )


# SPI sizes a Delete may carry (§3.11): none for the IKE SA itself.
_DELETE_SPI_SIZES: dict[int, int] = {ProtocolId.IKE: 0, ProtocolId.AH: 4, ProtocolId.ESP: 4}


@dataclass(frozen=True, slots=True)
class Delete(PayloadBase):
    """Delete (§3.11). The IKE SA is deleted with protocol 1 and no SPIs."""

    payload_type: ClassVar[int] = PayloadType.DELETE
    protocol: int
    spis: list[bytes]

    def body(self) -> bytes:
        size = _DELETE_SPI_SIZES.get(self.protocol)
        if size is None or any(len(s) != size for s in self.spis):
            raise ValueError(f"Delete for protocol {self.protocol} needs {size}-octet SPIs")
        return _DELETE.pack(self.protocol, size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, _DELETE.size, "Delete")
        protocol, spi_size, count = _DELETE.unpack_from(body)
        want = _DELETE_SPI_SIZES.get(protocol)
        if want is None:
            raise InvalidSyntax(f"Delete for unknown protocol {protocol}")
        if spi_size != want:
            raise InvalidSyntax(f"Delete for protocol {protocol} with SPI size {spi_size}")
        if protocol == ProtocolId.IKE and count:
            raise InvalidSyntax("Delete of the IKE SA lists SPIs")
        if len(body) != _DELETE.size + count * spi_size:
            raise InvalidSyntax(f"Delete announces {count} SPIs but holds {len(body) - _DELETE.size} octets")
        # An IKE delete has SPI size 0 and no SPIs: step 1 over an empty range.
        spis = [bytes(body[i:i + spi_size]) for i in range(_DELETE.size, len(body), spi_size or 1)]
        return cls(protocol, spis, critical=critical)


@dataclass(frozen=True, slots=True)
class Vendor(PayloadBase):
    """Vendor ID (§3.12)."""

    payload_type: ClassVar[int] = PayloadType.VENDOR
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        return cls(bytes(body), critical=critical)


@dataclass(frozen=True, slots=True)
class EAP(PayloadBase):
    """EAP (§3.16): one whole EAP packet, parsed by ikev2d.eap."""

    payload_type: ClassVar[int] = PayloadType.EAP
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False) -> Self:
        _need(body, EAP_HEADER_SIZE, "EAP")
        return cls(bytes(body), critical=critical)


@dataclass(frozen=True, slots=True)
class SK(PayloadBase):
    """Encrypted and Authenticated (§3.14): IV | ciphertext | ICV, opaque.

    Its generic header's Next Payload names the first inner payload, so the
    codec passes it in as `next_payload`.
    """

    payload_type: ClassVar[int] = PayloadType.SK
    inner_next_payload: int
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False, next_payload: int = 0) -> Self:
        return cls(next_payload, bytes(body), critical=critical)


@dataclass(frozen=True, slots=True)
class SKF(PayloadBase):
    """Encrypted Fragment (RFC 7383 §2.5)."""

    payload_type: ClassVar[int] = PayloadType.SKF
    inner_next_payload: int
    fragment_number: int
    total_fragments: int
    data: bytes

    def body(self) -> bytes:
        return _FRAGMENT.pack(self.fragment_number, self.total_fragments) + self.data

    @classmethod
    def parse_body(cls, body: BytesLike, *, critical: bool = False, next_payload: int = 0) -> Self:
        _need(body, _FRAGMENT.size, "SKF")
        number, total = _FRAGMENT.unpack_from(body)
        if not 1 <= number <= total:
            raise InvalidSyntax(f"fragment {number} of {total}")
        # Only fragment 1 names the first inner payload (RFC 7383 §2.5).
        if (number == 1) != (next_payload != 0):
            raise InvalidSyntax(f"fragment {number} with Next Payload {next_payload}")
        return cls(next_payload, number, total, bytes(body[_FRAGMENT.size:]), critical=critical)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A payload type we do not implement, kept so that a non-critical one
    is skipped, not fatal (RFC 7296 §2.5). `data` is its body."""

    type: int
    data: bytes
    critical: bool = False

    @property
    def payload_type(self) -> int:
        return self.type

    def body(self) -> bytes:
        return self.data


# Every payload type we implement; the codec builds these from parse_body.
KnownPayload = Union[
    SA, KE, IDi, IDr, CERT, CERTREQ, AUTH, Nonce, Notify, Delete, Vendor,
    TSi, TSr, SK, CP, EAP, SKF,
]

Payload = Union[KnownPayload, Unknown]

_KNOWN: tuple[type[KnownPayload], ...] = (
    SA, KE, IDi, IDr, CERT, CERTREQ, AUTH, Nonce, Notify, Delete, Vendor,
    TSi, TSr, SK, CP, EAP, SKF,
)

PAYLOAD_CLASSES: dict[int, type[KnownPayload]] = {cls.payload_type: cls for cls in _KNOWN}
