"""Key derivation: RFC 7296 §2.14 (IKE SA), §2.17 (Child SA), §2.18 (rekey).

The cross-checks re-derive everything from the RFC text with Python's
hashlib HMAC, a separate HMAC implementation from the one under test."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikev2d.crypto.errors import CryptoError
from ikev2d.crypto.keymat import (
    ChildKeys,
    IkeKeys,
    derive_child_keys,
    derive_ike_keys,
    derive_rekeyed_ike_keys,
)
from ikev2d.crypto.transforms import (
    EncrAlgorithm,
    IntegAlgorithm,
    PrfAlgorithm,
    get_encr,
    get_integ,
    get_prf,
    supported_encr,
    supported_integ,
    supported_prf,
)
from ikev2d.iana import EncrId, IntegId, PrfId

_HASH = {
    PrfId.HMAC_MD5: hashlib.md5,
    PrfId.HMAC_SHA1: hashlib.sha1,
    PrfId.HMAC_SHA2_256: hashlib.sha256,
    PrfId.HMAC_SHA2_384: hashlib.sha384,
    PrfId.HMAC_SHA2_512: hashlib.sha512,
}


# ------------------------------------------- a re-implementation from the RFC


def ref_prf(prf_id: PrfId, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, _HASH[prf_id]).digest()


def ref_prf_plus(prf_id: PrfId, key: bytes, seed: bytes, length: int) -> bytes:
    # §2.13: prf+ (K,S) = T1 | T2 | T3 | ...; T1 = prf (K, S | 0x01);
    # T2 = prf (K, T1 | S | 0x02) ...
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = ref_prf(prf_id, key, t + seed + bytes([n]))
        out += t
        n += 1
    return out[:length]


def ref_ike_keys(prf_id: PrfId, encr_key: int, integ_key: int, ni: bytes, nr: bytes,
                 gir: bytes, spi_i: bytes, spi_r: bytes, skeyseed: bytes | None = None) -> list[bytes]:
    if skeyseed is None:
        skeyseed = ref_prf(prf_id, ni + nr, gir)
    prf_key = _HASH[prf_id]().digest_size  # HMAC: preferred key size = output size
    sizes = [prf_key, integ_key, integ_key, encr_key, encr_key, prf_key, prf_key]
    stream = ref_prf_plus(prf_id, skeyseed, ni + nr + spi_i + spi_r, sum(sizes))
    keys, at = [], 0
    for size in sizes:
        keys.append(stream[at:at + size])
        at += size
    return keys


def as_list(keys: IkeKeys) -> list[bytes]:
    return [keys.sk_d, keys.sk_ai, keys.sk_ar, keys.sk_ei, keys.sk_er, keys.sk_pi, keys.sk_pr]


# ------------------------------------------------------------------ tests


def test_nsa_suite_key_sizes_rfc7296_2_14() -> None:
    # AES-256-CBC + HMAC-SHA-512-256 + PRF-HMAC-SHA-512 (the whitepaper's suite).
    keys = derive_ike_keys(
        get_prf(PrfId.HMAC_SHA2_512), get_encr(EncrId.AES_CBC, 256),
        get_integ(IntegId.HMAC_SHA2_512_256),
        b"\x11" * 32, b"\x22" * 32, b"\x33" * 384, b"\x44" * 8, b"\x55" * 8,
    )
    assert [len(k) for k in as_list(keys)] == [64, 64, 64, 32, 32, 64, 64]
    assert len({*as_list(keys)}) == 7  # seven distinct slices of the stream
    assert as_list(keys) == ref_ike_keys(
        PrfId.HMAC_SHA2_512, 32, 64, b"\x11" * 32, b"\x22" * 32, b"\x33" * 384,
        b"\x44" * 8, b"\x55" * 8,
    )


def test_aead_has_no_integ_keys_rfc5282_7_1() -> None:
    keys = derive_ike_keys(
        get_prf(PrfId.HMAC_SHA2_384), get_encr(EncrId.AES_GCM_16, 256), None,
        b"n" * 32, b"m" * 32, b"s" * 96, b"i" * 8, b"r" * 8,
    )
    assert (keys.sk_ai, keys.sk_ar) == (b"", b"")
    assert len(keys.sk_ei) == len(keys.sk_er) == 36  # 32-byte key + 4-byte salt
    assert len(keys.sk_d) == len(keys.sk_pi) == 48


def test_transform_combination_checked_rfc7296_3_3() -> None:
    args = (b"n" * 16, b"m" * 16, b"s" * 32, b"i" * 8, b"r" * 8)
    with pytest.raises(CryptoError):
        derive_ike_keys(get_prf(PrfId.HMAC_SHA2_256), get_encr(EncrId.AES_GCM_16, 128),
                        get_integ(IntegId.HMAC_SHA2_256_128), *args)
    with pytest.raises(CryptoError):
        derive_ike_keys(get_prf(PrfId.HMAC_SHA2_256), get_encr(EncrId.AES_CBC, 128), None, *args)


def test_every_input_matters_rfc7296_2_14() -> None:
    prf, encr, integ = (get_prf(PrfId.HMAC_SHA2_256), get_encr(EncrId.AES_CBC, 128),
                        get_integ(IntegId.HMAC_SHA2_256_128))
    base = [b"n" * 16, b"m" * 16, b"s" * 32, b"i" * 8, b"r" * 8]
    reference = derive_ike_keys(prf, encr, integ, *base)
    for index in range(len(base)):
        changed = list(base)
        changed[index] = b"X" + changed[index][1:]
        assert derive_ike_keys(prf, encr, integ, *changed).sk_d != reference.sk_d
    # Swapping the nonces (initiator/responder roles) changes everything.
    assert derive_ike_keys(prf, encr, integ, base[1], base[0], *base[2:]) != reference


def test_key_reprs_hide_secrets() -> None:
    keys = derive_ike_keys(get_prf(PrfId.HMAC_SHA2_256), get_encr(EncrId.AES_CBC, 128),
                           get_integ(IntegId.HMAC_SHA2_256_128),
                           b"n" * 16, b"m" * 16, b"s" * 32, b"i" * 8, b"r" * 8)
    child = derive_child_keys(get_prf(PrfId.HMAC_SHA2_256), keys.sk_d, b"n" * 16, b"m" * 16, 16, 32)
    for obj, secrets in ((keys, as_list(keys)), (child, [child.encr_i, child.integ_r])):
        text = repr(obj) + str(obj)
        assert "bytes>" in text
        for secret in secrets:
            assert secret.hex() not in text and repr(secret) not in text


def _transform_sets() -> st.SearchStrategy[tuple[PrfAlgorithm, EncrAlgorithm, IntegAlgorithm | None]]:
    prfs = st.sampled_from(supported_prf())
    encrs = st.sampled_from(supported_encr())
    integs = st.sampled_from(supported_integ())
    return st.tuples(prfs, encrs, integs).map(
        lambda t: (t[0], t[1], None if t[1].is_aead else t[2])
    )


@settings(max_examples=150, deadline=None)
@given(
    transforms=_transform_sets(),
    ni=st.binary(min_size=16, max_size=256),  # §2.10 nonce sizes
    nr=st.binary(min_size=16, max_size=256),
    gir=st.binary(min_size=32, max_size=512),
    spi_i=st.binary(min_size=8, max_size=8),
    spi_r=st.binary(min_size=8, max_size=8),
)
def test_ike_keys_match_rfc_text_reimplementation(
    transforms: tuple[PrfAlgorithm, EncrAlgorithm, IntegAlgorithm | None],
    ni: bytes, nr: bytes, gir: bytes, spi_i: bytes, spi_r: bytes,
) -> None:
    prf, encr, integ = transforms
    keys = derive_ike_keys(prf, encr, integ, ni, nr, gir, spi_i, spi_r)
    integ_size = integ.key_size if integ else 0
    assert as_list(keys) == ref_ike_keys(
        prf.transform_id, encr.key_size, integ_size, ni, nr, gir, spi_i, spi_r
    )


@settings(max_examples=60, deadline=None)
@given(
    old_prf=st.sampled_from(supported_prf()),
    transforms=_transform_sets(),
    old_sk_d=st.binary(min_size=20, max_size=64),
    ni=st.binary(min_size=16, max_size=64),
    nr=st.binary(min_size=16, max_size=64),
    gir=st.binary(min_size=32, max_size=256),
)
def test_rekeyed_ike_keys_rfc7296_2_18(
    old_prf: PrfAlgorithm,
    transforms: tuple[PrfAlgorithm, EncrAlgorithm, IntegAlgorithm | None],
    old_sk_d: bytes, ni: bytes, nr: bytes, gir: bytes,
) -> None:
    prf, encr, integ = transforms
    spi_i, spi_r = b"\x01" * 8, b"\x02" * 8
    keys = derive_rekeyed_ike_keys(old_prf, old_sk_d, prf, encr, integ, ni, nr, gir, spi_i, spi_r)
    # SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old SA's PRF.
    skeyseed = ref_prf(old_prf.transform_id, old_sk_d, gir + ni + nr)
    assert as_list(keys) == ref_ike_keys(
        prf.transform_id, encr.key_size, integ.key_size if integ else 0,
        ni, nr, gir, spi_i, spi_r, skeyseed=skeyseed,
    )


@settings(max_examples=100, deadline=None)
@given(
    prf=st.sampled_from(supported_prf()),
    sk_d=st.binary(min_size=20, max_size=64),
    ni=st.binary(min_size=16, max_size=64),
    nr=st.binary(min_size=16, max_size=64),
    encr_size=st.sampled_from([16, 24, 32, 20, 36]),
    integ_size=st.sampled_from([0, 20, 32, 48, 64]),
    gir=st.one_of(st.none(), st.binary(min_size=32, max_size=256)),
)
def test_child_keys_rfc7296_2_17(
    prf: PrfAlgorithm, sk_d: bytes, ni: bytes, nr: bytes,
    encr_size: int, integ_size: int, gir: bytes | None,
) -> None:
    keys = derive_child_keys(prf, sk_d, ni, nr, encr_size, integ_size, gir)
    # KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr); initiator->responder first,
    # encryption key before integrity key.
    keymat = ref_prf_plus(prf.transform_id, sk_d, (gir or b"") + ni + nr,
                          2 * (encr_size + integ_size))
    e, a = encr_size, integ_size
    assert keys == ChildKeys(keymat[:e], keymat[e:e + a], keymat[e + a:2 * e + a], keymat[2 * e + a:])
    assert len(keys.encr_r) == e and len(keys.integ_r) == a


def test_child_pfs_changes_keys_rfc7296_2_17() -> None:
    prf = get_prf(PrfId.HMAC_SHA2_512)
    plain = derive_child_keys(prf, b"d" * 64, b"n" * 32, b"m" * 32, 32, 64)
    pfs = derive_child_keys(prf, b"d" * 64, b"n" * 32, b"m" * 32, 32, 64, b"g" * 96)
    assert plain.encr_i != pfs.encr_i and plain.integ_r != pfs.integ_r
    assert plain.encr_i != plain.encr_r
