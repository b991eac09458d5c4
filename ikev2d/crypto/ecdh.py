"""Elliptic-curve Diffie-Hellman: ECP groups (RFC 5903) and Curve25519/448
(RFC 8031), on `cryptography`."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ikev2d.crypto.errors import CryptoError, InvalidPublicValue
from ikev2d.iana import DhId

_UNCOMPRESSED = b"\x04"  # SEC1 point prefix; IKE omits it (RFC 5903 §7)


# --------------------------------------------------------------------- ECP


class EcpKey:
    __slots__ = ("_group", "_key", "public_bytes")

    def __init__(self, group: EcpGroup, key: ec.EllipticCurvePrivateKey) -> None:
        self._group = group
        self._key = key
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.public_bytes: bytes = point[1:]  # x || y, each padded to the field size

    def exchange(self, peer_public: bytes) -> bytes:
        """The x coordinate of the shared point, field-size bytes (RFC 5903 §7)."""
        peer = self._group.parse_public(peer_public)
        return self._key.exchange(ec.ECDH(), peer)

    def private_value(self) -> bytes:
        """The scalar, for `load_private` in another process (a job)."""
        size = (self._key.curve.key_size + 7) // 8
        return self._key.private_numbers().private_value.to_bytes(size, "big")

    def __repr__(self) -> str:  # never show the scalar
        return f"EcpKey(group={self._group.group_id})"


class EcpGroup:
    backend = "openssl"

    def __init__(self, group_id: DhId, curve: ec.EllipticCurve, coordinate_size: int) -> None:
        self.group_id = group_id
        self.public_size = 2 * coordinate_size
        self._curve = curve

    def generate(self) -> EcpKey:
        return EcpKey(self, ec.generate_private_key(self._curve))

    def load_private(self, value: bytes) -> EcpKey:
        """A key from a known scalar (RFC 5903 §8 known-answer tests)."""
        return EcpKey(self, ec.derive_private_key(int.from_bytes(value, "big"), self._curve))

    def parse_public(self, data: bytes) -> ec.EllipticCurvePublicKey:
        """x || y, which must be a point on the curve (RFC 5903 §7, SP 800-56A
        §5.6.2.3.3). The NIST curves have cofactor 1, so on-curve is enough;
        the point at infinity has no x || y encoding."""
        if len(data) != self.public_size:
            raise InvalidPublicValue(
                f"group {self.group_id}: KE data is {len(data)} bytes, want {self.public_size}"
            )
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(self._curve, _UNCOMPRESSED + data)
        except ValueError:
            raise InvalidPublicValue(f"group {self.group_id}: point not on the curve") from None


# ------------------------------------------------------------ X25519 / X448


class MontgomeryKey:
    __slots__ = ("_group", "_key", "public_bytes")

    def __init__(
        self, group: MontgomeryGroup, key: x25519.X25519PrivateKey | x448.X448PrivateKey
    ) -> None:
        self._group = group
        self._key = key
        self.public_bytes: bytes = key.public_key().public_bytes_raw()

    def exchange(self, peer_public: bytes) -> bytes:
        """X25519/X448(our key, peer u); an all-zero result is refused (RFC 8031 §2.3)."""
        group = self._group
        if len(peer_public) != group.public_size:
            raise InvalidPublicValue(
                f"group {group.group_id}: KE data is {len(peer_public)} bytes, "
                f"want {group.public_size}"
            )
        try:
            if isinstance(self._key, x25519.X25519PrivateKey):
                return self._key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))
            return self._key.exchange(x448.X448PublicKey.from_public_bytes(peer_public))
        except ValueError:  # cryptography refuses the all-zero shared secret
            raise InvalidPublicValue(f"group {group.group_id}: low-order public value") from None

    def private_value(self) -> bytes:
        """The private bytes, for `load_private` in another process (a job)."""
        return self._key.private_bytes_raw()

    def __repr__(self) -> str:
        return f"MontgomeryKey(group={self._group.group_id})"


class MontgomeryGroup:
    backend = "openssl"

    def __init__(self, group_id: DhId) -> None:
        self.group_id = group_id
        self._x25519 = group_id == DhId.CURVE25519
        self.public_size = 32 if self._x25519 else 56

    def generate(self) -> MontgomeryKey:
        if self._x25519:
            return MontgomeryKey(self, x25519.X25519PrivateKey.generate())
        return MontgomeryKey(self, x448.X448PrivateKey.generate())

    def load_private(self, value: bytes) -> MontgomeryKey:
        """A key from known private bytes (RFC 7748 §6 known-answer tests)."""
        try:
            if self._x25519:
                return MontgomeryKey(self, x25519.X25519PrivateKey.from_private_bytes(value))
            return MontgomeryKey(self, x448.X448PrivateKey.from_private_bytes(value))
        except ValueError as exc:
            raise CryptoError(str(exc)) from None
