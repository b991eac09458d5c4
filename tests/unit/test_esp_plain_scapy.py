"""Plain ESP (IP protocol 50) through real raw sockets on the loopback, with
scapy's ESP (`scapy.layers.ipsec.SecurityAssociation`, tunnel mode without
UDP encapsulation) as the independent peer: it decrypts what the userspace
data plane sent from its raw socket, and the data plane opens what scapy
built and sent to it. Needs CAP_NET_RAW (the daemon needs it too)."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol, TypeVar

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.ipsec import ESP, SecurityAssociation
from test_esp_dataplane import FakeRoutes, FakeTun, child_spec

from esp.spec import ChildSaSpec
from esp.userspace import UserspaceDataPlane
from esp.userspace.dataplane import open_raw_esp

# host-internal: the loopback's 127/8, nothing leaves the machine
GATEWAY, CLIENT = "127.0.0.1", "127.0.0.2"
INSIDE, VIP = "198.19.0.1", "198.19.0.200"


def _raw_or_skip(address: str) -> socket.socket:
    try:
        return open_raw_esp(address)
    except PermissionError:
        pytest.skip("no CAP_NET_RAW: a raw IPPROTO_ESP socket cannot be opened here")


def _readable(sock: socket.socket, timeout: float = 2.0) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


class Gateway:
    def __init__(self) -> None:
        self.tuns: list[FakeTun] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((GATEWAY, 0))
        self.raws: list[socket.socket] = []

        def device(name: str, mtu: int) -> FakeTun:
            self.tuns.append(FakeTun(name, mtu))
            return self.tuns[-1]

        def raw(address: str) -> socket.socket:
            self.raws.append(_raw_or_skip(address))
            return self.raws[-1]

        self.dp = UserspaceDataPlane(device=device, routes=FakeRoutes, raw_socket=raw)  # type: ignore[arg-type]
        self.dp.attach(self.udp, lambda e: None)

    def close(self) -> None:
        self.dp.close()
        self.udp.close()


class _Closable(Protocol):
    def close(self) -> None: ...


G = TypeVar("G", bound=_Closable)


def serve_in_new_loop(make: Callable[[], G]) -> Iterator[G]:
    """A gateway made inside a fresh event loop (the data plane attaches its
    readers to the running loop), closed with it; shared by the ESP tests
    that drive a gateway through real sockets."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def build() -> G:
        return make()

    try:
        gateway = loop.run_until_complete(build())
        yield gateway
        gateway.close()
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from serve_in_new_loop(Gateway)


@pytest.fixture
def client_raw() -> Iterator[socket.socket]:
    sock = _raw_or_skip(CLIENT)
    yield sock
    sock.close()


def scapy_peer(spec: ChildSaSpec) -> tuple[SecurityAssociation, SecurityAssociation]:
    """The client's two SAs as scapy holds them: one seals toward us, one opens what we send."""
    common = {"crypt_algo": "AES-CBC", "auth_algo": "SHA2-512-256"}
    toward_us = SecurityAssociation(ESP, spi=spec.spi_in, crypt_key=spec.encr_key_in, auth_key=spec.integ_key_in,
                                    tunnel_header=IP(src=CLIENT, dst=GATEWAY), **common)
    from_us = SecurityAssociation(ESP, spi=spec.spi_out, crypt_key=spec.encr_key_out, auth_key=spec.integ_key_out,
                                  tunnel_header=IP(src=GATEWAY, dst=CLIENT), **common)
    return toward_us, from_us


def plain_spec() -> ChildSaSpec:
    return child_spec(local_address=GATEWAY, remote_address=CLIENT, encap_local_port=None, encap_remote_port=None)


def test_plain_esp_both_ways_through_raw_sockets_with_scapy(gw: Gateway, client_raw: socket.socket) -> None:
    spec = plain_spec()
    toward_us, from_us = scapy_peer(spec)
    gw.dp.install(spec)

    # out: TUN -> seal -> raw socket -> IP protocol 50 on the wire -> scapy opens it
    inner = bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=1) / (b"o" * 1000))
    gw.tuns[0].kernel_sends(inner)
    gw.dp._tun_readable()
    assert _readable(client_raw)
    packet, source = client_raw.recvfrom(65535)
    wire = IP(packet)
    assert (source, wire.src, wire.dst, wire.proto) == ((GATEWAY, 0), GATEWAY, CLIENT, 50)
    assert wire[ESP].spi == spec.spi_out and wire[ESP].seq == 1
    assert bytes(from_us.decrypt(wire)) == inner

    # in: scapy seals -> IP protocol 50 -> raw socket -> open -> TUN
    for seq in (1, 2, 3):
        back = bytes(IP(src=VIP, dst=INSIDE) / ICMP(type=0, seq=seq) / (b"i" * (100 * seq)))
        esp = toward_us.encrypt(IP(back), seq_num=seq)
        client_raw.sendto(bytes(esp[ESP]), (GATEWAY, 0))  # the kernel writes the IP header
        assert _readable(gw.raws[0])
        gw.dp._raw_readable(gw.raws[0])
        assert gw.tuns[0].kernel_received() == [back]
    counters = gw.dp.counters(spec.spi_in)
    assert counters is not None and (counters.packets_in, counters.packets_out) == (3, 1)
    assert (counters.integrity_failures, counters.replay_drops, counters.other_drops) == (0, 0, 0)
    assert gw.dp.unknown_spi == 0


def test_tampered_plain_esp_is_counted_not_delivered(gw: Gateway, client_raw: socket.socket) -> None:
    spec = plain_spec()
    toward_us, _ = scapy_peer(spec)
    gw.dp.install(spec)
    esp = bytearray(bytes(toward_us.encrypt(IP(src=VIP, dst=INSIDE) / ICMP(), seq_num=1)[ESP]))
    esp[30] ^= 1
    client_raw.sendto(bytes(esp), (GATEWAY, 0))
    assert _readable(gw.raws[0])
    gw.dp._raw_readable(gw.raws[0])
    assert gw.tuns[0].kernel_received() == []
    counters = gw.dp.counters(spec.spi_in)
    assert counters is not None and counters.integrity_failures == 1


def test_a_pair_moved_from_udp_to_plain_esp_reaches_scapy_on_the_raw_path(gw: Gateway,
                                                                            client_raw: socket.socket) -> None:
    udp_spec = replace(plain_spec(), encap_local_port=4500, encap_remote_port=4500)
    _, from_us = scapy_peer(udp_spec)
    gw.dp.install(udp_spec)
    catcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    catcher.bind((CLIENT, 0))
    try:
        gw.dp.update(udp_spec, replace(udp_spec, encap_remote_port=catcher.getsockname()[1]))
        gw.tuns[0].kernel_sends(bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=1)))
        gw.dp._tun_readable()
        assert _readable(catcher)
        assert catcher.recv(65535)[4:8] == (1).to_bytes(4, "big")  # ESP in UDP, sequence 1
    finally:
        catcher.close()
    gw.dp.update(udp_spec, plain_spec())
    inner = bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=2))
    gw.tuns[0].kernel_sends(inner)
    gw.dp._tun_readable()
    assert _readable(client_raw)
    wire = IP(client_raw.recv(65535))
    assert wire.proto == 50 and wire[ESP].seq == 2  # the sequence carries on across the move
    assert bytes(from_us.decrypt(wire)) == inner
