"""asyncio adapter around the sans-I/O core: UDP 500 and 4500, crypto jobs,
the data plane.

Port 500 is IKE only and uses asyncio-dgram. Port 4500 carries IKE behind
the four-byte non-ESP marker, NAT keepalives (a single 0xff) and ESP
(RFC 3948 §2.2); it is read with `loop.add_reader` and a drain loop, since
the stock datagram endpoint reads one datagram per loop pass, far too slow
for ESP (shared/reference/performance-limits.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

import asyncio_dgram
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from esp.dataplane import DataPlane, DataPlaneError, Expiry

from .aaa.radius.accounting import session_counters
from .aaa.radius.client import RadiusClients
from .aaa.radius.messages import AccessRequest, RadiusUnreachable, TrafficCounters
from .core import Responder
from .crypto.jobs import CryptoWorker, DhJob, Job, JobResult, SignJob, init_worker_process, run_in_worker_process
from .effects import Compute, Effect, Emit, InstallChildSa, RemoveChildSa, SendAccounting, SendDatagram
from .events import AccountingSucceeded
from .iana import IKE_PORT, NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER
from .log import log_event
from .syslog.pipeline import SyslogPipeline

log = logging.getLogger("ikev2d.transport")

Address = tuple[str, int]
DRAIN_BATCH = 64  # datagrams per wake-up before yielding to other work


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


class NatTSocket:
    """UDP 4500: demultiplexes IKE, keepalives and ESP-in-UDP."""

    def __init__(self, address: str, port: int, on_ike: Callable[[bytes, Address], None],
                 on_esp: Callable[[bytes, Address], None]) -> None:
        self.local = (address, port)
        self.on_ike = on_ike
        self.on_esp = on_esp
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setblocking(False)
        self.sock.bind(self.local)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        recv = self.sock.recvfrom
        for _ in range(DRAIN_BATCH):
            try:
                data, remote = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                log.debug("4500 receive error: %s", exc)
                continue
            if data[:4] == NON_ESP_MARKER:
                self.on_ike(data[4:], remote)
            elif data == NAT_KEEPALIVE:
                continue
            else:
                self.on_esp(data, remote)

    def send_ike(self, data: bytes, remote: Address) -> None:
        try:
            self.sock.sendto(NON_ESP_MARKER + data, remote)
        except OSError as exc:
            log.warning("cannot send to %s:%d: %s", remote[0], remote[1], exc)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Transport:
    def __init__(self, responder: Responder, address: str, dataplane: DataPlane, crypto: CryptoRunner,
                 ports: tuple[int, int] = (IKE_PORT, NAT_T_PORT), syslog: SyslogPipeline | None = None,
                 radius: RadiusClients | None = None) -> None:
        self.responder = responder
        self.radius = radius  # RADIUS server groups (shared by all transports)
        self.syslog = syslog  # FTD syslog; without one, events are plain log lines
        self.address = address
        self.dataplane = dataplane
        self.crypto = crypto
        self.ike_port, self.nat_t_port = ports
        self._ike: asyncio_dgram.DatagramServer | None = None
        self._nat_t: NatTSocket | None = None
        self._tasks: list[asyncio.Task] = []
        self._jobs: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._ike = await asyncio_dgram.bind((self.address, self.ike_port))
        self._nat_t = NatTSocket(self.address, self.nat_t_port, self._ike_on_nat_t, self.dataplane.esp_received)
        self.dataplane.attach(self._nat_t.sock, self._expired)
        self._nat_t.start()
        self._tasks.append(asyncio.create_task(self._serve_ike(), name=f"udp-{self.ike_port}"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="tick"))
        log.info("serving IKEv2 on %s ports %d/%d", self.address, self.ike_port, self.nat_t_port)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ike is not None:
            self._ike.close()
        if self._nat_t is not None:
            self._nat_t.close()

    # -- inbound --------------------------------------------------------------

    async def _serve_ike(self) -> None:
        assert self._ike is not None
        local = (self.address, self.ike_port)
        while True:
            data, remote = await self._ike.recv()
            # asyncio-dgram's stub types this as any socket address; an IP
            # socket receives from (host, port) (IPv6 adds flow and scope)
            match remote:
                case (str() as host, int() as port, *_):
                    self._datagram(data, local, (host, port))
                case _:
                    log.warning("datagram from unexpected address %r ignored", remote)

    def _ike_on_nat_t(self, data: bytes, remote: Address) -> None:
        self._datagram(data, (self.address, self.nat_t_port), remote)

    def _datagram(self, data: bytes, local: Address, remote: Address) -> None:
        try:
            effects = self.responder.datagram_received(data, local, remote, time.monotonic())
        except Exception:  # the core must never raise; if it does, keep serving the others
            log.exception("internal error handling a datagram from %s:%d", *remote)
            return
        self.perform(effects)

    def _expired(self, expiry: Expiry) -> None:
        log.info("Child SA 0x%08x reached its %s %s lifetime", expiry.spi_in,
                 "hard" if expiry.hard else "soft", expiry.reason)
        self.perform(self.responder.child_sa_expired(expiry.spi_in, expiry.hard, time.monotonic()))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.perform(self.responder.tick(time.monotonic()))

    # -- effects ----------------------------------------------------------------

    def perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case SendDatagram(data=data, local=local, remote=remote):
                    self._send(data, local, remote)
                case InstallChildSa(spec=spec):
                    try:
                        self.dataplane.install(spec)
                    except DataPlaneError as exc:
                        log.error("the %s data plane could not install Child SA 0x%08x: %s",
                                  self.dataplane.name, spec.spi_in, exc)
                        self.perform(self.responder.child_sa_failed(spec.spi_in, str(exc), time.monotonic()))
                case RemoveChildSa(spec=spec):
                    if self.syslog is not None:  # the SA's last byte counts, for 113019
                        self.syslog.child_removed(spec.ike_sa_id, self.dataplane.counters(spec.spi_in))
                    try:
                        self.dataplane.remove(spec)
                    except DataPlaneError as exc:
                        log.error("the %s data plane could not remove Child SA 0x%08x: %s",
                                  self.dataplane.name, spec.spi_in, exc)
                case Compute(token=token, job=AccessRequest() as request):
                    self._spawn(self._radius(token, request))
                case Compute(token=token, job=DhJob() | SignJob() as job):
                    self._spawn(self._compute(token, job))
                case SendAccounting():
                    self._account(effect)
                case Emit(event=event):
                    if self.syslog is not None:
                        self.syslog.emit(event)
                    else:
                        log_event(event)

    def _send(self, data: bytes, local: Address, remote: Address) -> None:
        if local[1] == self.nat_t_port:
            assert self._nat_t is not None
            self._nat_t.send_ike(data, remote)
        else:
            assert self._ike is not None
            # tasks run in creation order, so fragments leave in order
            self._spawn(self._ike.send(data, remote))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._jobs.add(task)  # keep a reference until done
        task.add_done_callback(self._jobs.discard)

    async def _radius(self, token: tuple, request: AccessRequest) -> None:
        # a network round trip, not CPU work: it runs on this loop (pyrad's
        # asyncio client), never in the worker processes
        try:
            result = (await self.radius.access(request) if self.radius is not None
                      else RadiusUnreachable(request.group, "no RADIUS client is running"))
            effects = self.responder.job_done(token, result, time.monotonic())
        except Exception:
            log.exception("RADIUS request to server group %s failed", request.group)
            return
        self.perform(effects)

    def _account(self, effect: SendAccounting) -> None:
        # a Stop's counters are read now: its Child SAs are removed next
        record = effect.record
        counters = session_counters(self.dataplane, record.child_spis) if record.child_spis else None
        if self.radius is None:
            log.warning("RADIUS accounting for group %s: no RADIUS client is running", record.group)
            return
        self._spawn(self._send_accounting(effect, counters))

    async def _send_accounting(self, effect: SendAccounting, counters: TrafficCounters | None) -> None:
        assert self.radius is not None
        try:
            host = await self.radius.account(effect.record, counters)
        except Exception:
            log.exception("RADIUS accounting to server group %s failed", effect.record.group)
            return
        if host is not None:
            self.perform([Emit(AccountingSucceeded(effect.ike_sa_id, effect.local, effect.remote,
                                                   effect.record.username, host))])

    async def _compute(self, token: tuple, job: Job) -> None:
        try:
            result = await self.crypto.run(job)
            effects = self.responder.job_done(token, result, time.monotonic())
        except Exception:  # a worker died: that exchange times out, the daemon goes on
            log.exception("crypto job %s failed", type(job).__name__)
            return
        self.perform(effects)
