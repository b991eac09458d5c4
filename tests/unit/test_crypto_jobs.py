"""The crypto worker runs only its own jobs, and loads only keys it can sign with."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ikev2d.aaa.radius.messages import AccessRequest, NasContext
from ikev2d.crypto.errors import CryptoError
from ikev2d.crypto.jobs import CryptoWorker, JobFailed, SignJob, load_signing_key
from ikev2d.iana import HashAlgorithm


def _pem(key: Any) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def test_a_radius_request_is_not_a_crypto_job() -> None:
    """It used to be taken for a SignJob and fail with AttributeError."""
    request = AccessRequest("ISE", "alice", NasContext("198.18.0.1", "198.18.0.2"), password="x")
    with pytest.raises(TypeError, match="runs DhJob and SignJob, not AccessRequest"):
        CryptoWorker({}).run(request)  # type: ignore[arg-type]


def test_an_unknown_signing_key_fails_the_job() -> None:
    job = SignJob("absent", b"octets", (int(HashAlgorithm.SHA2_256),))
    assert CryptoWorker({}).run(job) == JobFailed("no signing key named 'absent'")


def test_worker_loads_the_keys_it_can_sign_with() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    loaded = load_signing_key("server", _pem(key))
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()


def test_worker_refuses_a_key_it_cannot_sign_with() -> None:
    with pytest.raises(CryptoError, match="'odd' is a .*Ed448PrivateKey"):
        load_signing_key("odd", _pem(ed448.Ed448PrivateKey.generate()))
