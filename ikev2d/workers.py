"""Crypto jobs (DH, signatures) in worker processes, so a DH exchange or an
RSA signature never stalls the other peers; inline with 0 workers (the
default when the daemon may run on one CPU only: see `default_workers`).

Each worker is a forked process with one socket pair to the daemon: the
event loop writes a job (pickled) to the least busy worker and reads the
answer when the socket is readable (loop.add_reader). No threads: a
ProcessPoolExecutor hands every job through two threads of the daemon (its
queue feeder and its manager) and wakes the loop through a pipe, which
cost ~1 ms of the daemon's CPU per connect (two jobs), as much as half the
crypto itself (bench/bench_handshake.py, docs/performance.md).

A job always comes back with a result: a worker that raises gives
`JobFailed(local=True)`; one that dies (its socket ends) fails every job it
held and is replaced; one that hangs past `JOB_TIMEOUT` is killed and
replaced, and its jobs fail, so the exchange that waited ends instead of
holding its SA (or its half-open slot) for good.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any, Callable

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from .crypto.auth import PrivateKey
from .crypto.jobs import CryptoWorker, Job, JobFailed, JobResult, init_worker_process, run_in_worker_process

log = logging.getLogger("ikev2d.workers")

JOB_TIMEOUT = 10.0  # seconds; a DH or signature takes about a millisecond
# jobs queued to one worker at most: a job is at most a few kB, so they fit
# in its socket buffer and a send never blocks the event loop (not even
# behind a worker that hangs until its timeout); beyond it a job fails
MAX_QUEUED = 64


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: taskset, systemd's
    CPUAffinity, a container's cpuset), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_workers(cpus: int) -> int:
    """One worker per usable CPU, or none (inline) on one CPU: there a worker
    only adds its IPC to each job (0.3-0.6 ms per connect measured,
    docs/performance.md) and buys no parallelism, the kernel time-slicing
    the one CPU either way."""
    return cpus if cpus > 1 else 0


def _serve(conn: Connection, pems: dict[str, bytes]) -> None:
    """A worker process: answer (id, function, argument) with (id, ok, result)."""
    # forked from the daemon's event loop: its signal handlers would write to
    # the daemon's wakeup socket; the daemon stops its workers itself
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    init_worker_process(pems)
    while True:
        try:
            job_id, function, argument = conn.recv()
        except (EOFError, OSError):
            return  # the daemon is gone
        try:
            answer = (job_id, True, function(argument))
        except Exception as exc:
            answer = (job_id, False, f"{type(exc).__name__}: {exc}")
        conn.send(answer)


class _Worker:
    def __init__(self, pems: dict[str, bytes]) -> None:
        self.conn, theirs = multiprocessing.Pipe(duplex=True)
        self.process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(theirs, pems), name="ikev2d-crypto", daemon=True)
        self.process.start()
        theirs.close()
        self.jobs: dict[int, tuple[str, asyncio.Future[JobResult]]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop that reads its answers

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self.conn.fileno())
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(1.0)


class CryptoRunner:
    def __init__(self, signing_keys: dict[str, PrivateKey], workers: int, timeout: float = JOB_TIMEOUT) -> None:
        self.inline = CryptoWorker(signing_keys) if workers == 0 else None
        self.workers = workers
        self.timeout = timeout
        self.restarts = 0
        self._pems = {name: key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
                      for name, key in signing_keys.items()} if workers else {}
        self._ids = itertools.count()
        self._next = itertools.count()
        self._retiring = False
        self.pool: list[_Worker] = [_Worker(self._pems) for _ in range(workers)]

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.pool if w.pid is not None]

    async def run(self, job: Job) -> JobResult:
        name = type(job).__name__
        if self.inline is not None:
            try:
                return self.inline.run(job)
            except Exception as exc:
                log.error("crypto job %s raised: %s", name, exc)
                return JobFailed(f"{name} raised {type(exc).__name__}", local=True)
        return await self._submit(run_in_worker_process, job, name)

    async def _submit(self, function: Callable[[Any], Any], argument: Any, name: str) -> JobResult:
        """`function(argument)` in the least busy worker (tests send other functions)."""
        loop = asyncio.get_running_loop()
        start = next(self._next)
        worker = min((self.pool[(start + i) % len(self.pool)] for i in range(len(self.pool))),
                     key=lambda w: len(w.jobs))
        if len(worker.jobs) >= MAX_QUEUED:
            log.warning("crypto job %s refused: %d jobs queued to each worker", name, MAX_QUEUED)
            return JobFailed(f"{name}: the crypto workers are saturated", local=True)
        if worker.loop is None:
            worker.loop = loop
            loop.add_reader(worker.conn.fileno(), self._answered, worker)
        job_id = next(self._ids)
        future: asyncio.Future[JobResult] = loop.create_future()
        worker.jobs[job_id] = (name, future)
        try:
            worker.conn.send((job_id, function, argument))
        except (OSError, ValueError):
            self._replace(worker, f"a crypto worker process died during {name}")
        try:
            return await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            log.error("crypto job %s did not finish within %g s", name, self.timeout)
            if worker.jobs.pop(job_id, None) is not None and worker in self.pool:
                # it may hang for good: a new worker takes its place, its other jobs fail
                self._replace(worker, f"a crypto worker was restarted after {name} hung", log_it=False)
            return JobFailed(f"{name} did not finish within {self.timeout:g} s", local=True)

    def _answered(self, worker: _Worker) -> None:
        try:
            job_id, ok, result = worker.conn.recv()
        except (EOFError, OSError):
            names = sorted({name for name, _ in worker.jobs.values()})
            self._replace(worker, f"a crypto worker process died during {', '.join(names) or 'no job'}")
            return
        except Exception as exc:  # an answer that does not unpickle: that job fails
            log.error("a crypto worker's answer could not be read: %s", exc)
            return
        entry = worker.jobs.pop(job_id, None)
        if entry is None:
            return  # it timed out already
        name, future = entry
        if not ok:
            log.error("crypto job %s raised: %s", name, result)
            result = JobFailed(f"{name} raised {str(result).split(':', 1)[0]}", local=True)
        if not future.done():
            future.set_result(result)
        if self._retiring and not any(w.jobs for w in self.pool):
            self.close()

    def _replace(self, broken: _Worker, reason: str, log_it: bool = True) -> None:
        if broken not in self.pool:
            return  # already replaced
        self.restarts += 1
        if log_it:
            log.error("%s; starting a new one (restart %d)", reason, self.restarts)
        jobs, broken.jobs = broken.jobs, {}
        broken.stop()
        self.pool[self.pool.index(broken)] = _Worker(self._pems)
        for name, future in jobs.values():
            if not future.done():
                future.set_result(JobFailed(reason if name in reason else f"{reason} ({name})", local=True))

    def retire(self) -> None:
        """Replaced by a new runner (a reload): jobs in flight finish, then the workers stop."""
        self._retiring = True
        if not any(w.jobs for w in self.pool):
            self.close()

    def close(self) -> None:
        workers, self.pool = self.pool, []
        for worker in workers:
            jobs, worker.jobs = worker.jobs, {}
            worker.stop()
            for name, future in jobs.values():
                if not future.done():
                    future.set_result(JobFailed(f"{name}: the crypto workers stopped", local=True))
