"""Key derivation for IKE SAs (RFC 7296 §2.14, §2.18) and Child SAs (§2.17).

The result objects hold secrets: their repr shows only key lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ikev2d.crypto.errors import CryptoError
from ikev2d.crypto.transforms import EncrAlgorithm, IntegAlgorithm, PrfAlgorithm

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _lengths_only(obj: DataclassInstance) -> str:
    parts = ", ".join(f"{f.name}=<{len(getattr(obj, f.name))} bytes>" for f in fields(obj))
    return f"{type(obj).__name__}({parts})"


@dataclass(frozen=True, repr=False, slots=True)
class IkeKeys:
    """The seven IKE SA keys. `i` keys protect initiator-to-responder
    messages; SK_pi/SK_pr go into the AUTH computation (§2.15)."""

    sk_d: bytes
    sk_ai: bytes  # empty with an AEAD cipher
    sk_ar: bytes
    sk_ei: bytes  # AEAD: cipher key || 4-byte salt (RFC 5282 §7.1)
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes

    def __repr__(self) -> str:
        return _lengths_only(self)


@dataclass(frozen=True, repr=False)
class ChildKeys:
    """Child SA keys; `_i` is the initiator-to-responder direction."""

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes

    def __repr__(self) -> str:
        return _lengths_only(self)


def _integ_key_size(encr: EncrAlgorithm, integ: IntegAlgorithm | None) -> int:
    # RFC 7296 §3.3: an AEAD cipher has no separate integrity transform.
    if encr.is_aead:
        if integ is not None:
            raise CryptoError("an AEAD cipher takes no INTEG transform")
        return 0
    if integ is None:
        raise CryptoError(f"{encr.name} needs an INTEG transform")
    return integ.key_size


def _split(prf: PrfAlgorithm, skeyseed: bytes, seed: bytes, encr: EncrAlgorithm,
           integ: IntegAlgorithm | None) -> IkeKeys:
    # §2.14: SK_d, SK_pi, SK_pr take the PRF's preferred key size.
    d, a, e = prf.key_size, _integ_key_size(encr, integ), encr.key_size
    stream = prf.prf_plus(skeyseed, seed, 3 * d + 2 * a + 2 * e)
    cuts = (d, a, a, e, e, d, d)
    parts = []
    at = 0
    for size in cuts:
        parts.append(stream[at : at + size])
        at += size
    return IkeKeys(*parts)


def derive_ike_keys(
    prf: PrfAlgorithm,
    encr: EncrAlgorithm,
    integ: IntegAlgorithm | None,
    nonce_i: bytes,
    nonce_r: bytes,
    shared_secret: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """RFC 7296 §2.14 for a new IKE SA.

    SKEYSEED = prf(Ni | Nr, g^ir);
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
        = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
    """
    skeyseed = prf.prf(nonce_i + nonce_r, shared_secret)
    return _split(prf, skeyseed, nonce_i + nonce_r + spi_i + spi_r, encr, integ)


def derive_rekeyed_ike_keys(
    old_prf: PrfAlgorithm,
    old_sk_d: bytes,
    prf: PrfAlgorithm,
    encr: EncrAlgorithm,
    integ: IntegAlgorithm | None,
    nonce_i: bytes,
    nonce_r: bytes,
    shared_secret: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """RFC 7296 §2.18 for an IKE SA made by rekeying.

    SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old SA's PRF
    (the exchange belongs to the old SA); then §2.14 with the new PRF.
    Nonces and SPIs are those of the CREATE_CHILD_SA exchange.
    """
    skeyseed = old_prf.prf(old_sk_d, shared_secret + nonce_i + nonce_r)
    return _split(prf, skeyseed, nonce_i + nonce_r + spi_i + spi_r, encr, integ)


def derive_child_keys(
    prf: PrfAlgorithm,
    sk_d: bytes,
    nonce_i: bytes,
    nonce_r: bytes,
    encr_key_size: int,
    integ_key_size: int,
    shared_secret: bytes | None = None,
) -> ChildKeys:
    """RFC 7296 §2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr).

    Initiator-to-responder keys come first, and within a direction the
    encryption key before the integrity key. For ESP AES-GCM the encryption
    key size includes the 4-byte salt (RFC 4106 §8.1). `shared_secret` is the
    PFS g^ir of a CREATE_CHILD_SA exchange; Nonces are those of the exchange
    (for the first Child SA, of IKE_SA_INIT).
    """
    seed = (shared_secret or b"") + nonce_i + nonce_r
    e, a = encr_key_size, integ_key_size
    keymat = prf.prf_plus(sk_d, seed, 2 * (e + a))
    return ChildKeys(
        encr_i=keymat[:e],
        integ_i=keymat[e : e + a],
        encr_r=keymat[e + a : 2 * e + a],
        integ_r=keymat[2 * e + a :],
    )
