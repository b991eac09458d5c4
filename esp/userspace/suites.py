"""ESP transforms for the userspace data plane: seal and open one packet.

CBC (AES RFC 3602, 3DES RFC 2451, DES RFC 2405) and NULL (RFC 2410) with a
truncated HMAC (RFC 2403, RFC 2404, RFC 4868); AES-GCM (RFC 4106),
ChaCha20-Poly1305 (RFC 7634) and AES-GMAC (RFC 4543) as combined modes.

A sealer turns (ESP header, padded plaintext) into the whole ESP packet; an
opener checks and decrypts one and returns the padded plaintext (None when
the ICV does not verify). Padding, sequence numbers and replay belong to
`esp.userspace.sa`; only cryptography lives here.

Speed comes from state kept per SA (measured: docs/performance.md):
one long-lived CBC context per direction and an HMAC keyed once and copied
per packet, instead of a new context and key schedule per packet.
"""

from __future__ import annotations

from hmac import compare_digest as _compare_digest
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.transforms import FIXED_KEY_CIPHERS, cbc_cipher, get_encr, get_integ
from ikev2d.iana import EncrId, IntegId

from ..spec import EspAlgorithms

AES_BLOCK = 16
AEAD_SALT = 4  # RFC 4106 §8.1 / RFC 7634 §2: the last 4 KEYMAT bytes
AEAD_IV = 8
ESP_HEADER = 8  # SPI + sequence number (RFC 4303 §2)
# A plaintext to seal sits at stage[STAGE_HEAD:end] of a staging buffer; the
# sealer may write the bytes before it (CBC puts its random first block there).
STAGE_HEAD = AES_BLOCK
MAX_ESP = 65536 + 512  # any UDP payload, plus room for IV, padding and ICV
_M32 = 0xFFFFFFFF

_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    IntegId.HMAC_SHA2_512_256: hashes.SHA512,
    IntegId.HMAC_SHA2_384_192: hashes.SHA384,
    IntegId.HMAC_SHA2_256_128: hashes.SHA256,
    IntegId.HMAC_SHA1_96: hashes.SHA1,
    IntegId.HMAC_MD5_96: hashes.MD5,
}
# the block (and explicit IV) size of each CBC cipher
_CBC_BLOCK: dict[int, int] = {EncrId.AES_CBC: AES_BLOCK, EncrId.TRIPLE_DES: 8, EncrId.DES: 8}
_HEADER = struct.Struct(">II")  # SPI, low 32 bits of the sequence number
_HEADER_IV = struct.Struct(">IIII")  # the same, then the 64-bit explicit IV of the AEAD suites
_ESN_AAD = struct.Struct(">III")  # RFC 4106 §5: SPI, high 32 bits, low 32 bits

# The ESP packet a sealer returns and the plaintext an opener returns live in
# these buffers, shared by every SA: the data plane is one thread and hands
# each result to one syscall before the next packet, so nothing is allocated
# per packet and memory does not grow with the number of SAs.
_SEALED = bytearray(MAX_ESP)
_OPENED = bytearray(MAX_ESP)
_SEALED_VIEW = memoryview(_SEALED)
_OPENED_VIEW = memoryview(_OPENED)


def _bytes_seal(sealer: "Sealer", header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
    """`seal` for callers that hold bytes (tests, the load generator): the
    same code as the data plane's path, through a staging copy."""
    stage = bytearray(STAGE_HEAD + len(plaintext))
    stage[STAGE_HEAD:] = plaintext
    spi, lo = _HEADER.unpack(header)
    seq = (int.from_bytes(seq_hi, "big") << 32) | lo
    return bytes(sealer.seal_into(spi, seq, bool(seq_hi), memoryview(stage), len(stage)))


class Sealer(Protocol):
    align: int  # the ESP payload (through Next Header) is padded to this
    overhead: int  # IV + ICV bytes added around the ciphertext

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        """Seal the padded plaintext at stage[STAGE_HEAD:end] (its length a
        multiple of `align`) under 64-bit sequence number `seq` (its high half
        authenticated, never sent, when `esn`). Returns the whole ESP packet:
        a view that is valid until the next seal of any SA."""

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        """The whole ESP packet as bytes; `seq_hi` is b"" without ESN, else
        the high 32 bits of the sequence number."""


class Opener(Protocol):
    align: int
    overhead: int
    # the ESP packets (header through ICV) that can hold a ciphertext: `least`
    # bytes or more, in steps of `step` (the cipher block, or 1): `ciphertext_ok`
    least: int
    step: int

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        """The padded plaintext (through Next Header), or None if the ICV or
        tag does not verify: a view valid until the next open of any SA.
        The caller has checked the length and alignment with `ciphertext_ok`."""

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        """`open_into`, as bytes."""


def ciphertext_ok(opener: Opener, size: int) -> bool:
    """Whether an ESP packet of `size` bytes can hold a ciphertext for `opener`."""
    return size >= opener.least and (size - opener.least) % opener.step == 0


def _sizes(overhead: int, block: int = 1) -> tuple[int, int]:
    """(least, step) of an opener: a whole block of ciphertext at least (a
    CBC IV's successor), or RFC 4303 §2.4's 4 bytes of padded payload."""
    return ESP_HEADER + overhead + (block if block > 1 else 4), block


class _RandomPool:
    """Cheap fresh random bytes: one getrandom() call per 256 IVs."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def take(self, size: int) -> bytes:
        """`size` (at most 16) fresh random bytes."""
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = os.urandom(AES_BLOCK * 256)
            pos = 0
        self._pos = pos + AES_BLOCK
        return self._buf[pos:pos + size]


# one pool for every CBC sealer (the data plane is one thread): 4 kB once,
# not per SA that has sent a packet
_RANDOM = _RandomPool()


def _sign_into(out: memoryview, keyed: _hmac.HMAC, icv: int, body: int, seq: int, esn: bool) -> memoryview:
    """Append the truncated HMAC of out[:body] to it: the ICV of an
    integrity-only or CBC packet; with ESN the high bits of the sequence
    number follow the payload into the MAC (RFC 4303 §3.3.2.2)."""
    mac = keyed.copy()  # keyed once per SA, copied per packet
    mac.update(out[:body])
    if esn:
        mac.update((seq >> 32).to_bytes(4, "big"))
    total = body + icv
    out[body:total] = mac.finalize()[:icv]
    return out[:total]


def _icv_ok(packet: bytes, keyed: _hmac.HMAC, icv: int, seq_hi: bytes) -> bool:
    """The truncated HMAC at the end of `packet` is that of the rest (and
    the ESN high bits, RFC 4303 §3.3.2.2): checked before anything is
    decrypted or trusted."""
    view = memoryview(packet)  # slices of bytes would copy the packet
    mac = keyed.copy()
    mac.update(view[:-icv])
    if seq_hi:
        mac.update(seq_hi)
    return _compare_digest(mac.finalize()[:icv], view[-icv:])


class CbcHmacSealer:
    """CBC (AES RFC 3602, 3DES RFC 2451, DES RFC 2405) + truncated HMAC
    (RFC 4868 / RFC 2404 / RFC 2403).

    The encryptor lives as long as the SA. Each packet starts with one block
    of fresh random bytes: its ciphertext is unpredictable and serves as the
    packet's explicit IV, chaining into the real plaintext exactly as CBC
    with that IV would (the TLS 1.1 technique, RFC 4346 §6.2.3.2 (2)(b)).
    Any RFC 3602 / RFC 2451 receiver decrypts it as usual.
    """

    __slots__ = ("_encrypt_into", "_enc", "_mac", "_icv", "_random", "_block", "_head", "align", "overhead")

    def __init__(self, encr_id: int, encr_key: bytes, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        block = _CBC_BLOCK[EncrId(encr_id)]
        enc = Cipher(cbc_cipher(encr_id, encr_key), modes.CBC(os.urandom(block))).encryptor()
        self._encrypt_into = enc.update_into
        self._enc = enc  # keeps the context alive
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())  # keyed once; copied per packet
        self._icv = icv_size
        self._random = _RANDOM
        self._block = block
        self._head = STAGE_HEAD - block  # where the random block goes
        self.align = block
        self.overhead = block + icv_size

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        # _sign_into inlined: one Python call less on the per-packet path (measured, bench/esp_floor.py)
        out = _SEALED_VIEW
        head = self._head
        stage[head:STAGE_HEAD] = self._random.take(self._block)
        body = ESP_HEADER + self._encrypt_into(stage[head:end], out[ESP_HEADER:])  # header, IV, ciphertext
        _HEADER.pack_into(_SEALED, 0, spi, seq & _M32)
        mac = self._mac.copy()
        mac.update(out[:body])
        if esn:
            mac.update((seq >> 32).to_bytes(4, "big"))  # RFC 4303 §3.3.2.2
        icv = self._icv
        total = body + icv
        out[body:total] = mac.finalize()[:icv]
        return out[:total]

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        return _bytes_seal(self, header, plaintext, seq_hi)


class CbcHmacOpener:
    """Inbound CBC + HMAC: verify the ICV first, then decrypt.

    One long-lived decryptor: fed IV || ciphertext, its first output block is
    garbage (it chains from the previous packet) and every following block
    is the plaintext CBC with that IV gives.
    """

    __slots__ = ("_decrypt_into", "_dec", "_mac", "_icv", "_block", "align", "overhead", "least", "step")

    def __init__(self, encr_id: int, encr_key: bytes, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        block = _CBC_BLOCK[EncrId(encr_id)]
        dec = Cipher(cbc_cipher(encr_id, encr_key), modes.CBC(bytes(block))).decryptor()
        self._decrypt_into = dec.update_into
        self._dec = dec
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())
        self._icv = icv_size
        self._block = block
        self.align = block
        self.overhead = block + icv_size
        self.least, self.step = _sizes(self.overhead, block)

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        # _icv_ok inlined, on a view: the per-packet path's hottest lines, no copy of the packet
        view = memoryview(packet)
        icv = self._icv
        body = len(packet) - icv
        mac = self._mac.copy()
        mac.update(view[:body])
        if seq_hi:
            mac.update(seq_hi)
        if not _compare_digest(mac.finalize()[:icv], view[body:]):
            return None
        out = _OPENED_VIEW
        return out[self._block:self._decrypt_into(view[ESP_HEADER:body], out)]

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        plain = self.open_into(packet, seq_hi)
        return None if plain is None else bytes(plain)


class NullHmacSealer:
    """ENCR_NULL (RFC 2410) + truncated HMAC: the payload travels in clear,
    only authenticated; no IV, 4-byte alignment (RFC 4303 §2.4)."""

    align = 4
    __slots__ = ("_mac", "_icv", "overhead")

    def __init__(self, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())
        self._icv = icv_size
        self.overhead = icv_size

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        out = _SEALED_VIEW
        _HEADER.pack_into(_SEALED, 0, spi, seq & _M32)
        body = ESP_HEADER + end - STAGE_HEAD
        out[ESP_HEADER:body] = stage[STAGE_HEAD:end]
        return _sign_into(out, self._mac, self._icv, body, seq, esn)

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        return _bytes_seal(self, header, plaintext, seq_hi)


class NullHmacOpener:
    align = 4
    __slots__ = ("_mac", "_icv", "overhead", "least", "step")

    def __init__(self, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())
        self._icv = icv_size
        self.overhead = icv_size
        self.least, self.step = _sizes(self.overhead)

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        icv = self._icv
        if not _icv_ok(packet, self._mac, icv, seq_hi):
            return None
        size = len(packet) - ESP_HEADER - icv
        out = _OPENED_VIEW
        out[:size] = memoryview(packet)[ESP_HEADER:-icv]  # one copy, not two
        return out[:size]

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        plain = self.open_into(packet, seq_hi)
        return None if plain is None else bytes(plain)


class GmacSealer:
    """ENCR_NULL_AUTH_AES_GMAC (RFC 4543): authentication only. The GCM tag
    covers SPI, sequence number, IV and the clear payload as AAD over an
    empty plaintext (§3.3, §5); the IV is the sequence number, as for GCM."""

    align = 4
    __slots__ = ("_aead", "_salt", "overhead")

    def __init__(self, key: bytes, salt: bytes) -> None:
        self._aead = AESGCM(key)
        self._salt = salt
        self.overhead = AEAD_IV + 16

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        out = _SEALED_VIEW
        lo = seq & _M32
        _HEADER_IV.pack_into(_SEALED, 0, spi, lo, seq >> 32, lo)
        body = 16 + end - STAGE_HEAD
        out[16:body] = stage[STAGE_HEAD:end]
        nonce = self._salt + out[ESP_HEADER:16]
        aad = _gmac_aad(out, body, seq >> 32 if esn else None)
        total = body + 16
        out[body:total] = self._aead.encrypt(nonce, b"", aad)
        return out[:total]

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        return _bytes_seal(self, header, plaintext, seq_hi)


def _gmac_aad(packet: bytes | memoryview, body: int, seq_hi: int | None) -> bytes:
    """RFC 4543 §5: SPI, [ESN high,] sequence low, IV, payload."""
    if seq_hi is None:
        return bytes(packet[:body])
    return bytes(packet[:4]) + seq_hi.to_bytes(4, "big") + bytes(packet[4:body])


class GmacOpener:
    align = 4
    __slots__ = ("_aead", "_salt", "overhead", "least", "step")

    def __init__(self, key: bytes, salt: bytes) -> None:
        self._aead = AESGCM(key)
        self._salt = salt
        self.overhead = AEAD_IV + 16
        self.least, self.step = _sizes(self.overhead)

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        body = len(packet) - 16
        aad = _gmac_aad(packet, body, int.from_bytes(seq_hi, "big") if seq_hi else None)
        try:
            self._aead.decrypt(self._salt + packet[8:16], packet[body:], aad)
        except InvalidTag:
            return None
        size = body - 16
        out = _OPENED_VIEW
        out[:size] = packet[16:body]
        return out[:size]

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        plain = self.open_into(packet, seq_hi)
        return None if plain is None else bytes(plain)


class AeadSealer:
    """AES-GCM (RFC 4106) and ChaCha20-Poly1305 (RFC 7634) with 16-byte ICVs.

    The 8-byte explicit IV is the 64-bit sequence number: unique per key,
    which is all either mode needs (RFC 4106 §3.1, RFC 7634 §2).
    """

    align = 4  # RFC 4303 §2.4: 4-byte alignment of the ESP payload
    __slots__ = ("_aead", "_encrypt_into", "_salt", "overhead")

    def __init__(self, aead: AESGCM | ChaCha20Poly1305, salt: bytes) -> None:
        self._aead = aead
        self._encrypt_into = getattr(aead, "encrypt_into", None)  # cryptography >= 46
        self._salt = salt
        self.overhead = AEAD_IV + 16

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        out = _SEALED_VIEW
        lo = seq & _M32
        _HEADER_IV.pack_into(_SEALED, 0, spi, lo, seq >> 32, lo)
        nonce = self._salt + out[ESP_HEADER:16]
        aad = _ESN_AAD.pack(spi, seq >> 32, lo) if esn else out[:ESP_HEADER]
        total = 16 + end - STAGE_HEAD + 16
        if self._encrypt_into is not None:
            self._encrypt_into(nonce, stage[STAGE_HEAD:end], aad, out[16:total])
        else:
            out[16:total] = self._aead.encrypt(nonce, stage[STAGE_HEAD:end], aad)
        return out[:total]

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        return _bytes_seal(self, header, plaintext, seq_hi)


class AeadOpener:
    align = 4
    __slots__ = ("_aead", "_decrypt_into", "_salt", "overhead", "least", "step")

    def __init__(self, aead: AESGCM | ChaCha20Poly1305, salt: bytes) -> None:
        self._aead = aead
        self._decrypt_into = getattr(aead, "decrypt_into", None)
        self._salt = salt
        self.overhead = AEAD_IV + 16
        self.least, self.step = _sizes(self.overhead)

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        aad = packet[:4] + seq_hi + packet[4:8] if seq_hi else packet[:8]
        nonce = self._salt + packet[8:16]
        size = len(packet) - 32
        out = _OPENED_VIEW
        try:
            if self._decrypt_into is not None:
                self._decrypt_into(nonce, packet[16:], aad, out[:size])
            else:
                out[:size] = self._aead.decrypt(nonce, packet[16:], aad)
        except InvalidTag:
            return None
        return out[:size]

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        plain = self.open_into(packet, seq_hi)
        return None if plain is None else bytes(plain)


class ShortTagGcmSealer:
    """AES-GCM with an 8- or 12-byte ICV (RFC 4106 §2): AESGCM only makes
    16-byte tags, so this uses the streaming API (slower, rarely chosen)."""

    align = 4
    __slots__ = ("_key", "_salt", "_icv", "overhead")

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._key = algorithms.AES(key)
        self._salt = salt
        self._icv = icv_size
        self.overhead = AEAD_IV + icv_size

    def seal_into(self, spi: int, seq: int, esn: bool, stage: memoryview, end: int) -> memoryview:
        lo = seq & _M32
        iv = (seq >> 32).to_bytes(4, "big") + lo.to_bytes(4, "big")
        header = _HEADER.pack(spi, lo)
        aad = _ESN_AAD.pack(spi, seq >> 32, lo) if esn else header
        enc = Cipher(self._key, modes.GCM(self._salt + iv)).encryptor()
        enc.authenticate_additional_data(aad)
        packet = header + iv + enc.update(stage[STAGE_HEAD:end]) + enc.finalize()
        packet += enc.tag[:self._icv]
        out = _SEALED_VIEW
        out[:len(packet)] = packet
        return out[:len(packet)]

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        return _bytes_seal(self, header, plaintext, seq_hi)


class ShortTagGcmOpener:
    align = 4
    __slots__ = ("_key", "_salt", "_icv", "overhead", "least", "step")

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._key = algorithms.AES(key)
        self._salt = salt
        self._icv = icv_size
        self.overhead = AEAD_IV + icv_size
        self.least, self.step = _sizes(self.overhead)

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        packet = bytes(packet)
        icv = self._icv
        aad = packet[:4] + seq_hi + packet[4:8] if seq_hi else packet[:8]
        dec = Cipher(self._key, modes.GCM(self._salt + packet[8:16], packet[-icv:], min_tag_length=icv)).decryptor()
        dec.authenticate_additional_data(aad)
        try:
            return dec.update(packet[16:-icv]) + dec.finalize()
        except InvalidTag:
            return None

    def open_into(self, packet: bytes, seq_hi: bytes) -> memoryview | None:
        plain = self.open(packet, seq_hi)
        if plain is None:
            return None
        out = _OPENED_VIEW
        out[:len(plain)] = plain
        return out[:len(plain)]


def check_algorithms(alg: EspAlgorithms) -> None:
    """Raise UnsupportedTransform unless this back end can run `alg`."""
    encr = get_encr(alg.encr_id, None if alg.encr_id in FIXED_KEY_CIPHERS else alg.encr_key_bits)
    if encr.key_size != alg.encr_key_size:
        raise UnsupportedTransform(f"{encr.name}: key material must be {encr.key_size} bytes")
    if encr.is_aead:
        if alg.integ_id != IntegId.NONE:
            raise UnsupportedTransform(f"{encr.name} with an INTEG transform")
        if alg.icv_size != encr.icv_size:
            raise UnsupportedTransform(f"{encr.name}: ICV must be {encr.icv_size} bytes")
        return
    integ = get_integ(alg.integ_id)
    if alg.integ_id not in _HASHES:
        raise UnsupportedTransform(f"INTEG {integ.name} in ESP")
    if (integ.key_size, integ.icv_size) != (alg.integ_key_size, alg.icv_size):
        raise UnsupportedTransform(f"{integ.name}: key {integ.key_size} B, ICV {integ.icv_size} B")


T = TypeVar("T")


@dataclass(frozen=True)
class _Classes(Generic[T]):
    """The transform classes of one direction, by kind."""

    cbc_hmac: Callable[[int, bytes, bytes, int, int], T]
    null_hmac: Callable[[bytes, int, int], T]
    aead: Callable[[AESGCM | ChaCha20Poly1305, bytes], T]
    short_tag_gcm: Callable[[bytes, bytes, int], T]
    gmac: Callable[[bytes, bytes], T]


_SEALERS: _Classes[Sealer] = _Classes(CbcHmacSealer, NullHmacSealer, AeadSealer, ShortTagGcmSealer, GmacSealer)
_OPENERS: _Classes[Opener] = _Classes(CbcHmacOpener, NullHmacOpener, AeadOpener, ShortTagGcmOpener, GmacOpener)


def _build(classes: _Classes[T], alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> T:
    """The choice of transform both directions make: CBC + HMAC, NULL +
    HMAC, an AEAD with a 16-byte tag (key and salt split from KEYMAT), GCM
    with a shorter tag, or GMAC."""
    check_algorithms(alg)
    if alg.encr_id in _CBC_BLOCK:
        return classes.cbc_hmac(alg.encr_id, encr_key, integ_key, alg.integ_id, alg.icv_size)
    if alg.encr_id == EncrId.NULL:
        return classes.null_hmac(integ_key, alg.integ_id, alg.icv_size)
    key, salt = encr_key[:-AEAD_SALT], encr_key[-AEAD_SALT:]
    if alg.encr_id == EncrId.NULL_AUTH_AES_GMAC:
        return classes.gmac(key, salt)
    if alg.encr_id == EncrId.CHACHA20_POLY1305:
        return classes.aead(ChaCha20Poly1305(key), salt)
    if alg.icv_size == 16:
        return classes.aead(AESGCM(key), salt)
    return classes.short_tag_gcm(key, salt, alg.icv_size)


def make_sealer(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Sealer:
    return _build(_SEALERS, alg, encr_key, integ_key)


def make_opener(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Opener:
    return _build(_OPENERS, alg, encr_key, integ_key)


class Deferred(Generic[T]):
    """One direction's transform, made on its SA's first packet: an idle SA
    (a remote-access session that sends nothing, the usual case) holds no
    cipher or HMAC context (with AES-CBC + HMAC-SHA-512 ~2.5 kB a pair in
    OpenSSL, and the Python objects around them). The algorithms and key
    sizes are checked here, so making it later cannot fail."""

    __slots__ = ("_classes", "_alg", "_encr_key", "_integ_key", "align")

    def __init__(self, classes: _Classes[T], alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> None:
        check_algorithms(alg)
        if len(encr_key) != alg.encr_key_size or len(integ_key) != alg.integ_key_size:
            raise UnsupportedTransform("key material of the wrong size")
        self._classes = classes
        self._alg = alg
        self._encr_key = encr_key
        self._integ_key = integ_key
        self.align = _CBC_BLOCK.get(alg.encr_id, 4)  # what the transform pads to (RFC 4303 §2.4)

    def make(self) -> T:
        return _build(self._classes, self._alg, self._encr_key, self._integ_key)


def deferred_sealer(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Deferred[Sealer]:
    return Deferred(_SEALERS, alg, encr_key, integ_key)


def deferred_opener(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Deferred[Opener]:
    return Deferred(_OPENERS, alg, encr_key, integ_key)
