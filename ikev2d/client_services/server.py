"""The client-services sockets: a TLS server answering the site over
HTTP/1.1, and the DTLS placeholder. Every wait is bounded: TLS handshake,
request head (size and time), response write, and connections at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..conf.model import Config
from ..identity import Identity
from .http import HEAD_END, MAX_HEAD, HttpError, Resource, Response, error, parse_head, respond, serialize
from .plan import Endpoint, plan_endpoints
from .site import build_site
from .tls import server_context

log = logging.getLogger("ikev2d.client_services")

MAX_LOGGED_PEERS = 256  # the DTLS placeholder logs each new peer up to this many


@dataclass(frozen=True, slots=True)
class Bound:
    """A socket that really listens, for `show asp table socket`."""

    protocol: str
    address: str
    port: int
    socket_id: int


@dataclass(frozen=True, slots=True)
class Limits:
    handshake_seconds: float = 10.0
    request_seconds: float = 10.0  # to read the request head, and again to write the answer
    max_connections: int = 64


def _socket_id(obj: object) -> int:
    # FTD prints an opaque 32-bit handle; anything unique while it lives will do
    return id(obj) & 0xFFFFFFFF


class TlsService:
    def __init__(self, endpoint: Endpoint, site: Mapping[str, Resource], context: ssl.SSLContext,
                 limits: Limits) -> None:
        self.endpoint = endpoint
        self.site = site
        self.context = context
        self.limits = limits
        self.server: asyncio.Server | None = None
        self.active: set[asyncio.Task[None]] = set()
        self.served = 0

    async def start(self) -> Bound:
        e = self.endpoint
        self.server = await asyncio.start_server(
            self._connection, e.address, e.port, ssl=self.context,
            ssl_handshake_timeout=self.limits.handshake_seconds, limit=MAX_HEAD, reuse_address=True)
        port = self.server.sockets[0].getsockname()[1]
        log.info("client services: TLS listening on %s:%d (%s)", e.address, port, e.interface)
        return Bound("SSL", e.address, port, _socket_id(self.server))

    async def stop(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for task in list(self.active):
            task.cancel()
        await asyncio.gather(*self.active, return_exceptions=True)
        await self.server.wait_closed()
        self.server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.active) >= self.limits.max_connections:
            writer.close()
            return
        self.active.add(task)
        try:
            await self._answer(reader, writer)
        finally:
            self.active.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        method, what = "-", "-"
        try:
            async with asyncio.timeout(self.limits.request_seconds):
                head = await reader.readuntil(HEAD_END)
            request = parse_head(head)
            method, what = request.method, request.target
            response = respond(request, self.site)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return  # the client left (or broke TLS) before a whole request
        except asyncio.LimitOverrunError:
            response = error(431)
        except TimeoutError:
            response = error(408)
        except HttpError as exc:
            response = error(exc.status)
        await self._send(writer, response, head_only=method == "HEAD")
        self.served += 1
        # the target came from the peer: bounded and escaped before logging
        log.info("client services: %s:%d %s %r %d", peer[0], peer[1], method, what[:200], response.status)

    async def _send(self, writer: asyncio.StreamWriter, response: Response, *, head_only: bool) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(self.limits.request_seconds):
                writer.write(serialize(response, head_only=head_only))
                await writer.drain()


class _Unanswered(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.datagrams = 0
        self.peers: set[str] = set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams += 1
        if addr[0] not in self.peers and len(self.peers) < MAX_LOGGED_PEERS:
            self.peers.add(addr[0])
            log.info("client services: DTLS %s:%d: %d bytes from %s:%d not answered (placeholder listener)",
                     self.endpoint.address, self.endpoint.port, len(data), addr[0], addr[1])


class DtlsPlaceholder:
    """Binds the DTLS port and answers nothing: Python has no DTLS server, and
    the SSL VPN tunnel DTLS carries is not served by ikev2d. The socket is
    there so the exposure the configuration asks for is real and listed."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None
        self.protocol = _Unanswered(endpoint)

    async def start(self) -> Bound:
        e = self.endpoint
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self.protocol, local_addr=(e.address, e.port))
        port = self.transport.get_extra_info("sockname")[1]
        log.info("client services: DTLS port %s:%d bound (placeholder: datagrams are logged, not answered)",
                 e.address, port)
        return Bound("DTLS", e.address, port, _socket_id(self.transport))

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class ClientServices:
    """All client-services sockets of the daemon, started and stopped together."""

    def __init__(self, endpoints: Sequence[Endpoint], site: Mapping[str, Resource],
                 context: ssl.SSLContext | None, limits: Limits = Limits(),
                 bare_site: Mapping[str, Resource] | None = None) -> None:
        """`bare_site`: what an endpoint that allows no downloads serves
        (default: `site`)."""
        if context is None and any(e.protocol == "SSL" for e in endpoints):
            raise ValueError("a TLS endpoint needs a TLS context")
        self.services: list[TlsService | DtlsPlaceholder] = [
            TlsService(e, site if e.downloads or bare_site is None else bare_site, context, limits)
            if e.protocol == "SSL" and context is not None
            else DtlsPlaceholder(e)
            for e in endpoints
        ]

    @classmethod
    def from_config(cls, config: Config, identity: Identity) -> "ClientServices":
        endpoints = plan_endpoints(config)
        if not any(e.protocol == "SSL" for e in endpoints):
            return cls(endpoints, {}, None)
        return cls(endpoints, build_site(config), server_context(identity),
                   bare_site=build_site(config, downloads=False))

    async def start(self) -> list[Bound]:
        bound: list[Bound] = []
        try:
            for service in self.services:
                bound.append(await service.start())
        except BaseException:
            await self.stop()
            raise
        return bound

    async def stop(self) -> None:
        for service in self.services:
            await service.stop()
