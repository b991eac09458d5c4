"""UDP GSO on the outbound ESP-in-UDP path (esp/userspace/gso.py), checked
against the kernel as the independent reader: real UDP sockets on the
loopback, where the kernel cuts each GSO send into the datagrams a receiver
reads one by one."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from scapy.layers.inet import ICMP, IP

from esp.userspace import UserspaceDataPlane
from esp.userspace.gso import MAX_BYTES, MAX_SEGMENTS, GsoBatch, gso_supported

from test_esp_dataplane import INSIDE, Client, FakeRoutes, FakeTun, child_spec

LOOPBACK = "127.0.0.1"


def _udp(bind: bool = True) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((LOOPBACK, 0))
    s.setblocking(False)
    return s


def _read_all(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            return out


needs_gso = pytest.mark.skipif(not gso_supported(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
                               reason="this kernel has no UDP_SEGMENT (Linux < 4.18)")


@dataclass(eq=False)
class Target:
    sock: socket.socket
    peer: tuple[str, int]
    gso: bool = True


@pytest.fixture
def ends() -> Iterator[tuple[socket.socket, socket.socket]]:
    sender, receiver = _udp(), _udp()
    yield sender, receiver
    sender.close()
    receiver.close()


def test_a_plain_object_or_a_tcp_socket_is_not_taken_for_a_gso_socket() -> None:
    assert not gso_supported(object())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        assert not gso_supported(tcp)


@needs_gso
def test_equal_datagrams_and_a_shorter_last_go_in_one_send_and_arrive_apart(ends) -> None:
    sender, receiver = ends
    target = Target(sender, receiver.getsockname())
    batch = GsoBatch()
    datagrams = [bytes([i]) * 1464 for i in range(10)] + [b"\xee" * 300]
    for d in datagrams:
        assert batch.add(target, memoryview(d)) == 0
    assert batch.flush() == 0  # the shorter one already sent the batch: nothing left
    assert (batch.sends, batch.datagrams) == (1, 11)
    assert _read_all(receiver) == datagrams


@needs_gso
def test_a_longer_datagram_another_target_or_a_full_batch_starts_a_new_send(ends) -> None:
    sender, receiver = ends
    other = _udp()
    try:
        a, b = Target(sender, receiver.getsockname()), Target(sender, other.getsockname())
        batch = GsoBatch()
        for d in (b"a" * 100, b"a" * 100, b"A" * 200):  # longer than the first: cannot be a segment of it
            batch.add(a, d)
        batch.add(b, b"b" * 100)  # another peer
        batch.add(a, b"c" * 100)
        batch.flush()
        assert (batch.sends, batch.datagrams) == (4, 5)
        assert _read_all(receiver) == [b"a" * 100, b"a" * 100, b"A" * 200, b"c" * 100]
        assert _read_all(other) == [b"b" * 100]

        batch = GsoBatch()
        many = [i.to_bytes(2, "big") * 50 for i in range(MAX_SEGMENTS + 3)]
        for d in many:
            batch.add(a, d)
        batch.flush()
        assert batch.sends == 2  # at most MAX_SEGMENTS datagrams per send
        assert _read_all(receiver) == many

        batch = GsoBatch()
        big = 1464
        count = MAX_BYTES // big + 2
        for i in range(count):
            batch.add(a, bytes([i]) * big)
        batch.flush()
        assert batch.sends == 2  # at most MAX_BYTES per send
        assert _read_all(receiver) == [bytes([i]) * big for i in range(count)]
    finally:
        other.close()


class Refusing:
    """A socket whose GSO sends fail with `code`; single sends work."""

    def __init__(self, real: socket.socket, code: int) -> None:
        self.real, self.code = real, code
        self.gso_calls = 0

    def sendmsg(self, *args: object) -> int:
        self.gso_calls += 1
        raise OSError(self.code, "refused")

    def sendto(self, data: bytes, peer: tuple[str, int]) -> int:
        return self.real.sendto(data, peer)


def test_a_path_that_refuses_segmentation_gets_its_datagrams_one_by_one_from_then_on(ends) -> None:
    sender, receiver = ends
    sock = Refusing(sender, errno.EIO)  # e.g. no checksum offload on the route
    target = Target(sock, receiver.getsockname())  # type: ignore[arg-type]
    batch = GsoBatch()
    for i in range(5):
        batch.add(target, bytes([i]) * 500)
    assert batch.flush() == 0
    assert not target.gso
    for i in range(5):
        batch.add(target, bytes([i]) * 500)
    batch.flush()
    assert sock.gso_calls == 1
    assert _read_all(receiver) == [bytes([i]) * 500 for i in range(5)] * 2


def test_a_lost_gso_send_counts_every_datagram_it_carried(ends) -> None:
    sender, receiver = ends
    target = Target(Refusing(sender, errno.ENOBUFS), receiver.getsockname())  # type: ignore[arg-type]
    batch = GsoBatch()
    for _ in range(7):
        batch.add(target, b"x" * 100)
    assert batch.flush() == 7
    assert target.gso  # a full queue is not a path that cannot segment
    assert _read_all(receiver) == []


# -- through the data plane --------------------------------------------------------------


@pytest.fixture
def plane() -> Iterator[tuple[UserspaceDataPlane, FakeTun, socket.socket, socket.socket]]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    nat_t, client = _udp(), _udp()
    tuns: list[FakeTun] = []

    def device(name: str, mtu: int) -> FakeTun:
        tuns.append(FakeTun(name, mtu))
        return tuns[-1]

    async def make() -> UserspaceDataPlane:
        dp = UserspaceDataPlane(device=device, routes=FakeRoutes, raw_socket=lambda a: (_ for _ in ()).throw(
            OSError(1, "no raw socket in this test")))  # type: ignore[arg-type]
        dp.attach(nat_t, lambda e: None)
        return dp

    dp = loop.run_until_complete(make())
    yield dp, tuns[0], nat_t, client
    dp.close()
    nat_t.close()
    client.close()
    loop.close()
    asyncio.set_event_loop(None)


@needs_gso
def test_a_burst_from_the_tun_device_leaves_in_gso_sends_and_each_datagram_opens_in_order(plane) -> None:
    dp, tun, nat_t, client = plane
    spec = replace(child_spec(), local_address=LOOPBACK, remote_address=LOOPBACK,
                   encap_remote_port=client.getsockname()[1])
    peer = Client(spec)
    dp.install(spec)
    sizes = [1400] * 30 + [100] + [1400] * 3 + [60]
    burst = [bytes(IP(src=INSIDE, dst="198.19.0.200", id=i) / ICMP() / (bytes([i]) * (n - 28)))
             for i, n in enumerate(sizes)]
    for p in burst:
        tun.kernel_sends(p)
    dp._tun_readable()
    got = _read_all(client)
    assert [peer.inb.open(d) for d in got] == burst
    assert [int.from_bytes(d[4:8], "big") for d in got] == list(range(1, len(burst) + 1))
    assert (dp._batch.sends, dp._batch.datagrams) == (2, len(burst))  # 30 + a shorter one, 3 + a shorter one
    c = dp.counters(spec.spi_in)
    assert c is not None and (c.packets_out, c.bytes_out) == (len(burst), sum(sizes))
    assert dp.send_errors == 0


@needs_gso
def test_two_clients_interleaved_each_get_their_own_datagrams(plane) -> None:
    dp, tun, nat_t, client = plane
    other = _udp()
    try:
        specs = [replace(child_spec(spi_in=0x1001 + i, spi_out=0x2001 + i, vip=f"198.19.0.{200 + i}"),
                         local_address=LOOPBACK, remote_address=LOOPBACK,
                         encap_remote_port=s.getsockname()[1]) for i, s in enumerate((client, other))]
        peers = [Client(s) for s in specs]
        for s in specs:
            dp.install(s)
        burst = [bytes(IP(src=INSIDE, dst=f"198.19.0.{200 + i % 2}", id=i) / ICMP() / (b"p" * 972))
                 for i in range(12)]
        for p in burst:
            tun.kernel_sends(p)
        dp._tun_readable()
        assert [peers[0].inb.open(d) for d in _read_all(client)] == burst[0::2]
        assert [peers[1].inb.open(d) for d in _read_all(other)] == burst[1::2]
    finally:
        other.close()
