"""One Encrypted payload: SK (RFC 7296 §3.14, AEAD per RFC 5282 §5) and the
sealing and opening that SKF fragments share with it (RFC 7383 §2.5)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

from ikev2d.crypto.errors import IntegrityError
from ikev2d.crypto.transforms import EncrAlgorithm, IntegAlgorithm
from ikev2d.iana import PayloadType
from ikev2d.wire.base import GENERIC_HEADER, GENERIC_HEADER_SIZE
from ikev2d.wire.errors import InvalidSyntax, WireError
from ikev2d.wire.header import HEADER_SIZE, Header, header_flags
from ikev2d.wire.message import Message, decode_payloads, encode_payloads, message_from
from ikev2d.wire.payloads import Payload

Random = Callable[[int], bytes]

SK_TYPE = int(PayloadType.SK)
SKF_TYPE = int(PayloadType.SKF)
PAD_LENGTH_SIZE = 1


@dataclass(frozen=True, slots=True)
class SkKeys:
    """The SK keys as one endpoint sees them: `_in` opens what the peer
    sends, `_out` protects what we send. A responder has sk_e_in = SK_ei,
    sk_e_out = SK_er (RFC 7296 §2.14). With AEAD, integ is None and the
    sk_a_* keys are b"" (RFC 5282 §7)."""

    encr: EncrAlgorithm
    integ: IntegAlgorithm | None
    sk_e_in: bytes
    sk_a_in: bytes
    sk_e_out: bytes
    sk_a_out: bytes

    def __post_init__(self) -> None:
        if (self.integ is None) != self.encr.is_aead:
            raise ValueError("an integrity algorithm goes with, and only with, a non-AEAD cipher")

    @property
    def icv_size(self) -> int:
        return self.encr.icv_size if self.integ is None else self.integ.icv_size

    def overhead(self, plaintext_size: int) -> int:
        """Octets an Encrypted payload body adds around `plaintext_size`."""
        return self.encr.iv_size + _padding(plaintext_size, self.encr.block_size) + self.icv_size


def _padding(plaintext_size: int, block_size: int) -> int:
    """Padding plus the Pad Length octet: the minimum that aligns (§3.14)."""
    return PAD_LENGTH_SIZE + (-(plaintext_size + PAD_LENGTH_SIZE)) % block_size


@dataclass(frozen=True)
class Route:
    """The header fields of a protected message, apart from its length."""

    spi_i: bytes
    spi_r: bytes
    exchange: int
    message_id: int
    is_response: bool
    is_initiator: bool

    @property
    def flags(self) -> int:
        return header_flags(self.is_response, self.is_initiator)


def seal(
    route: Route, payload_type: int, next_payload: int, extra: bytes, plaintext: bytes,
    keys: SkKeys, random: Random,
) -> bytes:
    """One message whose only payload is an SK (extra=b"") or SKF (extra =
    Fragment Number | Total Fragments) payload around `plaintext`."""
    encr = keys.encr
    pad = _padding(len(plaintext), encr.block_size)
    # Pad octets may hold anything (§3.14); zeros, then the Pad Length.
    padded = plaintext + bytes(pad - PAD_LENGTH_SIZE) + bytes((pad - PAD_LENGTH_SIZE,))
    iv = random(encr.iv_size)
    payload_length = GENERIC_HEADER_SIZE + len(extra) + len(iv) + len(padded) + keys.icv_size
    head = Header(
        route.spi_i, route.spi_r, payload_type, route.exchange, route.flags, route.message_id,
        HEADER_SIZE + payload_length,
    ).pack() + GENERIC_HEADER.pack(next_payload, 0, payload_length) + extra
    if keys.integ is None:
        # RFC 5282 §5.1: the AAD is everything before the IV.
        return head + iv + encr.encrypt(keys.sk_e_out, iv, padded, head)
    signed = head + iv + encr.encrypt(keys.sk_e_out, iv, padded)
    return signed + keys.integ.mac(keys.sk_a_out, signed)


def open_sealed(raw: bytes, iv_start: int, keys: SkKeys) -> bytes:
    """Verify and decrypt the Encrypted payload body that starts (with its
    IV) at `iv_start` and ends the message; return the plaintext without
    padding. IntegrityError if it is not authentic; InvalidSyntax if an
    authentic body has an impossible Pad Length."""
    encr = keys.encr
    ct_start = iv_start + encr.iv_size
    ct_end = len(raw) - keys.icv_size
    size = ct_end - ct_start
    # Framing checks come before authentication: a message that cannot be
    # framed cannot be authenticated, so the caller drops it silently.
    if size < PAD_LENGTH_SIZE or size % encr.block_size:
        raise IntegrityError(f"encrypted content of {size} octets for a {encr.block_size}-octet block")
    iv = raw[iv_start:ct_start]
    if keys.integ is None:
        plain = encr.decrypt(keys.sk_e_in, iv, raw[ct_start:], raw[:iv_start])
    else:
        if not keys.integ.verify(keys.sk_a_in, raw[:ct_end], raw[ct_end:]):
            raise IntegrityError("ICV mismatch")
        plain = encr.decrypt(keys.sk_e_in, iv, raw[ct_start:ct_end])
    pad = plain[-1] + PAD_LENGTH_SIZE
    if pad > len(plain):
        raise InvalidSyntax(f"Pad Length {plain[-1]} exceeds the {len(plain)} decrypted octets")
    return plain[: len(plain) - pad]


def locate_encrypted(raw: bytes, first: int) -> tuple[int, int]:
    """(offset, type) of the SK or SKF payload that ends the message,
    walking only generic headers: nothing unauthenticated gets parsed.
    IntegrityError if there is none, since then nothing can be verified."""
    pos, nxt, end = HEADER_SIZE, first, len(raw)
    while True:
        if end - pos < GENERIC_HEADER_SIZE:
            raise IntegrityError("no encrypted payload to authenticate")
        ptype = nxt
        nxt, _, length = GENERIC_HEADER.unpack_from(raw, pos)
        if ptype in (SK_TYPE, SKF_TYPE):
            if pos + length != end:
                raise IntegrityError("the encrypted payload does not end the message")
            return pos, ptype
        if ptype == 0 or length < GENERIC_HEADER_SIZE:
            raise IntegrityError("no encrypted payload to authenticate")
        pos += length


def leading_payloads(raw: bytes, header: Header, encrypted_at: int) -> list[Payload]:
    """Authenticated but unencrypted payloads before the Encrypted payload
    (allowed by §3.14, never sent by us). Call only after open_sealed."""
    if encrypted_at == HEADER_SIZE:
        return []
    return decode_payloads(header.next_payload, memoryview(raw)[HEADER_SIZE:])[:-1]


def parse_header(raw: bytes) -> Header:
    """The header of a message that is about to be authenticated: a
    malformed one cannot be, so it is an IntegrityError (silent drop)."""
    try:
        return Header.parse(raw)
    except WireError as exc:
        raise IntegrityError(f"unparseable header: {exc}") from None


def protect_message(
    spi_i: bytes, spi_r: bytes, exchange: int, message_id: int, payloads: Sequence[Payload],
    keys: SkKeys, *, is_response: bool, is_initiator: bool, random: Random = os.urandom,
) -> bytes:
    """One message carrying `payloads` inside an SK payload (RFC 7296 §3.14),
    protected with keys.sk_*_out. `random(n)` supplies the IV."""
    first, plaintext = encode_payloads(payloads)
    route = Route(spi_i, spi_r, exchange, message_id, is_response, is_initiator)
    return seal(route, SK_TYPE, first, b"", plaintext, keys, random)


def unprotect_message(raw: bytes, keys: SkKeys, header: Header | None = None) -> Message:
    """Verify (ICV or AEAD tag) first, then decrypt, then decode a message
    whose last payload is SK, with keys.sk_*_in.

    Raises IntegrityError when the message cannot be authenticated (bad
    ICV, or framing too broken to find it: drop silently, RFC 7296 §2.21.2),
    and WireError subclasses for authentic but malformed content. `header`:
    `raw`'s, when the caller has parsed it already (each datagram's header
    is parsed once, where it arrives).
    """
    if header is None:
        header = parse_header(raw)
    at, ptype = locate_encrypted(raw, header.next_payload)
    if ptype != SK_TYPE:
        raise IntegrityError("an SKF fragment belongs to the FragmentReassembler")
    plaintext = open_sealed(raw, at + GENERIC_HEADER_SIZE, keys)
    inner_first = GENERIC_HEADER.unpack_from(raw, at)[0]
    payloads = leading_payloads(raw, header, at)
    payloads += decode_payloads(inner_first, plaintext, allow_encrypted=False)
    return message_from(header, payloads)
