"""Transforms, Diffie-Hellman, key derivation and AUTH for ikev2d."""

from ikev2d.crypto.auth import shared_key_auth, sign, signed_octets, verify, verify_shared_key_auth
from ikev2d.crypto.dh import DhGroup, DhPrivateKey, get_dh_group, supported_groups
from ikev2d.crypto.errors import (
    CryptoError,
    IntegrityError,
    InvalidPublicValue,
    UnsupportedTransform,
)
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
    supported_dh,
    supported_encr,
    supported_integ,
    supported_prf,
)

__all__ = [
    "ChildKeys",
    "CryptoError",
    "DhGroup",
    "DhPrivateKey",
    "EncrAlgorithm",
    "IkeKeys",
    "IntegAlgorithm",
    "IntegrityError",
    "InvalidPublicValue",
    "PrfAlgorithm",
    "UnsupportedTransform",
    "derive_child_keys",
    "derive_ike_keys",
    "derive_rekeyed_ike_keys",
    "get_dh_group",
    "get_encr",
    "get_integ",
    "get_prf",
    "shared_key_auth",
    "sign",
    "signed_octets",
    "supported_dh",
    "supported_encr",
    "supported_groups",
    "supported_integ",
    "supported_prf",
    "verify",
    "verify_shared_key_auth",
]
