"""Transforms, Diffie-Hellman, key derivation and AUTH for ikev2d."""

from ikev2d.crypto.errors import (
    CryptoError,
    IntegrityError,
    InvalidPublicValue,
    UnsupportedTransform,
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
    "CryptoError",
    "EncrAlgorithm",
    "IntegAlgorithm",
    "IntegrityError",
    "InvalidPublicValue",
    "PrfAlgorithm",
    "UnsupportedTransform",
    "get_encr",
    "get_integ",
    "get_prf",
    "supported_dh",
    "supported_encr",
    "supported_integ",
    "supported_prf",
]
