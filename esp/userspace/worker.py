"""One data-plane worker process (`--dataplane-workers N`, N > 1).

Runs a `UserspaceDataPlane` of its own: its TUN device, its member socket of
each served address's port-4500 reuseport group (the kernel steers to it the
ESP whose SPI is its own: esp.userspace.steering), and a raw ESP socket
filtered to its SPIs. The daemon (esp.userspace.workers) talks to it over two
inherited socket pairs: requests answered in order on the control one,
expiry and new-source reports, and its log records, sent on the events one
(the daemon logs them through its own handlers: one format, one place).

    python -m esp.userspace.worker --control-fd F --events-fd E --index K --workers N --tun NAME ...
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

from ..dataplane import DataPlaneError, Expiry
from .dataplane import UserspaceDataPlane, open_raw_esp
from .steering import attach_raw_esp_filter, reuseport_udp_socket

log = logging.getLogger("esp.userspace.worker")
DRAIN_BATCH = 64  # as ikev2d/udp.py drains port 4500


class ToDaemon(logging.Handler):
    """Each log record, formatted here (a traceback included), to the daemon
    over the events channel; to stderr if that channel is gone."""

    def __init__(self, events: Connection, index: int) -> None:
        super().__init__()
        self.events, self.index = events, index

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a bad format string in a log call: say where, not a traceback
            text = f"unformattable log record ({record.pathname}:{record.lineno}): {exc!r}"
        try:
            self.events.send(("log", record.levelno, record.name, text))
        except OSError:  # the daemon is gone: say it where someone may still read it
            sys.stderr.write(f"ikev2d dataplane worker {self.index}: {text}\n")


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.index, self.workers = args.index, args.workers
        self.control = Connection(args.control_fd)
        self.events = Connection(args.events_fd)
        root = logging.getLogger()
        root.handlers[:] = [ToDaemon(self.events, self.index)]
        self.dp = UserspaceDataPlane(tun_name=args.tun, mtu=args.mtu, replay_window=args.replay_window,
                                     raw_socket=self._raw)
        self.socks: list[socket.socket] = []
        self.stopped = asyncio.Event()

    def _raw(self, address: str) -> socket.socket:
        sock = open_raw_esp(address)
        attach_raw_esp_filter(sock, self.index, self.workers)
        return sock

    def _expired(self, expiry: Expiry) -> None:
        self.events.send(("expiry", expiry))

    def _mapping(self, spi_in: int, remote: tuple[str, int]) -> None:
        self.events.send(("mapping", spi_in, remote))

    def _drain(self, sock: socket.socket) -> None:
        received = self.dp.esp_received
        for _ in range(DRAIN_BATCH):
            try:
                data, remote = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error an earlier send caused
                continue
            # ESP only: the group's program keeps IKE and keepalives on the IKE socket
            received(data, (remote[0], remote[1]))  # (an IPv6 address comes with flow info and scope)

    def listen(self, address: str, port: int) -> None:
        sock = reuseport_udp_socket(address, port)
        self.socks.append(sock)
        self.dp.attach(sock, self._expired, self._mapping)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain, sock)

    def _request(self) -> None:
        try:
            op, *args = self.control.recv()
        except (EOFError, OSError):  # the daemon is gone
            self.stopped.set()
            return
        try:
            result: Any = None
            if op == "listen":
                self.listen(*args)
            elif op == "install":
                self.dp.install(args[0])
            elif op == "remove":
                self.dp.remove(args[0])
            elif op == "update":
                self.dp.update(args[0], args[1])
            elif op == "counters":
                result = [self.dp.counters(spi) for spi in args[0]]
            elif op == "close":
                self.stopped.set()
            else:
                raise DataPlaneError(f"unknown request {op!r}")
            self.control.send(("ok", result))
        except Exception as exc:  # reported to the daemon, which raises it as DataPlaneError
            self.control.send(("error", f"{type(exc).__name__}: {exc}" if not isinstance(exc, DataPlaneError)
                               else str(exc)))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.control.fileno(), self._request)
        loop.add_signal_handler(signal.SIGTERM, self.stopped.set)
        self.control.send(("ready", None))
        await self.stopped.wait()
        loop.remove_reader(self.control.fileno())
        self.dp.close()
        for sock in self.socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="esp.userspace.worker")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--tun", required=True)
    parser.add_argument("--mtu", type=int, default=1400)
    parser.add_argument("--replay-window", type=int, default=64)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    # until the events channel is taken over (Worker), e.g. an import's warning
    logging.basicConfig(level=args.log_level, format=f"ikev2d dataplane worker {args.index}: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon stops us (a terminal's ^C reaches the group)
    asyncio.run(Worker(args).run())


if __name__ == "__main__":
    main()
