"""The crypto worker runs only its own jobs, and loads only keys it can sign with."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ikev2d.aaa.radius.messages import AccessRequest, NasContext
from ikev2d.crypto.errors import CryptoError
from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.jobs import (CryptoWorker, DhJob, DhKeyGenJob, DhKeyPair, DhResult, JobFailed, SignJob,
                               load_signing_key)
from ikev2d.iana import DhId, HashAlgorithm


def _pem(key: Any) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def test_a_radius_request_is_not_a_crypto_job() -> None:
    """It used to be taken for a SignJob and fail with AttributeError."""
    request = AccessRequest("ISE", "alice", NasContext("198.18.0.1", "198.18.0.2"), password="x")
    with pytest.raises(TypeError, match="runs DhJob, DhKeyGenJob and SignJob, not AccessRequest"):
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


@pytest.mark.parametrize("group", [DhId.MODP_2048, DhId.ECP_256, DhId.ECP_521, DhId.CURVE25519])
@pytest.mark.parametrize("backend", ["auto", "openssl"])
def test_a_key_made_by_one_job_finishes_the_exchange_in_another(group: int, backend: str) -> None:
    """A KE we send first (our CREATE_CHILD_SA request): the key pair comes
    from one job, g^ir later from another holding its private value."""
    worker = CryptoWorker({})
    pair = worker.run(DhKeyGenJob(group, backend))
    assert isinstance(pair, DhKeyPair) and "private" not in repr(pair)
    peer = get_dh_group(group).generate()
    result = worker.run(DhJob(group, peer.public_bytes, backend, private=pair.private))
    assert isinstance(result, DhResult)
    assert result.public == pair.public
    assert result.shared == peer.exchange(pair.public)
