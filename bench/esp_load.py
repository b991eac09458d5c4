"""Load generators and sinks for bench_esp.py, run inside lab namespaces
(`python bench/esp_load.py --cpu N MODE ...`), pinned to the CPU given.

    sink ADDR PORT        a UDP socket nobody reads (no ICMP port unreachable back)
    plain SRC DST SIZE RATE SECONDS
                          IPv4/UDP packets of SIZE bytes, SRC -> DST:9, offered
                          at RATE packets/s (0: as fast as it can) for SECONDS
    esp SRC GATEWAY VIP INSIDE SIZE RATE SECONDS
                          ESP-in-UDP (SRC:4500 -> GATEWAY:4500) carrying
                          SIZE-byte packets VIP -> INSIDE:9, built with the
                          client's own SA (JSON on stdin: spi, seq, suite,
                          encr_key, integ_key hex) and sequence numbers from
                          `seq` on, each used once; offered as for plain
                          (RATE > 0: it sets how many numbers a run uses);
                          with --gso, from SRC:4501 (charon holds 4500) in
                          UDP GSO runs of GSO_RUN datagrams (what a NIC's
                          GRO would coalesce)

Each generator prints "ready" once its packets are built, waits for a line
on stdin, sends, and prints "SENT SECONDS". Packets go out with sendmmsg(2)
in batches of BATCH from one buffer built beforehand, so the generator costs
far less per packet than either gateway and the offered rate is the same
for both gateways. Counting is the bench's job, at the far side.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import socket
import sys
import time

BATCH = 64
ESP_PORT = 4500
SINK_PORT = 9


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int


class Batches:
    """`count` messages of `stride` bytes (the first `length` of each used)
    laid out in one buffer, with the mmsghdr vector that points at them."""

    def __init__(self, buf: bytearray, stride: int, length: int, count: int) -> None:
        self.buf = (ctypes.c_char * len(buf)).from_buffer(buf)
        base = ctypes.addressof(self.buf)
        self.iov = (_Iovec * count)()
        self.msgs = (_Mmsghdr * count)()
        iov_base = ctypes.addressof(self.iov)
        isz = ctypes.sizeof(_Iovec)
        for i in range(count):
            self.iov[i].base = base + i * stride
            self.iov[i].len = length
            hdr = self.msgs[i].hdr
            hdr.iov = iov_base + i * isz
            hdr.iovlen = 1
        self.count = count
        self.addr = ctypes.addressof(self.msgs)
        self.msg_size = ctypes.sizeof(_Mmsghdr)


def blast(fd: int, batches: Batches, total: int, rate: float, seconds: float) -> tuple[int, float]:
    """Send up to `total` messages (cycling through `batches` when it holds
    fewer) at `rate`/s (0 = flat out) for at most `seconds`; (sent, elapsed)."""
    sent = 0
    pos = 0
    start = time.monotonic()
    end = start + seconds
    now = start
    while sent < total and now < end:
        n = min(BATCH, batches.count - pos, total - sent)
        r = _sendmmsg(fd, batches.addr + pos * batches.msg_size, n, 0)
        if r <= 0:  # ENOBUFS or a late ICMP error on the socket: the packet is lost, go on
            r = 1
        sent += r
        pos = (pos + r) % batches.count
        now = time.monotonic()
        if rate:
            ahead = start + sent / rate - now
            if ahead > 0.0005:
                time.sleep(ahead)
    return sent, time.monotonic() - start


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """IPv4 + UDP (checksum 0, allowed over IPv4) with a valid header checksum."""
    total = 28 + len(payload)
    ip = bytearray(bytes([0x45, 0]) + total.to_bytes(2, "big") + bytes(4) + bytes([64, 17, 0, 0])
                   + socket.inet_aton(src) + socket.inet_aton(dst))
    csum = sum(int.from_bytes(ip[i:i + 2], "big") for i in range(0, 20, 2))
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    ip[10:12] = (~csum & 0xFFFF).to_bytes(2, "big")
    return bytes(ip) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + (total - 20).to_bytes(2, "big") \
        + b"\0\0" + payload


def sink(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((addr, port))
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes our stdin


def _go_and_report(fd: int, batches: Batches, total: int, rate: float, seconds: float) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    sent, elapsed = blast(fd, batches, total, rate, seconds)
    print(f"{sent} {elapsed:.6f}", flush=True)


def plain(src: str, dst: str, size: int, rate: float, seconds: float) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((src, 0))
    s.connect((dst, SINK_PORT))
    payload = os.urandom(size - 28)
    buf = bytearray(payload * BATCH)  # one batch, sent over and over: the gateway reads each copy anew
    _go_and_report(s.fileno(), Batches(buf, len(payload), len(payload), BATCH), 1 << 62, rate, seconds)


def esp(src: str, gateway: str, vip: str, inside: str, size: int, rate: float, seconds: float,
        gso: bool = False) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from esp_paths import SUITES_BY_SHORT  # noqa: PLC0415 (after sys.path is set)

    from esp.userspace.lifetime import Lifetime, Limits
    from esp.userspace.sa import OutboundSa
    from esp.userspace.suites import make_sealer

    sa = json.loads(sys.stdin.readline())
    alg = SUITES_BY_SHORT[sa["suite"]]
    out = OutboundSa(sa["spi"], make_sealer(alg, bytes.fromhex(sa["encr_key"]), bytes.fromhex(sa["integ_key"])),
                     False, Lifetime(0, Limits(), 0.0, lambda e: None), None)
    out.packets = sa["seq"] - 1  # the next packet carries `seq`: newer than anything the gateway saw
    inner = udp_packet(vip, inside, 40000, SINK_PORT, os.urandom(size - 28))
    count = int(rate * seconds)  # the bench reserved exactly these sequence numbers
    first = out.seal(inner)
    assert first is not None
    stride = 28 + len(first)
    buf = bytearray(stride * count)
    head = udp_packet(src, gateway, ESP_PORT, ESP_PORT, first)[:28]
    buf[0:stride] = head + first
    seal = out.seal
    for i in range(1, count):
        body = seal(inner)
        assert body is not None
        o = i * stride
        buf[o:o + 28] = head
        buf[o + 28:o + stride] = body
    if gso:  # runs of GSO_RUN datagrams per send, as a NIC's GRO hands them on coalesced
        _go_and_report_gso(src, gateway, buf, stride, count, rate, seconds)
        return
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # we write the IP header (4500 is charon's)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    raw.connect((gateway, 0))
    _go_and_report(raw.fileno(), Batches(buf, stride, stride, count), count, rate, seconds)


GSO_RUN = 40  # datagrams per GSO send (40 x 1470 B fit one 64 KiB UDP datagram)
SOL_UDP, UDP_SEGMENT = 17, 103
GSO_PORT = 4501


def _go_and_report_gso(src: str, gateway: str, buf: bytearray, stride: int, count: int, rate: float,
                       seconds: float) -> None:
    """The ESP datagrams of `buf` (each behind its 28-byte IP/UDP header) sent
    from SRC:4500 in UDP GSO runs: the gateway's kernel receives each run as
    one coalesced datagram, which its socket takes whole when it has UDP_GRO
    and cuts apart otherwise. Charon holds SRC:4500, so the runs come from
    SRC:GSO_PORT: to the gateway the client's NAT mapping moved (it follows
    authentic ESP), which matters to decrypt runs not at all."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((src, GSO_PORT))
    s.connect((gateway, ESP_PORT))
    size = stride - 28
    view = memoryview(buf)
    cmsg = [(SOL_UDP, UDP_SEGMENT, size.to_bytes(2, sys.byteorder))]
    runs = []
    for first in range(0, count, GSO_RUN):
        last = min(count, first + GSO_RUN)
        runs.append(b"".join(view[i * stride + 28:(i + 1) * stride] for i in range(first, last)))
    print("ready", flush=True)
    sys.stdin.readline()
    sent = 0
    start = time.monotonic()
    end = start + seconds
    for run in runs:
        now = time.monotonic()
        if now >= end:
            break
        try:
            s.sendmsg([run], cmsg)
        except OSError:  # ENOBUFS: lost, as a datagram would be
            pass
        sent += len(run) // size
        ahead = start + sent / rate - time.monotonic() if rate else 0
        if ahead > 0.0005:
            time.sleep(ahead)
    print(f"{sent} {time.monotonic() - start:.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--gso", action="store_true", help="esp: send in UDP GSO runs (a NIC's GRO coalesced them)")
    parser.add_argument("mode", choices=["sink", "plain", "esp"])
    parser.add_argument("args", nargs="*")
    a = parser.parse_args()
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    if a.mode == "sink":
        sink(a.args[0], int(a.args[1]))
    elif a.mode == "plain":
        plain(a.args[0], a.args[1], int(a.args[2]), float(a.args[3]), float(a.args[4]))
    else:
        esp(a.args[0], a.args[1], a.args[2], a.args[3], int(a.args[4]), float(a.args[5]), float(a.args[6]), a.gso)


if __name__ == "__main__":
    main()
