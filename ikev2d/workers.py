"""Crypto jobs (DH, signatures) in worker processes, so a DH exchange or an
RSA signature never stalls the other peers; inline with 0 workers (tests).

A job always comes back with a result: a worker that raises, hangs past
`JOB_TIMEOUT` or dies (the pool is then broken for every later job, so it
is replaced) gives `JobFailed(local=True)`, and the exchange that waited for
it ends instead of holding its SA (or its half-open slot) for good.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from .crypto.auth import PrivateKey
from .crypto.jobs import CryptoWorker, Job, JobFailed, JobResult, init_worker_process, run_in_worker_process

log = logging.getLogger("ikev2d.workers")

JOB_TIMEOUT = 10.0  # seconds; a DH or signature takes about a millisecond


class CryptoRunner:
    def __init__(self, signing_keys: dict[str, PrivateKey], workers: int, timeout: float = JOB_TIMEOUT) -> None:
        self.inline = CryptoWorker(signing_keys) if workers == 0 else None
        self.workers = workers
        self.timeout = timeout
        self.restarts = 0
        self._pems = {name: key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
                      for name, key in signing_keys.items()} if workers else {}
        self.pool: ProcessPoolExecutor | None = self._new_pool() if workers else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, initializer=init_worker_process, initargs=(self._pems,))

    async def run(self, job: Job) -> JobResult:
        name = type(job).__name__
        if self.inline is not None:
            try:
                return self.inline.run(job)
            except Exception as exc:
                log.error("crypto job %s raised: %s", name, exc)
                return JobFailed(f"{name} raised {type(exc).__name__}", local=True)
        pool = self.pool
        assert pool is not None
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, run_in_worker_process, job)
            return await asyncio.wait_for(future, self.timeout)
        except BrokenProcessPool:
            self._replace(pool)
            return JobFailed(f"a crypto worker process died during {name}", local=True)
        except asyncio.TimeoutError:
            log.error("crypto job %s did not finish within %g s", name, self.timeout)
            return JobFailed(f"{name} did not finish within {self.timeout:g} s", local=True)
        except Exception as exc:
            log.error("crypto job %s raised: %s", name, exc)
            return JobFailed(f"{name} raised {type(exc).__name__}", local=True)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self.pool is not broken:
            return  # another job already replaced it
        self.restarts += 1
        log.error("a crypto worker process died; starting a new pool of %d (restart %d)",
                  self.workers, self.restarts)
        broken.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
