"""The running headend: configuration, responder, sockets, data plane.

One object holds what a running ikev2d is, so the control socket (`show`
commands, logoff, reload) and the features that listen (IKE, client
services) find each other here rather than through globals.

Signals (`serve_until_signalled`): SIGTERM and SIGINT stop gracefully (every
client gets a Delete, the SA-down lines and Accounting-Stops go out, all
within DRAIN_SECONDS; a second signal stops at once); SIGHUP reloads the
configuration file (`ikev2d.reload`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Coroutine

from esp.dataplane import DataPlane, RecordingDataPlane

from .aaa.radius.client import RadiusClients
from .client_services import ClientServices
from .conf import Config
from .control.service import Control, start_control
from .core import Responder
from .keylog import KeyLog
from .reload import ReloadReport, reload
from .reload.apply import RETIRING
from .sa_types import State
from .settings import ResponderSettings, build_settings
from .shutdown import end_sessions, still_deleting
from .syslog import pipeline_from_config
from .listen_errors import Where, explain, where_from
from .trace.hub import TraceFile, TraceHub, trace_file_listener
from .trace.record import PLATFORM, PROTOCOL
from .transport import Transport
from .udp import BindError
from .workers import CryptoRunner

log = logging.getLogger("ikev2d")

# A graceful stop waits this long, in all, for the clients to answer their
# Delete and for the Accounting-Stops to leave: long enough for a LAN's
# round trips and a RADIUS answer, short enough for a service manager's
# stop timeout (the lab's is 3 s before SIGKILL)
DRAIN_SECONDS = 2.0
_DRAIN_POLL = 0.05


@dataclass(frozen=True)
class Listener:
    """A listening socket, as `show asp table socket` lists it."""

    protocol: str  # "IKE", "NAT-T", "SSL", "DTLS"
    address: str
    port: int
    socket_id: int  # an identifier for the listing (FTD prints a hex handle)


@dataclass
class Daemon:
    config: Config
    dataplane: DataPlane = field(default_factory=RecordingDataPlane)
    crypto_workers: int = 0
    settings: ResponderSettings = field(init=False)
    responder: Responder = field(init=False)
    transport: Transport | None = field(default=None, init=False)
    listeners: list[Listener] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    control_path: str | None = None  # the `show` / logoff socket; None: no control socket
    control: Control | None = field(default=None, init=False)
    client_services: ClientServices | None = field(default=None, init=False)
    # `run --listen/--ike-port/--natt-port`: where IKE listens instead of
    # the access interfaces' addresses and the configured ports
    listen: tuple[str, ...] = ()
    ports: tuple[int, int] | None = None
    keylog_dir: Path | None = None  # the explicit key export (run --keylog)
    _background: set[asyncio.Task] = field(default_factory=set, init=False)  # closes left from reloads
    _trace_file: TraceFile | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.settings = build_settings(self.config)
        # a data plane spread over worker processes by SPI gets each new Child SA in its emptiest worker
        self.responder = Responder(self.settings, child_spi_lanes=self.dataplane.spi_lanes)
        self.dataplane.watch_lanes(self.responder.spi_lanes.lane_changed)  # and none in a worker being replaced
        self.crypto = CryptoRunner(self.settings.signing_keys, self.crypto_workers)
        self.syslog = pipeline_from_config(self.config)
        self.radius = RadiusClients(self.settings.radius_groups)

    def ike_addresses(self) -> list[str]:
        if self.listen:
            return list(self.listen)
        # `crypto ikev2 enable outside` serves both of the interface's families
        return [address for a in self.config.remote_access_vpn.access_interfaces if a.enable_ipsec_ikev2
                for address in self.config.interface(a.interface).addresses()]

    @property
    def trace_hub(self) -> TraceHub | None:
        """The debug trace's listeners (`ikev2d debug`), once serving."""
        return self.transport.trace if self.transport is not None else None

    def ike_ports(self) -> tuple[int, int]:
        ra = self.config.remote_access_vpn
        return self.ports if self.ports is not None else (ra.ike_port, ra.nat_t_port)

    async def start(self) -> None:
        addresses = self.ike_addresses()
        if not addresses:
            raise RuntimeError("no access interface has IPsec-IKEv2 enabled: nothing to serve")
        # one adapter owns every IKE socket: a reply leaves from its SA's address
        self.transport = Transport(self.responder, addresses, self.dataplane, self.crypto, ports=self.ike_ports(),
                                   syslog=self.syslog, radius=self.radius, keylog=self._keylog())
        try:
            await self.transport.start()
        except BindError as exc:
            raise _explained(exc, where_from(str(exc))) from exc
        self.route_pools()
        trace = self.config.logging.debug_trace
        if trace is not None:
            listener, self._trace_file = trace_file_listener(
                trace.file, {PROTOCOL: trace.protocol, PLATFORM: trace.platform}, trace.format)
            self.transport.trace.add(listener)
            log.info("debug crypto ikev2 protocol %d platform %d: written to %s", trace.protocol, trace.platform,
                     trace.file)
        for (address, port), endpoint in self.transport.endpoints.items():
            protocol = "IKE" if port == self.transport.ike_port else "NAT-T"
            self.listeners.append(Listener(protocol, address, port, id(endpoint)))
        # TLS (and the DTLS placeholder) wherever SSL or client services
        # expose it: listed exactly as it listens
        self.client_services = ClientServices.from_config(self.config, self.settings.default.identity)
        try:
            started = await self.client_services.start()
        except OSError as exc:
            raise _client_services_error(exc, self.config) from exc
        for bound in started:
            self.listeners.append(Listener(bound.protocol, bound.address, bound.port, bound.socket_id))

        if self.control_path:
            # last, so `show asp table socket` finds every listener registered
            self.control = await start_control(self, self.control_path)

    def _keylog(self) -> KeyLog | None:
        if self.keylog_dir is None:
            return None
        keylog = KeyLog(self.keylog_dir)  # an unusable folder stops the start: asked for, it must work
        # as loud as strongSwan's save-keys: nobody should run this unknowingly
        log.warning("WARNING: SAVING IKE AND ESP KEYS TO '%s' (Wireshark decryption tables)", self.keylog_dir)
        return keylog

    async def drain(self, hurry: asyncio.Event, budget: float = DRAIN_SECONDS) -> None:
        """End every session as a logoff would, then wait (at most `budget`
        seconds, less if `hurry` is set) for the clients' answers and for
        the Accounting-Stops to leave."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        ended = sum(1 for sa in self.responder.sas.values() if sa.state is State.ESTABLISHED)
        log.info("stopping: ending %d session(s)", ended)
        while not hurry.is_set():
            # again each round: an IKE_SA_INIT whose DH job was running may have landed
            self.perform(end_sessions(self.responder, time.monotonic()))
            if not still_deleting(self.responder) or loop.time() >= deadline:
                break
            await _wait(hurry, min(_DRAIN_POLL, deadline - loop.time()))
        unanswered = still_deleting(self.responder)
        if self.transport is not None and not hurry.is_set():
            left = max(0.0, deadline - loop.time())
            sent = await _until_either(self.transport.accounting_sent(left), hurry)
            if not sent:
                log.warning("stopping: Accounting-Stop requests still unanswered")
        if unanswered:
            log.warning("stopping: %d client(s) did not answer their Delete", unanswered)

    def reload(self) -> ReloadReport:
        """Re-read the configuration file; apply it, or keep the running
        configuration and say why (SIGHUP and `ikev2d reload`)."""
        if not self.responder.accepting:
            return ReloadReport(False, ["refused: ikev2d is stopping"])
        return reload(self, time.monotonic())

    def route_pools(self) -> None:
        """The pools of the settings, to the data plane (the userspace one
        routes each pool's range to its TUN device once, not each client)."""
        blocks = [block for pool in self.settings.pools.values() for block in pool.blocks()]
        self.dataplane.route_pools(blocks + [block for pool in self.settings.pools6.values() for block in pool.blocks()])

    def has_client_services(self) -> bool:
        return any(listener.protocol in ("SSL", "DTLS") for listener in self.listeners)

    def keep_until_stop(self, task: asyncio.Task) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        for task in list(self._background):
            if task.get_name() == RETIRING:  # retired RADIUS clients close now, not later
                task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.control is not None:
            await self.control.stop()
        if self.client_services is not None:
            await self.client_services.stop()
        if self.transport is not None:
            await self.transport.stop()
        self.dataplane.close()
        self.crypto.close()
        await self.radius.close()
        await self.syslog.aclose()
        if self._trace_file is not None:
            self._trace_file.close()

    def perform(self, effects: list) -> None:
        """Carry out effects that did not come from a datagram (logoff...)."""
        if self.transport is not None:
            self.transport.perform(effects)


def _explained(exc: OSError, where: Where | None) -> BindError:
    """A BindError whose text says why and what to do (the original's reason kept)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    if where is None:
        return BindError(exc.errno, str(exc.strerror or exc))
    return BindError(exc.errno, explain(cause, where))


def _client_services_error(exc: OSError, config: Config) -> BindError:
    from .client_services import plan_endpoints
    endpoints = plan_endpoints(config)
    named = where_from(str(exc))
    for e in endpoints:  # asyncio's message names the address as a tuple: find the endpoint
        if named is None and f"'{e.address}', {e.port})" in str(exc):
            named = Where("TCP" if e.protocol == "SSL" else "UDP", e.address, e.port)
    if named is None and len(endpoints) == 1:
        e = endpoints[0]
        named = Where("TCP" if e.protocol == "SSL" else "UDP", e.address, e.port)
    what = explain(exc, named) if named is not None else f"cannot listen: {exc.strerror or exc}"
    return BindError(exc.errno, f"client services (SSL/DTLS, enable_ssl or enable_client_services): {what}")


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    except asyncio.TimeoutError:
        pass


async def _until_either(work: Coroutine[Any, Any, bool], hurry: asyncio.Event) -> bool:
    """`work`'s result, or False as soon as `hurry` is set."""
    task = asyncio.ensure_future(work)
    hurried = asyncio.ensure_future(hurry.wait())
    await asyncio.wait({task, hurried}, return_when=asyncio.FIRST_COMPLETED)
    hurried.cancel()
    if not task.done():
        task.cancel()
        return False
    return task.result()


async def serve_until_signalled(daemon: Daemon) -> int:
    import signal
    await daemon.start()
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stop(name: str) -> None:
        if stop.is_set():
            log.warning("%s again: stopping at once", name)
            hurry.set()
        else:
            log.info("%s: stopping gracefully (again to stop at once)", name)
            stop.set()

    def on_hangup() -> None:
        log.info("SIGHUP: reloading %s", daemon.config.source)
        try:
            daemon.reload()
        except Exception:  # a reload bug must not take the headend down
            log.exception("reload failed; the running configuration is kept")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop, sig.name)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    await stop.wait()
    # not removed: SIGHUP's default action would kill the drain
    loop.add_signal_handler(signal.SIGHUP, log.info, "SIGHUP while stopping: not reloading")
    await daemon.drain(hurry)
    await daemon.stop()
    return 0
