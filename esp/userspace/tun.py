"""A Linux TUN device (IFF_TUN | IFF_NO_PI): one IP packet per read/write.

Opened with fcntl/ioctl on /dev/net/tun, no extra dependency. The device
lives as long as the file descriptor: closing it removes the device and
every route through it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFMTU = 0x8922
IFF_UP = 0x1
IFNAMSIZ = 16


def _ifreq(name: str, fmt: str, *values: int) -> bytes:
    return struct.pack(f"{IFNAMSIZ}s{fmt}", name.encode(), *values).ljust(40, b"\0")


class TunDevice:
    """Non-blocking TUN device `name` (a printf pattern like "ikev2d%d" lets
    the kernel pick the number), brought up with `mtu`."""

    def __init__(self, name: str, mtu: int = 1400) -> None:
        if not name or len(name.encode()) >= IFNAMSIZ:
            raise ValueError(f"TUN device name must be 1..{IFNAMSIZ - 1} bytes: {name!r}")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            got = fcntl.ioctl(fd, TUNSETIFF, _ifreq(name, "H", IFF_TUN | IFF_NO_PI))
            self.name = got[:IFNAMSIZ].rstrip(b"\0").decode()
            self._set_up(mtu)
            self.index = socket.if_nametoindex(self.name)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.mtu = mtu

    def _set_up(self, mtu: int) -> None:
        # IPv6 stays on (dual-stack clients' routes go through the device),
        # but with no address of its own, so no link-local address, DAD,
        # router solicitation or MLD chatter: addr_gen_mode 1 ("none"),
        # set before the device comes up
        _write_sysctl(f"/proc/sys/net/ipv6/conf/{self.name}/addr_gen_mode", "1")
        _write_sysctl(f"/proc/sys/net/ipv6/conf/{self.name}/accept_ra", "0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, SIOCSIFMTU, _ifreq(self.name, "i", mtu))
            flags = struct.unpack_from("H", fcntl.ioctl(s, SIOCGIFFLAGS, _ifreq(self.name, "H", 0)), IFNAMSIZ)[0]
            fcntl.ioctl(s, SIOCSIFFLAGS, _ifreq(self.name, "H", flags | IFF_UP))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_sysctl(path: str, value: str) -> None:
    try:  # a kernel without IPv6 has no such file: IPv4 goes on
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass
