"""AUTH payload crypto: RFC 7296 §2.15/§2.16, RFC 4754, RFC 7427, RFC 8420."""

from __future__ import annotations

import datetime
import hashlib
import hmac

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from ikev2d.crypto import auth
from ikev2d.crypto.errors import UnsupportedTransform
from ikev2d.crypto.transforms import get_prf
from ikev2d.iana import AuthMethod, HashAlgorithm, IdType, PrfId

SHA2 = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512)
OCTETS = b"IKE_SA_INIT message" + b"N" * 32 + b"M" * 64


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module", params=["secp256r1", "secp384r1", "secp521r1"])
def ec_key(request: pytest.FixtureRequest) -> ec.EllipticCurvePrivateKey:
    curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(),
             "secp521r1": ec.SECP521R1()}[request.param]
    return ec.generate_private_key(curve)


# ------------------------------------------------------------ §2.15 octets


def test_signed_octets_rfc7296_2_15() -> None:
    prf = get_prf(PrfId.HMAC_SHA2_256)
    id_body = bytes([IdType.ID_FQDN, 0, 0, 0]) + b"vpn.example.com"
    sk_pr = b"\x07" * 32
    octets = auth.signed_octets(b"<message 2>", b"<Ni>", prf, sk_pr, id_body)
    maced_id = hmac.new(sk_pr, id_body, hashlib.sha256).digest()
    assert octets == b"<message 2>" + b"<Ni>" + maced_id


def test_shared_key_auth_rfc7296_2_15() -> None:
    prf = get_prf(PrfId.HMAC_SHA2_512)
    secret = b"cisco123"
    inner = hmac.new(secret, b"Key Pad for IKEv2", hashlib.sha512).digest()
    expected = hmac.new(inner, OCTETS, hashlib.sha512).digest()
    assert auth.shared_key_auth(prf, secret, OCTETS) == expected
    assert auth.verify_shared_key_auth(prf, secret, OCTETS, expected)
    assert not auth.verify_shared_key_auth(prf, b"cisco124", OCTETS, expected)
    assert not auth.verify_shared_key_auth(prf, secret, OCTETS, expected[:-1])


def test_eap_msk_auth_rfc7296_2_16() -> None:
    # Same formula with the 64-byte MSK as the shared secret.
    prf = get_prf(PrfId.HMAC_SHA2_256)
    msk = bytes(range(64))
    inner = hmac.new(msk, b"Key Pad for IKEv2", hashlib.sha256).digest()
    assert auth.shared_key_auth(prf, msk, OCTETS) == hmac.new(inner, OCTETS, hashlib.sha256).digest()


# ----------------------------------------------- RFC 7427 AlgorithmIdentifiers

# Transcribed from RFC 7427 Appendix A and RFC 8420 §2.
APPENDIX_A = {
    "RSA_SHA256_ALG_ID": "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0b 05 00",  # A.1.2
    "RSA_SHA384_ALG_ID": "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0c 05 00",  # A.1.3
    "RSA_SHA512_ALG_ID": "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0d 05 00",  # A.1.4
    "ECDSA_SHA256_ALG_ID": "30 0a 06 08 2a 86 48 ce 3d 04 03 02",  # A.3.2
    "ECDSA_SHA384_ALG_ID": "30 0a 06 08 2a 86 48 ce 3d 04 03 03",  # A.3.3
    "ECDSA_SHA512_ALG_ID": "30 0a 06 08 2a 86 48 ce 3d 04 03 04",  # A.3.4
    "ED25519_ALG_ID": "30 05 06 03 2b 65 70",  # RFC 8420 §2
}


@pytest.mark.parametrize(("name", "der"), APPENDIX_A.items())
def test_algorithm_identifiers_rfc7427_appendix_a(name: str, der: str) -> None:
    assert getattr(auth, name) == bytes.fromhex(der)


def _self_signed_tbs(key: auth.PrivateKey, algorithm: hashes.HashAlgorithm | None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime(2025, 1, 1)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, algorithm)
    )
    return cert.tbs_certificate_bytes


def test_algorithm_identifiers_match_openssl_encoding(rsa_key: rsa.RSAPrivateKey) -> None:
    # OpenSSL writes the same AlgorithmIdentifier into an X.509 signature field.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for h, rsa_id, ec_id in (
        (hashes.SHA256(), auth.RSA_SHA256_ALG_ID, auth.ECDSA_SHA256_ALG_ID),
        (hashes.SHA384(), auth.RSA_SHA384_ALG_ID, auth.ECDSA_SHA384_ALG_ID),
        (hashes.SHA512(), auth.RSA_SHA512_ALG_ID, auth.ECDSA_SHA512_ALG_ID),
    ):
        assert rsa_id in _self_signed_tbs(rsa_key, h)
        assert ec_id in _self_signed_tbs(ec_key, h)
    assert auth.ED25519_ALG_ID in _self_signed_tbs(ed25519.Ed25519PrivateKey.generate(), None)


# ------------------------------------------------------------ RSA


def test_rsa_digital_signature_rfc7427_3(rsa_key: rsa.RSAPrivateKey) -> None:
    method, data = auth.sign(rsa_key, OCTETS, SHA2)
    assert method == AuthMethod.DIGITAL_SIGNATURE
    # ASN.1 length octet | AlgorithmIdentifier | signature; SHA-512 preferred.
    assert data[0] == len(auth.RSA_SHA512_ALG_ID)
    assert data[1:16] == auth.RSA_SHA512_ALG_ID
    signature = data[16:]
    assert len(signature) == 256
    rsa_key.public_key().verify(signature, OCTETS, padding.PKCS1v15(), hashes.SHA512())
    assert auth.verify(rsa_key.public_key(), method, data, OCTETS)
    assert not auth.verify(rsa_key.public_key(), method, data, OCTETS + b"x")


def test_rsa_hash_follows_peer_list_rfc7427_4(rsa_key: rsa.RSAPrivateKey) -> None:
    _, data = auth.sign(rsa_key, OCTETS, [HashAlgorithm.SHA2_256])
    assert data[1:16] == auth.RSA_SHA256_ALG_ID
    _, data = auth.sign(rsa_key, OCTETS, [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384])
    assert data[1:16] == auth.RSA_SHA384_ALG_ID


def test_rsa_classic_rsa_sig_rfc7296_3_8(rsa_key: rsa.RSAPrivateKey) -> None:
    # No SIGNATURE_HASH_ALGORITHMS (or only SHA-1/unknown): PKCS#1 v1.5 SHA-1.
    for offered in ([], [HashAlgorithm.SHA1], [HashAlgorithm.IDENTITY]):
        method, data = auth.sign(rsa_key, OCTETS, offered)
        assert method == AuthMethod.RSA_SIG
        rsa_key.public_key().verify(data, OCTETS, padding.PKCS1v15(), hashes.SHA1())
        assert auth.verify(rsa_key.public_key(), AuthMethod.RSA_SIG, data, OCTETS)


# ------------------------------------------------------------ ECDSA


def test_ecdsa_digital_signature_rfc7427_3(ec_key: ec.EllipticCurvePrivateKey) -> None:
    method, data = auth.sign(ec_key, OCTETS, SHA2)
    assert method == AuthMethod.DIGITAL_SIGNATURE
    # The hash matching the curve: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512.
    expected_id, h = {
        256: (auth.ECDSA_SHA256_ALG_ID, hashes.SHA256()),
        384: (auth.ECDSA_SHA384_ALG_ID, hashes.SHA384()),
        521: (auth.ECDSA_SHA512_ALG_ID, hashes.SHA512()),
    }[ec_key.curve.key_size]
    assert data[0] == len(expected_id) and data[1:1 + data[0]] == expected_id
    der = data[1 + data[0]:]
    assert der[0] == 0x30  # RFC 7427 §3: DER Ecdsa-Sig-Value
    ec_key.public_key().verify(der, OCTETS, ec.ECDSA(h))
    assert auth.verify(ec_key.public_key(), method, data, OCTETS)
    assert not auth.verify(ec_key.public_key(), method, data, OCTETS[:-1])


def test_ecdsa_classic_methods_rfc4754_7(ec_key: ec.EllipticCurvePrivateKey) -> None:
    method, data = auth.sign(ec_key, OCTETS, [])
    expected_method, size, h = {
        256: (AuthMethod.ECDSA_SHA256_P256, 32, hashes.SHA256()),
        384: (AuthMethod.ECDSA_SHA384_P384, 48, hashes.SHA384()),
        521: (AuthMethod.ECDSA_SHA512_P521, 66, hashes.SHA512()),
    }[ec_key.curve.key_size]
    assert method == expected_method
    assert len(data) == 2 * size  # r || s, fixed size, not DER
    r, s = int.from_bytes(data[:size], "big"), int.from_bytes(data[size:], "big")
    ec_key.public_key().verify(encode_dss_signature(r, s), OCTETS, ec.ECDSA(h))
    assert auth.verify(ec_key.public_key(), method, data, OCTETS)
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    assert not auth.verify(ec_key.public_key(), method, flipped, OCTETS)


def test_ecdsa_p384_falls_back_to_offered_hash() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    _, data = auth.sign(key, OCTETS, [HashAlgorithm.SHA2_256])
    assert data[1:13] == auth.ECDSA_SHA256_ALG_ID
    assert auth.verify(key.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, OCTETS)


def test_ecdsa_method_must_match_curve_rfc4754_3() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    method, data = auth.sign(key, OCTETS, [])
    assert method == AuthMethod.ECDSA_SHA256_P256
    assert not auth.verify(key.public_key(), AuthMethod.ECDSA_SHA384_P384, data, OCTETS)
    assert not auth.verify(key.public_key(), AuthMethod.ECDSA_SHA256_P256, data + b"\0", OCTETS)


# ------------------------------------------------------------ Ed25519


def test_ed25519_rfc8420() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    method, data = auth.sign(key, OCTETS, [HashAlgorithm.SHA2_256, HashAlgorithm.IDENTITY])
    assert method == AuthMethod.DIGITAL_SIGNATURE
    assert data[1:8] == auth.ED25519_ALG_ID and len(data) == 8 + 64
    assert auth.verify(key.public_key(), method, data, OCTETS)
    with pytest.raises(UnsupportedTransform):
        auth.sign(key, OCTETS, SHA2)  # no IDENTITY offered, no classic method


# ------------------------------------------------------------ mismatches


def test_verify_rejects_mismatched_and_malformed(rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_pub, ec_pub = rsa_key.public_key(), ec_key.public_key()
    method, rsa_ds = auth.sign(rsa_key, OCTETS, SHA2)
    _, ec_ds = auth.sign(ec_key, OCTETS, SHA2)
    # An AlgorithmIdentifier for the wrong key type.
    assert not auth.verify(ec_pub, method, rsa_ds, OCTETS)
    assert not auth.verify(rsa_pub, method, ec_ds, OCTETS)
    # A different AlgorithmIdentifier than the one signed with.
    swapped = bytes([15]) + auth.RSA_SHA256_ALG_ID + rsa_ds[16:]
    assert not auth.verify(rsa_pub, method, swapped, OCTETS)
    for garbage in (b"", b"\x0f", b"\xff" + rsa_ds[1:], bytes([15]) + auth.RSA_SHA512_ALG_ID):
        assert not auth.verify(rsa_pub, method, garbage, OCTETS)
    assert not auth.verify(rsa_pub, AuthMethod.SHARED_KEY_MIC, rsa_ds, OCTETS)
    assert not auth.verify(rsa_pub, AuthMethod.ECDSA_SHA256_P256, rsa_ds, OCTETS)
    assert not auth.verify(ec_pub, AuthMethod.RSA_SIG, ec_ds, OCTETS)
    assert not auth.verify(rsa_pub, 999, rsa_ds, OCTETS)


def test_rsa_pss_alg_id_is_rfc7427_appendix_a_4_3() -> None:
    assert auth.RSA_PSS_SHA256_ALG_ID.hex() == (
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c"
        "301a06092a864886f70d010108300d06096086480165030402010500a203020120")


@pytest.mark.parametrize(("alg_id", "hash_alg", "hash_id"), [
    (auth.RSA_PSS_SHA256_ALG_ID, hashes.SHA256(), HashAlgorithm.SHA2_256),
    (auth.RSA_PSS_SHA384_ALG_ID, hashes.SHA384(), HashAlgorithm.SHA2_384),
    (auth.RSA_PSS_SHA512_ALG_ID, hashes.SHA512(), HashAlgorithm.SHA2_512),
])
def test_rsa_pss_digital_signature_is_verified_rfc7427_a_4(rsa_key: rsa.RSAPrivateKey, alg_id: bytes,
                                                         hash_alg: hashes.HashAlgorithm,
                                                         hash_id: HashAlgorithm) -> None:
    """A peer's RSASSA-PSS AUTH (libreswan's default) verifies; we still sign PKCS#1 v1.5."""
    octets = b"signed octets"
    value = rsa_key.sign(octets, padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size),
                         hash_alg)
    data = bytes((len(alg_id),)) + alg_id + value
    assert auth.digital_signature_hash(data) == hash_id
    assert auth.verify(rsa_key.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, octets)
    assert not auth.verify(rsa_key.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, b"other octets")
    # PSS is only for RSA keys, and our own signatures stay PKCS#1 v1.5
    assert not auth.verify(ec.generate_private_key(ec.SECP256R1()).public_key(), AuthMethod.DIGITAL_SIGNATURE,
                           data, octets)
    _, ours = auth.sign(rsa_key, octets, [hash_id])
    assert ours[1:1 + ours[0]] != alg_id
