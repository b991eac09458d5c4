"""Diffie-Hellman groups: RFC parameters, known answers, two FFDH backends."""

from __future__ import annotations

import pytest

from ikev2d.crypto.dh import BACKENDS, get_dh_group, supported_groups
from ikev2d.crypto.errors import InvalidPublicValue, UnsupportedTransform
from ikev2d.crypto.modp_groups import MODP_GROUPS
from ikev2d.crypto.transforms import supported_dh
from ikev2d.iana import DhId

H = bytes.fromhex
SAFE_PRIME = [DhId.MODP_768, DhId.MODP_1024, DhId.MODP_1536, DhId.MODP_2048, DhId.MODP_3072, DhId.MODP_4096]
MODP = [*SAFE_PRIME, DhId.MODP_2048_256]


# ------------------------------------------------------- RFC 3526 primes


def _pi_scaled(bits: int) -> int:
    """floor(pi * 2^bits) by Machin's formula in integers: independent of
    gmpy2/MPFR and of the constants under test."""
    guard = 64
    one = 1 << (bits + guard)

    def arctan_inv(x: int) -> int:  # arctan(1/x) * one
        total, term, k, sign = 0, one // x, 1, 1
        while term:
            total += sign * (term // k)
            term //= x * x
            k += 2
            sign = -sign
        return total

    return (16 * arctan_inv(5) - 4 * arctan_inv(239)) >> guard


@pytest.mark.parametrize(
    ("group_id", "n", "offset"),
    [
        (DhId.MODP_768, 768, 149686),  # RFC 2409 §6.1
        (DhId.MODP_1024, 1024, 129093),  # RFC 2409 §6.2
        (DhId.MODP_1536, 1536, 741804),  # RFC 3526 §2
        (DhId.MODP_2048, 2048, 124476),  # RFC 3526 §3
        (DhId.MODP_3072, 3072, 1690314),  # RFC 3526 §4
        (DhId.MODP_4096, 4096, 240904),  # RFC 3526 §5
    ],
)
def test_modp_prime_matches_rfc3526_formula(group_id: DhId, n: int, offset: int) -> None:
    # p = 2^n - 2^(n-64) - 1 + 2^64 * { [2^(n-130) pi] + offset }, g = 2
    expected = 2**n - 2 ** (n - 64) - 1 + 2**64 * (_pi_scaled(n - 130) + offset)
    params = MODP_GROUPS[group_id]
    assert params.prime == expected
    assert params.generator == 2
    assert params.size * 8 == n == params.prime.bit_length()


@pytest.mark.parametrize("group_id", SAFE_PRIME)
def test_modp_prime_is_safe_prime(group_id: DhId) -> None:
    import gmpy2

    p = MODP_GROUPS[group_id].prime
    assert gmpy2.is_prime(p, 30) and gmpy2.is_prime((p - 1) // 2, 30)
    assert MODP_GROUPS[group_id].subgroup_order is None


def test_rfc5114_group_24_parameters_agree() -> None:
    # RFC 5114 §2.3: p and q prime, q (256 bits) divides p - 1, g has order q.
    # A typo in any of the three constants breaks one of these.
    import gmpy2

    params = MODP_GROUPS[DhId.MODP_2048_256]
    p, q, g = params.prime, params.subgroup_order, params.generator
    assert q is not None and q.bit_length() == 256 and p.bit_length() == 2048 == params.size * 8
    assert gmpy2.is_prime(p, 30) and gmpy2.is_prime(q, 30)
    assert (p - 1) % q == 0 and g != 1 and pow(g, q, p) == 1
    assert hex(p).startswith("0x87a8e61d") and hex(q).startswith("0x8cf83642")


def test_group_24_exponents_stay_below_q() -> None:
    group = get_dh_group(DhId.MODP_2048_256, "gmpy2")
    q = MODP_GROUPS[DhId.MODP_2048_256].subgroup_order
    assert q is not None
    assert all(1 < group.generate()._x < q for _ in range(40))  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["gmpy2", "openssl"])
def test_group_24_refuses_values_outside_the_subgroup_rfc6989_2_2(backend: str) -> None:
    params = MODP_GROUPS[DhId.MODP_2048_256]
    key = get_dh_group(DhId.MODP_2048_256, backend).generate()
    # 2 is in range but (p - 1) / q has small factors: 2 is not of order q
    assert pow(2, params.subgroup_order or 0, params.prime) != 1
    with pytest.raises(InvalidPublicValue):
        key.exchange((2).to_bytes(256, "big"))


def test_exponent_lengths_sp800_56a() -> None:
    # N >= 2s (SP 800-56A rev. 3 §5.6.1.1.1) with our 256-bit floor.
    bits = {g: MODP_GROUPS[g].exponent_bits for g in MODP}
    assert bits == {DhId.MODP_768: 256, DhId.MODP_1024: 256, DhId.MODP_1536: 256, DhId.MODP_2048: 256,
                    DhId.MODP_3072: 256, DhId.MODP_4096: 304, DhId.MODP_2048_256: 256}
    group = get_dh_group(DhId.MODP_3072, "gmpy2")
    lengths = [group.generate()._x.bit_length() for _ in range(40)]  # type: ignore[attr-defined]
    assert max(lengths) <= 256 and min(lengths) >= 240


# ------------------------------------------------ two FFDH backends agree


def test_auto_backend_is_gmpy2() -> None:
    assert get_dh_group(DhId.MODP_3072).backend == "gmpy2"
    assert get_dh_group(DhId.MODP_3072, "openssl").backend == "openssl"
    assert get_dh_group(DhId.MODP_2048) is get_dh_group(DhId.MODP_2048)


@pytest.mark.parametrize("group_id", MODP)
def test_backends_exchange_with_each_other_rfc7296_2_14(group_id: DhId) -> None:
    fast, ossl = get_dh_group(group_id, "gmpy2"), get_dh_group(group_id, "openssl")
    for a_group, b_group in ((fast, ossl), (ossl, fast), (fast, fast), (ossl, ossl)):
        a, b = a_group.generate(), b_group.generate()
        assert len(a.public_bytes) == len(b.public_bytes) == a_group.public_size
        secret = a.exchange(b.public_bytes)
        assert secret == b.exchange(a.public_bytes)
        assert len(secret) == MODP_GROUPS[group_id].size  # padded to the prime
    assert fast.generate().public_bytes != fast.generate().public_bytes


@pytest.mark.parametrize("group_id", MODP)
def test_backends_agree_on_known_exponents(group_id: DhId) -> None:
    p, g = MODP_GROUPS[group_id].prime, MODP_GROUPS[group_id].generator
    x, y = (0x1234 << 240) | 0xBEEF, 3 << 250
    fast, ossl = get_dh_group(group_id, "gmpy2"), get_dh_group(group_id, "openssl")
    xb, yb = x.to_bytes(32, "big"), y.to_bytes(32, "big")
    # Python's own pow() as a third implementation.
    assert fast.load_private(xb).public_bytes == pow(g, x, p).to_bytes(fast.public_size, "big")
    assert ossl.load_private(xb).public_bytes == fast.load_private(xb).public_bytes
    expected = pow(g, x * y, p).to_bytes(fast.public_size, "big")
    assert fast.load_private(xb).exchange(ossl.load_private(yb).public_bytes) == expected
    assert ossl.load_private(xb).exchange(fast.load_private(yb).public_bytes) == expected


def test_shared_secret_keeps_leading_zeros_rfc7296_2_14() -> None:
    # Find a y whose g^xy has a leading zero byte: the secret must stay full length.
    p = MODP_GROUPS[DhId.MODP_2048].prime
    fast, ossl = get_dh_group(DhId.MODP_2048, "gmpy2"), get_dh_group(DhId.MODP_2048, "openssl")
    x = 5
    for peer in range(2, 5000):
        if pow(peer, x, p).bit_length() <= 2048 - 8:
            break
    peer_bytes = peer.to_bytes(256, "big")
    for group in (fast, ossl):
        secret = group.load_private(bytes([x])).exchange(peer_bytes)
        assert len(secret) == 256 and secret[0] == 0


@pytest.mark.parametrize("backend", ["gmpy2", "openssl"])
@pytest.mark.parametrize("group_id", MODP)
def test_modp_rejects_bad_public_values_rfc7296_5(group_id: DhId, backend: str) -> None:
    group = get_dh_group(group_id, backend)
    p, size = MODP_GROUPS[group_id].prime, MODP_GROUPS[group_id].size
    key = group.generate()
    for y in (0, 1, p - 1, p, p + 1, 2**(8 * size) - 1):
        with pytest.raises(InvalidPublicValue):
            key.exchange(y.to_bytes(size, "big"))
    good = group.generate().public_bytes
    for bad in (good[1:], b"\0" + good, b""):
        with pytest.raises(InvalidPublicValue):
            key.exchange(bad)
    if MODP_GROUPS[group_id].subgroup_order is None:
        assert len(key.exchange((2).to_bytes(size, "big"))) == size  # smallest legal y


# ----------------------------------------------------- RFC 5903 §8 (ECP)

# (group, i, g^i = x||y, r, g^r = x||y, g^ir x)
ECP_VECTORS = [
    (DhId.ECP_256,  # §8.1
     "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
     "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
     "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
     "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
     "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
     "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
     "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"),
    (DhId.ECP_384,  # §8.2
     "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655"
     "E35B538041E649EE3FAEF896783AB194",
     "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6"
     "DE3AC808ACB4BDB4C88732AEE95F41AA"
     "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E"
     "EB9FCFF3C2C947DAE69B4C634573A81C",
     "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942"
     "E0308312916B8ED2960E4BD55A7448FC",
     "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D"
     "0D1AC43A0336DEF96FDA41D0774A3571"
     "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF"
     "F83FA40142209DFF5EAAD96DB9E6386C",
     "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4"
     "D603135569B9E9D09CF5D4A270F59746"),
    (DhId.ECP_521,  # §8.3
     "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A0"
     "95AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D4A52",
     "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBE"
     "E1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176CED3E"
     "017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10A"
     "D8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F9582",
     "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E"
     "9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB151685EB9",
     "00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A21"
     "9B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9460F"
     "015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87"
     "220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0FC56A",
     "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04"
     "D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3DDEA"),
]


@pytest.mark.parametrize(("group_id", "i", "gi", "r", "gr", "gir"), ECP_VECTORS)
def test_ecp_rfc5903_8(group_id: DhId, i: str, gi: str, r: str, gr: str, gir: str) -> None:
    group = get_dh_group(group_id)
    initiator, responder = group.load_private(H(i)), group.load_private(H(r))
    assert initiator.public_bytes == H(gi)  # KE data is x || y (RFC 5903 §7)
    assert responder.public_bytes == H(gr)
    assert len(H(gi)) == group.public_size
    assert initiator.exchange(H(gr)) == H(gir)  # x coordinate only
    assert responder.exchange(H(gi)) == H(gir)


@pytest.mark.parametrize("group_id", [DhId.ECP_256, DhId.ECP_384, DhId.ECP_521])
def test_ecp_rejects_points_off_curve_rfc5903_7(group_id: DhId) -> None:
    group = get_dh_group(group_id)
    key, peer = group.generate(), group.generate().public_bytes
    half = group.public_size // 2
    y_plus_one = (int.from_bytes(peer[half:], "big") + 1).to_bytes(half, "big")
    for bad in (peer[:half] + y_plus_one, bytes(group.public_size), peer[:-1], peer + b"\0"):
        with pytest.raises(InvalidPublicValue):
            key.exchange(bad)


# ------------------------------------------------- RFC 8031 / RFC 7748


def test_x25519_rfc7748_6_1() -> None:
    group = get_dh_group(DhId.CURVE25519)
    alice = group.load_private(H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
    bob = group.load_private(H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
    assert alice.public_bytes == H("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert bob.public_bytes == H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = H("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert alice.exchange(bob.public_bytes) == shared == bob.exchange(alice.public_bytes)


@pytest.mark.parametrize("group_id", [DhId.CURVE25519, DhId.CURVE448])
def test_montgomery_rejects_low_order_and_bad_length_rfc8031_2_3(group_id: DhId) -> None:
    group = get_dh_group(group_id)
    key = group.generate()
    peer = group.generate()
    assert key.exchange(peer.public_bytes) == peer.exchange(key.public_bytes)
    size = group.public_size
    # u = 0 and u = 1 are low-order points: the shared secret would be all zeros.
    for bad in (bytes(size), (1).to_bytes(size, "little"), bytes(size - 1), bytes(size + 1)):
        with pytest.raises(InvalidPublicValue):
            key.exchange(bad)


# ------------------------------------------------------------ registry


def test_supported_groups_all_resolve() -> None:
    assert supported_dh() == supported_groups()
    # every group the FTD's IKEv2 policy offers (docs/ftd-behaviour.md)
    assert set(supported_groups()) >= {1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31}
    assert supported_groups()[0] == DhId.ECP_384 and supported_groups()[-1] == DhId.MODP_768
    for group_id in supported_groups():
        group = get_dh_group(group_id)
        assert group.group_id == group_id
        assert len(group.generate().public_bytes) == group.public_size


def test_unsupported_groups_and_backends() -> None:
    for unknown in (DhId.MODP_6144, DhId.MODP_8192, 22, 23, DhId.NONE, 9999):
        with pytest.raises(UnsupportedTransform):
            get_dh_group(unknown)
    with pytest.raises(UnsupportedTransform):
        get_dh_group(DhId.ECP_384, "gmpy2")
    with pytest.raises(ValueError):
        get_dh_group(DhId.MODP_2048, "pure-python")
    assert set(BACKENDS) == {"auto", "gmpy2", "openssl"}


@pytest.mark.parametrize("group_id", [DhId.MODP_2048, DhId.ECP_256, DhId.CURVE25519])
def test_private_key_repr_hides_secret(group_id: DhId) -> None:
    secret = bytes(range(1, 33))
    key = get_dh_group(group_id).load_private(secret)
    text = repr(key) + str(key)
    assert secret.hex() not in text.lower()
    assert str(int.from_bytes(secret, "big")) not in text
