"""asyncio adapter: UDP 500 and 4500 sockets around the sans-I/O core.

Port 4500 carries IKE behind the four-byte non-ESP marker, NAT keepalives
(a single 0xff) and ESP (RFC 3948 §2.2); ESP goes to the data plane.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

import asyncio_dgram
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from esp.spec import ChildSaSpec

from .core import Responder
from .crypto.jobs import CryptoWorker, Job, JobResult, init_worker_process, run_in_worker_process
from .effects import Compute, Effect, Emit, InstallChildSa, RemoveChildSa, SendDatagram
from .iana import IKE_PORT, NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER
from .log import log_event

log = logging.getLogger("ikev2d.transport")


class DataPlane(Protocol):
    def install(self, spec: ChildSaSpec) -> None: ...
    def remove(self, spec: ChildSaSpec) -> None: ...
    def esp_received(self, data: bytes, remote: tuple[str, int]) -> None: ...


class RecordingDataPlane:
    """Keeps the negotiated SAs without carrying traffic: the placeholder
    until a real back end (kernel XFRM or userspace ESP) is selected."""

    def __init__(self) -> None:
        self.sas: dict[int, ChildSaSpec] = {}

    def install(self, spec: ChildSaSpec) -> None:
        self.sas[spec.spi_in] = spec

    def remove(self, spec: ChildSaSpec) -> None:
        self.sas.pop(spec.spi_in, None)

    def esp_received(self, data: bytes, remote: tuple[str, int]) -> None:
        pass


class CryptoRunner:
    """Runs `Compute` jobs in worker processes (or inline with 0 workers),
    so a DH exchange or RSA signature never stalls the other peers."""

    def __init__(self, signing_keys: dict, workers: int) -> None:
        self.inline = CryptoWorker(signing_keys) if workers == 0 else None
        self.pool: ProcessPoolExecutor | None = None
        if workers:
            pems = {name: key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
                    for name, key in signing_keys.items()}
            self.pool = ProcessPoolExecutor(workers, initializer=init_worker_process, initargs=(pems,))

    async def run(self, job: Job) -> JobResult:
        if self.inline is not None:
            return self.inline.run(job)
        assert self.pool is not None
        return await asyncio.get_running_loop().run_in_executor(self.pool, run_in_worker_process, job)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class Transport:
    def __init__(self, responder: Responder, address: str, dataplane: DataPlane, crypto: CryptoRunner,
                 ports: tuple[int, int] = (IKE_PORT, NAT_T_PORT)) -> None:
        self.responder = responder
        self.address = address
        self.dataplane = dataplane
        self.crypto = crypto
        self.ports = ports
        self._socks: dict[int, asyncio_dgram.DatagramServer] = {}
        self._tasks: list[asyncio.Task] = []
        self._jobs: set[asyncio.Task] = set()

    async def start(self) -> None:
        for port in self.ports:
            self._socks[port] = await asyncio_dgram.bind((self.address, port))
        for port, sock in self._socks.items():
            self._tasks.append(asyncio.create_task(self._serve(port, sock), name=f"udp-{port}"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="tick"))
        log.info("serving IKEv2 on %s ports %s", self.address, "/".join(map(str, self.ports)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in self._socks.values():
            sock.close()

    async def _serve(self, port: int, sock: asyncio_dgram.DatagramServer) -> None:
        local = (self.address, port)
        nat_t = port != self.ports[0]
        while True:
            data, remote = await sock.recv()
            remote = (remote[0], remote[1])
            if nat_t:
                if data == NAT_KEEPALIVE:
                    continue
                if not data.startswith(NON_ESP_MARKER):
                    self.dataplane.esp_received(data, remote)
                    continue
                data = data[len(NON_ESP_MARKER):]
            try:
                effects = self.responder.datagram_received(data, local, remote, time.monotonic())
            except Exception:  # the core must never raise; if it does, keep serving others
                log.exception("internal error handling a datagram from %s:%d", *remote)
                continue
            await self._perform(effects)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._perform(self.responder.tick(time.monotonic()))

    async def _perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case SendDatagram(data=data, local=local, remote=remote):
                    sock = self._socks[local[1]]
                    payload = NON_ESP_MARKER + data if local[1] != self.ports[0] else data
                    await sock.send(payload, remote)
                case InstallChildSa(spec=spec):
                    self.dataplane.install(spec)
                case RemoveChildSa(spec=spec):
                    self.dataplane.remove(spec)
                case Compute(token=token, job=job):
                    task = asyncio.create_task(self._compute(token, job))
                    self._jobs.add(task)
                    task.add_done_callback(self._jobs.discard)
                case Emit(event=event):
                    log_event(event)

    async def _compute(self, token: tuple, job: Job) -> None:
        try:
            result = await self.crypto.run(job)
            effects = self.responder.job_done(token, result, time.monotonic())
        except Exception:  # a worker died: the exchange times out, the daemon goes on
            log.exception("crypto job %s failed", type(job).__name__)
            return
        await self._perform(effects)
