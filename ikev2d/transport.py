"""The asyncio adapter around the sans-I/O core: every IKE socket (UDP 500
and 4500 on each access interface), crypto and RADIUS jobs, the data plane,
and the core's timer.

Port 4500 carries IKE behind the four-byte non-ESP marker, NAT keepalives (a
single 0xff) and ESP (RFC 3948 §2.2). Both ports are read by `udp.UdpEndpoint`
(drain loops that no send or receive error can stop).
"""

from __future__ import annotations

import asyncio
import logging
import time

from esp.dataplane import WORKER_GONE, DataPlane, DataPlaneError, Expiry

from .aaa.radius.accounting import RetiredTraffic, added, session_counters, session_id
from .aaa.radius.client import RadiusClients
from .aaa.radius.messages import AccessRequest, AcctStatus, RadiusUnreachable, TrafficCounters
from .core import Responder
from .crypto.jobs import DhJob, DhKeyGenJob, Job, SignJob
from .pki.crl import CrlFetch, CrlFetched, FetchedSource
from .pki.crl_fetch import fetch_crl
from .effects import (Compute, Effect, Emit, IkeKeysDerived, InstallChildSa, ReadActivity, RemoveChildSa,
                      SendAccounting, SendDatagram, UpdateChildSa)
from .events import AccountingSucceeded, Event, MessageDropped
from .iana import IKE_PORT, NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER
from .keylog import KeyLog
from .log import log_event
from .syslog.pipeline import SyslogPipeline
from .trace.hub import TraceHub
from .udp import SocketErrors, UdpEndpoint
from .workers import CryptoRunner

log = logging.getLogger("ikev2d.transport")

Address = tuple[str, int]


class Transport:
    """The one adapter between the core and the network. A datagram the core
    sends leaves from the socket of the local address and port in its effect
    (where its SA lives), so with two access interfaces no reply, retransmit,
    DPD or Delete leaves from the wrong address."""

    def __init__(self, responder: Responder, addresses: list[str], dataplane: DataPlane, crypto: CryptoRunner,
                 ports: tuple[int, int] = (IKE_PORT, NAT_T_PORT), syslog: SyslogPipeline | None = None,
                 radius: RadiusClients | None = None, keylog: KeyLog | None = None) -> None:
        self.responder = responder
        self.keylog = keylog  # Wireshark's tables, only when asked for (run --keylog)
        self.trace = TraceHub(responder.tracer)  # ikev2d debug crypto ikev2 ...
        self.radius = radius  # RADIUS server groups
        self.syslog = syslog  # FTD syslog; without one, events are plain log lines
        self.addresses = addresses
        self.dataplane = dataplane
        self.crypto = crypto
        self.ike_port, self.nat_t_port = ports
        self.errors = SocketErrors()
        self.endpoints: dict[Address, UdpEndpoint] = {}  # by local (address, port)
        self._jobs: set[asyncio.Task] = set()
        self._accounting: set[asyncio.Task] = set()  # Accounting-Requests in flight, for a graceful stop
        self._retired = RetiredTraffic()  # counters of pairs a session no longer has, for its Stop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start(): timers need a running loop

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            for address in self.addresses:
                ike = UdpEndpoint(address, self.ike_port, self._datagram, self.errors)
                self.endpoints[ike.local] = ike
                nat_t = UdpEndpoint(address, self.nat_t_port, self._nat_t_datagram, self.errors,
                                    reuse_port=self.dataplane.reuse_port, gro=self.dataplane.udp_gro)
                self.endpoints[nat_t.local] = nat_t
                self.dataplane.attach(nat_t.sock, self._expired, self._esp_source_changed)
        except BaseException:
            self._close_endpoints()
            raise
        for endpoint in self.endpoints.values():
            endpoint.start()
        for address in self.addresses:
            log.info("serving IKEv2 on %s ports %d/%d", address, self.ike_port, self.nat_t_port)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = self._loop = None
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._close_endpoints()

    def _close_endpoints(self) -> None:
        for endpoint in self.endpoints.values():
            endpoint.close()
        self.endpoints.clear()

    # -- inbound --------------------------------------------------------------

    def _nat_t_datagram(self, data: bytes, local: Address, remote: Address) -> None:
        if data[:4] == NON_ESP_MARKER:
            self._datagram(data[4:], local, remote)
        elif data != NAT_KEEPALIVE:
            self.dataplane.esp_received(data, remote)

    def _datagram(self, data: bytes, local: Address, remote: Address) -> None:
        try:
            effects = self.responder.datagram_received(data, local, remote, time.monotonic())
        except Exception:  # the core must never raise; if it does, keep serving the others
            log.exception("internal error handling a datagram from %s:%d", *remote)
            return
        self.perform(effects)

    def _expired(self, expiry: Expiry) -> None:
        effects = self.responder.child_sa_expired(expiry.spi_in, expiry.hard, time.monotonic())
        if expiry.reason != WORKER_GONE:
            log.info("Child SA 0x%08x reached its %s %s lifetime", expiry.spi_in,
                     "hard" if expiry.hard else "soft", expiry.reason)
        elif effects:  # (the late hard report of a pair rekeyed meanwhile finds nothing)
            log.warning("Child SA 0x%08x was lost with its data-plane worker: %s", expiry.spi_in,
                        "deleting it, its rekey did not happen" if expiry.hard else "rekeying it")
        self.perform(effects)

    def _esp_source_changed(self, spi_in: int, remote: Address) -> None:
        self.perform(self.responder.esp_source_changed(spi_in, remote, time.monotonic()))

    # -- the core's timer (aioquic's get_timer / handle_timer) ----------------

    def _arm_timer(self) -> None:
        if self._loop is None:
            return
        deadline = self.responder.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        # time.monotonic is the asyncio loop's clock, so deadlines carry over
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        try:
            effects = self.responder.handle_timer(time.monotonic())
        except Exception:
            log.exception("internal error in the IKE timers")
            effects = []
        self.perform(effects)

    # -- effects ----------------------------------------------------------------

    def perform(self, effects: list[Effect]) -> None:
        """Carry out what the core asked, then arm its timer for whatever the
        effects changed (every entry into the core ends here)."""
        self.trace.publish(self.responder.tracer.drain())  # what the core did, before what it asks
        for effect in effects:
            self.trace.effect(effect)
            match effect:
                case SendDatagram(data=data, local=local, remote=remote):
                    self._send(data, local, remote)
                case InstallChildSa(spec=spec):
                    if self.keylog is not None:
                        self.keylog.child_sa(spec)
                    try:
                        self.dataplane.install(spec)
                    except DataPlaneError as exc:
                        log.error("the %s data plane could not install Child SA 0x%08x: %s",
                                  self.dataplane.name, spec.spi_in, exc)
                        self.trace.platform_error("install", spec, str(exc))
                        self.perform(self.responder.child_sa_failed(spec.spi_in, str(exc), time.monotonic()))
                case RemoveChildSa(spec=spec):
                    last = self.dataplane.counters(spec.spi_in)  # gone once the pair is
                    if self.syslog is not None:  # the SA's last byte counts, for 113019
                        self.syslog.child_removed(spec.ike_sa_id, last)
                    self._retired.retire(session_id(spec.session), last)
                    try:
                        self.dataplane.remove(spec)
                    except DataPlaneError as exc:
                        log.error("the %s data plane could not remove Child SA 0x%08x: %s",
                                  self.dataplane.name, spec.spi_in, exc)
                        self.trace.platform_error("remove", spec, str(exc))
                case UpdateChildSa(old=old, new=new):
                    if self.keylog is not None:  # Wireshark finds ESP by address
                        self.keylog.child_sa(new)
                    try:
                        self.dataplane.update(old, new)
                    except DataPlaneError as exc:
                        # the pair cannot follow its peer: end the session rather than
                        # leave the client with a tunnel that carries nothing
                        log.error("the %s data plane could not move Child SA 0x%08x to %s:%s: %s",
                                  self.dataplane.name, new.spi_in, new.remote_address, new.encap_remote_port, exc)
                        self.trace.platform_error("update", new, str(exc))
                        self.perform(self.responder.child_sa_failed(new.spi_in, str(exc), time.monotonic()))
                case Compute(token=token, job=AccessRequest() as request):
                    self._spawn(self._radius(token, request))
                case Compute(token=token, job=CrlFetch() as fetch):
                    self._spawn(self._fetch_crl(token, fetch))
                case Compute(token=token, job=DhJob() | DhKeyGenJob() | SignJob() as job):
                    self._spawn(self._compute(token, job))
                case SendAccounting():
                    self._account(effect)
                case ReadActivity(ike_spi=ike_spi, child_spis=spis):
                    counted = self.dataplane.counters_of(spis).values()
                    packets = sum(c.packets_in + c.packets_out for c in counted)
                    self.perform(self.responder.activity(ike_spi, packets, time.monotonic()))
                case Emit(event=event):
                    self._emit(event)
                case IkeKeysDerived(keys=keys):
                    if self.keylog is not None:
                        self.keylog.ike_sa(keys)
        self._arm_timer()

    def _send(self, data: bytes, local: Address, remote: Address) -> None:
        endpoint = self.endpoints.get(local)
        if endpoint is None:  # the address went away (stopping): the SA times out
            self._emit(MessageDropped("-", local, remote, "no socket is open on the SA's local address"))
            return
        endpoint.send(NON_ESP_MARKER + data if local[1] == self.nat_t_port else data, remote)

    def _emit(self, event: Event) -> None:
        self.trace.event(event)
        if self.syslog is not None:
            self.syslog.emit(event)
        else:
            log_event(event)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._jobs.add(task)  # keep a reference until done
        task.add_done_callback(self._jobs.discard)
        return task

    async def accounting_sent(self, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, for the Accounting-Requests in
        flight (a stopping daemon's Stops); True when none is left."""
        pending = set(self._accounting)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, timeout))
        return not self._accounting

    async def _radius(self, token: tuple, request: AccessRequest) -> None:
        # a network round trip, not CPU work: it runs on this loop (pyrad's
        # asyncio client), never in the worker processes
        try:
            result = (await self.radius.access(request) if self.radius is not None
                      else RadiusUnreachable(request.group, "no RADIUS client is running"))
        except Exception as exc:  # the exchange waits for an answer: give it one
            log.error("RADIUS request to server group %s failed: %s", request.group, exc)
            result = RadiusUnreachable(request.group, f"RADIUS client error: {exc}")
        self.perform(self.responder.job_done(token, result, time.monotonic()))

    def _account(self, effect: SendAccounting) -> None:
        # a Stop's counters are read now: its Child SAs are removed next
        record = effect.record
        counters = session_counters(self.dataplane, record.child_spis) if record.child_spis else None
        if record.status is AcctStatus.START:
            self._retired.start(record.session_id)
        elif record.status is AcctStatus.STOP:  # with what the pairs it no longer has carried
            counters = added(counters, self._retired.stop(record.session_id))
        if self.radius is None:
            log.warning("RADIUS accounting for group %s: no RADIUS client is running", record.group)
            return
        # the clients of now: a reload may swap them before the task runs
        task = self._spawn(self._send_accounting(self.radius, effect, counters))
        self._accounting.add(task)
        task.add_done_callback(self._accounting.discard)

    async def _send_accounting(self, radius: RadiusClients, effect: SendAccounting,
                               counters: TrafficCounters | None) -> None:
        try:
            host = await radius.account(effect.record, counters)
        except Exception:
            log.exception("RADIUS accounting to server group %s failed", effect.record.group)
            return
        if host is not None:
            self.perform([Emit(AccountingSucceeded(effect.ike_sa_id, effect.local, effect.remote,
                                                   effect.record.username, host))])

    async def _fetch_crl(self, token: tuple, job: CrlFetch) -> None:
        # blocking file or HTTP reads, in a thread: the loop and the crypto
        # workers go on meanwhile
        try:
            result = await asyncio.to_thread(fetch_crl, job)
        except Exception as exc:  # the exchange waits for an answer: give it one
            log.error("CRL fetch for trustpoint %s failed: %s", job.trustpoint, exc)
            result = CrlFetched(job.trustpoint, tuple(FetchedSource(s, None, str(exc)) for s in job.sources))
        self.perform(self.responder.job_done(token, result, time.monotonic()))

    async def _compute(self, token: tuple, job: Job) -> None:
        # never raises: a job that fails, hangs or loses its worker comes back
        # as JobFailed, so the exchange that waits for it ends, never sticks
        result = await self.crypto.run(job)
        self.perform(self.responder.job_done(token, result, time.monotonic()))
