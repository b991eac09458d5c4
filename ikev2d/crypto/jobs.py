"""The expensive public-key work of a handshake as plain, picklable jobs.

The sans-I/O core never runs a DH exchange or a signature itself: it asks
for one (`Compute` effect) and resumes when the result comes back. The
adapter runs jobs in worker processes, so one peer's 3072-bit DH or RSA
signature never holds up the event loop for the others; tests run them
inline. Worker processes load the signing keys once, at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ..pki.crl import CrlFetch, CrlFetched
from .auth import PrivateKey, sign
from .dh import get_dh_group
from .errors import CryptoError


@dataclass(frozen=True)
class DhJob:
    """g^ir from the peer's KE data, with a fresh key of ours, or with the
    one a `DhKeyGenJob` made (`private`: when we sent our KE first, as the
    initiator of an exchange does)."""

    group_id: int
    peer_public: bytes
    backend: str = "auto"
    private: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class DhResult:
    public: bytes
    shared: bytes = field(repr=False)


@dataclass(frozen=True)
class DhKeyGenJob:
    """A key pair for a KE payload we send before the peer's is known (a
    CREATE_CHILD_SA request of ours): the costly part of a DH, off the loop."""

    group_id: int
    backend: str = "auto"


@dataclass(frozen=True)
class DhKeyPair:
    group_id: int
    public: bytes
    private: bytes = field(repr=False)


@dataclass(frozen=True)
class SignJob:
    key_name: str
    octets: bytes
    peer_hash_algorithms: tuple[int, ...]


@dataclass(frozen=True)
class SignResult:
    method: int
    data: bytes


@dataclass(frozen=True)
class JobFailed:
    reason: str
    # True: our side failed (a worker died or hung), not the peer's input;
    # the peer did nothing wrong and may simply retry
    local: bool = False


# a CRL fetch is I/O, not CPU work: the adapter runs it in a thread, never
# in a worker (pki/crl_fetch.py); it is a job to the core all the same
Job = Union[DhJob, DhKeyGenJob, SignJob, CrlFetch]
JobResult = Union[DhResult, DhKeyPair, SignResult, JobFailed, CrlFetched]


class CryptoWorker:
    """Runs jobs; one per worker process (or one inline in tests)."""

    def __init__(self, signing_keys: Mapping[str, PrivateKey]) -> None:
        self.signing_keys = dict(signing_keys)

    def run(self, job: Job) -> JobResult:
        """Raises TypeError for anything but a DhJob or SignJob (a RADIUS
        Access-Request is a network round trip, never a worker's job)."""
        try:
            if isinstance(job, DhJob):
                group = get_dh_group(job.group_id, job.backend)
                private = group.load_private(job.private) if job.private else group.generate()
                return DhResult(private.public_bytes, private.exchange(job.peer_public))
            if isinstance(job, DhKeyGenJob):
                pair = get_dh_group(job.group_id, job.backend).generate()
                return DhKeyPair(job.group_id, pair.public_bytes, pair.private_value())
            if isinstance(job, SignJob):
                key = self.signing_keys.get(job.key_name)
                if key is None:
                    return JobFailed(f"no signing key named {job.key_name!r}")
                method, data = sign(key, job.octets, job.peer_hash_algorithms)
                return SignResult(int(method), data)
        except CryptoError as exc:
            return JobFailed(str(exc))
        raise TypeError(f"a crypto worker runs DhJob, DhKeyGenJob and SignJob, not {type(job).__name__}")


def load_signing_key(name: str, pem: bytes) -> PrivateKey:
    """A PEM private key of a kind `sign` handles (RSA, ECDSA, Ed25519)."""
    key = load_pem_private_key(pem, None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise CryptoError(f"signing key {name!r} is a {type(key).__name__}, which cannot sign AUTH payloads")
    return key


# -- worker-process plumbing (ProcessPoolExecutor initializer + function) --------

_worker: CryptoWorker | None = None


def init_worker_process(pem_keys: Mapping[str, bytes]) -> None:
    global _worker
    _worker = CryptoWorker({name: load_signing_key(name, pem) for name, pem in pem_keys.items()})


def run_in_worker_process(job: Job) -> JobResult:
    assert _worker is not None, "init_worker_process was not run"
    return _worker.run(job)
