"""The daemon side of the control socket.

A Unix stream socket, mode 0600 in a folder created 0700, and each peer's
credentials checked (SO_PEERCRED): only root or the daemon's own user may
ask. One request per connection; the handler runs on the event loop, so it
sees the responder between two datagrams, never in the middle of one.

An answer is one line or a stream of lines (an iterator the handler
returns). A stream is written a line at a time, waiting whenever the
socket's buffer is full, so the daemon holds one record and a bounded
buffer however long the answer; between records it lets IKE run.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Union

from .protocol import MAX_LINE, MAX_REQUEST, ControlError, check_path, decode, encode, error

log = logging.getLogger("ikev2d.control")



@dataclass(frozen=True)
class LiveStream:
    """An answer that lasts (`ikev2d debug`): its first line now, then
    records as they come, until the client closes its end (`gone`)."""

    first: dict[str, Any]
    records: Callable[["asyncio.Future[Any]"], AsyncIterator[dict[str, Any]]]


Answer = Union[dict[str, Any], Iterator[dict[str, Any]], LiveStream]
Handler = Callable[[dict[str, Any]], Answer]
READ_TIMEOUT = 5.0
# a client that stops reading (a pager left open) gives up its answer
# after this long, rather than hold its records and the SA list forever
WRITE_TIMEOUT = 30.0
WRITE_BUFFER = 1 << 16  # wait for the client beyond this much unsent
YIELD_EVERY = 100  # records written between two turns of the event loop
_UCRED = struct.Struct("3i")  # pid, uid, gid


class ControlServer:
    def __init__(self, path: str, handler: Handler) -> None:
        check_path(path)
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        # lasting answers (`ikev2d debug`): ended at stop, not cancelled mid-write
        self._streams: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}

    async def start(self) -> None:
        _prepare(self.path)
        old = os.umask(0o177)  # the socket is born 0600: no window before chmod
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path, limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino
        log.info("control socket %s", self.path)

    async def stop(self) -> None:
        if self._server is None:
            return
        for writer in list(self._streams):
            writer.close()  # the stream sees its client gone and ends
        if self._streams:
            await asyncio.wait(list(self._streams.values()), timeout=1.0)
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        try:
            if os.stat(self.path).st_ino == self._inode:  # still ours, not a successor's
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # the request is read even from a refused peer, so its write
            # never meets a closed socket and it gets the refusal to read
            answer = await self._answer(reader, _peer_allowed(writer))
            writer.transport.set_write_buffer_limits(high=WRITE_BUFFER)
            if isinstance(answer, dict):
                _write(writer, answer)
                await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
            elif isinstance(answer, LiveStream):
                await self._live(reader, writer, answer)
            else:
                await self._stream(writer, answer)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the client left or stopped reading: nothing of ours is lost
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _stream(self, writer: asyncio.StreamWriter, lines: Iterator[dict[str, Any]]) -> None:
        try:
            for count, line in enumerate(_guarded(lines), 1):
                if writer.is_closing():
                    return  # the client went: a write now would only be dropped
                if not _write(writer, line):
                    return
                if writer.transport.get_write_buffer_size() > WRITE_BUFFER:
                    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    async def _live(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: LiveStream) -> None:
        _write(writer, answer.first)
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        gone = asyncio.ensure_future(reader.read(1))  # EOF (or anything): the client is done
        records = answer.records(gone)
        task = asyncio.current_task()
        if task is not None:
            self._streams[writer] = task
        try:
            async for line in records:
                if writer.is_closing() or not _write(writer, line):
                    return
                if writer.transport.get_write_buffer_size() > WRITE_BUFFER:
                    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        finally:
            self._streams.pop(writer, None)
            gone.cancel()
            await records.aclose()  # type: ignore[attr-defined]

    async def _answer(self, reader: asyncio.StreamReader, allowed: bool) -> Answer:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            if not allowed:
                return error("permission denied")
            request = decode(line)
        except (ValueError, asyncio.LimitOverrunError):
            return error("request too large")
        except ControlError as exc:
            return error(str(exc))
        try:
            return self.handler(request)
        except Exception as exc:  # a bad request must not take the daemon down
            log.exception("control request %r failed", request.get("op"))
            return error(f"internal error: {exc}")


def _guarded(lines: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The handler's lines, a failure while making one turned into a last
    error line (the reader then reports it) instead of a cut answer."""
    try:
        yield from lines
    except Exception as exc:
        log.exception("control answer failed while streaming")
        yield error(f"internal error: {exc}")


def _write(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> bool:
    """Write one line; False when it had to be an error line instead."""
    line = encode(answer)
    if len(line) <= MAX_LINE:
        writer.write(line)
        return True
    # never a line the client must refuse: it learns why, and the answer ends
    log.error("control answer: a record of %d octets exceeds the %d-octet line limit", len(line), MAX_LINE)
    writer.write(encode(error(f"a record of {len(line)} octets exceeds the {MAX_LINE}-octet line limit")))
    return False


def _peer_allowed(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return uid in (0, os.geteuid())


def _prepare(path: str) -> None:
    """Create the folder (0700) if needed; clear a stale socket, refuse to
    take over a live one or to delete anything that is not a socket."""
    folder = Path(path).parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise ControlError(f"{path}: {exc.strerror}") from None
        os.unlink(path)  # left by a daemon that died
        return
    finally:
        probe.close()
    raise ControlError(f"{path}: another ikev2d is serving this control socket")
