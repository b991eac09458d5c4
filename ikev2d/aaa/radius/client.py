"""The asyncio side of RADIUS: server groups over pyrad's asyncio client.

The transport hands an `AccessRequest` job to `RadiusClients.access` and
gets an answer to give back to the core; accounting records go out through
`RadiusClients.account` and nobody waits for them. Each server has its own
pyrad client (its own sockets), which retransmits every `timeout_seconds`
up to `retries` times; a server that stays silent hands the request to the
next one (`health.ServerHealth` decides the order). Nothing secret is
logged: no shared secret, no password, no key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from pyrad import packet as rp
from pyrad.client_async import ClientAsync

from .dictionary import radius_dictionary
from .health import DEAD_TIME, MAX_FAILED_ATTEMPTS, ServerHealth
from .messages import AccessRequest, AccountingRecord, RadiusResult, RadiusUnreachable, TrafficCounters
from .packets import InvalidReply, fill_access_request, fill_accounting_request, read_access_reply

log = logging.getLogger("ikev2d.radius")
PYRAD_LOGGER = "ikev2d.radius.pyrad"


class RadiusServerLike(Protocol):
    """conf.model.RadiusServer, as far as the client reads it."""

    @property
    def host(self) -> object: ...
    @property
    def authentication_port(self) -> int: ...
    @property
    def accounting_port(self) -> int: ...
    @property
    def secret(self) -> str: ...
    @property
    def timeout_seconds(self) -> int | float: ...
    @property
    def retries(self) -> int: ...


class RadiusGroupLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def servers(self) -> tuple[RadiusServerLike, ...]: ...


class _Unanswered(Exception):
    """This server did not (or could not) give a usable answer."""


class _Server:
    """One server: its pyrad client, opened on first use."""

    def __init__(self, config: RadiusServerLike) -> None:
        self.config = config
        self.host = str(config.host)
        self.client = ClientAsync(
            server=self.host, auth_port=config.authentication_port, acct_port=config.accounting_port,
            secret=config.secret.encode("utf-8"), dict=radius_dictionary(),
            retries=config.retries, timeout=config.timeout_seconds, logger_name=PYRAD_LOGGER)
        self._lock = asyncio.Lock()  # one socket setup at a time
        self.icmp_error: str | None = None  # the last ICMP error on its sockets, for the failure's reason

    def label(self, accounting: bool = False) -> str:
        port = self.config.accounting_port if accounting else self.config.authentication_port
        return f"{self.host}:{port}"

    async def send(self, make: Callable[[ClientAsync], rp.Packet], accounting: bool) -> rp.Packet:
        try:
            async with self._lock:
                if accounting and self.client.protocol_acct is None:
                    await self.client.initialize_transports(enable_acct=True)
                    self._note_icmp(self.client.protocol_acct)
                if not accounting and self.client.protocol_auth is None:
                    await self.client.initialize_transports(enable_auth=True)
                    self._note_icmp(self.client.protocol_auth)
            self.icmp_error = None
            return await self.client.SendPacket(make(self.client))
        except TimeoutError:
            tries = self.config.retries + 1
            why = f"no answer after {tries} transmission{'s' if tries > 1 else ''}"
            if self.icmp_error is not None:  # e.g. nothing listens on its port: FreeRADIUS stopped
                why += f" (ICMP: {self.icmp_error})"
            raise _Unanswered(why) from None
        except (OSError, ConnectionAbortedError) as exc:  # e.g. no route: connect() fails
            raise _Unanswered(f"cannot reach it: {exc.strerror or exc}") from None

    def _note_icmp(self, protocol: object) -> None:
        # pyrad logs an ERROR for each ICMP error (one per retransmission to
        # a closed port); its reason belongs in the one line that reports the
        # request unanswered, so it is kept here instead.
        def error_received(exc: Exception) -> None:
            self.icmp_error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)

        if protocol is not None:
            setattr(protocol, "error_received", error_received)

    async def close(self) -> None:
        await self.client.deinitialize_transports()


class RadiusGroupClient:
    """Requests to one `aaa-server` group, with failover between its servers."""

    def __init__(self, group: RadiusGroupLike, *, max_failed_attempts: int = MAX_FAILED_ATTEMPTS,
                 dead_time: float = DEAD_TIME, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.name = group.name
        self.servers = [_Server(s) for s in group.servers]
        self.health = ServerHealth(len(self.servers), max_failed_attempts, dead_time)
        self.clock = clock
        self.wall_clock = wall_clock

    async def access(self, request: AccessRequest) -> RadiusResult:
        # a request that carries a State goes back to the server that set it
        order = [request.server] if request.server is not None else self.health.order(self.clock())
        reasons: list[str] = []
        for index in order:
            server = self.servers[index]

            def make(client: ClientAsync) -> rp.Packet:
                pkt = client.CreateAuthPacket(code=rp.AccessRequest)
                fill_access_request(pkt, request)
                return pkt

            try:
                reply = await server.send(make, accounting=False)
                answer = read_access_reply(reply, index, server.host)
            except (_Unanswered, InvalidReply) as exc:
                reasons.append(self._failed(index, exc, accounting=False))
                continue
            except ValueError as exc:  # pyrad cannot encode it (e.g. an over-long name)
                return RadiusUnreachable(self.name, f"cannot encode the Access-Request: {exc}")
            self.health.answered(index)
            log.debug("RADIUS %s from %s (group %s)", answer.code.value, server.label(), self.name)
            return answer
        return RadiusUnreachable(self.name, "; ".join(reasons) or "no server to ask")

    async def account(self, record: AccountingRecord, counters: TrafficCounters | None) -> str | None:
        """Send one Accounting-Request; the host that acknowledged it, or None."""
        timestamp = int(self.wall_clock())
        for index in self.health.order(self.clock()):
            server = self.servers[index]

            def make(client: ClientAsync) -> rp.Packet:
                pkt = client.CreateAcctPacket(code=rp.AccountingRequest)
                fill_accounting_request(pkt, record, counters, timestamp)
                return pkt

            try:
                reply = await server.send(make, accounting=True)
                if reply.code != rp.AccountingResponse:
                    raise InvalidReply(f"RADIUS code {reply.code} does not answer an Accounting-Request")
            except (_Unanswered, InvalidReply) as exc:
                self._failed(index, exc, accounting=True)
                continue
            self.health.answered(index)
            log.info("RADIUS accounting %s for session %s acknowledged by %s (group %s)",
                     record.status.name.title(), record.session_id, server.label(True), self.name)
            return server.host
        # each server was retransmitted to as configured; nothing is kept to send later
        log.warning("RADIUS accounting %s for session %s (user %s) not delivered: no server of group %s "
                    "answered; the record is dropped", record.status.name.title(), record.session_id,
                    record.username, self.name)
        return None

    def _failed(self, index: int, exc: Exception, accounting: bool) -> str:
        server = self.servers[index]
        reason = f"{server.label(accounting)}: {exc}"
        log.warning("RADIUS server %s of group %s: %s", server.label(accounting), self.name, exc)
        if self.health.failed(index, self.clock()):
            log.warning("RADIUS server %s of group %s marked FAILED for %.0f s", server.host, self.name,
                        self.health.dead_time)
        return reason

    async def close(self) -> None:
        for server in self.servers:
            await server.close()


class RadiusClients:
    """Every RADIUS server group of the configuration, by name."""

    def __init__(self, groups: Mapping[str, RadiusGroupLike], *, max_failed_attempts: int = MAX_FAILED_ATTEMPTS,
                 dead_time: float = DEAD_TIME) -> None:
        self.groups = {name: RadiusGroupClient(group, max_failed_attempts=max_failed_attempts, dead_time=dead_time)
                       for name, group in groups.items()}

    async def access(self, request: AccessRequest) -> RadiusResult:
        group = self.groups.get(request.group)
        if group is None:
            return RadiusUnreachable(request.group, "no such RADIUS server group")
        return await group.access(request)

    async def account(self, record: AccountingRecord, counters: TrafficCounters | None) -> str | None:
        group = self.groups.get(record.group)
        if group is None:
            log.warning("RADIUS accounting: no server group named %s", record.group)
            return None
        return await group.account(record, counters)

    async def close(self) -> None:
        for group in self.groups.values():
            await group.close()
