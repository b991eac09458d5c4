"""Finite-field Diffie-Hellman (RFC 3526 MODP groups), two implementations.

`GmpyModpGroup` is the default: gmpy2.powmod with our own short exponent.
`OpensslModpGroup` uses `cryptography`'s dh module, which is deprecated
there; it stays as an independent cross-check until it is removed. Both
produce and accept the same wire values, so keys from one exchange with
keys from the other.
"""

from __future__ import annotations

import secrets
import warnings

import gmpy2
from cryptography.utils import CryptographyDeprecationWarning

from ikev2d.crypto.errors import InvalidPublicValue, UnsupportedTransform
from ikev2d.crypto.fixed_base import FixedBasePowers
from ikev2d.crypto.modp_groups import ModpParams
from ikev2d.iana import DhId

# The one place that meets cryptography's FFDH deprecation: the module warns
# when its names are looked up, not when they are used, so we look them up
# once here, with that one warning silenced. When a release drops the module,
# only the OpenSSL backend goes away.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"Diffie-Hellman over finite fields",
        category=CryptographyDeprecationWarning,
    )
    try:
        from cryptography.hazmat.primitives.asymmetric.dh import (
            DHParameterNumbers,
            DHPrivateKey,
            DHPrivateNumbers,
            DHPublicNumbers,
        )

        OPENSSL_FFDH_AVAILABLE = True
    except ImportError:
        OPENSSL_FFDH_AVAILABLE = False


def parse_modp_public(params: ModpParams, data: bytes) -> int:
    """The peer's y, checked as RFC 7296 §5 / SP 800-56A §5.6.2.3.1 ask.

    KE data must be exactly the prime's length (RFC 7296 §3.4) and
    1 < y < p-1, which keeps y out of the order-1 and order-2 subgroups; in a
    safe-prime group that leaves at most one bit of the exponent exposed. The
    full y^q = 1 test would cost a 3072-bit exponentiation per handshake.
    A group that is not a safe prime (RFC 5114's group 24) has many small
    subgroups, so there y^q = 1 is checked, as RFC 6989 §2.2 requires; with
    a 256-bit q that costs one short exponentiation.
    """
    if len(data) != params.size:
        raise InvalidPublicValue(
            f"group {params.group_id}: KE data is {len(data)} bytes, want {params.size}"
        )
    y = int.from_bytes(data, "big")
    if not 1 < y < params.prime - 1:
        raise InvalidPublicValue(f"group {params.group_id}: public value out of range")
    q = params.subgroup_order
    if q is not None and gmpy2.powmod(y, q, params.prime) != 1:
        raise InvalidPublicValue(f"group {params.group_id}: public value outside the prime-order subgroup")
    return y


def _random_exponent(bits: int, below: int | None = None) -> int:
    # Uniform in [2, 2^bits - 1] (or [2, below - 1] in a prime-order
    # subgroup, where larger exponents only repeat); 0 and 1 would give a
    # fixed public value.
    if below is not None:
        return 2 + secrets.randbelow(below - 2)
    while True:
        x = secrets.randbits(bits)
        if x > 1:
            return x


# ------------------------------------------------------------------- gmpy2


class GmpyModpKey:
    """A MODP private exponent and its public value."""

    __slots__ = ("_group", "_x", "public_bytes")

    def __init__(self, group: GmpyModpGroup, x: int) -> None:
        self._group = group
        self._x = gmpy2.mpz(x)
        self.public_bytes: bytes = int(group.power_of_generator(x)).to_bytes(group.public_size, "big")

    def exchange(self, peer_public: bytes) -> bytes:
        """g^ir padded to the prime's length (RFC 7296 §2.14)."""
        params = self._group.params
        y = parse_modp_public(params, peer_public)
        z = gmpy2.powmod(gmpy2.mpz(y), self._x, self._group._p)
        return int(z).to_bytes(params.size, "big")

    def private_value(self) -> bytes:
        """The exponent, for `load_private` in another process (a job)."""
        return int(self._x).to_bytes((int(self._x).bit_length() + 7) // 8 or 1, "big")

    def __repr__(self) -> str:  # never show the exponent
        return f"GmpyModpKey(group={self._group.group_id})"


class GmpyModpGroup:
    backend = "gmpy2"

    def __init__(self, params: ModpParams) -> None:
        self.params = params
        self.group_id: DhId = params.group_id
        self.public_size: int = params.size
        self._p = gmpy2.mpz(params.prime)
        self._g = gmpy2.mpz(params.generator)
        self._powers: FixedBasePowers | None = None  # built at the first key: 1.1 MB for MODP-3072

    def power_of_generator(self, x: int) -> gmpy2.mpz:
        """g^x mod p: from the generator's table of powers for the exponents
        `generate` draws; a longer one (`load_private`) by gmpy2.powmod."""
        if self._powers is None:
            q = self.params.subgroup_order
            self._powers = FixedBasePowers(self.params.generator, self.params.prime,
                                           q.bit_length() if q is not None else self.params.exponent_bits)
        if x.bit_length() > self._powers.bits:
            return gmpy2.powmod(self._g, x, self._p)
        return self._powers.power(x)

    def generate(self) -> GmpyModpKey:
        return GmpyModpKey(self, _random_exponent(self.params.exponent_bits, self.params.subgroup_order))

    def load_private(self, value: bytes) -> GmpyModpKey:
        """A key from a known exponent (known-answer tests, key reuse)."""
        return GmpyModpKey(self, int.from_bytes(value, "big"))


# ----------------------------------------------------------------- OpenSSL


class OpensslModpKey:
    __slots__ = ("_group", "_key", "public_bytes")

    def __init__(self, group: OpensslModpGroup, key: DHPrivateKey) -> None:
        self._group = group
        self._key = key
        y = key.public_key().public_numbers().y
        self.public_bytes: bytes = y.to_bytes(group.public_size, "big")

    def exchange(self, peer_public: bytes) -> bytes:
        params = self._group.params
        y = parse_modp_public(params, peer_public)
        peer = DHPublicNumbers(y, self._group._numbers).public_key()
        try:
            z = self._key.exchange(peer)
        except ValueError as exc:  # OpenSSL's own public-key check
            raise InvalidPublicValue(str(exc)) from None
        return z.rjust(params.size, b"\0")

    def private_value(self) -> bytes:
        """The exponent, for `load_private` in another process (a job)."""
        x = self._key.private_numbers().x
        return x.to_bytes((x.bit_length() + 7) // 8 or 1, "big")

    def __repr__(self) -> str:
        return f"OpensslModpKey(group={self._group.group_id})"


class OpensslModpGroup:
    """OpenSSL chooses the private length itself (225/274/325 bits here)."""

    backend = "openssl"

    def __init__(self, params: ModpParams) -> None:
        if not OPENSSL_FFDH_AVAILABLE:
            raise UnsupportedTransform("this cryptography release has no FFDH")
        self.params = params
        self.group_id: DhId = params.group_id
        self.public_size: int = params.size
        self._numbers = DHParameterNumbers(params.prime, params.generator, params.subgroup_order)
        self._parameters = self._numbers.parameters()

    def generate(self) -> OpensslModpKey:
        return OpensslModpKey(self, self._parameters.generate_private_key())

    def load_private(self, value: bytes) -> OpensslModpKey:
        x = int.from_bytes(value, "big")
        y = int(gmpy2.powmod(self.params.generator, x, self.params.prime))
        key = DHPrivateNumbers(x, DHPublicNumbers(y, self._numbers)).private_key()
        return OpensslModpKey(self, key)
