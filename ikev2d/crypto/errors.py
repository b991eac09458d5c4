"""Crypto-layer exceptions.

The protocol layer maps these to what the peer sees: an unknown transform to
NO_PROPOSAL_CHOSEN, a bad KE value to INVALID_SYNTAX, an integrity failure to
a silent drop (RFC 7296 §2.21.2)."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class for every error raised by ikev2d.crypto."""


class UnsupportedTransform(CryptoError):
    """A transform ID (or key length) we do not implement."""


class IntegrityError(CryptoError):
    """An ICV or AEAD tag did not verify."""


class InvalidPublicValue(CryptoError):
    """The peer's KE data is malformed or not a safe group element."""
