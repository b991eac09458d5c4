"""The fixed-base table of powers that makes our DH public values
(ikev2d/crypto/fixed_base.py): the same numbers as pow(), at every edge."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.fixed_base import DIGIT_BITS, FixedBasePowers
from ikev2d.crypto.modp_groups import MODP_GROUPS
from ikev2d.iana import DhId

P3072 = MODP_GROUPS[DhId.MODP_3072].prime
TABLE = FixedBasePowers(2, P3072, 256)


@given(st.integers(min_value=0, max_value=(1 << 256) - 1))
@settings(max_examples=60, deadline=None)
def test_every_exponent_the_table_covers_gives_pow(x: int) -> None:
    assert TABLE.power(x) == pow(2, x, P3072)


@pytest.mark.parametrize("x", [0, 1, 2, (1 << DIGIT_BITS) - 1, 1 << DIGIT_BITS, 1 << 255, (1 << 256) - 1,
                               int("10" * 128, 2), (1 << 256) - (1 << 250)])
def test_edge_exponents(x: int) -> None:
    # zero digits, one digit, the last digit position (256 is not a multiple of 6), all ones
    assert TABLE.power(x) == pow(2, x, P3072)


def test_a_base_other_than_2_and_a_base_above_the_modulus() -> None:
    group = MODP_GROUPS[DhId.MODP_2048_256]
    table = FixedBasePowers(group.generator, group.prime, 256)
    x = (1 << 255) | 0xC0FFEE
    assert table.power(x) == pow(group.generator, x, group.prime)
    assert FixedBasePowers(P3072 + 2, P3072, 16).power(0xBEEF) == pow(2, 0xBEEF, P3072)


def test_an_exponent_longer_than_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="257 bits, the table has 256"):
        TABLE.power(1 << 256)
    with pytest.raises(ValueError):
        TABLE.power(-1)


@pytest.mark.parametrize("group_id", [DhId.MODP_3072, DhId.MODP_2048_256, DhId.MODP_4096])
def test_the_group_uses_the_table_and_falls_back_for_longer_exponents(group_id: DhId) -> None:
    params, group = MODP_GROUPS[group_id], get_dh_group(group_id, "gmpy2")
    key = group.generate()
    assert group._powers is not None  # built by the first key
    long_x = (1 << 400) | 12345  # another implementation's exponent (load_private): beyond the table
    assert group.load_private(long_x.to_bytes(51, "big")).public_bytes == \
        pow(params.generator, long_x, params.prime).to_bytes(params.size, "big")
    peer = group.generate()
    assert key.exchange(peer.public_bytes) == peer.exchange(key.public_bytes)
