"""The transforms registry: ENCR, INTEG and PRF algorithms by IANA number.

Every algorithm object is built once at import and handed out by `get_*`, so
the per-message cost is one dict lookup plus the OpenSSL call. Keys are
passed per call and never stored or logged here.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikev2d.crypto.dh import supported_groups
from ikev2d.crypto.errors import CryptoError, IntegrityError, UnsupportedTransform
from ikev2d.iana import DhId, EncrId, IntegId, PrfId

# RFC 5282 §7.1 / RFC 7634 §2: the last 4 bytes of an AEAD key are the salt,
# the nonce is salt || 8-byte explicit IV.
_AEAD_SALT_SIZE = 4
_AEAD_IV_SIZE = 8
_AES_BLOCK = 16
_DES_BLOCK = 8


# --------------------------------------------------------------------- ENCR


@dataclass(frozen=True)
class EncrAlgorithm:
    """An IKE/ESP encryption transform (RFC 7296 §3.3.2, RFC 5282, RFC 7634).

    `encrypt`/`decrypt` do no padding: the SK layer adds the IKE padding and
    Pad Length byte itself (RFC 7296 §3.14) aligned to `block_size`. `aad`
    is authenticated by AEAD ciphers only; CBC ignores it (the INTEG
    transform covers the header there). `ike` is False for the ESP-only
    transforms (ENCR_NULL, AES-GMAC): they exist here for their key sizes,
    and IKE never encrypts with them (RFC 7296 §3.3.2, RFC 4543 §4).
    """

    transform_id: EncrId
    key_bits: int
    key_size: int  # bytes taken from prf+ (AEAD: cipher key + 4-byte salt)
    iv_size: int
    block_size: int
    icv_size: int  # AEAD tag length; 0 for non-AEAD
    is_aead: bool
    name: str = field(compare=False)
    ike: bool = field(default=True, compare=False)

    @property
    def key_length_attr(self) -> int | None:
        """The Key Length attribute this transform carries on the wire; None
        for fixed-key ciphers (RFC 7296 §3.3.5, RFC 7634 §2). `get_encr` is keyed by it."""
        return None if self.transform_id in FIXED_KEY_CIPHERS else self.key_bits

    def encrypt(self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt; for AEAD returns ciphertext || tag (RFC 5282 §3)."""
        self._check(key, iv)
        if self.transform_id in _CBC:
            if len(plaintext) % self.block_size:
                raise CryptoError(f"{self.name} plaintext is not block aligned")
            enc = Cipher(cbc_cipher(self.transform_id, key), modes.CBC(iv)).encryptor()
            return enc.update(plaintext) + enc.finalize()
        cipher_key, nonce = self._split_aead(key, iv)
        if self.transform_id == EncrId.CHACHA20_POLY1305:
            return ChaCha20Poly1305(cipher_key).encrypt(nonce, plaintext, aad)
        sealed = AESGCM(cipher_key).encrypt(nonce, plaintext, aad)
        if self.icv_size == 16:
            return sealed
        # A truncated GCM tag is the leading bytes of the full tag (SP 800-38D §5.2.1.2).
        return sealed[: len(sealed) - 16 + self.icv_size]

    def decrypt(self, key: bytes, iv: bytes, data: bytes, aad: bytes = b"") -> bytes:
        """Decrypt; for AEAD `data` includes the tag. IntegrityError on a bad tag."""
        self._check(key, iv)
        if self.transform_id in _CBC:
            if len(data) % self.block_size:
                raise CryptoError(f"{self.name} ciphertext is not block aligned")
            dec = Cipher(cbc_cipher(self.transform_id, key), modes.CBC(iv)).decryptor()
            return dec.update(data) + dec.finalize()
        if len(data) < self.icv_size:
            raise IntegrityError("AEAD data shorter than its tag")
        cipher_key, nonce = self._split_aead(key, iv)
        try:
            if self.transform_id == EncrId.CHACHA20_POLY1305:
                return ChaCha20Poly1305(cipher_key).decrypt(nonce, data, aad)
            if self.icv_size == 16:
                return AESGCM(cipher_key).decrypt(nonce, data, aad)
            # AESGCM only takes 16-byte tags; the streaming API accepts shorter.
            split = len(data) - self.icv_size
            dec = Cipher(
                algorithms.AES(cipher_key),
                modes.GCM(nonce, data[split:], min_tag_length=self.icv_size),
            ).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(data[:split]) + dec.finalize()
        except InvalidTag:
            raise IntegrityError("AEAD tag mismatch") from None

    def _check(self, key: bytes, iv: bytes) -> None:
        if not self.ike:
            raise CryptoError(f"{self.name} is an ESP transform; IKE does not encrypt with it")
        if len(key) != self.key_size:
            raise CryptoError(f"{self.name}: key must be {self.key_size} bytes")
        if len(iv) != self.iv_size:
            raise CryptoError(f"{self.name}: IV must be {self.iv_size} bytes")

    @staticmethod
    def _split_aead(key: bytes, iv: bytes) -> tuple[bytes, bytes]:
        return key[:-_AEAD_SALT_SIZE], key[-_AEAD_SALT_SIZE:] + iv


_CBC = frozenset({EncrId.AES_CBC, EncrId.TRIPLE_DES, EncrId.DES})
# Ciphers with one key size: no Key Length attribute on the wire (RFC 7296 §3.3.5).
FIXED_KEY_CIPHERS = frozenset({EncrId.TRIPLE_DES, EncrId.DES, EncrId.NULL, EncrId.CHACHA20_POLY1305})


def cbc_cipher(transform_id: int, key: bytes) -> CipherAlgorithm:
    """The block cipher of a CBC transform (RFC 3602, RFC 2451, RFC 2405).

    DES is TripleDES with K1 = K2 = K3 (EDE with one key is E): cryptography
    keeps single DES only that way, and deprecates 8-byte TripleDES keys.
    """
    if transform_id == EncrId.AES_CBC:
        return algorithms.AES(key)
    if transform_id == EncrId.TRIPLE_DES:
        return TripleDES(key)
    if transform_id == EncrId.DES:
        return TripleDES(key * 3)
    raise UnsupportedTransform(f"ENCR {transform_id} is not a CBC cipher")


def _aes_cbc(bits: int) -> EncrAlgorithm:
    return EncrAlgorithm(
        transform_id=EncrId.AES_CBC, key_bits=bits, key_size=bits // 8,
        iv_size=_AES_BLOCK, block_size=_AES_BLOCK, icv_size=0, is_aead=False,
        name=f"AES-CBC-{bits}",
    )


def _des_cbc(transform_id: EncrId, key_bits: int, key_size: int, name: str) -> EncrAlgorithm:
    # RFC 2451 §2.3 / RFC 2405 §3: a 64-bit block and IV; the parity bits are
    # part of the key taken from prf+ and ignored by the cipher.
    return EncrAlgorithm(
        transform_id=transform_id, key_bits=key_bits, key_size=key_size,
        iv_size=_DES_BLOCK, block_size=_DES_BLOCK, icv_size=0, is_aead=False, name=name,
    )


def _aes_gcm(transform_id: EncrId, bits: int, icv: int) -> EncrAlgorithm:
    # GCM is a stream mode: no alignment beyond one octet (RFC 5282 §3).
    return EncrAlgorithm(
        transform_id=transform_id, key_bits=bits,
        key_size=bits // 8 + _AEAD_SALT_SIZE, iv_size=_AEAD_IV_SIZE,
        block_size=1, icv_size=icv, is_aead=True,
        name=f"AES-GCM-{icv * 8}-{bits}",
    )


def _aes_gmac(bits: int) -> EncrAlgorithm:
    # RFC 4543 §3.2 / §7: key + 4-byte salt, 8-byte IV, 16-byte ICV; ESP only.
    return EncrAlgorithm(
        transform_id=EncrId.NULL_AUTH_AES_GMAC, key_bits=bits,
        key_size=bits // 8 + _AEAD_SALT_SIZE, iv_size=_AEAD_IV_SIZE,
        block_size=1, icv_size=16, is_aead=True, name=f"AES-GMAC-{bits}", ike=False,
    )


_CHACHA = EncrAlgorithm(
    transform_id=EncrId.CHACHA20_POLY1305, key_bits=256,
    key_size=32 + _AEAD_SALT_SIZE, iv_size=_AEAD_IV_SIZE, block_size=1,
    icv_size=16, is_aead=True, name="CHACHA20-POLY1305",
)

# RFC 2410: no key, no IV; ESP only (RFC 7296 §3.3.2 leaves it out of IKE).
_NULL = EncrAlgorithm(
    transform_id=EncrId.NULL, key_bits=0, key_size=0, iv_size=0, block_size=1,
    icv_size=0, is_aead=False, name="NULL", ike=False,
)

# Keyed by (transform ID, Key Length attribute); None = attribute absent.
# Ordered strongest first: that is our preference when matching proposals.
_ENCR: dict[tuple[int, int | None], EncrAlgorithm] = {}
for _bits in (256, 192, 128):
    for _tid, _icv in ((EncrId.AES_GCM_16, 16), (EncrId.AES_GCM_12, 12), (EncrId.AES_GCM_8, 8)):
        _ENCR[(_tid, _bits)] = _aes_gcm(_tid, _bits, _icv)
    _ENCR[(EncrId.AES_CBC, _bits)] = _aes_cbc(_bits)
# RFC 7634 §2: ChaCha20-Poly1305 has a fixed key and no Key Length attribute.
_ENCR[(EncrId.CHACHA20_POLY1305, None)] = _CHACHA
# The legacy ciphers the FTD still offers: weakest last.
_ENCR[(EncrId.TRIPLE_DES, None)] = _des_cbc(EncrId.TRIPLE_DES, 192, 24, "3DES-CBC")
_ENCR[(EncrId.DES, None)] = _des_cbc(EncrId.DES, 64, 8, "DES-CBC")
for _bits in (256, 192, 128):
    _ENCR[(EncrId.NULL_AUTH_AES_GMAC, _bits)] = _aes_gmac(_bits)
_ENCR[(EncrId.NULL, None)] = _NULL


def get_encr(transform_id: int, key_bits: int | None) -> EncrAlgorithm:
    """The ENCR transform for an ID and Key Length attribute (RFC 7296 §3.3.5).

    AES needs the Key Length attribute; a missing one is unsupported here.
    A fixed-key cipher takes None, or 0 (how a configuration names it).
    """
    try:
        return _ENCR[(transform_id, key_bits or None)]
    except KeyError:
        raise UnsupportedTransform(f"ENCR {transform_id} key length {key_bits}") from None


def supported_encr(include_esp_only: bool = False) -> tuple[EncrAlgorithm, ...]:
    """Every ENCR transform IKE may use, most preferred first; with
    `include_esp_only`, also those only ESP uses (NULL, AES-GMAC)."""
    return tuple(a for a in _ENCR.values() if a.ike or include_esp_only)


# -------------------------------------------------------------------- INTEG


@dataclass(frozen=True)
class IntegAlgorithm:
    """A truncated-HMAC integrity transform (RFC 2403, RFC 2404, RFC 4868 §2.1)."""

    transform_id: IntegId
    key_size: int
    icv_size: int
    name: str = field(compare=False)
    _hash: hashes.HashAlgorithm = field(repr=False, compare=False)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """The ICV: HMAC over data, truncated to icv_size bytes."""
        h = _hmac.HMAC(key, self._hash)
        h.update(data)
        return h.finalize()[: self.icv_size]

    def verify(self, key: bytes, data: bytes, icv: bytes) -> bool:
        """Constant-time ICV check."""
        return _stdlib_hmac.compare_digest(self.mac(key, data), icv)


def _integ(tid: IntegId, hash_alg: hashes.HashAlgorithm, icv: int, name: str) -> IntegAlgorithm:
    # RFC 4868 §2.1.1 / RFC 2404 §3 / RFC 2403 §3: the key is the full hash output length.
    return IntegAlgorithm(tid, hash_alg.digest_size, icv, name, hash_alg)


_INTEG: dict[int, IntegAlgorithm] = {
    a.transform_id: a
    for a in (
        _integ(IntegId.HMAC_SHA2_512_256, hashes.SHA512(), 32, "HMAC-SHA2-512-256"),
        _integ(IntegId.HMAC_SHA2_384_192, hashes.SHA384(), 24, "HMAC-SHA2-384-192"),
        _integ(IntegId.HMAC_SHA2_256_128, hashes.SHA256(), 16, "HMAC-SHA2-256-128"),
        _integ(IntegId.HMAC_SHA1_96, hashes.SHA1(), 12, "HMAC-SHA1-96"),
        _integ(IntegId.HMAC_MD5_96, hashes.MD5(), 12, "HMAC-MD5-96"),  # RFC 2403
    )
}


def get_integ(transform_id: int) -> IntegAlgorithm:
    try:
        return _INTEG[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"INTEG {transform_id}") from None


def supported_integ() -> tuple[IntegAlgorithm, ...]:
    """Every INTEG transform we implement, most preferred first."""
    return tuple(_INTEG.values())


# ---------------------------------------------------------------------- PRF


_PRF_PLUS_MAX_BLOCKS = 255  # the counter is one octet (RFC 7296 §2.13)


@dataclass(frozen=True)
class PrfAlgorithm:
    """An HMAC pseudo-random function (RFC 2104, RFC 4868 §2.1.2)."""

    transform_id: PrfId
    key_size: int  # preferred key size = output size for HMAC PRFs
    output_size: int
    name: str = field(compare=False)
    _hash: hashes.HashAlgorithm = field(repr=False, compare=False)

    def prf(self, key: bytes, data: bytes) -> bytes:
        h = _hmac.HMAC(key, self._hash)
        h.update(data)
        return h.finalize()

    def prf_plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """prf+ (K, S) = T1 | T2 | ... truncated to length (RFC 7296 §2.13).

        T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
        """
        if length > _PRF_PLUS_MAX_BLOCKS * self.output_size:
            raise CryptoError("prf+ output longer than 255 blocks")
        # Key the HMAC once and copy it per block: saves the key schedule.
        keyed = _hmac.HMAC(key, self._hash)
        out = bytearray()
        block = b""
        counter = 1
        while len(out) < length:
            h = keyed.copy()
            h.update(block + seed + bytes((counter,)))
            block = h.finalize()
            out += block
            counter += 1
        return bytes(out[:length])


def _prf(tid: PrfId, hash_alg: hashes.HashAlgorithm, name: str) -> PrfAlgorithm:
    return PrfAlgorithm(tid, hash_alg.digest_size, hash_alg.digest_size, name, hash_alg)


_PRF: dict[int, PrfAlgorithm] = {
    a.transform_id: a
    for a in (
        _prf(PrfId.HMAC_SHA2_512, hashes.SHA512(), "PRF-HMAC-SHA2-512"),
        _prf(PrfId.HMAC_SHA2_384, hashes.SHA384(), "PRF-HMAC-SHA2-384"),
        _prf(PrfId.HMAC_SHA2_256, hashes.SHA256(), "PRF-HMAC-SHA2-256"),
        _prf(PrfId.HMAC_SHA1, hashes.SHA1(), "PRF-HMAC-SHA1"),
        _prf(PrfId.HMAC_MD5, hashes.MD5(), "PRF-HMAC-MD5"),  # RFC 2104 with MD5
    )
}


def get_prf(transform_id: int) -> PrfAlgorithm:
    try:
        return _PRF[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"PRF {transform_id}") from None


def supported_prf() -> tuple[PrfAlgorithm, ...]:
    """Every PRF we implement, most preferred first."""
    return tuple(_PRF.values())


# ----------------------------------------------------------------------- DH


def supported_dh() -> tuple[DhId, ...]:
    """DH groups we implement, most preferred first (the table is in dh.py)."""
    return supported_groups()
