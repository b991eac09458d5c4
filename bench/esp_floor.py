"""How close can any Python ESP data plane come to the crypto-only ceiling?

Issue 11 asks the userspace gateway for >= 60 % of the crypto-only ceiling
(AES-256-CBC + HMAC-SHA-512/256, 1400 B, one core). This measures, in one
run, on one pinned core, with the same kernel objects:

- ceiling: the four crypto calls a packet needs (CBC `update_into`, HMAC
  copy/update/finalize), nothing else;
- floor: the least a correct Python data plane does per packet with real
  kernel I/O: encrypt reads one packet from a real TUN device (`readv`,
  into place), writes its trailer and random first block, seals it with
  those crypto calls straight into a UDP GSO buffer and sends 64 at a time
  (`sendmsg` + `UDP_SEGMENT`); decrypt takes one ESP datagram from a UDP
  socket (`recvfrom_into`), checks its ICV, decrypts it and writes the inner
  packet to the TUN device. No SA lookup, selector, lifetime, replay window,
  counter or error path: what a data plane cannot do without;
- ikev2d: the userspace data plane (`esp.userspace.UserspaceDataPlane`)
  with its own real TUN device, the same traffic, driven as its event loop
  drives it: the TUN drain; port 4500 through ikev2d/udp.py's endpoint
  (its drain, with UDP GRO as the plane asks) and the transport's dispatch.

What each path sends crosses a veth into a second namespace (a socket
there takes it), so the kernel's delivery work is in the figures, on the
same core, as on a gateway forwarding to a NIC. Each timed window is one
drain of BURST queued packets (queued untimed beforehand), timed by the
wall clock of the pinned core. The floor's ESP is checked to open with
the project's own opener, and the ESP the floor decrypts is the project's.

    sudo .venv/bin/python bench/esp_floor.py [--rounds N] [--markdown] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import fcntl
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from hmac import compare_digest
from dataclasses import asdict, dataclass
from ipaddress import IPv4Network
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives import hashes, hmac  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from esp.spec import ChildSaSpec  # noqa: E402
from esp.userspace import UserspaceDataPlane  # noqa: E402
from esp.userspace.gso import MAX_BYTES as GSO_BYTES  # noqa: E402
from esp.userspace.gso import SOL_UDP, UDP_SEGMENT  # noqa: E402
from esp.userspace.lifetime import Lifetime, Limits  # noqa: E402
from esp.userspace.sa import InboundSa, OutboundSa  # noqa: E402
from esp.userspace.suites import make_opener, make_sealer  # noqa: E402
from esp.userspace import tun as tun_module  # noqa: E402
from esp.userspace.tun import TunDevice  # noqa: E402
from ikev2d.transport import Transport  # noqa: E402
from ikev2d.udp import SocketErrors, UdpEndpoint  # noqa: E402
from lab.netns import Namespace, run_prefix  # noqa: E402

from bench.esp_paths import CBC  # noqa: E402

SIZE = 1400
BURST = 64  # packets per timed drain: what one wake-up finds, and one GSO send
CPU = 0
GW, FAR = "198.18.200.1", "198.18.200.2"  # the veth between the two namespaces
INSIDE_DST = "198.18.201.2"  # on the far side: where decrypted inner packets go
VIP_FLOOR, VIP_IKEV2D = "198.19.0.201", "198.19.0.200"  # the client addresses routed into each TUN device
ESP_PORT, FLOOR_PORT, INNER_PORT = 4500, 4501, 9
ICV, BLOCK, HDR = 32, 16, 8
_HEADER = struct.Struct(">II")
IFF_NAPI = 0x0010  # linux/if_tun.h
DECRYPT_TO = ("veth", "blackhole", "none")


@dataclass(frozen=True)
class Result:
    path: str
    direction: str
    pps: float  # median over rounds
    samples: list[float]
    frames_per_packet: float  # what crossed the veth per packet handled: GSO and GRO batches count once

    @property
    def mbps(self) -> float:
        return self.pps * SIZE * 8 / 1e6


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def inner_packet(src: str, dst: str, size: int) -> bytes:
    """IPv4/UDP with valid checksums (the far side checks both; the kernel's
    UDP GRO, for --tun-napi, takes no packet without a UDP checksum)."""
    header = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, size, 0, 0x4000, 64, 17, 0,
                                   socket.inet_aton(src), socket.inet_aton(dst)))
    struct.pack_into(">H", header, 10, ~_fold(sum(struct.unpack(">10H", header))) & 0xFFFF)
    payload = os.urandom(size - 28)
    udp = bytearray(struct.pack(">HHHH", 40000, INNER_PORT, size - 20, 0))
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">BBH", 0, 17, size - 20)
    data = pseudo + bytes(udp) + payload + b"\0" * (size % 2)
    struct.pack_into(">H", udp, 6, (~_fold(sum(struct.unpack(f">{len(data) // 2}H", data))) & 0xFFFF) or 0xFFFF)
    return bytes(header) + bytes(udp) + payload


class Keys:
    """One SA's keys, both directions the same for simplicity."""

    def __init__(self) -> None:
        self.encr = os.urandom(CBC.encr_key_size)
        self.integ = os.urandom(CBC.integ_key_size)


# -- the three paths ----------------------------------------------------------------


def ceiling_encrypt(keys: Keys) -> Callable[[], None]:
    enc = Cipher(algorithms.AES(keys.encr), modes.CBC(os.urandom(BLOCK))).encryptor()
    keyed = hmac.HMAC(keys.integ, hashes.SHA512())
    plain = bytes(BLOCK) + bytes(SIZE) + bytes(((-(SIZE + 2)) % BLOCK) + 2)
    out = bytearray(len(plain) + 64)
    view = memoryview(out)
    update_into = enc.update_into

    def burst() -> None:
        for _ in range(BURST):
            n = update_into(plain, view[HDR:])
            m = keyed.copy()
            m.update(view[:HDR + n])
            m.finalize()
    return burst


def ceiling_decrypt(keys: Keys) -> Callable[[], None]:
    dec = Cipher(algorithms.AES(keys.encr), modes.CBC(bytes(BLOCK))).decryptor()
    keyed = hmac.HMAC(keys.integ, hashes.SHA512())
    ct = os.urandom(HDR + BLOCK + SIZE + ((-(SIZE + 2)) % BLOCK) + 2)
    out = bytearray(len(ct) + 64)
    update_into = dec.update_into

    def burst() -> None:
        for _ in range(BURST):
            m = keyed.copy()
            m.update(ct)
            m.finalize()
            update_into(ct[HDR:], out)
    return burst


class FloorEncrypt:
    """TUN readv -> trailer, random block, CBC, header, HMAC, in a GSO buffer -> one sendmsg."""

    def __init__(self, keys: Keys, tun: TunDevice, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.enc = Cipher(algorithms.AES(keys.encr), modes.CBC(os.urandom(BLOCK))).encryptor()
        self.keyed = hmac.HMAC(keys.integ, hashes.SHA512())
        self.fd, self.sock, self.peer = tun.fd, sock, peer
        self.stage = memoryview(bytearray(BLOCK + 65536 + 64))
        self.iov = [self.stage[BLOCK:]]
        self.buf = bytearray(GSO_BYTES + 64)  # update_into wants a block of room beyond its output
        self.view = memoryview(self.buf)
        self.pad = bytes(range(1, 256))
        self.seq = 0
        self.last = b""

    def burst(self) -> None:
        readv, fd, stage, iov, view = os.readv, self.fd, self.stage, self.iov, self.view
        update_into, keyed, pad = self.enc.update_into, self.keyed, self.pad
        random = os.urandom(BLOCK * BURST)
        off = seg = 0
        for i in range(BURST):
            n = readv(fd, iov)
            padlen = (-(n + 2)) % BLOCK
            end = BLOCK + n
            stage[end:end + padlen + 2] = pad[:padlen] + bytes((padlen, 4))
            stage[:BLOCK] = random[i * BLOCK:(i + 1) * BLOCK]
            if off + HDR + end + padlen + 2 + ICV > GSO_BYTES:  # full: what the kernel takes in one send
                self.send(off, seg)
                off = 0
            self.seq += 1
            _HEADER.pack_into(self.buf, off, 1, self.seq)
            body = off + HDR + update_into(stage[:end + padlen + 2], view[off + HDR:])
            m = keyed.copy()
            m.update(view[off:body])
            view[body:body + ICV] = m.finalize()[:ICV]
            seg = body + ICV - off
            off += seg
        self.last = bytes(view[off - seg:off])
        self.send(off, seg)

    def send(self, size: int, seg: int) -> None:
        self.sock.sendmsg([self.view[:size]], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", seg))], 0, self.peer)


class FloorDecrypt:
    """recvfrom_into -> HMAC check -> CBC -> TUN write."""

    def __init__(self, keys: Keys, tun: TunDevice, sock: socket.socket, write: bool) -> None:
        self.write = write
        self.dec = Cipher(algorithms.AES(keys.encr), modes.CBC(bytes(BLOCK))).decryptor()
        self.keyed = hmac.HMAC(keys.integ, hashes.SHA512())
        self.fd, self.sock = tun.fd, sock
        self.buf = bytearray(65536)
        self.view = memoryview(self.buf)
        self.out = memoryview(bytearray(65536 + 64))
        self.failures = 0

    def burst(self) -> None:
        recv_into, view, out, keyed = self.sock.recvfrom_into, self.view, self.out, self.keyed
        update_into, fd, same = self.dec.update_into, self.fd, compare_digest
        # --decrypt-to none: no write, to show what the TUN write costs, by difference
        write: Callable[[int, memoryview], int] = os.write if self.write else _no_write
        for _ in range(BURST):
            n, _peer = recv_into(view)
            m = keyed.copy()
            m.update(view[:n - ICV])
            if not same(m.finalize()[:ICV], view[n - ICV:n]):
                self.failures += 1
                continue
            size = update_into(view[HDR:n - ICV], out)
            write(fd, out[BLOCK:size - 2 - out[size - 2]])


def _no_write(fd: int, data: memoryview) -> int:
    return len(data)


def napi_tun(name: str, gro_flush_ns: int) -> TunDevice:
    """A TUN device whose writes go through NAPI and the kernel's GRO
    (IFF_NAPI), with UDP GRO for forwarding on and GRO held for
    `gro_flush_ns` across polls: the kernel coalescing a flow's inner
    packets (checking their checksums in C) before it forwards them."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, tun_module.TUNSETIFF, tun_module._ifreq(name, "H", tun_module.IFF_TUN | tun_module.IFF_NO_PI
                                                                | IFF_NAPI))
        tun = TunDevice.__new__(TunDevice)
        tun.name, tun.fd, tun.mtu = name, fd, 1400
        tun._set_up(1400)
        tun.index = socket.if_nametoindex(name)
    except BaseException:
        os.close(fd)
        raise
    subprocess.run(["ethtool", "-K", name, "rx-udp-gro-forwarding", "on"], check=True, capture_output=True)
    for knob, value in (("gro_flush_timeout", gro_flush_ns), ("napi_defer_hard_irqs", 1)):
        Path(f"/sys/class/net/{name}/{knob}").write_text(str(value))
    return tun


# -- the run ------------------------------------------------------------------------


@contextmanager
def namespaces(decrypt_to: str) -> Iterator[tuple[Namespace, Namespace]]:
    """The gateway's namespace and the far side's, a veth between them;
    decrypted inner packets are forwarded over it (veth), dropped by a
    blackhole route after the kernel's input and routing (blackhole), or,
    for "none", never written."""
    prefix = run_prefix("floor")
    gw, far = Namespace.create(f"{prefix}-gw"), Namespace.create(f"{prefix}-far")
    try:
        gw.ip("link", "add", "fl-out", "type", "veth", "peer", "name", "fl-far", "netns", far.name)
        gw.add_address("fl-out", f"{GW}/30")
        far.add_address("fl-far", f"{FAR}/30")
        far.add_address("fl-far", f"{INSIDE_DST}/32")
        gw.ip("link", "set", "fl-out", "up")
        far.ip("link", "set", "fl-far", "up")
        if decrypt_to == "blackhole":
            gw.ip("route", "add", "blackhole", f"{INSIDE_DST}/32")
        else:
            gw.ip("route", "add", f"{INSIDE_DST}/32", "via", FAR)
        far.ip("route", "add", "198.19.0.0/24", "via", GW)
        gw.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        for ns in (gw, far):
            for conf in ("all", "default"):
                ns.run(["sysctl", "-q", "-w", f"net.ipv4.conf.{conf}.rp_filter=0"])
        yield gw, far
    finally:
        far.delete()
        gw.delete()


CLONE_NEWNET = 0x40000000


def far_socket(ns: str, port: int) -> socket.socket:
    """A UDP socket on FAR:port in namespace `ns`, made from this process
    (setns there and back): the client's socket, which sends the ESP to
    decrypt and takes (and soon drops: a tiny buffer, no ICMP) what the
    paths send, and the sink of the decrypted inner packets."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net") as home, open(f"/run/netns/{ns}") as there:
        if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        finally:
            if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((FAR if port == ESP_PORT else INSIDE_DST, port))
    return sock


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


async def measure(rounds: int, far_ns: str, decrypt_to: str, tun_napi: int | None) -> list[Result]:
    """Runs inside the gateway namespace, pinned to CPU."""
    os.sched_setaffinity(0, {CPU})
    keys = Keys()
    lifetime = Lifetime(1, Limits(), 0.0, lambda e: None)
    client_out = OutboundSa(0x1001, make_sealer(CBC, keys.encr, keys.integ), False, lifetime, None)
    floor_tun = TunDevice("flfloor0") if tun_napi is None else napi_tun("flfloor0", tun_napi)
    subprocess.run(["ip", "route", "add", f"{VIP_FLOOR}/32", "dev", floor_tun.name], check=True)
    floor_tun_rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the inside's sender
    floor_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the floor's port-4500 stand-in
    floor_sock.bind((GW, FLOOR_PORT))
    floor_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    client = far_socket(far_ns, ESP_PORT)  # the client: its ESP queued untimed, and it takes the paths' ESP
    inner_sink = far_socket(far_ns, INNER_PORT)
    results: dict[tuple[str, str], list[float]] = {}

    dp = UserspaceDataPlane(tun_name="flikev2d0")
    # ikev2d's port 4500 as the daemon has it: ikev2d/udp.py's endpoint (its drain, UDP GRO as the plane
    # asks) handing each datagram to the transport's own dispatch (non-ESP marker, keepalive, ESP)
    transport = SimpleNamespace(dataplane=dp, _datagram=lambda *a: None)
    endpoint = UdpEndpoint(GW, ESP_PORT, Transport._nat_t_datagram.__get__(transport), SocketErrors(),
                           gro=dp.udp_gro)
    dp.attach(endpoint.sock, lambda e: None)
    spec = ChildSaSpec(
        ike_sa_id="floor", spi_in=0x1001, spi_out=0x2001, algorithms=CBC,
        encr_key_in=keys.encr, integ_key_in=keys.integ, encr_key_out=keys.encr, integ_key_out=keys.integ,
        local_address=GW, remote_address=FAR, encap_local_port=ESP_PORT, encap_remote_port=ESP_PORT,
        local_selectors=(IPv4Network("0.0.0.0/0"),), remote_selectors=(IPv4Network(f"{VIP_IKEV2D}/32"),),
        lifetime_seconds=0, lifetime_kilobytes=0)
    dp.install(spec)

    to_floor = inner_packet(INSIDE_DST, VIP_FLOOR, SIZE)[28:]  # payloads: the kernel adds the headers
    from_client = inner_packet(VIP_IKEV2D, INSIDE_DST, SIZE)
    floor_enc = FloorEncrypt(keys, floor_tun, floor_sock, (FAR, ESP_PORT))
    floor_dec = FloorDecrypt(keys, floor_tun, floor_sock, decrypt_to != "none")

    def queue_inner(vip: str) -> None:
        for _ in range(BURST):
            floor_tun_rx.sendto(to_floor, (vip, INNER_PORT))

    def queue_esp(port: int) -> None:
        for _ in range(BURST):
            client.sendto(client_out.seal(from_client), (GW, port))  # type: ignore[arg-type]

    paths: list[tuple[str, str, Callable[[], None], Callable[[], None] | None]] = [
        ("ceiling", "encrypt", ceiling_encrypt(keys), None),
        ("floor", "encrypt", floor_enc.burst, lambda: queue_inner(VIP_FLOOR)),
        ("ikev2d", "encrypt", dp._tun_readable, lambda: queue_inner(VIP_IKEV2D)),
        ("ceiling", "decrypt", ceiling_decrypt(keys), None),
        ("floor", "decrypt", floor_dec.burst, lambda: queue_esp(FLOOR_PORT)),
        ("ikev2d", "decrypt", endpoint._drain, lambda: queue_esp(ESP_PORT)),  # one drain takes the burst
    ]
    bursts = 200  # per sample: 12,800 packets
    frames: dict[tuple[str, str], int] = {}
    try:
        for _ in range(rounds):
            for name, direction, burst, queue in paths:
                busy = 0.0
                sent = _veth_frames()
                for _ in range(bursts):
                    if queue is not None:
                        queue()
                    start = time.perf_counter()
                    burst()
                    busy += time.perf_counter() - start
                results.setdefault((name, direction), []).append(bursts * BURST / busy)
                frames[(name, direction)] = frames.get((name, direction), 0) + _veth_frames() - sent
        opener = InboundSa(0x1001, make_opener(CBC, keys.encr, keys.integ), False, 64, lifetime, None)
        assert opener.open(floor_enc.last) is not None, "the floor's ESP must open with the project's opener"
        assert floor_dec.failures == 0, "every ESP packet must verify"
        counted = dp.counters(spec.spi_in)
        assert counted is not None and counted.packets_in == rounds * bursts * BURST, counted
        assert dp.send_errors == 0
    finally:
        dp.close()
        floor_tun.close()
        endpoint.close()
        for s in (floor_tun_rx, floor_sock, client, inner_sink):
            s.close()
    return [Result(p, d, _median(v), v, frames[(p, d)] / (rounds * bursts * BURST)) for (p, d), v in results.items()]


def _veth_frames() -> int:
    return int(Path("/sys/class/net/fl-out/statistics/tx_packets").read_text())


def report(results: list[Result], markdown: bool) -> str:
    by = {(r.path, r.direction): r for r in results}
    lines = ["| direction | ceiling Mbit/s | floor Mbit/s | floor % of ceiling | ikev2d Mbit/s | ikev2d % of ceiling"
             " | ikev2d % of floor | veth frames per packet, floor / ikev2d |", "|" + " --- |" * 8]
    for d in ("encrypt", "decrypt"):
        c, f, i = by[("ceiling", d)], by[("floor", d)], by[("ikev2d", d)]
        lines.append(f"| {d} | {c.mbps:.0f} | {f.mbps:.0f} | {100 * f.pps / c.pps:.0f} % | {i.mbps:.0f} "
                     f"| {100 * i.pps / c.pps:.0f} % | {100 * i.pps / f.pps:.0f} % "
                     f"| {f.frames_per_packet:.3f} / {i.frames_per_packet:.3f} |")
    text = "\n".join(lines)
    return text if markdown else text.replace(" --- |", "").replace("|", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="samples per path, alternating (median reported)")
    parser.add_argument("--decrypt-to", choices=DECRYPT_TO, default="veth",
                        help="where decrypted inner packets go: forwarded over the veth (default, as a gateway "
                             "forwards), a blackhole route, or (the floor only) not written at all")
    parser.add_argument("--tun-napi", type=int, metavar="NS", default=None,
                        help="the floor's TUN device with IFF_NAPI, UDP GRO forwarding and this gro_flush_timeout")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write every sample here")
    parser.add_argument("--inside", metavar="FAR_NS", help=argparse.SUPPRESS)  # the measuring child
    args = parser.parse_args()
    if args.inside:
        results = asyncio.run(measure(args.rounds, args.inside, args.decrypt_to, args.tun_napi))
        print(json.dumps([asdict(r) for r in results]))
        return
    if os.geteuid() != 0:
        sys.exit("esp_floor: needs root (namespaces, TUN devices)")
    load_before = os.getloadavg()
    with namespaces(args.decrypt_to) as (gw, far):
        child = [sys.executable, str(Path(__file__).resolve()), "--inside", far.name, "--rounds", str(args.rounds),
                 "--decrypt-to", args.decrypt_to]
        if args.tun_napi is not None:
            child += ["--tun-napi", str(args.tun_napi)]
        out = subprocess.run(gw.argv(child), capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            sys.exit(f"esp_floor: the measuring run failed:\n{out.stderr}")
    results = [Result(**r) for r in json.loads(out.stdout.splitlines()[-1])]
    setting = f"decrypted packets to: {args.decrypt_to}" + (
        f"; the floor's TUN with IFF_NAPI, gro_flush_timeout {args.tun_napi} ns" if args.tun_napi is not None else "")
    print(f"# ESP floor: {SIZE} B, AES-256-CBC + HMAC-SHA-512/256, one core (CPU {CPU}), {args.rounds} rounds\n")
    print(f"{platform.node()}, {platform.platform()}, Python {platform.python_version()}, "
          f"load average {load_before[0]:.2f} before; {setting}\n")
    print(report(results, args.markdown))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "bench": "esp_floor", "size": SIZE, "cpu": CPU, "burst": BURST, "rounds": args.rounds,
            "decrypt_to": args.decrypt_to, "tun_napi": args.tun_napi, "load_before": load_before,
            "load_after": os.getloadavg(),
            "results": [{**asdict(r), "mbps": r.mbps} for r in results]}, indent=1))


if __name__ == "__main__":
    main()
