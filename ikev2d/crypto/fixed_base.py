"""g^x mod p for a fixed g from a table of precomputed powers: our public
DH value costs a sixth of a general exponentiation.

Every key we make raises the group's generator to a fresh short exponent.
With the base fixed, its powers can be computed once: the table holds
g^(d * 2^(w*i)) for every w-bit digit d at every digit position i of an
exponent up to `bits` long, so g^x is the product of one entry per digit
of x, bits/w modular multiplications and no squaring (fixed-base
windowing; Menezes, van Oorschot, Vanstone, Handbook of Applied
Cryptography, §14.6.3). For MODP-3072 and 256-bit exponents that is 43
multiplications against ~300 for gmpy2.powmod: 117 against 538 µs here
(docs/performance.md).

Like gmpy2.powmod, which it replaces for this one job, it is not constant
time: the table entry read depends on the exponent's digits. Each exponent
is used for one exchange only, and a cache-timing observer would have to
share the machine.
"""

from __future__ import annotations

import gmpy2

# 6-bit digits: 1.1 MB for MODP-3072 (2,752 entries of 384 bytes), built in
# ~9 ms on first use; 8-bit digits would save ~30 µs a key for 3.3 MB.
DIGIT_BITS = 6


class FixedBasePowers:
    """The powers of `base` mod `modulus` for exponents of up to `bits` bits."""

    __slots__ = ("bits", "_modulus", "_rows")

    def __init__(self, base: int, modulus: int, bits: int) -> None:
        self.bits = bits
        p = gmpy2.mpz(modulus)
        self._modulus = p
        rows: list[list[gmpy2.mpz]] = []
        position_base = gmpy2.mpz(base) % p  # base^(2^(w*i)) for row i
        for _ in range(-(-bits // DIGIT_BITS)):
            row = [gmpy2.mpz(1)]
            for _digit in range(1, 1 << DIGIT_BITS):
                row.append(row[-1] * position_base % p)
            rows.append(row)
            position_base = row[-1] * position_base % p
        self._rows = rows

    def power(self, exponent: int) -> gmpy2.mpz:
        """base^exponent mod modulus, for 0 <= exponent < 2^bits."""
        if not 0 <= exponent < 1 << self.bits:
            raise ValueError(f"exponent of {exponent.bit_length()} bits, the table has {self.bits}")
        p, mask = self._modulus, (1 << DIGIT_BITS) - 1
        result = gmpy2.mpz(1)
        for row in self._rows:
            digit = exponent & mask
            if digit:
                result = result * row[digit] % p
            exponent >>= DIGIT_BITS
        return result
