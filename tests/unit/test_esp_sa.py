"""ESP SAs of the userspace data plane (RFC 4303 tunnel mode): round trips for
every suite the transforms registry knows, integrity, padding and Next
Header checks, selectors, counters and lifetimes."""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP

from esp.dataplane import Expiry
from esp.spec import EspAlgorithms
from esp.userspace.lifetime import Lifetime, Limits
from esp.userspace.sa import InboundSa, OutboundSa, address_matcher
from esp.userspace.suites import ciphertext_ok, deferred_opener, deferred_sealer, make_opener, make_sealer
from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.transforms import FIXED_KEY_CIPHERS, get_encr, get_integ
from ikev2d.iana import EncrId, IntegId

VIP = "198.19.0.200"
INSIDE = "198.19.0.1"
SPI = 0xC0FFEE01


def algorithms(encr: int, bits: int, integ: int = 0, esn: bool = False) -> EspAlgorithms:
    e = get_encr(encr, None if encr in FIXED_KEY_CIPHERS else bits)
    i = get_integ(integ) if integ else None
    return EspAlgorithms(encr, bits, integ, e.key_size, i.key_size if i else 0,
                         e.icv_size if e.is_aead else (i.icv_size if i else 0), esn)


CBC_SUITES = [algorithms(EncrId.AES_CBC, bits, integ) for bits in (128, 192, 256)
              for integ in (IntegId.HMAC_SHA2_512_256, IntegId.HMAC_SHA2_384_192, IntegId.HMAC_SHA2_256_128,
                            IntegId.HMAC_SHA1_96, IntegId.HMAC_MD5_96)]
# the FTD's legacy and authentication-only proposals (RFC 2451, RFC 2405, RFC 2410, RFC 4543)
CBC_SUITES += [algorithms(tid, 0, integ) for tid in (EncrId.TRIPLE_DES, EncrId.DES, EncrId.NULL)
               for integ in (IntegId.HMAC_SHA1_96, IntegId.HMAC_MD5_96, IntegId.HMAC_SHA2_256_128)]
AEAD_SUITES = [algorithms(tid, bits) for bits in (128, 192, 256)
               for tid in (EncrId.AES_GCM_16, EncrId.AES_GCM_12, EncrId.AES_GCM_8)]
AEAD_SUITES.append(algorithms(EncrId.CHACHA20_POLY1305, 256))
AEAD_SUITES += [algorithms(EncrId.NULL_AUTH_AES_GMAC, bits) for bits in (128, 192, 256)]
ALL_SUITES = CBC_SUITES + AEAD_SUITES
CBC256 = algorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256)
GCM256 = algorithms(EncrId.AES_GCM_16, 256)


class Pair:
    """An outbound SA and the inbound SA that reads it (same keys), sharing
    one lifetime; expiries land in `self.expiries`."""

    def __init__(self, alg: EspAlgorithms = CBC256, limits: Limits = Limits(), window: int = 64,
                 remote: tuple[str, ...] = (f"{INSIDE}/32",), local: tuple[str, ...] = ("0.0.0.0/0",)) -> None:
        self.alg = alg
        self.ek, self.ik = os.urandom(alg.encr_key_size), os.urandom(alg.integ_key_size)
        self.expiries: list[Expiry] = []
        self.lifetime = Lifetime(SPI, limits, 0.0, self.expiries.append)
        self.sealer = make_sealer(alg, self.ek, self.ik)
        self.out = OutboundSa(SPI, self.sealer, alg.esn, self.lifetime,
                              address_matcher(tuple(IPv4Network(n) for n in local)))
        self.inb = InboundSa(SPI, make_opener(alg, self.ek, self.ik), alg.esn, window, self.lifetime,
                             address_matcher(tuple(IPv4Network(n) for n in remote)))


def packet(size: int = 100, src: str = INSIDE, dst: str = VIP) -> bytes:
    raw = bytes(IP(src=src, dst=dst) / UDP(sport=1234, dport=5678) / (b"\xab" * max(0, size - 28)))
    assert len(raw) == max(size, 28)
    return raw


@pytest.mark.parametrize("alg", ALL_SUITES, ids=lambda a: f"{a.encr_id}-{a.encr_key_bits}-{a.integ_id}")
def test_round_trip_every_suite(alg: EspAlgorithms) -> None:
    p = Pair(alg)
    for size in (28, 29, 64, 511, 1400):
        inner = packet(size)
        esp = p.out.seal(inner)
        assert esp is not None and esp[:4] == SPI.to_bytes(4, "big")
        # encrypted, except by the authentication-only transforms (RFC 2410, RFC 4543)
        assert (inner in esp) == (alg.encr_id in (EncrId.NULL, EncrId.NULL_AUTH_AES_GMAC))
        # RFC 4303 §2.4: the ESP payload is aligned (the cipher's block for CBC, 4 otherwise)
        block = {EncrId.AES_CBC: 16, EncrId.TRIPLE_DES: 8, EncrId.DES: 8}.get(EncrId(alg.encr_id), 4)
        assert (len(esp) - 8 - p.sealer.overhead) % block == 0
        assert p.inb.open(esp) == inner
    assert (p.out.packets, p.inb.packets) == (5, 5)
    assert p.out.bytes == p.inb.bytes == 28 + 29 + 64 + 511 + 1400


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=1500), st.sampled_from([CBC256, GCM256]))
def test_round_trip_any_payload(payload: bytes, alg: EspAlgorithms) -> None:
    p = Pair(alg)
    inner = bytes(IP(src=INSIDE, dst=VIP, proto=253) / payload)
    esp = p.out.seal(inner)
    assert esp is not None
    assert p.inb.open(esp) == inner


def test_sequence_numbers_count_from_one() -> None:
    p = Pair()
    seqs = [int.from_bytes(p.out.seal(packet())[4:8], "big") for _ in range(3)]  # type: ignore[index]
    assert seqs == [1, 2, 3]


def test_cbc_ivs_differ_per_packet() -> None:
    """The long-lived encryptor still gives every packet its own IV."""
    p = Pair()
    ivs = {p.out.seal(packet())[8:24] for _ in range(200)}  # type: ignore[index]
    assert len(ivs) == 200


def test_gcm_iv_is_the_sequence_number() -> None:
    p = Pair(GCM256)
    esp = p.out.seal(packet())
    assert esp is not None and esp[8:16] == (1).to_bytes(8, "big")


@pytest.mark.parametrize("alg", [CBC256, GCM256], ids=["cbc", "gcm"])
def test_replayed_and_too_old_packets_are_dropped_and_counted(alg: EspAlgorithms) -> None:
    p = Pair(alg, window=64)
    sent = [p.out.seal(packet()) for _ in range(200)]
    assert p.inb.open(sent[199]) is not None  # jump ahead: 1..135 are now left of the window
    assert p.inb.open(sent[199]) is None  # replay
    assert p.inb.open(sent[0]) is None  # too old
    assert p.inb.open(sent[150]) is not None  # inside the window, out of order
    assert p.inb.open(sent[150]) is None
    assert p.inb.replay_drops == 3
    assert p.inb.packets == 2 and p.inb.integrity_failures == 0


@pytest.mark.parametrize("alg", [CBC256, GCM256, algorithms(EncrId.AES_GCM_8, 128)], ids=["cbc", "gcm16", "gcm8"])
@pytest.mark.parametrize("where", [0, 5, 9, 30, -1], ids=["spi", "seq", "iv", "body", "icv"])
def test_tampered_packet_is_dropped_and_counted(alg: EspAlgorithms, where: int) -> None:
    p = Pair(alg)
    p.inb.open(p.out.seal(packet()))  # type: ignore[arg-type]
    esp = bytearray(p.out.seal(packet()))  # type: ignore[arg-type]
    esp[where] ^= 0x01
    assert p.inb.open(bytes(esp)) is None
    assert p.inb.integrity_failures == 1
    assert p.inb.packets == 1
    # the forged packet did not move the window: the genuine one still passes
    esp[where] ^= 0x01
    assert p.inb.open(bytes(esp)) is not None


def test_forged_high_sequence_number_does_not_move_the_window() -> None:
    p = Pair()
    esp = bytearray(p.out.seal(packet()))  # type: ignore[arg-type]
    esp[4:8] = (1000).to_bytes(4, "big")
    assert p.inb.open(bytes(esp)) is None
    assert p.inb.window.top == 0


def _sealed(p: Pair, seq: int, plaintext: bytes) -> bytes:
    """An authentic ESP packet around an arbitrary plaintext (any trailer)."""
    return p.sealer.seal(SPI.to_bytes(4, "big") + seq.to_bytes(4, "big"), plaintext, b"")


@pytest.mark.parametrize("alg", [CBC256, GCM256], ids=["cbc", "gcm"])
def test_padding_is_checked(alg: EspAlgorithms) -> None:
    p = Pair(alg)
    inner = packet(30)  # + 2 -> 32: no padding needed; add 16 bytes of padding ourselves
    good = inner + bytes(range(1, 17)) + bytes([16, 4])
    bad = inner + bytes(range(1, 16)) + b"\x00" + bytes([16, 4])
    too_long = inner + bytes([200, 4])  # Pad Length larger than the payload
    assert p.inb.open(_sealed(p, 1, good)) == inner
    assert p.inb.open(_sealed(p, 2, bad)) is None
    assert p.inb.open(_sealed(p, 3, too_long)) is None
    assert p.inb.drops == 2
    assert p.inb.integrity_failures == 0
    assert p.inb.window.top == 3  # authentic packets move the window even when dropped


def test_next_header_is_checked_and_dummy_packets_are_discarded_silently() -> None:
    p = Pair()
    inner = packet(30)
    assert p.inb.open(_sealed(p, 1, inner + bytes([0, 41]))) is None  # IPv6 inside: not ours
    assert p.inb.drops == 1
    assert p.inb.open(_sealed(p, 2, inner + bytes([0, 59]))) is None  # RFC 4303 §2.6 dummy
    assert p.inb.drops == 1 and p.inb.packets == 0


def test_tfc_padding_after_the_inner_packet_is_removed() -> None:
    p = Pair()
    inner = packet(44)
    plain = inner + b"\0" * 20 + bytes(range(1, 15)) + bytes([14, 4])  # RFC 4303 §2.7
    assert p.inb.open(_sealed(p, 1, plain)) == inner
    assert p.inb.bytes == 44


def test_inner_length_beyond_the_payload_is_dropped() -> None:
    p = Pair()
    inner = bytearray(packet(30))
    inner[2:4] = (400).to_bytes(2, "big")
    assert p.inb.open(_sealed(p, 1, bytes(inner) + bytes([0, 4]))) is None
    assert p.inb.drops == 1


def test_inner_source_must_match_the_remote_selector() -> None:
    """RFC 4301 §5.2: after decryption the inner header is checked against
    the SA's selectors; the client may not send as another address."""
    p = Pair(remote=(f"{VIP}/32",))
    from_client = packet(src=VIP, dst=INSIDE)
    spoofed = packet(src="198.19.0.201", dst=INSIDE)
    assert p.inb.open(p.out.seal(from_client)) == from_client  # type: ignore[arg-type]
    assert p.inb.open(p.out.seal(spoofed)) is None  # type: ignore[arg-type]
    assert p.inb.drops == 1 and p.inb.packets == 1


def test_outbound_source_must_match_the_local_selector() -> None:
    p = Pair(local=("198.19.0.0/24",))
    assert p.out.seal(packet(src="198.19.0.1")) is not None
    assert p.out.seal(packet(src="198.18.0.1")) is None
    assert (p.out.packets, p.out.drops) == (1, 1)


def test_address_matcher() -> None:
    nets = lambda *n: tuple(IPv4Network(x) for x in n)  # noqa: E731
    assert address_matcher(nets("0.0.0.0/0")) is None
    a = lambda s: int(IPv4Address(s))  # noqa: E731  # the per-packet path reads addresses as integers
    one = address_matcher(nets("198.19.0.200/32"))
    assert one is not None and one(a("198.19.0.200")) and not one(a("198.19.0.201"))
    two = address_matcher(nets("198.19.0.0/24", "198.18.4.0/23"))
    assert two is not None
    assert two(a("198.19.0.7")) and two(a("198.18.5.1")) and not two(a("198.18.6.1"))


@pytest.mark.parametrize("size", [0, 7, 8 + 16 + 32, 8 + 16 + 32 + 15])
def test_short_or_misaligned_packets_are_dropped(size: int) -> None:
    p = Pair()
    assert p.inb.open(bytes(SPI.to_bytes(4, "big")) + bytes(max(0, size - 4))) is None
    assert p.inb.drops == 1


@pytest.mark.parametrize("alg", ALL_SUITES, ids=lambda a: f"{a.encr_id}-{a.encr_key_bits}-{a.integ_id}")
def test_the_size_rule_is_a_whole_block_of_ciphertext_or_four_bytes_of_payload(alg: EspAlgorithms) -> None:
    # RFC 4303: header (8), IV, ciphertext (CBC: whole blocks, at least one; else >= 4 bytes, §2.4), ICV
    opener = make_opener(alg, os.urandom(alg.encr_key_size), os.urandom(alg.integ_key_size))
    block = {EncrId.AES_CBC: 16, EncrId.TRIPLE_DES: 8, EncrId.DES: 8}.get(alg.encr_id, 1)
    smallest = 8 + opener.overhead + (block if block > 1 else 4)
    assert [size for size in range(smallest + 3 * block + 1) if ciphertext_ok(opener, size)] == \
        list(range(smallest, smallest + 3 * block + 1, block))


@pytest.mark.parametrize("alg", [CBC256, GCM256], ids=["cbc", "gcm"])
def test_a_deferred_openers_first_packet_is_size_checked(alg: EspAlgorithms) -> None:
    ek, ik = os.urandom(alg.encr_key_size), os.urandom(alg.integ_key_size)
    lifetime = Lifetime(SPI, Limits(), 0.0, lambda e: None)
    out = OutboundSa(SPI, deferred_sealer(alg, ek, ik), alg.esn, lifetime, None)
    inb = InboundSa(SPI, deferred_opener(alg, ek, ik), alg.esn, 64, lifetime, None)
    esp = out.seal(packet(100))
    assert esp is not None
    assert inb.open(esp[:12]) is None and inb.drops == 1  # the first packet makes the opener, and is too short
    assert inb.open(esp) == packet(100) and inb.packets == 1
    assert inb.open(esp[:12]) is None and inb.drops == 2 and inb.integrity_failures == 0


def test_unsupported_transforms_are_refused() -> None:
    with pytest.raises(UnsupportedTransform):  # CBC needs an integrity transform
        make_sealer(EspAlgorithms(EncrId.AES_CBC, 256, IntegId.NONE, 32, 0, 0), bytes(32), b"")
    with pytest.raises(UnsupportedTransform):  # RFC 4303 §3.2: neither encrypted nor authenticated
        make_sealer(EspAlgorithms(EncrId.NULL, 0, IntegId.NONE, 0, 0, 0), b"", b"")
    with pytest.raises(UnsupportedTransform):  # GMAC is its own integrity
        make_sealer(EspAlgorithms(EncrId.NULL_AUTH_AES_GMAC, 128, IntegId.HMAC_SHA1_96, 20, 20, 12),
                    bytes(20), bytes(20))
    with pytest.raises(UnsupportedTransform):
        make_opener(EspAlgorithms(EncrId.AES_CTR, 256, IntegId.HMAC_SHA2_256_128, 36, 32, 16), bytes(36), bytes(32))


# -- ESN (RFC 4303 §2.2.1, Appendix A) ----------------------------------------------

@pytest.mark.parametrize("alg", [algorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, esn=True),
                                 algorithms(EncrId.AES_GCM_16, 256, esn=True)], ids=["cbc", "gcm"])
def test_esn_crosses_the_32_bit_boundary(alg: EspAlgorithms) -> None:
    p = Pair(alg)
    p.out.packets = (1 << 32) - 3  # as if 2^32 - 3 packets had been sent
    p.inb.window.accept((1 << 32) - 3)
    for _ in range(5):
        esp = p.out.seal(packet())
        assert esp is not None
        assert p.inb.open(esp) is not None
    assert p.inb.window.top == (1 << 32) + 2
    assert esp[4:8] == (2).to_bytes(4, "big")  # only the low half is sent


def test_esn_high_bits_are_authenticated() -> None:
    """The receiver infers the high half; a packet sealed under another
    epoch does not verify (RFC 4303 §3.3.2.2)."""
    alg = algorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, esn=True)
    p = Pair(alg)
    wrong_epoch = p.sealer.seal(SPI.to_bytes(4, "big") + (5).to_bytes(4, "big"), packet() + bytes(14) + bytes([12, 4]),
                                (1).to_bytes(4, "big"))
    assert p.inb.open(wrong_epoch) is None
    assert p.inb.integrity_failures == 1


# -- lifetimes (RFC 4301 §4.4.2.1) --------------------------------------------------

def test_packet_lifetime_fires_soft_then_hard_then_drops() -> None:
    p = Pair(limits=Limits(packets=10))
    for _ in range(8):
        p.out.seal(packet())
    assert p.expiries == []
    p.out.seal(packet())  # the 9th: 90 %
    assert p.expiries == [Expiry(SPI, False, "packets")]
    assert p.out.seal(packet()) is not None  # the 10th still goes, and fires the hard limit
    assert p.expiries[1:] == [Expiry(SPI, True, "packets")]
    assert p.out.seal(packet()) is None
    assert p.out.packets == 10 and p.out.drops == 1
    assert len(p.expiries) == 2


def test_byte_lifetime_counts_either_direction_and_fires_once() -> None:
    p = Pair(limits=Limits(bytes=10_000))
    inner = packet(1000)
    for _ in range(9):
        assert p.inb.open(p.out.seal(inner)) is not None  # type: ignore[arg-type]
    # both directions are at 9000 bytes, but the soft limit fired once
    assert p.expiries == [Expiry(SPI, False, "bytes")]
    p.out.seal(inner)
    assert p.expiries[-1] == Expiry(SPI, True, "bytes")
    # hard: the pair carries nothing more, in either direction
    assert p.out.seal(inner) is None
    late = Pair(limits=Limits(bytes=10_000))
    assert p.inb.open(late.out.seal(inner) or b"") is None
    assert len(p.expiries) == 2


def test_time_lifetime_fires_soft_then_hard() -> None:
    p = Pair(limits=Limits(seconds=100))
    p.lifetime.check_time(89.0)
    assert p.expiries == []
    p.lifetime.check_time(90.0)
    p.lifetime.check_time(95.0)
    assert p.expiries == [Expiry(SPI, False, "time")]
    p.lifetime.check_time(100.0)
    assert p.expiries[-1] == Expiry(SPI, True, "time")
    assert p.out.seal(packet()) is None
    p.lifetime.check_time(200.0)
    assert len(p.expiries) == 2


def test_sequence_space_is_a_hard_packet_limit_without_esn() -> None:
    """RFC 4303 §3.3.3: the counter must not cycle; the SA ends at 2^32 - 1."""
    p = Pair()
    p.out.packets = (1 << 32) - 2
    p.lifetime.passes(p.out, p.out.packets, 0)  # as the earlier packets would have
    esp = p.out.seal(packet())
    assert esp is not None and esp[4:8] == b"\xff\xff\xff\xff"
    assert p.expiries[-1] == Expiry(SPI, True, "packets")
    assert p.out.seal(packet()) is None


def test_no_limits_never_fire() -> None:
    p = Pair(limits=Limits())
    for _ in range(100):
        p.inb.open(p.out.seal(packet(1400)))  # type: ignore[arg-type]
    p.lifetime.check_time(1e9)
    assert p.expiries == []


# -- results live in shared buffers: what callers keep must not change ---------------

@pytest.mark.parametrize("alg", [CBC256, GCM256, algorithms(EncrId.AES_GCM_8, 128)], ids=["cbc", "gcm", "gcm8"])
def test_sealed_and_opened_bytes_do_not_change_with_later_packets(alg: EspAlgorithms) -> None:
    p = Pair(alg)
    first, second = packet(1400), packet(64)
    esp1 = p.out.seal(first)
    esp2 = p.out.seal(second)
    assert esp1 is not None and esp2 is not None
    copy1 = bytes(esp1)
    opened1 = p.inb.open(esp1)
    p.inb.open(esp2)
    assert esp1 == copy1 and opened1 == first


@pytest.mark.parametrize("alg", [CBC256, GCM256], ids=["cbc", "gcm"])
def test_seal_staged_reads_the_packet_where_the_data_plane_put_it(alg: EspAlgorithms) -> None:
    """The TUN reader leaves STAGE_HEAD bytes before the packet and
    STAGE_TAIL after it; sealing from there equals sealing the bytes."""
    from esp.userspace.sa import STAGE_TAIL
    from esp.userspace.suites import STAGE_HEAD

    p = Pair(alg)
    inner = packet(333)
    stage = memoryview(bytearray(b"\xee" * (STAGE_HEAD + len(inner) + STAGE_TAIL)))
    stage[STAGE_HEAD:STAGE_HEAD + len(inner)] = inner
    view = p.out.seal_staged(stage, len(inner))
    assert view is not None
    assert p.inb.open(bytes(view)) == inner
    assert p.inb.open_view(p.out.seal(inner)) == inner  # type: ignore[arg-type]
