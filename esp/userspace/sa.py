"""One ESP SA per direction, tunnel mode (RFC 4303): inner IPv4 or IPv6
packet (Next Header 4 or 41) <-> ESP packet (the payload of the UDP datagram in RFC 3948 ESP-in-UDP).

Outbound: sequence number, padding, trailer, seal. Inbound: replay check,
open, replay window update, padding and Next Header checks, the inner
packet's source against the SA's traffic selectors. Each direction counts
what it carried and what it dropped; `esp.userspace.dataplane` adds the
sockets and the TUN device.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Network, IPv6Network
from typing import Callable

from .lifetime import Lifetime
from .replay import ReplayWindow
from .suites import STAGE_HEAD, Deferred, Opener, Sealer

NEXT_HEADER_IPV4 = 4
NEXT_HEADER_IPV6 = 41
NEXT_HEADER_NONE = 59  # a dummy packet (RFC 4303 §2.6): authentic, silently discarded
SEQ_MAX_32 = (1 << 32) - 1
SEQ_MAX_64 = (1 << 64) - 1
# RFC 4303 §2.4: the default padding is 1, 2, 3, ...
PADDING = tuple(bytes(range(1, n + 1)) for n in range(256))
STAGE_TAIL = 255 + 2  # the most a trailer adds after the inner packet

_u32 = struct.Struct(">I").unpack_from
_TRAILER = struct.Struct("BB").unpack_from  # Pad Length, Next Header (RFC 4303 §2)
_IPV4_HEAD = struct.Struct(">BxH8xI").unpack_from  # version/IHL, total length, source address

AddressMatch = Callable[[int], bool]
_UNMADE = 1 << 62  # a packet size never seen: the size rule of an SA whose opener is not made yet


def _no_address(addr: int) -> bool:
    return False


def _trailers(align: int, next_header: int) -> tuple[bytes, ...]:
    """The trailer by (len(inner) + 2) % align: padding, Pad Length, Next Header."""
    return tuple(PADDING[p] + bytes([p, next_header]) for p in ((-r) % align for r in range(align)))


# shared by every SA of an alignment (~1.7 kB each pair would hold otherwise)
_TRAILERS = {align: (_trailers(align, NEXT_HEADER_IPV4), _trailers(align, NEXT_HEADER_IPV6)) for align in (4, 8, 16)}


def _u128(buf: memoryview | bytes, offset: int) -> int:
    return int.from_bytes(buf[offset:offset + 16], "big")


def address_matcher(networks: tuple[IPv4Network | IPv6Network, ...], version: int = 4) -> AddressMatch | None:
    """A test of an address of `version` (as an integer: 32 or 128 bits)
    against those of `networks`; None when every address matches (no check
    needed on the per-packet path). Of a family with no network, none matches."""
    networks = tuple(n for n in networks if n.version == version)
    if not networks:
        return _no_address  # shared: most SAs have no selector of one family
    if any(n.prefixlen == 0 for n in networks):
        return None
    if len(networks) == 1 and networks[0].prefixlen == networks[0].max_prefixlen:
        return int(networks[0].network_address).__eq__  # one client address: the usual case
    masks = tuple((int(n.network_address), int(n.netmask)) for n in networks)

    def match(addr: int) -> bool:
        return any(addr & mask == net for net, mask in masks)

    return match


class OutboundSa:
    """We send with the peer's SPI; sequence numbers start at 1 and never
    wrap (RFC 4303 §3.3.3): the last number is a hard packet limit."""

    __slots__ = ("spi", "esn", "packets", "bytes", "drops", "next_packets", "next_bytes", "packet_cap",
                 "lifetime", "source_ok", "source6_ok", "_seal_into", "_pads", "_pads6", "_deferred")

    def __init__(self, spi: int, sealer: Sealer | Deferred[Sealer], esn: bool, lifetime: Lifetime,
                 source_ok: AddressMatch | None, source6_ok: AddressMatch | None = None) -> None:
        self.spi = spi
        self.esn = esn
        self.packets = 0  # = the last sequence number sent
        self.bytes = 0  # inner packet bytes, as the kernel counts them
        self.drops = 0
        self.packet_cap = SEQ_MAX_64 if esn else SEQ_MAX_32
        self.next_packets = self.next_bytes = 0
        self.lifetime = lifetime
        self.source_ok = source_ok
        self.source6_ok = source6_ok
        if isinstance(sealer, Deferred):
            self._deferred: Deferred[Sealer] | None = sealer
            self._seal_into = self._seal_first  # replaced by the sealer's own on the first packet
        else:
            self._deferred = None
            self._seal_into = sealer.seal_into
        align = sealer.align
        trailers = _TRAILERS.get(align)
        if trailers is None:
            trailers = _TRAILERS.setdefault(align, (_trailers(align, NEXT_HEADER_IPV4),
                                                    _trailers(align, NEXT_HEADER_IPV6)))
        self._pads, self._pads6 = trailers
        lifetime.register(self)

    def seal_staged(self, stage: memoryview, n: int) -> memoryview | None:
        """The ESP packet carrying the IPv4 packet at stage[STAGE_HEAD:STAGE_HEAD + n]
        (the data plane reads it there; the trailer is written after it, and
        the STAGE_HEAD bytes before it are the sealer's), or None (dropped
        and counted) when its source is outside the SA's local selectors or
        the pair is past its hard lifetime. The result is a view valid until
        the next seal."""
        if stage[STAGE_HEAD] >> 4 == 6:
            pads = self._pads6
            if self.source6_ok is not None and not self.source6_ok(_u128(stage, STAGE_HEAD + 8)):
                self.drops += 1  # not traffic this SA protects (RFC 4301 §5.1)
                return None
        else:
            pads = self._pads
            if self.source_ok is not None and not self.source_ok(_u32(stage, STAGE_HEAD + 12)[0]):
                self.drops += 1  # not traffic this SA protects (RFC 4301 §5.1)
                return None
        p = self.packets + 1
        b = self.bytes + n
        if p >= self.next_packets or b >= self.next_bytes:
            if not self.lifetime.passes(self, p, b):
                self.drops += 1
                return None
        self.packets = p
        self.bytes = b
        trailer = pads[(n + 2) % len(pads)]
        end = STAGE_HEAD + n
        stage[end:end + len(trailer)] = trailer
        return self._seal_into(self.spi, p, self.esn, stage, end + len(trailer))

    def _seal_first(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        assert self._deferred is not None
        self._seal_into = self._deferred.make().seal_into
        self._deferred = None
        return self._seal_into(spi, seq, esn, stage, end)

    def seal(self, inner: bytes) -> bytes | None:
        """`seal_staged` for an inner packet held as bytes; the ESP packet as bytes."""
        stage = bytearray(STAGE_HEAD + len(inner) + STAGE_TAIL)
        stage[STAGE_HEAD:STAGE_HEAD + len(inner)] = inner
        esp = self.seal_staged(memoryview(stage), len(inner))
        return None if esp is None else bytes(esp)


class InboundSa:
    """The peer sends with our SPI. Counters follow `SaCounters`."""

    __slots__ = ("spi", "esn", "window", "packets", "bytes", "replay_drops", "integrity_failures", "drops",
                 "next_packets", "next_bytes", "packet_cap", "lifetime", "source_ok", "source6_ok", "_open_into",
                 "_least", "_step", "_deferred")

    def __init__(self, spi: int, opener: Opener | Deferred[Opener], esn: bool, window: int, lifetime: Lifetime,
                 source_ok: AddressMatch | None, source6_ok: AddressMatch | None = None) -> None:
        self.spi = spi
        self.esn = esn
        self.window = ReplayWindow(window, esn)
        self.packets = 0
        self.bytes = 0
        self.replay_drops = 0
        self.integrity_failures = 0
        self.drops = 0  # malformed, bad padding or Next Header, source outside the selectors, expired
        self.packet_cap = 0
        self.next_packets = self.next_bytes = 0
        self.lifetime = lifetime
        self.source_ok = source_ok
        self.source6_ok = source6_ok
        if isinstance(opener, Deferred):
            self._deferred: Deferred[Opener] | None = opener
            self._least, self._step = _UNMADE, 1  # the first packet fails the size rule and makes the opener
            self._open_into = self._open_first
        else:
            self._deferred = None
            self._open_into = opener.open_into
            self._least, self._step = opener.least, opener.step
        lifetime.register(self)

    def _opener(self) -> None:
        if self._deferred is not None:
            opener = self._deferred.make()
            self._open_into = opener.open_into
            self._least, self._step = opener.least, opener.step
            self._deferred = None

    def _size_ok_first(self, size: int) -> bool:
        """The size rule for the first packet of a deferred opener, which it makes."""
        if self._deferred is None:
            return False
        self._opener()
        return size >= self._least and (size - self._least) % self._step == 0

    def _open_first(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        self._opener()
        return self._open_into(packet, seq_hi)

    def open_view(self, packet: bytes) -> memoryview | None:
        """The inner IPv4 packet, as a view valid until the next open of any
        SA, or None (dropped and counted)."""
        # suites.ciphertext_ok, inlined: no call per packet
        n, least = len(packet), self._least
        if (n < least or (n - least) % self._step) and not self._size_ok_first(n):
            self.drops += 1
            return None
        window = self.window
        seq = _u32(packet, 4)[0]
        if self.esn:
            seq = window.infer(seq)
            if seq < 0:
                self.replay_drops += 1
                return None
        if seq <= window.top and window.check(seq) < 0:  # newer than the top: nothing to look up
            self.replay_drops += 1
            return None
        plain = self._open_into(packet, (seq >> 32).to_bytes(4, "big") if self.esn else b"")
        if plain is None:
            self.integrity_failures += 1
            return None
        window.accept(seq)  # authentic: it may move the window whatever follows
        size = len(plain)
        pad, next_header = _TRAILER(plain, size - 2)
        end = size - 2 - pad
        if end < 0 or (pad and plain[end:size - 2] != PADDING[pad]):
            self.drops += 1
            return None
        if next_header != NEXT_HEADER_IPV4:
            if next_header == NEXT_HEADER_IPV6:
                return self._opened6(plain, end)
            if next_header != NEXT_HEADER_NONE:
                self.drops += 1
            return None
        if end < 20:
            self.drops += 1
            return None
        version_ihl, total, source = _IPV4_HEAD(plain, 0)
        if version_ihl >> 4 != 4 or (total != end and (total < 20 or total > end)):
            self.drops += 1
            return None
        # (total < end: TFC padding after the packet, RFC 4303 §2.7)
        if self.source_ok is not None and not self.source_ok(source):
            self.drops += 1  # RFC 4301 §5.2: the inner header must match the SA's selectors
            return None
        p = self.packets + 1
        b = self.bytes + total
        if p >= self.next_packets or b >= self.next_bytes:
            if not self.lifetime.passes(self, p, b):
                self.drops += 1
                return None
        self.packets = p
        self.bytes = b
        return plain[:total]

    def _opened6(self, plain: memoryview, end: int) -> memoryview | None:
        """The inner IPv6 packet of an authentic ESP payload (Next Header 41)."""
        if end < 40 or plain[0] >> 4 != 6:
            self.drops += 1
            return None
        total = 40 + ((plain[4] << 8) | plain[5])
        if total > end:
            self.drops += 1
            return None
        if self.source6_ok is not None and not self.source6_ok(_u128(plain, 8)):
            self.drops += 1  # RFC 4301 §5.2, as for IPv4
            return None
        p = self.packets + 1
        b = self.bytes + total
        if p >= self.next_packets or b >= self.next_bytes:
            if not self.lifetime.passes(self, p, b):
                self.drops += 1
                return None
        self.packets = p
        self.bytes = b
        return plain[:total]

    def open(self, packet: bytes) -> bytes | None:
        """`open_view`, as bytes."""
        inner = self.open_view(packet)
        return None if inner is None else bytes(inner)
