"""The reuseport steering program, checked by the kernel on real loopback sockets.

The kernel is the independent judge here: it runs our classic BPF program on
each datagram and delivers it to the socket the program's index names.
"""

from __future__ import annotations

import os
import select
import socket
import struct
from typing import Callable

import pytest

from esp.userspace.steering import (
    attach_raw_esp_filter,
    GroupOrder,
    attach_reuseport_program,
    reuseport_program,
    reuseport_udp_socket,
    spi_for_worker,
    worker_of_spi,
)

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _group(workers: int) -> tuple[int, list[socket.socket]]:
    """The IKE socket first, then one per worker, the program attached last."""
    for _ in range(20):  # another process may take the free port first
        port = _free_port()
        try:
            socks = [reuseport_udp_socket(LOOPBACK, port)]
        except OSError:
            continue
        socks += [reuseport_udp_socket(LOOPBACK, port) for _ in range(workers)]
        attach_reuseport_program(socks[0], workers)
        return port, socks
    raise RuntimeError("no free UDP port on the loopback")


def _received(socks: list[socket.socket]) -> list[list[bytes]]:
    """Everything each socket has, in order (after a short wait for the loopback)."""
    select.select(socks, [], [], 0.2)
    got: list[list[bytes]] = []
    for sock in socks:
        datagrams = []
        while True:
            try:
                datagrams.append(sock.recv(65535))
            except BlockingIOError:
                break
        got.append(datagrams)
    return got


def _esp(spi: int, seq: int = 1) -> bytes:
    return struct.pack("!II", spi, seq) + os.urandom(64)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_spi_reaches_its_worker_and_ike_reaches_the_ike_socket(workers: int) -> None:
    port, socks = _group(workers)
    try:
        ike = b"\x00\x00\x00\x00" + os.urandom(28)  # non-ESP marker + IKE header
        keepalive = b"\xff"
        runt = b"\x12\x34\x56"  # shorter than an ESP header: the IKE side drops it
        spis = [spi_for_worker(int.from_bytes(os.urandom(4), "big"), w, workers) for w in range(workers)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for round_ in range(5):  # several packets each: steering, not the hash, decides
                client.sendto(ike, (LOOPBACK, port))
                client.sendto(keepalive, (LOOPBACK, port))
                client.sendto(runt, (LOOPBACK, port))
                for spi in spis:
                    client.sendto(_esp(spi, round_ + 1), (LOOPBACK, port))
        got = _received(socks)
        assert got[0] == [ike, keepalive, runt] * 5
        for worker, spi in enumerate(spis):
            received = got[1 + worker]
            assert len(received) == 5
            assert {struct.unpack_from("!I", d)[0] for d in received} == {spi}
    finally:
        for sock in socks:
            sock.close()


def test_other_sources_and_spis_spread_by_spi_alone() -> None:
    """Many clients (source ports): the worker depends on the SPI only."""
    port, socks = _group(2)
    try:
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        expected: list[set[int]] = [set(), set()]
        try:
            for client in clients:
                spi = int.from_bytes(os.urandom(4), "big") | 0x100
                expected[worker_of_spi(spi, 2)].add(spi)
                client.sendto(_esp(spi), (LOOPBACK, port))
        finally:
            for client in clients:
                client.close()
        got = _received(socks)
        assert got[0] == []
        for worker in range(2):
            assert {struct.unpack_from("!I", d)[0] for d in got[1 + worker]} == expected[worker]
    finally:
        for sock in socks:
            sock.close()


def test_group_order_is_bind_order_and_a_leaving_socket_is_replaced_by_the_last() -> None:
    """The kernel behaviour the design rests on, and the hazard it documents."""
    port, socks = _group(3)  # IKE, w0, w1, w2
    try:
        spi_w0 = spi_for_worker(0x1000, 0, 3)
        socks[1].close()  # worker 0 leaves: the kernel moves the last socket (w2) into index 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(_esp(spi_w0), (LOOPBACK, port))
        ike_side, worker1, worker2 = _received([socks[0], socks[2], socks[3]])
        assert ike_side == [] and worker1 == []
        assert [d[:4] for d in worker2] == [struct.pack("!I", spi_w0)]  # w2 now answers for w0's SPIs
    finally:
        for sock in socks:
            sock.close()


def test_spi_for_worker_keeps_randomness_and_avoids_reserved_spis() -> None:
    for workers in (1, 2, 3, 4, 7):
        for worker in range(workers):
            for candidate in (0, 1, 255, 256, 0x12345678, 0xFFFFFFFF, 0x1FFFFFFFF):
                spi = spi_for_worker(candidate, worker, workers)
                assert 256 <= spi <= 0xFFFFFFFF
                assert worker_of_spi(spi, workers) == worker
                assert abs(spi - (candidate & 0xFFFFFFFF)) < workers + 256
    with pytest.raises(ValueError):
        spi_for_worker(5, 2, 2)


def _can_open_raw_esp() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP).close()
        return True
    except PermissionError:
        return False


def _spi_after_ip_header(datagram: bytes) -> int:
    return int(struct.unpack_from("!I", datagram, (datagram[0] & 0xF) * 4)[0])


def _spi_first(datagram: bytes) -> int:
    return int(struct.unpack_from("!I", datagram)[0])


@pytest.mark.skipif(not _can_open_raw_esp(), reason="raw ESP sockets need CAP_NET_RAW")
@pytest.mark.parametrize(("family", "address", "spi_of"), [
    (socket.AF_INET, LOOPBACK, _spi_after_ip_header),  # an IPv4 raw socket sees the IP header
    (socket.AF_INET6, "::1", _spi_first),  # an IPv6 one gets the packet from the ESP header on
])
def test_raw_esp_filter_accepts_only_its_workers_spis(
        family: socket.AddressFamily, address: str, spi_of: Callable[[bytes], int]) -> None:
    receivers = []
    try:
        for worker in range(2):
            sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ESP)
            sock.bind((address, 0))
            attach_raw_esp_filter(sock, worker, 2)
            sock.setblocking(False)
            receivers.append(sock)
        spis = [spi_for_worker(0xB5C0D0E0, w, 2) for w in range(2)]  # (a first byte an IPv4 filter would misread)
        with socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ESP) as sender:
            for spi in spis:
                sender.sendto(_esp(spi), (address, 0))
        # a raw socket sees every ESP packet on the host (other tests' too): look for ours only
        got = _received(receivers)
        for worker in range(2):
            seen = {spi_of(d) for d in got[worker]}
            assert spis[worker] in seen and spis[1 - worker] not in seen, (worker, [hex(s) for s in seen])
            assert all(worker_of_spi(spi, 2) == worker for spi in seen)
    finally:
        for sock in receivers:
            sock.close()


def test_the_ike_transports_endpoint_founds_the_group() -> None:
    """ikev2d's 4500 endpoint with reuse_port: index 0, so IKE and keepalives stay with it."""
    from ikev2d.udp import SocketErrors, UdpEndpoint

    for _ in range(20):
        port = _free_port()
        try:
            endpoint = UdpEndpoint(LOOPBACK, port, lambda *_: None, SocketErrors(), reuse_port=True)
            break
        except OSError:
            continue
    else:
        raise RuntimeError("no free UDP port on the loopback")
    workers = [reuseport_udp_socket(LOOPBACK, port) for _ in range(2)]
    try:
        attach_reuseport_program(workers[1], 2)  # any member may attach the group's program
        ike = b"\x00\x00\x00\x00" + os.urandom(28)
        spis = [spi_for_worker(0x5EC0000, w, 2) for w in range(2)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(ike, (LOOPBACK, port))
            client.sendto(b"\xff", (LOOPBACK, port))
            for spi in spis:
                client.sendto(_esp(spi), (LOOPBACK, port))
        got = _received([endpoint.sock, *workers])
        assert got[0] == [ike, b"\xff"]
        assert [[d[:4] for d in g] for g in got[1:]] == [[struct.pack("!I", spi)] for spi in spis]
    finally:
        endpoint.close()
        for sock in workers:
            sock.close()


def test_without_reuse_port_the_endpoint_keeps_its_port_to_itself() -> None:
    """Default behaviour unchanged: no worker socket can join the 4500 socket's port."""
    from ikev2d.udp import SocketErrors, UdpEndpoint

    endpoint = UdpEndpoint(LOOPBACK, 0, lambda *_: None, SocketErrors())
    try:
        with pytest.raises(OSError):
            reuseport_udp_socket(LOOPBACK, endpoint.local[1]).close()
    finally:
        endpoint.close()


@pytest.mark.parametrize("dead", [0, 1, 2])
def test_a_replaced_workers_socket_and_the_others_keep_their_spis_after_the_program_follows_the_group(
        dead: int) -> None:
    """A worker dies (its socket leaves, the last takes its slot) and its
    replacement joins last: with GroupOrder's slots every SPI reaches its
    worker's socket again, the new one included, and IKE still index 0."""
    port, socks = _group(3)  # IKE, w0, w1, w2
    order = GroupOrder(3)
    by_worker = {w: socks[1 + w] for w in range(3)}
    try:
        by_worker[dead].close()
        order.leave(dead)
        by_worker[dead] = reuseport_udp_socket(LOOPBACK, port)
        order.join(dead)
        attach_reuseport_program(by_worker[(dead + 1) % 3], 3, order.slots())  # any member attaches it
        spis = [spi_for_worker(int.from_bytes(os.urandom(4), "big"), w, 3) for w in range(3)]
        ike = b"\x00\x00\x00\x00" + os.urandom(28)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for seq in range(1, 4):
                client.sendto(ike, (LOOPBACK, port))
                for spi in spis:
                    client.sendto(_esp(spi, seq), (LOOPBACK, port))
        got = _received([socks[0]] + [by_worker[w] for w in range(3)])
        assert got[0] == [ike] * 3
        for worker, spi in enumerate(spis):
            assert [struct.unpack_from("!I", d)[0] for d in got[1 + worker]] == [spi] * 3, (worker, order.members)
    finally:
        for sock in [socks[0], *by_worker.values()]:
            sock.close()


def test_group_order_follows_the_kernels_array() -> None:
    order = GroupOrder(3)
    assert order.slots() == [1, 2, 3]
    order.leave(0)  # the last (worker 2) takes slot 1
    assert order.members == [GroupOrder.IKE, 2, 1]
    order.join(0)
    assert order.slots() == [3, 2, 1]
    order.leave(0)  # the last leaving: nothing moves
    order.join(0)
    assert order.slots() == [3, 2, 1]
    assert reuseport_program(3) == reuseport_program(3, [1, 2, 3])  # bind order: the short program
    with pytest.raises(ValueError):
        reuseport_program(3, [1, 2, 4])
