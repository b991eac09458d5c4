"""One ESP SA per direction, tunnel mode (RFC 4303): inner IPv4 packet <->
ESP packet (the payload of the UDP datagram in RFC 3948 ESP-in-UDP).

Outbound: sequence number, padding, trailer, seal. Inbound: replay check,
open, replay window update, padding and Next Header checks, the inner
packet's source against the SA's traffic selectors. Each direction counts
what it carried and what it dropped; `esp.userspace.dataplane` adds the
sockets and the TUN device.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Callable

from .lifetime import Lifetime
from .replay import ReplayWindow
from .suites import ESP_HEADER, Opener, Sealer

NEXT_HEADER_IPV4 = 4
NEXT_HEADER_NONE = 59  # a dummy packet (RFC 4303 §2.6): authentic, silently discarded
SEQ_MAX_32 = (1 << 32) - 1
SEQ_MAX_64 = (1 << 64) - 1
# RFC 4303 §2.4: the default padding is 1, 2, 3, ...
PADDING = tuple(bytes(range(1, n + 1)) for n in range(256))

AddressMatch = Callable[[bytes], bool]


def address_matcher(networks: tuple[IPv4Network, ...]) -> AddressMatch | None:
    """A test of a 4-byte IPv4 address against `networks`; None when every
    address matches (no check needed on the per-packet path)."""
    if any(n.prefixlen == 0 for n in networks):
        return None
    if len(networks) == 1 and networks[0].prefixlen == 32:
        return networks[0].network_address.packed.__eq__  # one client address: the usual case
    masks = tuple((int(n.network_address), int(n.netmask)) for n in networks)

    def match(addr: bytes) -> bool:
        a = int.from_bytes(addr, "big")
        return any(a & mask == net for net, mask in masks)

    return match


class OutboundSa:
    """We send with the peer's SPI; sequence numbers start at 1 and never
    wrap (RFC 4303 §3.3.3): the last number is a hard packet limit."""

    __slots__ = ("spi", "esn", "packets", "bytes", "drops", "next_packets", "next_bytes", "packet_cap",
                 "lifetime", "source_ok", "_spi", "_seal", "_pads")

    def __init__(self, spi: int, sealer: Sealer, esn: bool, lifetime: Lifetime,
                 source_ok: AddressMatch | None) -> None:
        self.spi = spi
        self.esn = esn
        self.packets = 0  # = the last sequence number sent
        self.bytes = 0  # inner packet bytes, as the kernel counts them
        self.drops = 0
        self.packet_cap = SEQ_MAX_64 if esn else SEQ_MAX_32
        self.next_packets = self.next_bytes = 0
        self.lifetime = lifetime
        self.source_ok = source_ok
        self._spi = spi.to_bytes(4, "big")
        self._seal = sealer.seal
        align = sealer.align
        # trailer by (len(inner) + 2) % align: padding, Pad Length, Next Header
        self._pads = tuple(PADDING[p] + bytes([p, NEXT_HEADER_IPV4])
                           for p in ((-r) % align for r in range(align)))
        lifetime.register(self)

    def seal(self, inner: bytes) -> bytes | None:
        """The ESP packet carrying IPv4 packet `inner`, or None (dropped and
        counted) when its source is outside the SA's local selectors or the
        pair is past its hard lifetime."""
        if self.source_ok is not None and not self.source_ok(inner[12:16]):
            self.drops += 1  # not traffic this SA protects (RFC 4301 §5.1)
            return None
        n = len(inner)
        p = self.packets + 1
        b = self.bytes + n
        if p >= self.next_packets or b >= self.next_bytes:
            if not self.lifetime.passes(self, p, b):
                self.drops += 1
                return None
        self.packets = p
        self.bytes = b
        header = self._spi + (p & SEQ_MAX_32).to_bytes(4, "big")
        trailer = self._pads[(n + 2) % len(self._pads)]
        return self._seal(header, inner + trailer, (p >> 32).to_bytes(4, "big") if self.esn else b"")


class InboundSa:
    """The peer sends with our SPI. Counters follow `SaCounters`."""

    __slots__ = ("spi", "esn", "window", "packets", "bytes", "replay_drops", "integrity_failures", "drops",
                 "next_packets", "next_bytes", "packet_cap", "lifetime", "source_ok", "_open", "_size_ok")

    def __init__(self, spi: int, opener: Opener, esn: bool, window: int, lifetime: Lifetime,
                 source_ok: AddressMatch | None) -> None:
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
        self._open = opener.open
        self._size_ok = opener.ciphertext_ok
        lifetime.register(self)

    def open(self, packet: bytes) -> bytes | None:
        """The inner IPv4 packet, or None (dropped and counted)."""
        if not self._size_ok(len(packet)):
            self.drops += 1
            return None
        window = self.window
        seq = int.from_bytes(packet[4:8], "big")
        if self.esn:
            seq = window.infer(seq)
        if seq < 0 or window.check(seq) < 0:
            self.replay_drops += 1
            return None
        plain = self._open(packet, (seq >> 32).to_bytes(4, "big") if self.esn else b"")
        if plain is None:
            self.integrity_failures += 1
            return None
        window.accept(seq)  # authentic: it may move the window whatever follows
        pad = plain[-2]
        end = len(plain) - 2 - pad
        if end < 0 or plain[end:-2] != PADDING[pad]:
            self.drops += 1
            return None
        if plain[-1] != NEXT_HEADER_IPV4:
            if plain[-1] != NEXT_HEADER_NONE:
                self.drops += 1
            return None
        inner = plain[:end]
        if len(inner) < 20 or inner[0] >> 4 != 4:
            self.drops += 1
            return None
        total = (inner[2] << 8) | inner[3]
        if total != end:
            if total < 20 or total > end:
                self.drops += 1
                return None
            inner = inner[:total]  # TFC padding after the packet (RFC 4303 §2.7)
        if self.source_ok is not None and not self.source_ok(inner[12:16]):
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
        return inner

