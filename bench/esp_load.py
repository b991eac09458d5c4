"""Load generators and sinks for bench_esp.py, run inside lab namespaces
(`python bench/esp_load.py MODE ...`), pinned to the CPU given by --cpu.

    sink ADDR PORT                 a UDP socket nobody reads (no ICMP back)
    plain SRC DST SIZE SECONDS     IPv4/UDP packets of SIZE bytes, SRC -> DST:9
    replay GATEWAY VIP INSIDE SIZE COUNT RATE
                                   capture COUNT ESP datagrams the client sends
                                   for SIZE-byte inner packets, print "ready",
                                   wait for a line on stdin, then send them to
                                   the gateway once, in order, RATE per second
                                   (raw socket)
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time


def sink(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((addr, port))
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes our stdin


def plain(src: str, dst: str, size: int, seconds: float) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    payload = os.urandom(size - 28)
    target = (dst, 9)
    send = s.sendto
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(256):
            try:
                send(payload, target)
            except OSError:  # ENOBUFS from a full TUN queue: the gateway is saturated
                pass


def capture(gateway: str, vip: str, inside: str, size: int, count: int) -> list[bytes]:
    """`count` ESP datagrams the client sends, in order (fresh sequence numbers)."""
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL: outgoing too
    cap.bind(("eth0", 3))
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    cap.setblocking(False)
    trigger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trigger.bind((vip, 0))
    payload = os.urandom(size - 28)
    got: list[bytes] = []
    deadline = time.monotonic() + 20  # then go with what came: the bench times the whole send
    while len(got) < count and time.monotonic() < deadline:
        for _ in range(32):  # ~what the client's libipsec keeps up with
            try:
                trigger.sendto(payload, (inside, 9))
            except OSError:  # an ICMP error reported late on this socket: go on
                pass
        time.sleep(0.0003)
        while True:
            try:
                ip, link = cap.recvfrom(65535)
            except BlockingIOError:
                break
            if link[1] != 0x0800 or ip[9] != 17 or socket.inet_ntoa(ip[16:20]) != gateway:
                continue
            ihl = (ip[0] & 15) * 4
            if struct.unpack_from("!H", ip, ihl + 2)[0] != 4500 or len(ip) < ihl + 8 + 8 + size:
                continue
            if ip[ihl + 8:ihl + 12] == bytes(4):
                continue  # IKE behind the non-ESP marker
            packet = bytearray(ip)
            packet[ihl + 6:ihl + 8] = b"\0\0"  # veth leaves a partial checksum; 0 is allowed (RFC 3948)
            got.append(bytes(packet))
    if len(got) < min(count, 20000):
        sys.exit(f"captured only {len(got)} ESP datagrams of {count}")
    return got[:count]


def replay(gateway: str, vip: str, inside: str, size: int, count: int, rate: float) -> None:
    """Send the captured datagrams once, in order, at `rate` per second: every
    one is new to the gateway's anti-replay window."""
    packets = capture(gateway, vip, inside, size, count)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    target = (gateway, 0)
    print("ready", flush=True)
    sys.stdin.readline()
    send = raw.sendto
    start = time.monotonic()
    for i in range(0, len(packets), 64):
        for p in packets[i:i + 64]:
            try:
                send(p, target)
            except OSError:
                pass
        ahead = start + (i + 64) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    print(f"{len(packets)} {time.monotonic() - start:.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("mode", choices=["sink", "plain", "replay"])
    parser.add_argument("args", nargs="*")
    a = parser.parse_args()
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    if a.mode == "sink":
        sink(a.args[0], int(a.args[1]))
    elif a.mode == "plain":
        plain(a.args[0], a.args[1], int(a.args[2]), float(a.args[3]))
    else:
        replay(a.args[0], a.args[1], a.args[2], int(a.args[3]), int(a.args[4]), float(a.args[5]))


if __name__ == "__main__":
    main()
