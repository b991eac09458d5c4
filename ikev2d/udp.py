"""UDP sockets that no peer can break.

A send or receive error on a UDP socket is news about one peer (no route to
it, an ICMP unreachable it caused, a full buffer), never about the socket:
it is counted by kind, logged at most once a minute per kind, and forgotten.
The socket keeps reading. asyncio-dgram, which served port 500 before, keeps
a failed `sendto`'s error and raises it from the next `recv`, which ended
the receive loop: one datagram from an unroutable source stopped the
headend. Its queue is also unbounded. So both IKE ports are read the same
way here: `loop.add_reader` and a bounded drain per wake-up, sends as plain
non-blocking `sendto` calls (in order, which fragments need).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
import time
from collections import Counter
from typing import Callable

log = logging.getLogger("ikev2d.udp")

Address = tuple[str, int]
DatagramHandler = Callable[[bytes, Address, Address], None]  # data, local, remote

DRAIN_BATCH = 64  # datagrams per wake-up before other work gets the loop
RECEIVE_BUFFER = 1 << 20  # absorbs bursts (a flood, many clients at once); the kernel caps it at rmem_max
REPORT_INTERVAL = 60.0  # seconds between two log lines about the same kind of error
SOL_UDP = 17
UDP_GRO = 104  # linux/udp.h (Linux >= 5.0); Python's socket module does not name it
GRO_CMSG_SPACE = socket.CMSG_SPACE(4)  # the segment size, an int


def gro_segments(data: bytes, ancdata: list[tuple[int, int, bytes]]) -> list[bytes]:
    """The datagrams of one UDP GRO read: the kernel coalesced datagrams of one
    peer of equal size (the last may be shorter) and says the size in a
    (SOL_UDP, UDP_GRO) control message; without one, `data` is one datagram."""
    for level, kind, value in ancdata:
        if level == SOL_UDP and kind == UDP_GRO and len(value) >= 4:
            size = int.from_bytes(value[:4], sys.byteorder)
            if 0 < size < len(data):
                return [data[i:i + size] for i in range(0, len(data), size)]
    return [data]


def address_family(address: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal (`2001:2::1`, `::`), AF_INET otherwise."""
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def where(address: str, port: int) -> str:
    """`198.18.0.1:500`, or `[2001:2::1]:500` (RFC 5952 §6) in our own log lines."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class BindError(OSError):
    """A listening socket could not be opened; says which and why."""


class SocketErrors:
    """Counts send and receive errors by (direction, errno name) and logs
    each kind at most once per `interval`, with how many went unlogged."""

    def __init__(self, interval: float = REPORT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.counts: Counter[tuple[str, str]] = Counter()
        self._reported: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (when, count then)

    def record(self, direction: str, exc: OSError, local: Address, remote: Address | None) -> None:
        kind = (direction, errno.errorcode.get(exc.errno or 0, str(exc.errno)))
        self.counts[kind] += 1
        now = self.clock()
        last = self._reported.get(kind)
        if last is not None and now - last[0] < self.interval:
            return
        unlogged = self.counts[kind] - 1 - (last[1] if last is not None else 0)
        self._reported[kind] = (now, self.counts[kind])
        peer = f" to {where(*remote)}" if remote is not None else ""
        more = f" ({unlogged} more of this kind since the last report)" if unlogged > 0 else ""
        log.warning("UDP %s on %s%s failed: %s [%s]; the socket keeps serving%s",
                    direction, where(*local), peer, exc.strerror or exc, kind[1], more)

    def total(self) -> int:
        return sum(self.counts.values())


class UdpEndpoint:
    """One bound, non-blocking UDP socket read by a drain loop."""

    def __init__(self, address: str, port: int, on_datagram: DatagramHandler, errors: SocketErrors,
                 reuse_port: bool = False, gro: bool = False) -> None:
        """`reuse_port`: found (as its first member) a SO_REUSEPORT group that
        data-plane workers join with their own sockets (esp.userspace.steering).
        `gro`: ask for UDP GRO (the userspace data plane's ESP in UDP: one read
        takes a run of one peer's datagrams, cut apart here, each handled as if
        read alone, so an IKE message among them reaches IKE intact)."""
        self.on_datagram = on_datagram
        self.errors = errors
        self.sock = socket.socket(address_family(address), socket.SOCK_DGRAM)
        try:
            if self.sock.family == socket.AF_INET6:  # this address only: its IPv4 twin is another endpoint
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self.sock.setblocking(False)
            self.sock.bind((address, port))
        except OSError as exc:
            self.sock.close()
            raise BindError(exc.errno, f"cannot listen on UDP {where(address, port)}: {exc.strerror or exc}") from exc
        self.local: Address = self.sock.getsockname()[:2]
        self.gro = False
        self.gro_reads = 0  # reads that carried a coalesced run (several datagrams)
        if gro:
            try:
                self.sock.setsockopt(SOL_UDP, UDP_GRO, 1)
                self.gro = True
            except OSError:  # an older kernel: one datagram per read, as before
                pass
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        if self.gro:
            return self._drain_gro()
        recv, local = self.sock.recvfrom, self.local
        for _ in range(DRAIN_BATCH):
            try:
                data, remote = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error some earlier send caused (udp(7))
                self.errors.record("receive", exc, self.local, None)
                continue
            self.on_datagram(data, local, remote if len(remote) == 2 else (remote[0], remote[1]))

    def _drain_gro(self) -> None:
        recv, local, handle = self.sock.recvmsg, self.local, self.on_datagram
        budget = DRAIN_BATCH  # datagrams, not reads: a coalesced run counts what it carries
        while budget > 0:
            try:
                data, ancdata, _, remote = recv(65535, GRO_CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors.record("receive", exc, self.local, None)
                budget -= 1
                continue
            peer = remote if len(remote) == 2 else (remote[0], remote[1])  # IPv6 gives four fields
            if not ancdata:
                handle(data, local, peer)
                budget -= 1
                continue
            self.gro_reads += 1
            segments = gro_segments(data, ancdata)
            for segment in segments:
                handle(segment, local, peer)
            budget -= len(segments)

    def send(self, data: bytes, remote: Address) -> bool:
        """Send one datagram; False (counted, logged at a rate) if it failed."""
        try:
            self.sock.sendto(data, remote)
            return True
        except OSError as exc:
            # ENETUNREACH, EHOSTUNREACH, EPERM (a firewall), ENOBUFS, EAGAIN,
            # EMSGSIZE, ECONNREFUSED: this datagram is lost; retransmission
            # (ours or the peer's) is the recovery, as on any lossy network
            self.errors.record("send", exc, self.local, remote)
            return False

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()
