"""Diffie-Hellman groups behind one interface (RFC 7296 §2.14, §3.4).

`get_dh_group(id)` returns a shared group object; `group.generate()` a fresh
private key whose `public_bytes` is the KE payload data and whose
`exchange(peer_ke_data)` gives the fixed-length shared secret g^ir. Bad peer
values raise InvalidPublicValue.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from ikev2d.crypto.ecdh import EcpGroup, MontgomeryGroup
from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.ffdh import GmpyModpGroup, OpensslModpGroup
from ikev2d.crypto.modp_groups import MODP_GROUPS
from ikev2d.iana import DhId


class DhPrivateKey(Protocol):
    """One side's ephemeral key. Its repr never shows the secret."""

    public_bytes: bytes  # KE payload data, padded to public_size

    def exchange(self, peer_public: bytes) -> bytes: ...

    def private_value(self) -> bytes:
        """The private key as `DhGroup.load_private` takes it back."""
        ...


class DhGroup(Protocol):
    group_id: DhId
    public_size: int  # length of KE data (RFC 7296 §3.4)
    backend: str

    def generate(self) -> DhPrivateKey: ...

    def load_private(self, value: bytes) -> DhPrivateKey: ...


BACKENDS = ("auto", "gmpy2", "openssl")

# Most preferred first: what a responder suggests in INVALID_KE_PAYLOAD.
_PREFERENCE: tuple[DhId, ...] = (
    DhId.ECP_384,
    DhId.ECP_521,
    DhId.ECP_256,
    DhId.CURVE25519,
    DhId.CURVE448,
    DhId.MODP_4096,
    DhId.MODP_3072,
    DhId.MODP_2048,
    # Weak groups last: implemented because the FTD offers them (a lab shows
    # what they cost), never what we suggest first.
    DhId.MODP_2048_256,
    DhId.MODP_1536,
    DhId.MODP_1024,
    DhId.MODP_768,
)

_ECP: dict[DhId, tuple[ec.EllipticCurve, int]] = {
    DhId.ECP_256: (ec.SECP256R1(), 32),
    DhId.ECP_384: (ec.SECP384R1(), 48),
    DhId.ECP_521: (ec.SECP521R1(), 66),
}


def supported_groups() -> tuple[DhId, ...]:
    return _PREFERENCE


@cache
def get_dh_group(group_id: int, backend: str = "auto") -> DhGroup:
    """The group for a DH transform ID; built once, then shared.

    `backend` picks the finite-field implementation: "auto" is gmpy2 (fast,
    and not deprecated); "openssl" is cryptography's dh module. Elliptic
    groups have one implementation, on OpenSSL ("auto" or "openssl").
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown DH backend {backend!r}")
    if group_id in MODP_GROUPS:
        params = MODP_GROUPS[DhId(group_id)]
        if backend == "openssl":
            return OpensslModpGroup(params)
        return GmpyModpGroup(params)
    if backend == "gmpy2":
        raise UnsupportedTransform(f"DH group {group_id} has no gmpy2 implementation")
    if group_id in _ECP:
        curve, size = _ECP[DhId(group_id)]
        return EcpGroup(DhId(group_id), curve, size)
    if group_id in (DhId.CURVE25519, DhId.CURVE448):
        return MontgomeryGroup(DhId(group_id))
    raise UnsupportedTransform(f"DH group {group_id}")
