"""ESP transforms for the userspace data plane: seal and open one packet.

A sealer turns (ESP header, padded plaintext) into the whole ESP packet; an
opener checks and decrypts one and returns the padded plaintext (None when
the ICV does not verify). Padding, sequence numbers and replay belong to
`esp.userspace.sa`; only cryptography lives here.

Speed comes from state kept per SA (shared/reference/performance-limits.md):
one long-lived CBC context per direction and an HMAC keyed once and copied
per packet, instead of a new context and key schedule per packet.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.transforms import get_encr, get_integ
from ikev2d.iana import EncrId, IntegId

from ..spec import EspAlgorithms

AES_BLOCK = 16
AEAD_SALT = 4  # RFC 4106 §8.1 / RFC 7634 §2: the last 4 KEYMAT bytes
AEAD_IV = 8
ESP_HEADER = 8  # SPI + sequence number (RFC 4303 §2)

_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    IntegId.HMAC_SHA2_512_256: hashes.SHA512,
    IntegId.HMAC_SHA2_384_192: hashes.SHA384,
    IntegId.HMAC_SHA2_256_128: hashes.SHA256,
    IntegId.HMAC_SHA1_96: hashes.SHA1,
}


class Sealer(Protocol):
    align: int  # the ESP payload (through Next Header) is padded to this
    overhead: int  # IV + ICV bytes added around the ciphertext

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        """The whole ESP packet; `seq_hi` is b"" without ESN, else the high
        32 bits of the sequence number (authenticated, never sent)."""


class Opener(Protocol):
    align: int
    overhead: int

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        """The padded plaintext (through Next Header), or None if the ICV or
        tag does not verify. The caller has checked the length and alignment
        with `ciphertext_ok`."""

    def ciphertext_ok(self, size: int) -> bool:
        """Whether an ESP packet of `size` bytes can hold a ciphertext."""


class _RandomPool:
    """Cheap fresh random bytes: one getrandom() call per 256 IVs."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def take16(self) -> bytes:
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = os.urandom(AES_BLOCK * 256)
            pos = 0
        self._pos = pos + AES_BLOCK
        return self._buf[pos:pos + AES_BLOCK]


class CbcHmacSealer:
    """AES-CBC (RFC 3602) + truncated HMAC (RFC 4868 / RFC 2404).

    The encryptor lives as long as the SA. Each packet starts with 16 fresh
    random bytes: their ciphertext block is unpredictable and serves as the
    packet's explicit IV, chaining into the real plaintext exactly as CBC
    with that IV would (the TLS 1.1 technique, RFC 4346 §6.2.3.2 (2)(b)).
    Any RFC 3602 receiver decrypts it as usual.
    """

    align = AES_BLOCK

    def __init__(self, encr_key: bytes, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        self._enc = Cipher(algorithms.AES(encr_key), modes.CBC(os.urandom(AES_BLOCK))).encryptor()
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())
        self._icv = icv_size
        self._random = _RandomPool()
        self.overhead = AES_BLOCK + icv_size

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        body = self._enc.update(self._random.take16() + plaintext)  # IV || ciphertext
        mac = self._mac.copy()
        mac.update(header)
        mac.update(body)
        if seq_hi:
            mac.update(seq_hi)  # RFC 4303 §3.3.2.2: ESN high bits follow the payload
        return header + body + mac.finalize()[:self._icv]


class CbcHmacOpener:
    """Inbound AES-CBC + HMAC: verify the ICV first, then decrypt.

    One long-lived decryptor: fed IV || ciphertext, its first output block is
    garbage (it chains from the previous packet) and every following block
    is the plaintext CBC with that IV gives.
    """

    align = AES_BLOCK

    def __init__(self, encr_key: bytes, integ_key: bytes, integ_id: int, icv_size: int) -> None:
        self._dec = Cipher(algorithms.AES(encr_key), modes.CBC(bytes(AES_BLOCK))).decryptor()
        self._mac = _hmac.HMAC(integ_key, _HASHES[integ_id]())
        self._icv = icv_size
        self.overhead = AES_BLOCK + icv_size

    def ciphertext_ok(self, size: int) -> bool:
        ct = size - ESP_HEADER - self.overhead
        return ct >= AES_BLOCK and ct % AES_BLOCK == 0

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        icv = self._icv
        mac = self._mac.copy()
        mac.update(packet[:-icv])
        if seq_hi:
            mac.update(seq_hi)
        if not _stdlib_hmac.compare_digest(mac.finalize()[:icv], packet[-icv:]):
            return None
        return self._dec.update(packet[ESP_HEADER:-icv])[AES_BLOCK:]


class AeadSealer:
    """AES-GCM (RFC 4106) and ChaCha20-Poly1305 (RFC 7634) with 16-byte ICVs.

    The 8-byte explicit IV is the 64-bit sequence number: unique per key,
    which is all either mode needs (RFC 4106 §3.1, RFC 7634 §2).
    """

    align = 4  # RFC 4303 §2.4: 4-byte alignment of the ESP payload

    def __init__(self, aead: AESGCM | ChaCha20Poly1305, salt: bytes) -> None:
        self._aead = aead
        self._salt = salt
        self.overhead = AEAD_IV + 16

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        iv = (seq_hi or b"\0\0\0\0") + header[4:]
        aad = header[:4] + seq_hi + header[4:] if seq_hi else header  # RFC 4106 §5
        return header + iv + self._aead.encrypt(self._salt + iv, plaintext, aad)


class AeadOpener:
    align = 4

    def __init__(self, aead: AESGCM | ChaCha20Poly1305, salt: bytes) -> None:
        self._aead = aead
        self._salt = salt
        self.overhead = AEAD_IV + 16

    def ciphertext_ok(self, size: int) -> bool:
        return size - ESP_HEADER - self.overhead >= 4

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        aad = packet[:4] + seq_hi + packet[4:8] if seq_hi else packet[:8]
        try:
            return self._aead.decrypt(self._salt + packet[8:16], packet[16:], aad)
        except InvalidTag:
            return None


class ShortTagGcmSealer:
    """AES-GCM with an 8- or 12-byte ICV (RFC 4106 §2): AESGCM only makes
    16-byte tags, so this uses the streaming API (slower, rarely chosen)."""

    align = 4

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._key = algorithms.AES(key)
        self._salt = salt
        self._icv = icv_size
        self.overhead = AEAD_IV + icv_size

    def seal(self, header: bytes, plaintext: bytes, seq_hi: bytes) -> bytes:
        iv = (seq_hi or b"\0\0\0\0") + header[4:]
        aad = header[:4] + seq_hi + header[4:] if seq_hi else header
        enc = Cipher(self._key, modes.GCM(self._salt + iv)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return header + iv + body + enc.tag[:self._icv]


class ShortTagGcmOpener:
    align = 4

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._key = algorithms.AES(key)
        self._salt = salt
        self._icv = icv_size
        self.overhead = AEAD_IV + icv_size

    def ciphertext_ok(self, size: int) -> bool:
        return size - ESP_HEADER - self.overhead >= 4

    def open(self, packet: bytes, seq_hi: bytes) -> bytes | None:
        icv = self._icv
        aad = packet[:4] + seq_hi + packet[4:8] if seq_hi else packet[:8]
        dec = Cipher(self._key, modes.GCM(self._salt + packet[8:16], packet[-icv:], min_tag_length=icv)).decryptor()
        dec.authenticate_additional_data(aad)
        try:
            return dec.update(packet[16:-icv]) + dec.finalize()
        except InvalidTag:
            return None


def check_algorithms(alg: EspAlgorithms) -> None:
    """Raise UnsupportedTransform unless this back end can run `alg`."""
    encr = get_encr(alg.encr_id, None if alg.encr_id == EncrId.CHACHA20_POLY1305 else alg.encr_key_bits)
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


def make_sealer(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Sealer:
    check_algorithms(alg)
    if alg.encr_id == EncrId.AES_CBC:
        return CbcHmacSealer(encr_key, integ_key, alg.integ_id, alg.icv_size)
    key, salt = encr_key[:-AEAD_SALT], encr_key[-AEAD_SALT:]
    if alg.encr_id == EncrId.CHACHA20_POLY1305:
        return AeadSealer(ChaCha20Poly1305(key), salt)
    if alg.icv_size == 16:
        return AeadSealer(AESGCM(key), salt)
    return ShortTagGcmSealer(key, salt, alg.icv_size)


def make_opener(alg: EspAlgorithms, encr_key: bytes, integ_key: bytes) -> Opener:
    check_algorithms(alg)
    if alg.encr_id == EncrId.AES_CBC:
        return CbcHmacOpener(encr_key, integ_key, alg.integ_id, alg.icv_size)
    key, salt = encr_key[:-AEAD_SALT], encr_key[-AEAD_SALT:]
    if alg.encr_id == EncrId.CHACHA20_POLY1305:
        return AeadOpener(ChaCha20Poly1305(key), salt)
    if alg.icv_size == 16:
        return AeadOpener(AESGCM(key), salt)
    return ShortTagGcmOpener(key, salt, alg.icv_size)
