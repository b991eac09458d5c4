"""IKE message fragmentation (RFC 7383 §2.5) and reassembly (§2.6)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Sequence

from ikev2d.crypto.errors import CryptoError, IntegrityError
from ikev2d.protect.sk import (
    SK_TYPE,
    SKF_TYPE,
    Random,
    Route,
    SkKeys,
    leading_payloads,
    locate_encrypted,
    open_sealed,
    parse_header,
    seal,
)
from ikev2d.wire.base import GENERIC_HEADER, GENERIC_HEADER_SIZE
from ikev2d.wire.errors import WireError
from ikev2d.wire.header import HEADER_SIZE, Header
from ikev2d.wire.message import Message, decode_payloads, encode_payloads
from ikev2d.wire.payloads import Payload

# Fragment Number, Total Fragments (the SKF payload's own header fields)
_FRAGMENT = struct.Struct("!HH")
_SKF_HEADER_SIZE = GENERIC_HEADER_SIZE + _FRAGMENT.size
MAX_TOTAL_FRAGMENTS = 0xFFFF


def protect_fragments(
    spi_i: bytes, spi_r: bytes, exchange: int, message_id: int, payloads: Sequence[Payload],
    keys: SkKeys, *, fragment_size: int, overhead: int, is_response: bool, is_initiator: bool,
    random: Random = os.urandom,
) -> list[bytes]:
    """The datagrams that carry `payloads` protected with keys.sk_*_out.

    `fragment_size` bounds a whole IP datagram, `overhead` is what IP, UDP
    and any non-ESP marker add to the IKE message. If the single SK message
    fits (or fragment_size <= 0, i.e. the peer did not negotiate RFC 7383),
    the result is [that message]; otherwise SKF fragments, each within
    fragment_size, each with its own IV, padding and ICV (RFC 7383 §2.5).
    """
    first, plaintext = encode_payloads(payloads)
    route = Route(spi_i, spi_r, exchange, message_id, is_response, is_initiator)
    # Size it before sealing it: a message that needs fragments is never sealed whole.
    whole = HEADER_SIZE + GENERIC_HEADER_SIZE + len(plaintext) + keys.overhead(len(plaintext))
    if fragment_size <= 0 or whole + overhead <= fragment_size:
        return [seal(route, SK_TYPE, first, b"", plaintext, keys, random)]
    chunk = _chunk_size(fragment_size - overhead, keys)
    chunks = [plaintext[i:i + chunk] for i in range(0, len(plaintext), chunk)]
    total = len(chunks)
    if total > MAX_TOTAL_FRAGMENTS:
        raise ValueError(f"{total} fragments exceed Total Fragments' 16 bits")
    return [
        # Only fragment 1 names the first inner payload (RFC 7383 §2.5).
        seal(route, SKF_TYPE, first if number == 1 else 0, _FRAGMENT.pack(number, total),
             part, keys, random)
        for number, part in enumerate(chunks, 1)
    ]


def _chunk_size(message_room: int, keys: SkKeys) -> int:
    """The most plaintext per fragment: the room left after the headers, IV
    and ICV, rounded down to whole cipher blocks, less the Pad Length octet
    (so no further padding is needed)."""
    encr = keys.encr
    room = message_room - HEADER_SIZE - _SKF_HEADER_SIZE - encr.iv_size - keys.icv_size
    chunk = room - room % encr.block_size - 1
    if chunk < 1:
        raise ValueError(f"a {message_room}-octet IKE message leaves no room for fragment content")
    return chunk


@dataclass
class _Collection:
    """The fragments of one message received so far, decrypted."""

    total: int
    started: float
    exchange: int
    chunks: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    first_next: int = 0
    leading: list[Payload] = field(default_factory=list)


class FragmentReassembler:
    """Collects the SKF fragments of one IKE SA's messages (RFC 7383 §2.6).

    Each fragment is verified and decrypted when it arrives and only its
    plaintext is kept; `add` returns the whole Message once every fragment
    of it is present and authentic. Fragments are keyed by (Message ID,
    response flag): a request and a response may share a Message ID.

    Bounds against memory exhaustion: at most `max_fragments` fragments and
    `max_bytes` plaintext octets per message, at most `max_messages`
    messages collected at once (the oldest is dropped for a newer one), and
    a collection older than `timeout` seconds is forgotten. Time is passed
    in; nothing here reads a clock.

    Whether a Message ID is expected (window, retransmission) is for the
    caller to judge before handing fragments over.
    """

    def __init__(
        self, keys: SkKeys, *, max_fragments: int = 64, max_bytes: int = 65535,
        max_messages: int = 2, timeout: float = 30.0,
    ) -> None:
        self.keys = keys
        self.max_fragments = max_fragments
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.timeout = timeout
        self._pending: dict[tuple[int, bool], _Collection] = {}
        self.last_drop: str | None = None  # why the last fragment was discarded, for the log

    @property
    def pending(self) -> int:
        """How many messages are partly collected."""
        return len(self._pending)

    def expire(self, now: float) -> None:
        """Forget collections older than the timeout."""
        for key in [k for k, c in self._pending.items() if now - c.started > self.timeout]:
            del self._pending[key]

    def add(self, raw: bytes, now: float, header: Header | None = None) -> Message | None:
        """Take one datagram whose last payload is SKF.

        Returns the reassembled Message when this fragment completes it,
        else None: also for a fragment discarded as the RFC asks (duplicate,
        stale Total Fragments, over a bound; see `last_drop`). Raises
        IntegrityError for a fragment that is not authentic (drop silently),
        and WireError subclasses when the authentic whole is malformed.
        """
        self.last_drop = None
        self.expire(now)
        if header is None:  # `raw`'s, when the caller parsed it already
            header = parse_header(raw)
        at, ptype = locate_encrypted(raw, header.next_payload)
        if ptype != SKF_TYPE:
            self._drop("not a fragment")
            return None
        inner_next = GENERIC_HEADER.unpack_from(raw, at)[0]
        if len(raw) - at < _SKF_HEADER_SIZE:
            self._drop("SKF payload shorter than its header")
            return None
        number, total = _FRAGMENT.unpack_from(raw, at + GENERIC_HEADER_SIZE)
        if not 1 <= number <= total or (number == 1) != (inner_next != 0):
            self._drop(f"fragment {number} of {total} with Next Payload {inner_next}")
            return None
        if total > self.max_fragments:
            self._drop(f"{total} fragments exceed the limit of {self.max_fragments}")
            return None
        key = (header.message_id, header.is_response)
        held = self._pending.get(key)
        # These discards change nothing, so they may precede authentication.
        if held is not None and total < held.total:
            self._drop(f"Total Fragments {total} is older than {held.total}")
            return None
        if held is not None and total == held.total and number in held.chunks:
            self._drop(f"fragment {number} of {total} again")
            return None

        plaintext = open_sealed(raw, at + _SKF_HEADER_SIZE, self.keys)

        # Authentic from here on. A larger Total Fragments means the peer
        # re-fragmented smaller (PMTU): start over with it (RFC 7383 §2.6).
        if held is None or total > held.total:
            held = self._start(key, total, now, header.exchange)
        elif held.exchange != header.exchange:
            self._drop(f"fragment of exchange {header.exchange} among {held.exchange}")
            return None
        if held.size + len(plaintext) > self.max_bytes:
            del self._pending[key]
            self._drop(f"reassembled message would exceed {self.max_bytes} octets")
            return None
        held.chunks[number] = plaintext
        held.size += len(plaintext)
        if number == 1:
            # Unencrypted payloads may only ride in fragment 1 (RFC 7383 §2.5.3).
            held.first_next = inner_next
            held.leading = leading_payloads(raw, header, at)
        if len(held.chunks) < held.total:
            return None
        del self._pending[key]
        inner = b"".join(held.chunks[n] for n in range(1, held.total + 1))
        payloads = held.leading + decode_payloads(held.first_next, inner, allow_encrypted=False)
        return Message(
            header.spi_i, header.spi_r, held.exchange, header.message_id,
            header.is_response, header.is_initiator, payloads,
        )

    def _start(self, key: tuple[int, bool], total: int, now: float, exchange: int) -> _Collection:
        self._pending.pop(key, None)
        while len(self._pending) >= self.max_messages:
            oldest = min(self._pending, key=lambda k: self._pending[k].started)
            del self._pending[oldest]
        collection = _Collection(total, now, exchange)
        self._pending[key] = collection
        return collection

    def _drop(self, reason: str) -> None:
        """Record why a fragment is discarded; the caller then returns None."""
        self.last_drop = reason


def authentic_fragment_number(raw: bytes, keys: SkKeys, header: Header | None = None) -> int | None:
    """The Fragment Number of `raw` if it is an authentic SKF datagram, else
    None; checked as `FragmentReassembler.add` checks it, keeping nothing
    (for a retransmitted request that was fragmented anew, RFC 7383 §2.6.1)."""
    try:
        if header is None:
            header = parse_header(raw)
        at, ptype = locate_encrypted(raw, header.next_payload)
        if ptype != SKF_TYPE or len(raw) - at < _SKF_HEADER_SIZE:
            return None
        number, _total = _FRAGMENT.unpack_from(raw, at + GENERIC_HEADER_SIZE)
        open_sealed(raw, at + _SKF_HEADER_SIZE, keys)
    except (IntegrityError, CryptoError, WireError):
        return None
    return number
