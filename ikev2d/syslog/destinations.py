"""Where records go: the console, a file, syslog servers over UDP and TCP.

A destination never blocks the event loop on the network and never raises
into the IKE path: UDP sends are non-blocking, TCP has its own writer task
behind a bounded queue, and what cannot be sent is counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol, TextIO

from .catalogue import Record
from .framing import local_line, octet_counted, rfc3164, rfc5424

log = logging.getLogger("ikev2d.syslog")

Framer = Callable[[Record, str, datetime], bytes]
FRAMINGS: dict[str, Framer] = {"rfc5424": rfc5424, "rfc3164": rfc3164}

TCP_QUEUE = 1024  # messages waiting for a slow or absent TCP server
TCP_CONNECT_TIMEOUT = 5.0
TCP_RETRY_MAX = 30.0  # back-off ceiling between connection attempts


class Destination(Protocol):
    sent: int
    dropped: int

    def send(self, record: Record, when: datetime) -> None: ...

    async def aclose(self) -> None: ...


class StreamDestination:
    """Local lines on a text stream: the console (stdout) or an open file."""

    def __init__(self, hostname: str, stream: TextIO | None = None) -> None:
        self.hostname = hostname
        self.stream = stream if stream is not None else sys.stdout
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        try:
            self.stream.write(local_line(record, self.hostname, when) + "\n")
            self.stream.flush()  # stdout is often a file: one line at a time
            self.sent += 1
        except (OSError, ValueError):  # closed or full
            self.dropped += 1

    async def aclose(self) -> None:
        pass


class FileDestination(StreamDestination):
    def __init__(self, hostname: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(hostname, path.open("a", encoding="utf-8"))
        self.path = path

    async def aclose(self) -> None:
        self.stream.close()


def _resolve(host: str, port: int, kind: socket.SocketKind) -> tuple[int, tuple[Any, ...]]:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=kind)[0]
    return family, address


class UdpDestination:
    """One datagram per message (RFC 5426); a full socket buffer drops it."""

    def __init__(self, hostname: str, host: str, port: int, framing: str) -> None:
        self.hostname = hostname
        self.frame = FRAMINGS[framing]
        family, self.address = _resolve(host, port, socket.SOCK_DGRAM)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        try:
            self.sock.sendto(self.frame(record, self.hostname, when), self.address)
            self.sent += 1
        except OSError:  # would block, unreachable (ICMP), no route
            self.dropped += 1

    async def aclose(self) -> None:
        self.sock.close()


class TcpDestination:
    """Octet-counted messages (RFC 6587 §3.4.1) over one connection, written
    by a task of its own; reconnects with back-off. A server that is slow or
    down fills the bounded queue, and what does not fit is dropped."""

    def __init__(self, hostname: str, host: str, port: int, framing: str, queue_size: int = TCP_QUEUE) -> None:
        self.hostname = hostname
        self.host, self.port = host, port
        self.frame = FRAMINGS[framing]
        self.queue: collections.deque[bytes] = collections.deque()
        self.queue_size = queue_size
        self.sent = self.dropped = 0
        self.connected = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def send(self, record: Record, when: datetime) -> None:
        if len(self.queue) >= self.queue_size:
            self.dropped += 1
            return
        self.queue.append(octet_counted(self.frame(record, self.hostname, when)))
        self._ensure_writer()
        if self._wake is not None:
            self._wake.set()

    def _ensure_writer(self) -> None:
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: queued until one runs a send
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"syslog-tcp-{self.host}:{self.port}")

    async def _run(self) -> None:
        assert self._wake is not None
        delay = 1.0
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                        TCP_CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                log.debug("syslog server %s:%d: %s", self.host, self.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, TCP_RETRY_MAX)
                continue
            delay = 1.0
            self.connected = True
            try:
                await self._write_queue(writer)
            except (OSError, ConnectionError) as exc:
                log.debug("syslog server %s:%d lost: %s", self.host, self.port, exc)
            finally:
                self.connected = False
                writer.close()

    async def _write_queue(self, writer: asyncio.StreamWriter) -> None:
        assert self._wake is not None
        while True:
            while self.queue:
                frame = self.queue.popleft()
                try:
                    writer.write(frame)
                    await writer.drain()  # a slow server holds this task only
                except (OSError, ConnectionError):
                    self.dropped += 1  # lost with the connection
                    raise
                self.sent += 1
            self._wake.clear()
            await self._wake.wait()

    async def aclose(self, flush_seconds: float = 1.0) -> None:
        # a connected server gets what is queued (the last lines of a
        # shutdown), for a moment; then the writer goes
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_seconds
        while self.queue and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
