"""The userspace data plane over an IPv6 outer address: plain ESP through a
raw AF_INET6 IPPROTO_ESP socket (which hands over the ESP header itself, no
IPv6 header) and ESP in UDP on an IPv6 port-4500 socket, with scapy's ESP
(tunnel mode, IPv6 tunnel header) as the independent peer. Both ends are
the IPv6 loopback ::1, so each raw socket also sees what it sent itself:
readers skip packets of the other direction's SPI. Needs CAP_NET_RAW."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw
from test_esp_dataplane import FakeRoutes, FakeTun, child_spec
from test_esp_plain_scapy import serve_in_new_loop

from esp.spec import ChildSaSpec
from esp.userspace import UserspaceDataPlane
from esp.userspace.dataplane import open_raw_esp

HERE = "::1"  # gateway and client: host-internal, nothing leaves the machine
INSIDE, VIP = "198.19.0.1", "198.19.0.200"  # an IPv4 pool over the IPv6 underlay


def _raw_or_skip(address: str = HERE) -> socket.socket:
    try:
        return open_raw_esp(address)
    except PermissionError:
        pytest.skip("no CAP_NET_RAW: a raw IPPROTO_ESP socket cannot be opened here")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")


def _next_with_spi(sock: socket.socket, spi: int, timeout: float = 2.0) -> tuple[bytes, tuple]:
    while select.select([sock], [], [], timeout)[0]:
        data, source = sock.recvfrom(65535)
        if data[:4] == spi.to_bytes(4, "big"):
            return data, source
    raise AssertionError(f"no ESP with SPI 0x{spi:08x} arrived")


class Gateway:
    def __init__(self) -> None:
        self.tun = FakeTun("ikev2d0", 1400)
        self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.udp.bind((HERE, 0))
        self.raws: list[socket.socket] = []

        def raw(address: str) -> socket.socket:
            self.raws.append(_raw_or_skip(address))
            return self.raws[-1]

        self.dp = UserspaceDataPlane(device=lambda n, m: self.tun, routes=FakeRoutes,  # type: ignore[arg-type]
                                     raw_socket=raw)
        self.dp.attach(self.udp, lambda e: None)

    def close(self) -> None:
        self.dp.close()
        self.udp.close()


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from serve_in_new_loop(Gateway)


def scapy_peer(spec: ChildSaSpec) -> tuple[SecurityAssociation, SecurityAssociation]:
    common = {"crypt_algo": "AES-CBC", "auth_algo": "SHA2-512-256"}
    toward_us = SecurityAssociation(ESP, spi=spec.spi_in, crypt_key=spec.encr_key_in, auth_key=spec.integ_key_in,
                                    tunnel_header=IPv6(src=HERE, dst=HERE), **common)
    from_us = SecurityAssociation(ESP, spi=spec.spi_out, crypt_key=spec.encr_key_out, auth_key=spec.integ_key_out,
                                  tunnel_header=IPv6(src=HERE, dst=HERE), **common)
    return toward_us, from_us


def plain_spec() -> ChildSaSpec:
    return child_spec(local_address=HERE, remote_address=HERE, encap_local_port=None, encap_remote_port=None)


def test_plain_esp_over_ipv6_leaves_from_the_raw_socket_for_scapy(gw: Gateway) -> None:
    client = _raw_or_skip()
    try:
        spec = plain_spec()
        _, from_us = scapy_peer(spec)
        gw.dp.install(spec)

        inner = bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=1) / (b"o" * 1000))
        gw.tun.kernel_sends(inner)
        gw.dp._tun_readable()
        esp, source = _next_with_spi(client, spec.spi_out)
        assert source[:2] == (HERE, 0)  # IP protocol 50 from the gateway's IPv6 address
        wire = IPv6(bytes(IPv6(src=HERE, dst=HERE, nh=50) / Raw(esp)))
        assert wire[ESP].spi == spec.spi_out and wire[ESP].seq == 1
        assert bytes(from_us.decrypt(wire)) == inner

        counters = gw.dp.counters(spec.spi_in)
        assert counters is not None and counters.packets_out == 1
    finally:
        client.close()


def test_plain_esp_over_ipv6_is_opened_from_the_raw_socket(gw: Gateway) -> None:
    client = _raw_or_skip()
    try:
        spec = plain_spec()
        toward_us, _ = scapy_peer(spec)
        gw.dp.install(spec)
        back = bytes(IP(src=VIP, dst=INSIDE) / ICMP(type=0, seq=7) / (b"i" * 300))
        client.sendto(bytes(toward_us.encrypt(IP(back), seq_num=1)[ESP]), (HERE, 0))
        assert select.select([gw.raws[0]], [], [], 2.0)[0]
        gw.dp._raw_readable(gw.raws[0])
        assert gw.tun.kernel_received() == [back]  # no IPv6 header was cut into the ESP
        counters = gw.dp.counters(spec.spi_in)
        assert counters is not None and counters.packets_in == 1 and counters.integrity_failures == 0
    finally:
        client.close()


def test_esp_in_udp_over_ipv6_reaches_the_client_port(gw: Gateway) -> None:
    catcher = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    catcher.bind((HERE, 0))
    try:
        spec = replace(plain_spec(), encap_local_port=gw.udp.getsockname()[1],
                       encap_remote_port=catcher.getsockname()[1])
        _, from_us = scapy_peer(spec)
        gw.dp.install(spec)
        inner = bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=3))
        gw.tun.kernel_sends(inner)
        gw.dp._tun_readable()
        assert select.select([catcher], [], [], 2.0)[0]
        data, source = catcher.recvfrom(65535)
        assert source[:2] == gw.udp.getsockname()[:2]
        wire = IPv6(bytes(IPv6(src=HERE, dst=HERE, nh=50) / Raw(data)))
        assert bytes(from_us.decrypt(wire)) == inner
    finally:
        catcher.close()


def test_a_pair_moved_from_ipv4_to_ipv6_leaves_from_the_ipv6_raw_socket(gw: Gateway) -> None:
    """MOBIKE across families (the IKE side: tests/unit/test_ipv6_outer.py):
    the pair keeps its keys and sequence numbers, and its ESP now leaves
    from the served IPv6 address's raw socket."""
    udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4.bind(("127.0.0.1", 0))
    client = _raw_or_skip()
    try:
        gw.dp.attach(udp4, lambda e: None)  # the IPv4 address is served too
        v4 = child_spec(local_address="127.0.0.1", remote_address="127.0.0.2", encap_local_port=None,
                        encap_remote_port=None)
        gw.dp.install(v4)
        gw.tun.kernel_sends(bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=1)))
        gw.dp._tun_readable()  # seq 1, plain ESP over IPv4 (to nobody listening)
        v6 = replace(v4, local_address=HERE, remote_address=HERE)
        gw.dp.update(v4, v6)
        _, from_us = scapy_peer(v6)
        inner = bytes(IP(src=INSIDE, dst=VIP) / ICMP(seq=2))
        gw.tun.kernel_sends(inner)
        gw.dp._tun_readable()
        esp, _ = _next_with_spi(client, v6.spi_out)
        wire = IPv6(bytes(IPv6(src=HERE, dst=HERE, nh=50) / Raw(esp)))
        assert wire[ESP].seq == 2  # the sequence carries on across the move
        assert bytes(from_us.decrypt(wire)) == inner
    finally:
        client.close()
        udp4.close()
