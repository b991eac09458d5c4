"""UDP GRO on the ESP-in-UDP port: one read may carry a run of one peer's
datagrams (equal size, the last maybe shorter), which the endpoint cuts
apart and hands on one by one; an IKE message among them arrives intact."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from ikev2d.udp import SOL_UDP, UDP_GRO, SocketErrors, UdpEndpoint, gro_segments

UDP_SEGMENT = 103


def _size(n: int) -> list[tuple[int, int, bytes]]:
    return [(SOL_UDP, UDP_GRO, n.to_bytes(4, sys.byteorder))]


def test_segments_are_cut_at_the_size_the_kernel_gives_the_last_may_be_shorter() -> None:
    data = b"a" * 5 + b"b" * 5 + b"c" * 3
    assert gro_segments(data, _size(5)) == [b"aaaaa", b"bbbbb", b"ccc"]
    assert gro_segments(b"x" * 10, _size(5)) == [b"xxxxx", b"xxxxx"]


def test_without_the_control_message_or_with_a_useless_one_the_read_is_one_datagram() -> None:
    assert gro_segments(b"abcdef", []) == [b"abcdef"]
    assert gro_segments(b"abcdef", _size(0)) == [b"abcdef"]
    assert gro_segments(b"abcdef", _size(6)) == [b"abcdef"]
    assert gro_segments(b"abcdef", [(socket.SOL_SOCKET, UDP_GRO, (3).to_bytes(4, sys.byteorder))]) == [b"abcdef"]


def _gso_capable() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(SOL_UDP, UDP_GRO, 1)
            probe.setsockopt(SOL_UDP, UDP_SEGMENT, 100)
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _gso_capable(), reason="this kernel has no UDP GSO/GRO (Linux >= 5.0 has)")
def test_an_endpoint_with_gro_hands_on_each_datagram_of_a_coalesced_run_ike_included() -> None:
    # the loopback keeps a UDP GSO send whole: the GRO socket reads it as one
    # coalesced run, as from a NIC that coalesced a peer's datagrams
    ike = b"\0\0\0\0" + b"I" * 96  # the non-ESP marker, then an IKE message
    esp = [bytes([0, 0, 1, k]) + bytes([k]) * 96 for k in range(3)]
    tail = bytes([0, 0, 1, 9]) + b"t" * 20

    reads: list[int] = []

    async def run() -> list[tuple[bytes, tuple[str, int]]]:
        got: list[tuple[bytes, tuple[str, int]]] = []
        endpoint = UdpEndpoint("127.0.0.1", 0, lambda data, local, remote: got.append((data, remote)),
                               SocketErrors(), gro=True)
        assert endpoint.gro
        endpoint.start()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            peer.bind(("127.0.0.1", 0))
            peer.sendmsg([esp[0] + ike + esp[1] + esp[2] + tail],
                         [(SOL_UDP, UDP_SEGMENT, (100).to_bytes(2, sys.byteorder))], 0, endpoint.local)
            peer.sendto(b"\0\0\0\0alone", endpoint.local)
            for _ in range(100):
                await asyncio.sleep(0.01)
                if len(got) >= 6:
                    break
            assert all(remote == peer.getsockname() for _, remote in got)
            reads.append(endpoint.gro_reads)
            return got
        finally:
            peer.close()
            endpoint.close()
    got = asyncio.run(run())
    assert [data for data, _ in got] == [esp[0], ike, esp[1], esp[2], tail, b"\0\0\0\0alone"]
    assert reads == [1]  # the five came in one read, cut apart here (not by the kernel)


def test_an_endpoint_without_gro_reads_one_datagram_at_a_time() -> None:
    endpoint = UdpEndpoint("127.0.0.1", 0, lambda data, local, remote: None, SocketErrors())
    try:
        assert not endpoint.gro
        assert endpoint.sock.getsockopt(SOL_UDP, UDP_GRO) == 0
    finally:
        endpoint.close()
