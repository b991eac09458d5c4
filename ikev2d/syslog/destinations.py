"""Where records go: the console, a file, syslog servers over UDP and TCP.

A destination never blocks the event loop on the network and never raises
into the IKE path: UDP sends are non-blocking, TCP has its own writer task
behind a bounded queue, and what cannot be sent is counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, TextIO

from ..logsink import FdSink, LineWriter, TextSink, stdout_sink
from .catalogue import Record
from .framing import local_line, octet_counted, rfc3164, rfc5424
from .outage import Outage

log = logging.getLogger("ikev2d.syslog")

Framer = Callable[[Record, str, datetime], bytes]
FRAMINGS: dict[str, Framer] = {"rfc5424": rfc5424, "rfc3164": rfc3164}

TCP_QUEUE = 1024  # messages waiting for a slow or absent TCP server
TCP_CONNECT_TIMEOUT = 5.0
TCP_RETRY_MAX = 30.0  # back-off ceiling between connection attempts
TCP_STABLE_SECONDS = 5.0  # a connection that lasted this long resets the back-off
UDP_QUIET_SECONDS = 10.0  # without an ICMP error: the UDP server is taken to be back


class Destination(Protocol):
    sent: int
    dropped: int

    def send(self, record: Record, when: datetime) -> None: ...

    async def aclose(self) -> None: ...


class StreamDestination:
    """Local lines on the console (the process's stdout, shared with the log)
    or on a text stream a caller gives."""

    def __init__(self, hostname: str, stream: TextIO | None = None) -> None:
        self.hostname = hostname
        self.out: LineWriter = stdout_sink() if stream is None else TextSink(stream, "the console")
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        # a refused line is reported (once) and counted by the sink
        if self.out.write_line(local_line(record, self.hostname, when)):
            self.sent += 1
        else:
            self.dropped += 1

    async def aclose(self) -> None:
        pass


class FileDestination(StreamDestination):
    """Appended to `path`, one write(2) a line: a full file system loses the
    lines (counted; reported once in the log), never the daemon."""

    def __init__(self, hostname: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.hostname = hostname
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.sink = FdSink(fd, f"log file {path}", report=log.error)
        self.out = self.sink
        self.sent = self.dropped = 0

    async def aclose(self) -> None:
        self.sink.close()


def _why(exc: OSError) -> str:
    # asyncio's connect error carries "Connect call failed (...)" as its
    # strerror; the errno's own text says what happened
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _resolve(host: str, port: int, kind: socket.SocketKind) -> tuple[int, tuple[Any, ...]]:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=kind)[0]
    return family, address


class UdpDestination:
    """One datagram per message (RFC 5426); a full socket buffer drops it.

    The socket is connected to the server: only then does Linux hand the
    ICMP errors of a closed port or an unreachable host back to the sender
    (on the send after the one that drew it), so an absent server is
    reported instead of being fed in silence."""

    def __init__(self, hostname: str, host: str, port: int, framing: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hostname = hostname
        self.host, self.port = host, port
        self.frame = FRAMINGS[framing]
        family, self.address = _resolve(host, port, socket.SOCK_DGRAM)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = self.dropped = 0
        self.outage = Outage(f"syslog server udp/{host}:{port}",
                             "messages to it are lost and counted; ikev2d goes on sending", clock)
        self.connected = False
        self._connect()

    def _connect(self) -> None:
        try:
            self.sock.connect(self.address)  # no packet: it only fixes the route and peer
            self.connected = True
        except OSError as exc:  # no route yet: tried again at the next message
            self.outage.failed(f"cannot send to it: {_why(exc)}", self.dropped)

    def send(self, record: Record, when: datetime) -> None:
        if not self.connected:
            self._connect()
            if not self.connected:
                self.dropped += 1
                return
        try:
            self.sock.send(self.frame(record, self.hostname, when))
        except BlockingIOError:  # a full socket buffer: a burst, not an outage
            self.dropped += 1
            return
        except OSError as exc:  # ICMP port or host unreachable, reported here
            self.dropped += 1
            self.outage.failed(f"{_why(exc)} (ICMP error)", self.dropped)
            return
        self.sent += 1
        # an ICMP error shows only on every other send: the outage is over
        # after a quiet while, not at the first send that raised nothing
        self.outage.delivered(self.dropped, quiet=UDP_QUIET_SECONDS)

    async def aclose(self) -> None:
        self.sock.close()


Connect = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Sleep = Callable[[float], Awaitable[None]]


class Backoff:
    """Seconds to wait before the next connection attempt: 1, 2, 4 ... up
    to TCP_RETRY_MAX, and 1 again after a connection that worked."""

    def __init__(self, first: float = 1.0, ceiling: float = TCP_RETRY_MAX) -> None:
        self.first, self.ceiling = first, ceiling
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.ceiling)
        return delay

    def reset(self) -> None:
        self.delay = self.first


class TcpDestination:
    """Octet-counted messages (RFC 6587 §3.4.1) over one connection, written
    by a task of its own; reconnects with back-off. A server that is slow or
    down fills the bounded queue, and what does not fit is dropped and
    counted; the outage is reported once, then at most every minute."""

    def __init__(self, hostname: str, host: str, port: int, framing: str, queue_size: int = TCP_QUEUE,
                 *, connect: Connect | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hostname = hostname
        self.host, self.port = host, port
        self.frame = FRAMINGS[framing]
        self.queue: collections.deque[bytes] = collections.deque()
        self.queue_size = queue_size
        self.sent = self.dropped = 0
        self.connected = False
        self.connections = 0  # made so far: 1 + reconnections
        self.backoff = Backoff()
        self.outage = Outage(f"syslog server tcp/{host}:{port}",
                             f"reconnecting with back-off (up to {TCP_RETRY_MAX:.0f} s); meanwhile up to "
                             f"{queue_size} messages wait and the rest are dropped and counted", clock)
        self._connect = connect or self._open
        self._sleep = sleep
        self._clock = clock
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

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection(host, port), TCP_CONNECT_TIMEOUT)

    async def _run(self) -> None:
        while True:
            try:
                reader, writer = await self._connect(self.host, self.port)
            except (OSError, asyncio.TimeoutError) as exc:
                why = "no answer to the connection request" if isinstance(exc, asyncio.TimeoutError) \
                    else f"cannot connect: {_why(exc)}"
                self.outage.failed(why, self.dropped)
                await self._sleep(self.backoff.next())
                continue
            self.connections += 1
            self.connected = True
            connected_at = self._clock()
            self.outage.delivered(self.dropped)
            try:
                await self._write_queue(reader, writer)
            except (OSError, ConnectionError) as exc:
                self.outage.failed(f"connection lost: {_why(exc)}", self.dropped)
            finally:
                self.connected = False
                writer.close()
            # a server that accepts and closes at once keeps the back-off
            # growing (no spin, and its reports thin out); one that served
            # a while is retried soon
            if self._clock() - connected_at >= TCP_STABLE_SECONDS:
                self.backoff.reset()
            await self._sleep(self.backoff.next())

    async def _write_queue(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._wake is not None
        # A syslog server never talks back: anything read is its end of the
        # connection, noticed here rather than by losing the next message.
        closed = asyncio.ensure_future(reader.read(1))
        try:
            while True:
                while self.queue:
                    if closed.done():
                        raise ConnectionResetError("the server closed the connection")
                    frame = self.queue.popleft()
                    try:
                        writer.write(frame)
                        await writer.drain()  # a slow server holds this task only
                    except (OSError, ConnectionError):
                        self.dropped += 1  # lost with the connection
                        raise
                    self.sent += 1
                self._wake.clear()
                waiting = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
                finally:  # also when aclose() cancels this task: no task left pending
                    waiting.cancel()
                if closed.done():
                    raise ConnectionResetError("the server closed the connection")
        finally:
            if closed.done() and not closed.cancelled():
                closed.exception()  # a reset while reading: retrieved, and reported by the caller
            closed.cancel()

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
