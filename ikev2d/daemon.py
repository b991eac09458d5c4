"""The running headend: configuration, responder, sockets, data plane.

One object holds what a running ikev2d is, so the control socket (`show`
commands, logoff) and the features that listen (IKE, client services) find
each other here rather than through globals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from esp.dataplane import DataPlane, RecordingDataPlane

from .aaa.radius.client import RadiusClients
from .client_services import ClientServices
from .conf import Config
from .control.service import Control, start_control
from .core import Responder
from .settings import ResponderSettings, build_settings
from .syslog import pipeline_from_config
from .transport import Transport
from .workers import CryptoRunner

log = logging.getLogger("ikev2d")


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

    def __post_init__(self) -> None:
        self.settings = build_settings(self.config)
        self.responder = Responder(self.settings)
        self.crypto = CryptoRunner(self.settings.signing_keys, self.crypto_workers)
        self.syslog = pipeline_from_config(self.config)
        self.radius = RadiusClients(self.settings.radius_groups)

    def ike_addresses(self) -> list[str]:
        return [str(self.config.interface(a.interface).address)
                for a in self.config.remote_access_vpn.access_interfaces if a.enable_ipsec_ikev2]

    async def start(self) -> None:
        addresses = self.ike_addresses()
        if not addresses:
            raise RuntimeError("no access interface has IPsec-IKEv2 enabled: nothing to serve")
        # one adapter owns every IKE socket: a reply leaves from its SA's address
        self.transport = Transport(self.responder, addresses, self.dataplane, self.crypto, syslog=self.syslog,
                                   radius=self.radius)
        await self.transport.start()
        for (address, port), endpoint in self.transport.endpoints.items():
            protocol = "IKE" if port == self.transport.ike_port else "NAT-T"
            self.listeners.append(Listener(protocol, address, port, id(endpoint)))
        # TLS (and the DTLS placeholder) wherever SSL or client services
        # expose it: listed exactly as it listens
        self.client_services = ClientServices.from_config(self.config, self.settings.default.identity)
        for bound in await self.client_services.start():
            self.listeners.append(Listener(bound.protocol, bound.address, bound.port, bound.socket_id))

        if self.control_path:
            # last, so `show asp table socket` finds every listener registered
            self.control = await start_control(self, self.control_path)

    async def stop(self) -> None:
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

    def perform(self, effects: list) -> None:
        """Carry out effects that did not come from a datagram (logoff...)."""
        if self.transport is not None:
            self.transport.perform(effects)


async def serve_until_signalled(daemon: Daemon) -> int:
    import signal
    await daemon.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await daemon.stop()
    return 0
