"""UDP GSO (generic segmentation offload, `UDP_SEGMENT`, Linux >= 4.18) for
the outbound ESP-in-UDP path: one `sendmsg` carries many equal-size ESP
datagrams to one peer, and the kernel cuts them apart (in the NIC when it
offloads UDP segmentation, else once in software after routing, netfilter
and the socket have been passed once for the whole batch).

The TUN reader hands each sealed packet to `GsoBatch.add`; consecutive
packets of one pair pile up in one buffer while they have the size of the
first (the last may be shorter: it ends the batch), and `flush` sends them.
The data plane flushes at the end of every drain, so a batch never waits
for more traffic (no added latency beyond the drain itself).
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from typing import Protocol

log = logging.getLogger("esp.userspace")

SOL_UDP = 17
UDP_SEGMENT = 103  # linux/udp.h; Python's socket module does not name it
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS of every kernel that has UDP_SEGMENT (later ones allow more)
# One GSO send is one UDP datagram to the kernel until it is cut: its payload
# must fit an IPv4 total length (65535 - 20 - 8); the rest is headroom.
MAX_BYTES = 65000
# errors saying "this socket or path cannot segment" (no checksum offload on
# the route, a gso_size above the path MTU, an old kernel): the pair goes
# back to one datagram per send; any other error loses the batch's packets
# as it would lose one datagram (ENOBUFS, EAGAIN, an ICMP error reported)
_UNSUPPORTED = {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP}
_SIZE = struct.Struct("=H")


class Target(Protocol):
    """What a batch is for (the data plane's pair): its socket, peer, and
    whether it may use GSO (cleared here when the path refuses it)."""

    sock: socket.socket
    peer: tuple[str, int]
    gso: bool


def gso_supported(sock: object) -> bool:
    """Whether `sock` is a real UDP socket on a kernel that knows UDP_SEGMENT."""
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_DGRAM:
        return False
    try:
        sock.getsockopt(SOL_UDP, UDP_SEGMENT)
    except OSError:
        return False
    return True


class GsoBatch:
    """Equal-size datagrams for one target, gathered in one buffer."""

    __slots__ = ("_buf", "_view", "_off", "_seg", "_count", "_target", "_cmsg", "sends", "datagrams")

    def __init__(self) -> None:
        self._buf = bytearray(MAX_BYTES)
        self._view = memoryview(self._buf)
        self._off = 0
        self._seg = 0
        self._count = 0
        self._target: Target | None = None
        self._cmsg: list[tuple[int, int, bytes]] = []
        self.sends = 0  # system calls made, and datagrams they carried (for the bench and the tests)
        self.datagrams = 0

    def add(self, target: Target, data: memoryview | bytes) -> int:
        """Queue one datagram for `target` (copied: `data` may be a shared
        buffer); returns how many datagrams were lost sending what had to go
        first (0 nearly always)."""
        size = len(data)
        lost = 0
        if self._count and (target is not self._target or size > self._seg or self._off + size > MAX_BYTES
                            or self._count >= MAX_SEGMENTS):
            lost = self.flush()
        off = self._off
        if not self._count:
            self._target, self._seg = target, size
        self._view[off:off + size] = data
        self._off = off + size
        self._count += 1
        if size < self._seg:  # a shorter one can only be the last segment
            lost += self.flush()
        return lost

    def flush(self) -> int:
        """Send what is gathered; returns how many datagrams were lost."""
        count, target = self._count, self._target
        if not count or target is None:
            return 0
        end, seg = self._off, self._seg
        self._count = self._off = 0
        self._target = None
        data = self._view[:end]
        self.sends += 1
        self.datagrams += count
        if count == 1 or not target.gso:
            return self._one_by_one(target, data, seg)
        try:
            target.sock.sendmsg([data], [(SOL_UDP, UDP_SEGMENT, _SIZE.pack(seg))], 0, target.peer)
            return 0
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                return count
            target.gso = False
            log.warning("UDP GSO to %s:%d refused (%s): sending its ESP one datagram at a time", *target.peer,
                        exc.strerror or exc)
        return self._one_by_one(target, data, seg)

    @staticmethod
    def _one_by_one(target: Target, data: memoryview, seg: int) -> int:
        lost = 0
        sendto, peer = target.sock.sendto, target.peer
        for start in range(0, len(data), seg):
            try:
                sendto(data[start:start + seg], peer)
            except OSError:  # full send buffer, or the peer's ICMP error reported here
                lost += 1
        return lost
