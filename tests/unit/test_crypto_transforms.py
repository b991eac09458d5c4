"""Transforms registry: known-answer vectors and prf+ structure."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from ikev2d.crypto.errors import CryptoError, IntegrityError, UnsupportedTransform
from ikev2d.crypto.transforms import (
    get_encr,
    get_integ,
    get_prf,
    supported_encr,
    supported_integ,
    supported_prf,
)
from ikev2d.iana import EncrId, IntegId, PrfId

H = bytes.fromhex

# RFC 4868 §2.7.1 (PRF-1/PRF-2, borrowed from RFC 4231 §4.2/§4.3): variable-size keys.
PRF_VECTORS = [
    (PrfId.HMAC_SHA2_256, b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (PrfId.HMAC_SHA2_384, b"\x0b" * 20, b"Hi There",
     "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
     "faea9ea9076ede7f4af152e8b2fa9cb6"),
    (PrfId.HMAC_SHA2_512, b"\x0b" * 20, b"Hi There",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
    (PrfId.HMAC_SHA2_256, b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (PrfId.HMAC_SHA2_384, b"Jefe", b"what do ya want for nothing?",
     "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
     "8e2240ca5e69e2c78b3239ecfab21649"),
    (PrfId.HMAC_SHA2_512, b"Jefe", b"what do ya want for nothing?",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
]

# RFC 4868 §2.7.2 authenticator vectors: full-length keys, (full PRF output, truncated ICV).
AUTH_VECTORS = [
    (IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256, b"\x0b" * 32, b"Hi There",  # AUTH256-1
     "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"),
    (IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256, b"Jefe" * 8,  # AUTH256-2
     b"what do ya want for nothing?",
     "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"),
    (IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256, b"\xaa" * 32, b"\xdd" * 50,  # AUTH256-3
     "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"),
    (IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256, bytes(range(1, 33)), b"\xcd" * 50,  # AUTH256-4
     "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"),
    (IntegId.HMAC_SHA2_384_192, PrfId.HMAC_SHA2_384, b"\x0b" * 48, b"Hi There",  # AUTH384-1
     "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc"
     "4c5df61d5b3297b4fb68dab9f1b582c2"),
    (IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512, b"\x0b" * 64, b"Hi There",  # AUTH512-1
     "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"
     "ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"),
    (IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512, b"Jefe" * 16,  # AUTH512-2
     b"what do ya want for nothing?",
     "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454"
     "6aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"),
    (IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512, b"\xaa" * 64, b"\xdd" * 50,  # AUTH512-3
     "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8"
     "623c7b55cebefccf02d5581acc1c9d5fb1ff68a1de45509fbe4da9a433922655"),
]


@pytest.mark.parametrize(("prf_id", "key", "data", "expected"), PRF_VECTORS)
def test_prf_rfc4868_2_7_1(prf_id: PrfId, key: bytes, data: bytes, expected: str) -> None:
    assert get_prf(prf_id).prf(key, data) == H(expected)


@pytest.mark.parametrize(("integ_id", "prf_id", "key", "data", "full"), AUTH_VECTORS)
def test_integ_rfc4868_2_7_2(
    integ_id: IntegId, prf_id: PrfId, key: bytes, data: bytes, full: str
) -> None:
    integ = get_integ(integ_id)
    assert len(key) == integ.key_size  # RFC 4868 §2.1.1: key = hash output length
    assert get_prf(prf_id).prf(key, data) == H(full)
    # RFC 4868 §2.3: the ICV is the leftmost half of the output.
    icv = H(full)[: len(H(full)) // 2]
    assert integ.mac(key, data) == icv
    assert integ.verify(key, data, icv)
    assert not integ.verify(key, data, icv[:-1] + bytes([icv[-1] ^ 1]))
    assert not integ.verify(key, data + b"x", icv)


def test_hmac_sha1_96_rfc2404() -> None:
    # RFC 2404 §3 / RFC 2202 test case 1: HMAC-SHA-1 truncated to 96 bits.
    integ = get_integ(IntegId.HMAC_SHA1_96)
    assert (integ.key_size, integ.icv_size) == (20, 12)
    full = H("b617318655057264e28bc0b6fb378c8ef146be00")
    assert get_prf(PrfId.HMAC_SHA1).prf(b"\x0b" * 20, b"Hi There") == full
    assert integ.mac(b"\x0b" * 20, b"Hi There") == full[:12]


@pytest.mark.parametrize(
    ("integ_id", "key_size", "icv_size"),
    [
        (IntegId.HMAC_SHA2_256_128, 32, 16),
        (IntegId.HMAC_SHA2_384_192, 48, 24),
        (IntegId.HMAC_SHA2_512_256, 64, 32),
    ],
)
def test_integ_sizes_rfc4868_2_1(integ_id: IntegId, key_size: int, icv_size: int) -> None:
    integ = get_integ(integ_id)
    assert (integ.key_size, integ.icv_size) == (key_size, icv_size)


# ------------------------------------------------------------------- prf+


@pytest.mark.parametrize("prf_id", [p.transform_id for p in supported_prf()])
def test_prf_plus_structure_rfc7296_2_13(prf_id: PrfId) -> None:
    prf = get_prf(prf_id)
    key, seed = os.urandom(prf.key_size), os.urandom(40)
    out = prf.prf_plus(key, seed, 3 * prf.output_size)
    t1 = prf.prf(key, seed + b"\x01")
    t2 = prf.prf(key, t1 + seed + b"\x02")
    t3 = prf.prf(key, t2 + seed + b"\x03")
    assert out == t1 + t2 + t3
    # Shorter requests are prefixes of the same stream.
    for n in (0, 1, prf.output_size - 1, prf.output_size + 1, 2 * prf.output_size + 7):
        assert prf.prf_plus(key, seed, n) == out[:n]


def test_prf_plus_independent_hmac() -> None:
    # Against Python's hashlib HMAC, a second implementation of HMAC.
    prf = get_prf(PrfId.HMAC_SHA2_512)
    key, seed = b"k" * 64, b"seed"
    t1 = hmac.digest(key, seed + b"\x01", hashlib.sha512)
    t2 = hmac.digest(key, t1 + seed + b"\x02", hashlib.sha512)
    assert prf.prf_plus(key, seed, 100) == (t1 + t2)[:100]


def test_prf_plus_limit_255_blocks_rfc7296_2_13() -> None:
    prf = get_prf(PrfId.HMAC_SHA2_256)
    assert len(prf.prf_plus(b"k", b"s", 255 * 32)) == 255 * 32
    with pytest.raises(CryptoError):
        prf.prf_plus(b"k", b"s", 255 * 32 + 1)


# ------------------------------------------------------------------- ENCR


# RFC 3602 §4 AES-CBC test cases #1 and #2.
CBC_VECTORS = [
    ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
     b"Single block msg".hex(), "e353779c1079aeb82708942dbe77181a"),
    ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
]


@pytest.mark.parametrize(("key", "iv", "plain", "cipher"), CBC_VECTORS)
def test_aes_cbc_rfc3602_4(key: str, iv: str, plain: str, cipher: str) -> None:
    encr = get_encr(EncrId.AES_CBC, 128)
    assert encr.encrypt(H(key), H(iv), H(plain)) == H(cipher)
    assert encr.decrypt(H(key), H(iv), H(cipher)) == H(plain)


# Single blocks with a zero IV: CBC is then ECB, so the block ciphers' own
# published vectors apply. DES: the classic worked example (key 133457799BBCDFF1,
# J. Orlin Grabbe, "The DES Algorithm Illustrated"); 3DES: NIST SP 800-67 rev. 1
# Appendix B (three distinct keys, "The qufck brown fox jump").
DES_VECTORS = [
    (EncrId.DES, "133457799bbcdff1", "0123456789abcdef", "85e813540f0ab405"),
    (EncrId.TRIPLE_DES, "0123456789abcdef23456789abcdef01456789abcdef0123",
     b"The qufck brown fox jump".hex(), "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900"),
]


@pytest.mark.parametrize(("encr_id", "key", "plain", "cipher"), DES_VECTORS, ids=["des", "3des"])
def test_des_and_3des_known_answers(encr_id: EncrId, key: str, plain: str, cipher: str) -> None:
    encr = get_encr(encr_id, None)
    if encr_id == EncrId.TRIPLE_DES:  # in ECB the three blocks are independent; CBC chains them
        blocks = [encr.encrypt(H(key), bytes(8), H(plain)[i:i + 8]) for i in range(0, 24, 8)]
        assert b"".join(blocks) == H(cipher)
    else:
        assert encr.encrypt(H(key), bytes(8), H(plain)) == H(cipher)
        assert encr.decrypt(H(key), bytes(8), H(cipher)) == H(plain)


@pytest.mark.parametrize("encr_id", [EncrId.DES, EncrId.TRIPLE_DES])
def test_des_cbc_matches_pycryptodome(encr_id: EncrId) -> None:
    # an independent implementation (pycryptodome's own DES) as the CBC oracle
    from Crypto.Cipher import DES, DES3

    encr = get_encr(encr_id, None)
    key, iv, plain = os.urandom(encr.key_size), os.urandom(8), os.urandom(64)
    oracle = DES.new(key, DES.MODE_CBC, iv) if encr_id == EncrId.DES else DES3.new(key, DES3.MODE_CBC, iv)
    assert encr.encrypt(key, iv, plain) == oracle.encrypt(plain)
    assert (encr.key_size, encr.iv_size, encr.block_size, encr.key_length_attr) == (
        (8, 8, 8, None) if encr_id == EncrId.DES else (24, 8, 8, None))
    with pytest.raises(CryptoError):
        encr.encrypt(key, iv, plain[:12])  # 8-byte blocks, not 16


def test_hmac_md5_rfc2202_and_md5_96_rfc2403() -> None:
    # RFC 2202 §2 test cases 1 and 2; HMAC-MD5-96 keeps the first 96 bits (RFC 2403 §2)
    prf, integ = get_prf(PrfId.HMAC_MD5), get_integ(IntegId.HMAC_MD5_96)
    assert prf.prf(b"\x0b" * 16, b"Hi There") == H("9294727a3638bb1c13f48ef8158bfc9d")
    assert prf.prf(b"Jefe", b"what do ya want for nothing?") == H("750c783e6ab0b503eaa86e310a5db738")
    assert integ.mac(b"\x0b" * 16, b"Hi There") == H("9294727a3638bb1c13f48ef8")
    assert (integ.key_size, integ.icv_size, prf.key_size, prf.output_size) == (16, 12, 16, 16)


def test_esp_only_transforms_have_sizes_but_never_encrypt_ike() -> None:
    # RFC 4543 §7 / RFC 2410: for ESP's KEYMAT only; IKE never picks them
    gmac = get_encr(EncrId.NULL_AUTH_AES_GMAC, 256)
    assert (gmac.key_size, gmac.iv_size, gmac.icv_size, gmac.is_aead) == (36, 8, 16, True)
    null = get_encr(EncrId.NULL, None)
    assert (null.key_size, null.iv_size, null.icv_size, null.is_aead) == (0, 0, 0, False)
    for encr in (gmac, null):
        assert encr not in supported_encr() and encr in supported_encr(include_esp_only=True)
        with pytest.raises(CryptoError):
            encr.encrypt(bytes(encr.key_size), bytes(encr.iv_size), bytes(16))


def test_aes_gcm_key_salt_split_rfc5282_7_1() -> None:
    # GCM spec (McGrew & Viega) test case 4; RFC 5282 §7.1 makes the last 4 key
    # bytes the salt and the nonce salt || 8-byte IV, so this fixes the split.
    k = H("feffe9928665731c6d6a8f9467308308")
    nonce = H("cafebabefacedbaddecaf888")
    aad = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plain = H(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    cipher = H(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
    )
    tag = H("5bc94fbc3221a5db94fae95ae7121a47")
    encr = get_encr(EncrId.AES_GCM_16, 128)
    key, iv = k + nonce[:4], nonce[4:]
    assert encr.encrypt(key, iv, plain, aad) == cipher + tag
    assert encr.decrypt(key, iv, cipher + tag, aad) == plain
    # GCM-8/-12 carry the leading bytes of the same tag.
    assert get_encr(EncrId.AES_GCM_8, 128).encrypt(key, iv, plain, aad) == cipher + tag[:8]
    assert get_encr(EncrId.AES_GCM_12, 128).decrypt(key, iv, cipher + tag[:12], aad) == plain


@pytest.mark.parametrize(
    "encr", supported_encr(), ids=lambda e: e.name
)
def test_encr_round_trip_and_sizes(encr) -> None:  # type: ignore[no-untyped-def]
    key, iv = os.urandom(encr.key_size), os.urandom(encr.iv_size)
    plain = os.urandom(encr.block_size * 5) if not encr.is_aead else os.urandom(77)
    aad = os.urandom(28)
    sealed = encr.encrypt(key, iv, plain, aad)
    assert len(sealed) == len(plain) + encr.icv_size
    assert sealed[: len(plain)] != plain
    assert encr.decrypt(key, iv, sealed, aad) == plain


@pytest.mark.parametrize(
    "encr", [e for e in supported_encr() if e.is_aead], ids=lambda e: e.name
)
def test_aead_tamper_rfc5282_3(encr) -> None:  # type: ignore[no-untyped-def]
    key, iv = os.urandom(encr.key_size), os.urandom(encr.iv_size)
    sealed = encr.encrypt(key, iv, b"IKE payloads", b"header")
    flipped_ct = bytes([sealed[0] ^ 1]) + sealed[1:]
    flipped_tag = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
    for bad, aad in ((flipped_ct, b"header"), (flipped_tag, b"header"), (sealed, b"headeR")):
        with pytest.raises(IntegrityError):
            encr.decrypt(key, iv, bad, aad)
    with pytest.raises(IntegrityError):
        encr.decrypt(key, iv, sealed[: encr.icv_size - 1], b"header")


def test_cbc_tamper_is_caught_by_integ_not_encr() -> None:
    # RFC 7296 §3.14: CBC has no integrity of its own; the ICV must catch it.
    encr, integ = get_encr(EncrId.AES_CBC, 256), get_integ(IntegId.HMAC_SHA2_512_256)
    ek, ak, iv = os.urandom(32), os.urandom(64), os.urandom(16)
    ct = encr.encrypt(ek, iv, bytes(32))
    icv = integ.mac(ak, iv + ct)
    bad = bytes([ct[0] ^ 1]) + ct[1:]
    assert encr.decrypt(ek, iv, bad) != bytes(32)
    assert not integ.verify(ak, iv + bad, icv)


def test_encr_parameters_rfc5282() -> None:
    gcm = get_encr(EncrId.AES_GCM_16, 256)
    assert (gcm.key_size, gcm.iv_size, gcm.icv_size, gcm.block_size) == (36, 8, 16, 1)
    assert gcm.is_aead
    cbc = get_encr(EncrId.AES_CBC, 192)
    assert (cbc.key_size, cbc.iv_size, cbc.icv_size, cbc.block_size) == (24, 16, 0, 16)
    assert not cbc.is_aead
    assert get_encr(EncrId.AES_GCM_8, 128).icv_size == 8
    assert get_encr(EncrId.AES_GCM_12, 192).icv_size == 12
    chacha = get_encr(EncrId.CHACHA20_POLY1305, None)  # RFC 7634 §2: no Key Length
    assert (chacha.key_size, chacha.iv_size, chacha.icv_size) == (36, 8, 16)


def test_unsupported_transforms_rfc7296_3_3_5() -> None:
    with pytest.raises(UnsupportedTransform):
        get_encr(EncrId.AES_CBC, None)  # AES needs the Key Length attribute
    with pytest.raises(UnsupportedTransform):
        get_encr(EncrId.AES_CBC, 512)
    with pytest.raises(UnsupportedTransform):
        get_encr(EncrId.TRIPLE_DES, 192)  # a fixed-key cipher carries no Key Length
    with pytest.raises(UnsupportedTransform):
        get_encr(EncrId.AES_CTR, 128)
    with pytest.raises(UnsupportedTransform):
        get_integ(IntegId.AES_XCBC_96)
    with pytest.raises(UnsupportedTransform):
        get_prf(PrfId.AES128_XCBC)
    with pytest.raises(UnsupportedTransform):
        get_prf(9999)


def test_wrong_key_or_iv_size_rejected() -> None:
    encr = get_encr(EncrId.AES_CBC, 256)
    with pytest.raises(CryptoError):
        encr.encrypt(bytes(16), bytes(16), bytes(16))
    with pytest.raises(CryptoError):
        encr.encrypt(bytes(32), bytes(8), bytes(16))
    with pytest.raises(CryptoError):
        encr.encrypt(bytes(32), bytes(16), bytes(15))  # SK layer pads, not us
    with pytest.raises(CryptoError):
        encr.decrypt(bytes(32), bytes(16), bytes(17))


def test_key_length_attr_round_trips_through_get_encr_rfc7296_3_3_5() -> None:
    # What a proposal matcher compares with the wire attribute.
    for encr in supported_encr():
        assert get_encr(encr.transform_id, encr.key_length_attr) is encr
    assert get_encr(EncrId.CHACHA20_POLY1305, None).key_length_attr is None
    assert get_encr(EncrId.AES_GCM_16, 256).key_length_attr == 256


def test_registry_returns_shared_objects() -> None:
    # One object per transform: no per-message construction cost.
    assert get_encr(EncrId.AES_CBC, 256) is get_encr(EncrId.AES_CBC, 256)
    assert get_prf(PrfId.HMAC_SHA2_512) is get_prf(PrfId.HMAC_SHA2_512)
    assert {i.transform_id for i in supported_integ()} >= {
        IntegId.HMAC_MD5_96, IntegId.HMAC_SHA1_96, IntegId.HMAC_SHA2_256_128,
        IntegId.HMAC_SHA2_384_192, IntegId.HMAC_SHA2_512_256,
    }
    assert {(e.transform_id, e.key_bits) for e in supported_encr()} >= {
        (EncrId.AES_CBC, 128), (EncrId.AES_CBC, 192), (EncrId.AES_CBC, 256),
        (EncrId.AES_GCM_16, 128), (EncrId.AES_GCM_16, 256),
    }
