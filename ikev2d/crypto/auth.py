"""The AUTH payload: signed octets, shared-key MIC and signatures.

RFC 7296 §2.15 (what is signed, shared keys), §2.16 (EAP MSK), RFC 4754
(ECDSA methods 9-11), RFC 7427 (DIGITAL_SIGNATURE with an AlgorithmIdentifier),
RFC 8420 (Ed25519 through RFC 7427).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.transforms import PrfAlgorithm
from ikev2d.iana import AuthMethod, HashAlgorithm

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]
PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]

KEY_PAD = b"Key Pad for IKEv2"  # RFC 7296 §2.15


# ------------------------------------------------------------ signed octets


def signed_octets(
    message: bytes, peer_nonce: bytes, prf: PrfAlgorithm, sk_p: bytes, id_payload_body: bytes
) -> bytes:
    """RFC 7296 §2.15: RealMessage | NonceData of the peer | prf(SK_p, RestOfIDPayload).

    `message` is our own first message (IKE_SA_INIT as sent), `sk_p` our SK_pi
    or SK_pr, `id_payload_body` our ID payload from the ID Type octet on (type,
    three reserved octets, data), without the generic payload header.
    """
    return message + peer_nonce + prf.prf(sk_p, id_payload_body)


def shared_key_auth(prf: PrfAlgorithm, secret: bytes, octets: bytes) -> bytes:
    """AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <octets>).

    The secret is a PSK (§2.15), the EAP MSK, or SK_pi/SK_pr when the EAP
    method made no MSK (§2.16).
    """
    return prf.prf(prf.prf(secret, KEY_PAD), octets)


def verify_shared_key_auth(prf: PrfAlgorithm, secret: bytes, octets: bytes, auth_data: bytes) -> bool:
    """Constant-time check of a peer's SHARED_KEY_MIC AUTH data."""
    return hmac.compare_digest(shared_key_auth(prf, secret, octets), auth_data)


# ------------------------------------------------- RFC 7427 AlgorithmIdentifiers

# DER AlgorithmIdentifier values as listed in RFC 7427 Appendix A (A.1 PKCS#1
# v1.5, A.3 ECDSA) and RFC 8420 §2 (Ed25519).
RSA_SHA256_ALG_ID = bytes.fromhex("300d06092a864886f70d01010b0500")  # A.1.2
RSA_SHA384_ALG_ID = bytes.fromhex("300d06092a864886f70d01010c0500")  # A.1.3
RSA_SHA512_ALG_ID = bytes.fromhex("300d06092a864886f70d01010d0500")  # A.1.4
ECDSA_SHA256_ALG_ID = bytes.fromhex("300a06082a8648ce3d040302")  # A.3.2
ECDSA_SHA384_ALG_ID = bytes.fromhex("300a06082a8648ce3d040303")  # A.3.3
ECDSA_SHA512_ALG_ID = bytes.fromhex("300a06082a8648ce3d040304")  # A.3.4
ED25519_ALG_ID = bytes.fromhex("300506032b6570")  # RFC 8420 §2

_RSA, _ECDSA, _ED25519 = "rsa", "ecdsa", "ed25519"

_HASHES: dict[HashAlgorithm, hashes.HashAlgorithm] = {
    HashAlgorithm.SHA2_256: hashes.SHA256(),
    HashAlgorithm.SHA2_384: hashes.SHA384(),
    HashAlgorithm.SHA2_512: hashes.SHA512(),
}

# AlgorithmIdentifier -> (key kind, hash); the reverse drives signing.
_ALG_IDS: dict[bytes, tuple[str, HashAlgorithm]] = {
    RSA_SHA256_ALG_ID: (_RSA, HashAlgorithm.SHA2_256),
    RSA_SHA384_ALG_ID: (_RSA, HashAlgorithm.SHA2_384),
    RSA_SHA512_ALG_ID: (_RSA, HashAlgorithm.SHA2_512),
    ECDSA_SHA256_ALG_ID: (_ECDSA, HashAlgorithm.SHA2_256),
    ECDSA_SHA384_ALG_ID: (_ECDSA, HashAlgorithm.SHA2_384),
    ECDSA_SHA512_ALG_ID: (_ECDSA, HashAlgorithm.SHA2_512),
    ED25519_ALG_ID: (_ED25519, HashAlgorithm.IDENTITY),
}
_ALG_ID_FOR = {value: alg_id for alg_id, value in _ALG_IDS.items()}


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 128  # short-form lengths are all these need
    return bytes((tag, len(body))) + body


def _pss_alg_id(hash_oid: bytes, salt_length: int) -> bytes:
    """RSASSA-PSS AlgorithmIdentifier (RFC 4055 §3.1): the hash, MGF1 with
    that hash, salt as long as the hash, as RFC 7427 Appendix A.4.3 spells
    it out for SHA-256 (libreswan signs so with SHA2-256/384/512)."""
    sha = _der(0x30, _der(0x06, hash_oid) + b"\x05\x00")
    mgf1 = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010108")) + sha)
    params = _der(0x30, _der(0xA0, sha) + _der(0xA1, mgf1) + _der(0xA2, _der(0x02, bytes((salt_length,)))))
    return _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d01010a")) + params)


# Verified, never used to sign: we answer with PKCS#1 v1.5 (what strongSwan
# and the FTD's peers expect), but accept a peer's RSASSA-PSS (RFC 8247 §3.2
# recommends it for IKEv2; libreswan uses it by default).
RSA_PSS_SHA256_ALG_ID = _pss_alg_id(bytes.fromhex("608648016503040201"), 32)
RSA_PSS_SHA384_ALG_ID = _pss_alg_id(bytes.fromhex("608648016503040202"), 48)
RSA_PSS_SHA512_ALG_ID = _pss_alg_id(bytes.fromhex("608648016503040203"), 64)
_PSS_ALG_IDS: dict[bytes, HashAlgorithm] = {
    RSA_PSS_SHA256_ALG_ID: HashAlgorithm.SHA2_256,
    RSA_PSS_SHA384_ALG_ID: HashAlgorithm.SHA2_384,
    RSA_PSS_SHA512_ALG_ID: HashAlgorithm.SHA2_512,
}

# RFC 4754 §3/§8: each classic ECDSA method fixes curve and hash.
_ECDSA_METHODS: dict[str, tuple[AuthMethod, HashAlgorithm, int]] = {
    "secp256r1": (AuthMethod.ECDSA_SHA256_P256, HashAlgorithm.SHA2_256, 32),
    "secp384r1": (AuthMethod.ECDSA_SHA384_P384, HashAlgorithm.SHA2_384, 48),
    "secp521r1": (AuthMethod.ECDSA_SHA512_P521, HashAlgorithm.SHA2_512, 66),
}
_ECDSA_BY_METHOD = {method: (curve, h, size) for curve, (method, h, size) in _ECDSA_METHODS.items()}

# Strongest first: the NSA-suite feel the FTD emulation wants. strongSwan
# verifies any of these; it offers SHA2-256/384/512 in SIGNATURE_HASH_ALGORITHMS.
_RSA_HASH_PREFERENCE = (HashAlgorithm.SHA2_512, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_256)


def _choose_hash(kind: str, key: PrivateKey, offered: Collection[int]) -> HashAlgorithm | None:
    if kind == _ED25519:
        return HashAlgorithm.IDENTITY if HashAlgorithm.IDENTITY in offered else None
    preference: tuple[HashAlgorithm, ...] = _RSA_HASH_PREFERENCE
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _ECDSA_METHODS:
        # The hash that matches the curve's strength first (RFC 5480 §4).
        matched = _ECDSA_METHODS[key.curve.name][1]
        preference = (matched, *(h for h in _RSA_HASH_PREFERENCE if h != matched))
    return next((h for h in preference if h in offered), None)


def _kind(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return _RSA
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return _ECDSA
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return _ED25519
    raise UnsupportedTransform(f"no AUTH method for {type(key).__name__}")


# -------------------------------------------------------------------- sign


def sign(
    private_key: PrivateKey, octets: bytes, peer_hash_algorithms: Collection[int]
) -> tuple[AuthMethod, bytes]:
    """Sign the §2.15 octets; returns the AUTH method and AUTH data.

    If the peer sent SIGNATURE_HASH_ALGORITHMS with a hash we can use, this is
    RFC 7427 DIGITAL_SIGNATURE (length octet | AlgorithmIdentifier | value,
    ECDSA values DER-encoded). Otherwise the classic methods: RSA_SIG
    (PKCS#1 v1.5 with SHA-1, RFC 7296 §3.8) or ECDSA 9/10/11 with r || s
    (RFC 4754 §7).
    """
    kind = _kind(private_key)
    chosen = _choose_hash(kind, private_key, peer_hash_algorithms)
    if chosen is not None:
        alg_id = _ALG_ID_FOR[(kind, chosen)]
        value = _sign_value(private_key, chosen, octets)
        return AuthMethod.DIGITAL_SIGNATURE, bytes((len(alg_id),)) + alg_id + value
    if isinstance(private_key, rsa.RSAPrivateKey):
        return AuthMethod.RSA_SIG, private_key.sign(octets, padding.PKCS1v15(), hashes.SHA1())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name not in _ECDSA_METHODS:
            raise UnsupportedTransform(f"no classic ECDSA method for {private_key.curve.name}")
        method, hash_id, size = _ECDSA_METHODS[private_key.curve.name]
        der = private_key.sign(octets, ec.ECDSA(_HASHES[hash_id]))
        r, s = decode_dss_signature(der)
        return method, r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise UnsupportedTransform("Ed25519 needs RFC 7427 with the IDENTITY hash (RFC 8420)")


def _sign_value(key: PrivateKey, hash_id: HashAlgorithm, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), _HASHES[hash_id])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_HASHES[hash_id]))  # DER Ecdsa-Sig-Value
    return key.sign(data)  # Ed25519 signs the message itself (IDENTITY)


# ------------------------------------------------------------------ verify


def verify(public_key: PublicKey, method: int, auth_data: bytes, octets: bytes) -> bool:
    """Check a peer's signature AUTH payload. Malformed data, an AUTH method
    that does not fit the key, or a bad signature all give False."""
    try:
        kind = _kind(public_key)
    except UnsupportedTransform:
        return False
    try:
        if method == AuthMethod.DIGITAL_SIGNATURE:
            return _verify_digital_signature(public_key, kind, auth_data, octets)
        if method == AuthMethod.RSA_SIG and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(auth_data, octets, padding.PKCS1v15(), hashes.SHA1())
            return True
        if method in _ECDSA_BY_METHOD and isinstance(public_key, ec.EllipticCurvePublicKey):
            curve, hash_id, size = _ECDSA_BY_METHOD[AuthMethod(method)]
            if public_key.curve.name != curve or len(auth_data) != 2 * size:
                return False
            r = int.from_bytes(auth_data[:size], "big")
            s = int.from_bytes(auth_data[size:], "big")
            public_key.verify(encode_dss_signature(r, s), octets, ec.ECDSA(_HASHES[hash_id]))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def digital_signature_hash(auth_data: bytes) -> HashAlgorithm | None:
    """The hash an RFC 7427 AUTH payload names, or None if it names none we know."""
    if not auth_data:
        return None
    alg_id = auth_data[1:1 + auth_data[0]]
    alg = _ALG_IDS.get(alg_id)
    return alg[1] if alg is not None else _PSS_ALG_IDS.get(alg_id)


def _verify_digital_signature(key: PublicKey, kind: str, auth_data: bytes, octets: bytes) -> bool:
    # RFC 7427 §3: ASN.1 Length (1 octet) | AlgorithmIdentifier | Signature Value
    if not auth_data:
        return False
    end = 1 + auth_data[0]
    pss = _PSS_ALG_IDS.get(auth_data[1:end])
    if pss is not None:
        if not isinstance(key, rsa.RSAPublicKey) or len(auth_data) <= end:
            return False
        hash_alg = _HASHES[pss]
        pss_padding = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
        key.verify(auth_data[end:], octets, pss_padding, hash_alg)
        return True
    alg = _ALG_IDS.get(auth_data[1:end])
    if alg is None or alg[0] != kind or len(auth_data) <= end:
        return False
    value, hash_id = auth_data[end:], alg[1]
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(value, octets, padding.PKCS1v15(), _HASHES[hash_id])
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(value, octets, ec.ECDSA(_HASHES[hash_id]))
    else:
        key.verify(value, octets)
    return True
