"""`UserspaceDataPlane` without root: the TUN device is one end of a datagram
socketpair, the 4500 socket and the route table are recorders. The peer is
a pair of SAs with the mirrored keys (what the client holds)."""

from __future__ import annotations


import asyncio
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Network

import pytest
from scapy.layers.inet import ICMP, IP

from esp.dataplane import DataPlaneError, Expiry, SaCounters
from esp.spec import ChildSaSpec, EspAlgorithms
from esp.userspace import UserspaceDataPlane
from esp.userspace import dataplane as userspace_dataplane
from esp.userspace.dataplane import MAPPING_REPORT_SECONDS
from esp.userspace.lifetime import Lifetime, Limits
from esp.userspace.sa import InboundSa, OutboundSa
from esp.userspace.suites import make_opener, make_sealer
from ikev2d.iana import EncrId, IntegId

GATEWAY, CLIENT, INSIDE = "198.18.0.1", "198.18.0.2", "198.19.0.1"
CBC = EspAlgorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, 32, 64, 32)
GCM = EspAlgorithms(EncrId.AES_GCM_16, 256, IntegId.NONE, 36, 0, 16)


def child_spec(spi_in: int = 0x1001, spi_out: int = 0x2001, vip: str = "198.19.0.200",
               alg: EspAlgorithms = CBC, **changes: object) -> ChildSaSpec:
    spec = ChildSaSpec(
        ike_sa_id="ike-1", spi_in=spi_in, spi_out=spi_out, algorithms=alg,
        encr_key_in=os.urandom(alg.encr_key_size), integ_key_in=os.urandom(alg.integ_key_size),
        encr_key_out=os.urandom(alg.encr_key_size), integ_key_out=os.urandom(alg.integ_key_size),
        local_address=GATEWAY, remote_address=CLIENT, encap_local_port=4500, encap_remote_port=4500,
        local_selectors=(IPv4Network("0.0.0.0/0"),), remote_selectors=(IPv4Network(f"{vip}/32"),),
        lifetime_seconds=28800, lifetime_kilobytes=4608000, username="alice")
    return replace(spec, **changes)  # type: ignore[arg-type]


class Client:
    """The client's side of one spec: seals with our inbound keys, opens with our outbound ones."""

    def __init__(self, spec: ChildSaSpec) -> None:
        alg = spec.algorithms
        lifetime = Lifetime(0, Limits(), 0.0, lambda e: None)
        self.out = OutboundSa(spec.spi_in, make_sealer(alg, spec.encr_key_in, spec.integ_key_in), alg.esn,
                              lifetime, None)
        self.inb = InboundSa(spec.spi_out, make_opener(alg, spec.encr_key_out, spec.integ_key_out), alg.esn, 64,
                             lifetime, None)


class FakeTun:
    def __init__(self, name: str, mtu: int) -> None:
        self.name, self.mtu, self.index = name, mtu, 42
        self.fd, self._kernel_side = self._pair()

    def _pair(self) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        ours.setblocking(False)
        self._ours = ours
        return ours.fileno(), theirs

    def kernel_sends(self, packet: bytes) -> None:
        """As if the kernel routed `packet` into the TUN device."""
        self._kernel_side.send(packet)

    def kernel_received(self) -> list[bytes]:
        self._kernel_side.setblocking(False)
        out = []
        while True:
            try:
                out.append(self._kernel_side.recv(65536))
            except BlockingIOError:
                return out

    def close(self) -> None:
        self._ours.close()
        self._kernel_side.close()
        self.fd = -1


class FakeRoutes:
    def __init__(self) -> None:
        self.table: set[IPv4Network] = set()
        self.calls: list[tuple[str, IPv4Network]] = []
        self.fail: set[IPv4Network] = set()

    def replace(self, dst: IPv4Network, oif: int) -> None:
        if dst in self.fail:
            raise OSError(22, "Invalid argument")
        self.calls.append(("replace", dst))
        self.table.add(dst)

    def add(self, dst: IPv4Network, oif: int) -> None:
        """As the kernel: a route to `dst` already there is EEXIST, and kept."""
        if dst in self.fail or dst in self.table:
            raise OSError(17, "File exists")
        self.calls.append(("add", dst))
        self.table.add(dst)

    def delete(self, dst: IPv4Network, oif: int) -> None:
        self.calls.append(("delete", dst))
        self.table.discard(dst)

    def close(self) -> None:
        pass


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def getsockname(self) -> tuple[str, int]:
        return (GATEWAY, 4500)

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        self.sent.append((bytes(data), address))  # a view of the data plane's buffer: the kernel copies it too
        return len(data)


class FakeRawSocket(FakeSocket):
    """The raw IPPROTO_ESP socket: records what is sent (to port 0), hands
    over queued IPv4 packets (header included) as the kernel would; a real
    descriptor only so that the event loop can watch it."""

    family = socket.AF_INET  # what the data plane reads to know whether an IP header comes first

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.queued: list[tuple[bytes, tuple[str, int]]] = []
        self._fd, self._other = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)

    def getsockname(self) -> tuple[str, int]:
        return (self.address, 0)

    def fileno(self) -> int:
        return self._fd.fileno()

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if not self.queued:
            raise BlockingIOError
        return self.queued.pop(0)

    def close(self) -> None:
        self._fd.close()
        self._other.close()


class Harness:
    def __init__(self, **options: object) -> None:
        self.routes = FakeRoutes()
        self.sock = FakeSocket()
        self.raws: list[FakeRawSocket] = []

        def raw_socket(address: str) -> FakeRawSocket:
            self.raws.append(FakeRawSocket(address))
            return self.raws[-1]

        options.setdefault("raw_socket", raw_socket)
        self.expiries: list[Expiry] = []
        self.tuns: list[FakeTun] = []

        def device(name: str, mtu: int) -> FakeTun:
            self.tuns.append(FakeTun(name, mtu))
            return self.tuns[-1]

        self.dp = UserspaceDataPlane(device=device, routes=lambda: self.routes, **options)  # type: ignore[arg-type]
        self.dp.attach(self.sock, self.expiries.append)  # type: ignore[arg-type]

    @property
    def tun(self) -> FakeTun:
        return self.tuns[0]

    @property
    def raw(self) -> FakeRawSocket:
        return self.raws[0]

    def plain_esp_arrives(self, esp: bytes, src: str = CLIENT) -> None:
        """An IP protocol 50 packet for GATEWAY reaches the raw socket; its reader runs."""
        self.raw.queued.append((bytes(IP(src=src, dst=GATEWAY, proto=50) / esp), (src, 0)))
        self.dp._raw_readable(self.raw)  # type: ignore[arg-type]

    def from_inside(self, dst: str = "198.19.0.200", size: int = 100) -> bytes:
        """The kernel routes a packet for `dst` into the TUN device; the reader runs."""
        packet = bytes(IP(src=INSIDE, dst=dst) / ICMP() / (b"i" * (size - 28)))
        self.tun.kernel_sends(packet)
        self.dp._tun_readable()  # what the event loop does when the fd is readable
        return packet


def packet_from(vip: str, size: int = 100) -> bytes:
    return bytes(IP(src=vip, dst=INSIDE) / ICMP() / (b"o" * (size - 28)))


@pytest.fixture
def h() -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make() -> Harness:
        return Harness()

    harness = loop.run_until_complete(make())
    yield harness
    harness.dp.close()
    loop.close()
    asyncio.set_event_loop(None)


def test_both_directions_through_tun_and_udp(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    assert h.routes.table == {IPv4Network("198.19.0.200/32")}

    sent = h.from_inside(size=1400)
    [(datagram, to)] = h.sock.sent
    assert to == (CLIENT, 4500)
    assert datagram[:4] == spec.spi_out.to_bytes(4, "big")
    assert client.inb.open(datagram) == sent

    inner = packet_from("198.19.0.200", 512)
    h.dp.esp_received(client.out.seal(inner), (CLIENT, 4500))  # type: ignore[arg-type]
    assert h.tun.kernel_received() == [inner]

    c = h.dp.counters(spec.spi_in)
    assert c is not None
    assert (c.packets_out, c.bytes_out, c.packets_in, c.bytes_in) == (1, 1400, 1, 512)
    assert (c.seq_out, c.seq_in_highest) == (1, 1)
    assert (c.replay_drops, c.integrity_failures, c.other_drops) == (0, 0, 0)


def test_an_idle_pair_holds_no_cipher_context_until_its_first_packet(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    pair = h.dp._pairs[spec.spi_in]
    assert pair.inbound._deferred is not None and pair.outbound._deferred is not None

    h.from_inside(size=100)
    assert pair.outbound._deferred is None and pair.inbound._deferred is not None  # each direction on its own
    h.dp.esp_received(client.out.seal(packet_from("198.19.0.200")), (CLIENT, 4500))  # type: ignore[arg-type]
    assert pair.inbound._deferred is None
    assert len(h.tun.kernel_received()) == 1 and client.inb.open(h.sock.sent[0][0]) is not None


def test_a_malformed_first_packet_makes_the_opener_and_is_dropped(h: Harness) -> None:
    spec = child_spec()
    h.dp.install(spec)
    pair = h.dp._pairs[spec.spi_in]
    h.dp.esp_received(spec.spi_in.to_bytes(4, "big") + bytes(13), (CLIENT, 4500))  # type: ignore[arg-type]
    assert pair.inbound._deferred is None and pair.inbound.drops == 1


def test_gcm_pair(h: Harness) -> None:
    spec = child_spec(alg=GCM)
    client = Client(spec)
    h.dp.install(spec)
    sent = h.from_inside()
    assert client.inb.open(h.sock.sent[0][0]) == sent
    inner = packet_from("198.19.0.200")
    h.dp.esp_received(client.out.seal(inner), (CLIENT, 4500))  # type: ignore[arg-type]
    assert h.tun.kernel_received() == [inner]


def test_replayed_and_tampered_packets_are_dropped_and_counted(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    esp = client.out.seal(packet_from("198.19.0.200"))
    assert esp is not None
    h.dp.esp_received(esp, (CLIENT, 4500))
    h.dp.esp_received(esp, (CLIENT, 4500))  # replay
    tampered = bytearray(client.out.seal(packet_from("198.19.0.200")))  # type: ignore[arg-type]
    tampered[50] ^= 0x80
    h.dp.esp_received(bytes(tampered), (CLIENT, 4500))
    assert len(h.tun.kernel_received()) == 1
    c = h.dp.counters(spec.spi_in)
    assert c is not None and (c.packets_in, c.replay_drops, c.integrity_failures) == (1, 1, 1)


def test_spoofed_inner_source_is_dropped_and_counted(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    h.dp.esp_received(client.out.seal(packet_from("198.19.0.201")), (CLIENT, 4500))  # type: ignore[arg-type]
    assert h.tun.kernel_received() == []
    c = h.dp.counters(spec.spi_in)
    assert c is not None and (c.packets_in, c.other_drops) == (0, 1)


def test_unknown_spi_and_unrouted_destination_are_counted(h: Harness) -> None:
    h.dp.esp_received(b"\x00\x00\x99\x99" + bytes(100), (CLIENT, 4500))
    h.from_inside("198.19.0.250")
    assert (h.dp.unknown_spi, h.dp.no_sa_for_destination) == (1, 1)
    assert h.sock.sent == []


def test_remove_takes_the_route_and_the_sa_away(h: Harness) -> None:
    spec = child_spec()
    h.dp.install(spec)
    h.dp.remove(spec)
    assert h.routes.table == set()
    assert h.dp.counters(spec.spi_in) is None
    h.from_inside()
    assert h.sock.sent == [] and h.dp.no_sa_for_destination == 1
    h.dp.remove(spec)  # absent: not an error


def test_rekey_overlap_moves_traffic_to_the_new_pair_and_keeps_the_route(h: Harness) -> None:
    old, new = child_spec(0x1001, 0x2001), child_spec(0x1002, 0x2002)
    h.dp.install(old)
    h.dp.install(new)
    assert h.routes.calls == [("replace", IPv4Network("198.19.0.200/32"))]
    h.from_inside()
    assert h.sock.sent[-1][0][:4] == (0x2002).to_bytes(4, "big")
    # the old inbound SA still accepts what the client sent before switching
    h.dp.esp_received(Client(old).out.seal(packet_from("198.19.0.200")), (CLIENT, 4500))  # type: ignore[arg-type]
    assert len(h.tun.kernel_received()) == 1
    h.dp.remove(old)
    assert h.routes.table == {IPv4Network("198.19.0.200/32")}
    h.from_inside()
    assert h.sock.sent[-1][0][:4] == (0x2002).to_bytes(4, "big")
    h.dp.remove(new)
    assert h.routes.table == set()


def test_rekey_removing_the_newer_pair_first_falls_back_to_the_older(h: Harness) -> None:
    old, new = child_spec(0x1001, 0x2001), child_spec(0x1002, 0x2002)
    h.dp.install(old)
    h.dp.install(new)
    h.dp.remove(new)
    h.from_inside()
    assert h.sock.sent[-1][0][:4] == (0x2001).to_bytes(4, "big")


def test_failed_route_leaves_nothing_installed(h: Harness) -> None:
    spec = child_spec(remote_selectors=(IPv4Network("198.19.0.200/32"), IPv4Network("198.19.1.0/24")))
    h.routes.fail.add(IPv4Network("198.19.1.0/24"))
    with pytest.raises(DataPlaneError, match="cannot route"):
        h.dp.install(spec)
    assert h.routes.table == set()  # the first route was taken back
    assert h.dp.counters(spec.spi_in) is None
    h.dp.esp_received(Client(spec).out.seal(packet_from("198.19.0.200")), (CLIENT, 4500))  # type: ignore[arg-type]
    assert h.dp.unknown_spi == 1
    h.routes.fail.clear()
    h.dp.install(spec)  # and the same SPI installs cleanly afterwards
    assert h.dp.counters(spec.spi_in) == SaCounters(added_at=h.dp.counters(spec.spi_in).added_at)  # type: ignore[union-attr]


@pytest.mark.parametrize(("changes", "message"), [
    ({"algorithms": EspAlgorithms(EncrId.AES_CTR, 256, IntegId.HMAC_SHA2_256_128, 36, 32, 16)}, "unsupported"),
    ({"encr_key_in": bytes(16)}, "key is 16 bytes"),
])
def test_refused_specs_raise_and_leave_nothing(h: Harness, changes: dict, message: str) -> None:
    spec = child_spec(**changes)
    with pytest.raises(DataPlaneError, match=message):
        h.dp.install(spec)
    assert h.routes.calls == [] and h.dp.counters(spec.spi_in) is None


def test_duplicate_spi_is_refused(h: Harness) -> None:
    spec = child_spec()
    h.dp.install(spec)
    with pytest.raises(DataPlaneError, match="already installed"):
        h.dp.install(child_spec())


def test_authentic_packet_from_a_new_nat_mapping_is_reported_not_followed(h: Harness,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the source address of ESP is not protected: the IKE side checks the
    # path (ikev2d/tasks/peer_address.py) and moves the pair with update()
    reported: list[tuple[int, tuple[str, int]]] = []
    h.dp.attach(h.sock, h.expiries.append, lambda spi, remote: reported.append((spi, remote)))  # type: ignore[arg-type]
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    sealed = client.out.seal(packet_from("198.19.0.200"))  # type: ignore[arg-type]
    h.dp.esp_received(sealed, (CLIENT, 61000))
    h.dp.esp_received(client.out.seal(packet_from("198.19.0.200")), (CLIENT, 61000))  # type: ignore[arg-type]
    h.from_inside()
    assert h.sock.sent[-1][1] == (CLIENT, 4500)
    assert reported == [(spec.spi_in, (CLIENT, 61000))]  # once per new source and second
    h.dp.esp_received(sealed, ("198.18.0.66", 4500))  # a replayed copy from elsewhere: not newest
    assert len(reported) == 1
    # it goes on: reported again a second later (the IKE side may have been
    # busy with another exchange and skipped its check)
    later = time.monotonic() + MAPPING_REPORT_SECONDS
    monkeypatch.setattr(userspace_dataplane.time, "monotonic", lambda: later)
    h.dp.esp_received(client.out.seal(packet_from("198.19.0.200")), (CLIENT, 61000))  # type: ignore[arg-type]
    assert reported == [(spec.spi_in, (CLIENT, 61000))] * 2


def test_update_sends_to_the_new_mapping_and_keeps_the_sequence(h: Harness) -> None:
    spec = child_spec()
    h.dp.install(spec)
    h.from_inside()
    moved = replace(spec, encap_remote_port=61000)
    h.dp.update(spec, moved)
    h.from_inside()
    (first, to_first), (second, to_second) = h.sock.sent[-2:]
    assert (to_first, to_second) == ((CLIENT, 4500), (CLIENT, 61000))
    assert int.from_bytes(second[4:8], "big") == int.from_bytes(first[4:8], "big") + 1
    with pytest.raises(DataPlaneError, match="not installed"):
        h.dp.update(child_spec(spi_in=0x999), child_spec(spi_in=0x999))


def test_forged_packet_from_elsewhere_does_not_move_the_peer(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    forged = bytearray(client.out.seal(packet_from("198.19.0.200")))  # type: ignore[arg-type]
    forged[-1] ^= 1
    h.dp.esp_received(bytes(forged), ("198.18.0.66", 4500))
    h.from_inside()
    assert h.sock.sent[-1][1] == (CLIENT, 4500)


def test_packet_lifetime_reports_soft_then_hard_expiry(h: Harness) -> None:
    h.dp.close()
    loop = asyncio.get_event_loop()

    async def make() -> Harness:
        return Harness(lifetime_packets=10)

    small = loop.run_until_complete(make())
    try:
        spec = child_spec()
        small.dp.install(spec)
        for _ in range(12):
            small.from_inside()
        assert small.expiries == [Expiry(spec.spi_in, False, "packets"), Expiry(spec.spi_in, True, "packets")]
        assert len(small.sock.sent) == 10
        c = small.dp.counters(spec.spi_in)
        assert c is not None and c.other_drops == 2
    finally:
        small.dp.close()


def test_close_removes_every_route_and_the_device(h: Harness) -> None:
    h.dp.install(child_spec(0x1001, 0x2001, "198.19.0.200"))
    h.dp.install(child_spec(0x1002, 0x2002, "198.19.0.201"))
    h.dp.close()
    assert h.routes.table == set()
    assert h.dp.tun is None and h.tuns[0].fd == -1


# -- the per-packet paths: one reused buffer per direction ---------------------------

def test_a_burst_from_the_tun_device_is_drained_into_one_buffer_and_each_packet_sealed_apart(h: Harness) -> None:
    """The TUN reader reads every packet into the same staging buffer and
    the sealer writes into one shared buffer; each datagram sent must still
    carry its own packet, whatever size came before it."""
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    sizes = [1400, 60, 777, 28, 1400, 29]
    burst = [bytes(IP(src=INSIDE, dst="198.19.0.200", id=i) / ICMP() / (bytes([i]) * (n - 28)))
             for i, n in enumerate(sizes)]
    for p in burst:
        h.tun.kernel_sends(p)
    h.dp._tun_readable()  # one wake-up drains them all
    assert [client.inb.open(d) for d, _ in h.sock.sent] == burst
    assert [int.from_bytes(d[4:8], "big") for d, _ in h.sock.sent] == list(range(1, len(sizes) + 1))


def test_a_tun_read_shorter_than_an_ipv4_header_is_counted_not_sealed(h: Harness) -> None:
    h.dp.install(child_spec())
    h.tun.kernel_sends(bytes([0x45]) + bytes(10))
    h.dp._tun_readable()
    assert h.sock.sent == [] and h.dp.no_sa_for_destination == 1


def test_wider_remote_selector_is_found_from_the_staging_buffer(h: Harness) -> None:
    spec = child_spec(remote_selectors=(IPv4Network("198.19.1.0/24"),))
    client = Client(spec)
    h.dp.install(spec)
    sent = h.from_inside("198.19.1.77")
    [(datagram, _)] = h.sock.sent
    assert client.inb.open(datagram) == sent


def test_opened_packets_written_to_the_tun_device_are_each_their_own(h: Harness) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    inners = [packet_from("198.19.0.200", n) for n in (1400, 40, 600)]
    for inner in inners:
        h.dp.esp_received(client.out.seal(inner), (CLIENT, 4500))  # type: ignore[arg-type]
    assert h.tun.kernel_received() == inners


# -- the TUN device removed under the data plane (`ip link del`) ----------------------

def kill_tun(tun: FakeTun) -> None:
    """The device is gone: its fd fails every read (EBADFD on Linux; here
    EBADF, a closed descriptor)."""
    tun._ours.close()


def test_a_dead_tun_fd_is_dropped_from_the_loop_and_the_device_recreated_with_its_routes(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    spec = child_spec()
    client = Client(spec)
    h.dp.install(spec)
    loop = asyncio.get_event_loop()
    old_fd = h.tun.fd
    kill_tun(h.tun)

    h.dp._tun_readable()  # what the loop calls for a dead fd: no exception, no second call

    assert h.dp.tun is None and h.dp.tun_losses == 1
    assert old_fd not in loop._selector.get_map()  # type: ignore[attr-defined]
    with pytest.raises(DataPlaneError, match="TUN device ikev2d0 is gone .* not recreated yet"):
        h.dp.install(child_spec(0x1002, 0x2002, "198.19.0.201"))
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"][0].startswith(
        "TUN device ikev2d0 lost (Bad file descriptor): the traffic of 1 Child SAs stops; recreating it")

    h.routes.table.clear()  # the kernel took the routes with the device
    loop.run_until_complete(asyncio.sleep(0.01))  # the first attempt runs at once

    new = h.tuns[-1]
    assert len(h.tuns) == 2 and h.dp.tun is new and new.fd in loop._selector.get_map()  # type: ignore[attr-defined]
    assert h.routes.table == {IPv4Network("198.19.0.200/32")}
    assert "TUN device ikev2d0 recreated" in caplog.text
    sent = bytes(IP(src=INSIDE, dst="198.19.0.200") / ICMP() / (b"i" * 72))
    new.kernel_sends(sent)
    h.dp._tun_readable()
    assert client.inb.open(h.sock.sent[-1][0]) == sent  # the same SA carries traffic again
    inner = packet_from("198.19.0.200")
    h.dp.esp_received(client.out.seal(inner), (CLIENT, 4500))  # type: ignore[arg-type]
    assert new.kernel_received() == [inner]


def test_a_tun_device_that_cannot_be_recreated_is_retried_with_back_off(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.dp.install(child_spec())
    made = len(h.tuns)
    refusals = 3

    def device(name: str, mtu: int) -> FakeTun:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise OSError(16, "Device or resource busy")
        h.tuns.append(FakeTun(name, mtu))
        return h.tuns[-1]

    h.dp._make_device = device
    h.dp.esp_received(b"\0" * 8, (CLIENT, 4500))  # before: fine
    kill_tun(h.tun)
    h.dp._tun_readable()
    delays = []
    for _ in range(3):
        h.dp._revive()
        assert h.dp._tun_retry_handle is not None
        delays.append(h.dp._tun_retry)
    assert delays == [1.0, 2.0, 4.0] and h.dp.tun is None
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2  # lost, and the first failed attempt; the next ones wait for the minute
    assert "cannot create it: Device or resource busy; trying again in 1 s" in errors[1]
    h.dp._revive()
    assert h.dp.tun is h.tuns[-1] and len(h.tuns) == made + 1
    h.dp.install(child_spec(0x1002, 0x2002, "198.19.0.201"))  # accepted again


# -- plain ESP (IP protocol 50) beside ESP in UDP --------------------------------

PLAIN = {"encap_remote_port": None, "encap_local_port": None}


def test_plain_esp_pair_sends_and_receives_through_the_raw_socket(h: Harness) -> None:
    spec = child_spec(**PLAIN)
    client = Client(spec)
    h.dp.install(spec)
    sent = h.from_inside(size=1400)
    assert h.sock.sent == []  # nothing in UDP
    [(esp, to)] = h.raw.sent
    assert to == (CLIENT, 0) and esp[:4] == spec.spi_out.to_bytes(4, "big")
    assert client.inb.open(esp) == sent

    inner = packet_from("198.19.0.200", 512)
    h.plain_esp_arrives(client.out.seal(inner))  # type: ignore[arg-type]
    assert h.tun.kernel_received() == [inner]
    c = h.dp.counters(spec.spi_in)
    assert c is not None and (c.packets_in, c.packets_out, c.other_drops) == (1, 1, 0)


def test_ip_options_are_skipped_by_the_header_length(h: Harness) -> None:
    from scapy.layers.inet import IPOption_NOP
    spec = child_spec(**PLAIN)
    h.dp.install(spec)
    inner = packet_from("198.19.0.200")
    esp = Client(spec).out.seal(inner)
    packet = bytes(IP(src=CLIENT, dst=GATEWAY, proto=50, options=[IPOption_NOP()] * 4) / esp)  # type: ignore[operator]
    assert packet[0] & 0x0F == 6
    h.raw.queued.append((packet, (CLIENT, 0)))
    h.dp._raw_readable(h.raw)  # type: ignore[arg-type]
    assert h.tun.kernel_received() == [inner]


def test_pairs_of_both_encapsulations_side_by_side(h: Harness) -> None:
    udp, plain = child_spec(0x1001, 0x2001), child_spec(0x1002, 0x2002, vip="198.19.0.201", **PLAIN)
    h.dp.install(udp)
    h.dp.install(plain)
    h.from_inside("198.19.0.200")
    h.from_inside("198.19.0.201")
    assert [(d[:4], to) for d, to in h.sock.sent] == [((0x2001).to_bytes(4, "big"), (CLIENT, 4500))]
    assert [(d[:4], to) for d, to in h.raw.sent] == [((0x2002).to_bytes(4, "big"), (CLIENT, 0))]
    h.dp.esp_received(Client(udp).out.seal(packet_from("198.19.0.200")), (CLIENT, 4500))  # type: ignore[arg-type]
    h.plain_esp_arrives(Client(plain).out.seal(packet_from("198.19.0.201")))  # type: ignore[arg-type]
    assert len(h.tun.kernel_received()) == 2


def test_a_pair_moves_from_plain_esp_to_udp_and_back_keeping_its_sequence(h: Harness) -> None:
    # MOBIKE switching encapsulation on when a NAT appears, off when it goes
    # (ikev2d/tasks/mobike.py): same keys, same counters, the other socket
    reported: list[tuple[int, tuple[str, int]]] = []
    h.dp.attach(h.sock, h.expiries.append, lambda spi, remote: reported.append((spi, remote)))  # type: ignore[arg-type]
    plain = child_spec(**PLAIN)
    client = Client(plain)
    h.dp.install(plain)
    h.from_inside()
    udp = replace(plain, remote_address="198.18.0.9", encap_local_port=4500, encap_remote_port=61000)
    h.dp.update(plain, udp)
    h.from_inside()
    back = replace(udp, remote_address=CLIENT, **PLAIN)
    h.dp.update(udp, back)
    h.from_inside()
    seqs = [int.from_bytes(d[4:8], "big") for d, _ in (h.raw.sent[0], h.sock.sent[0], h.raw.sent[1])]
    assert seqs == [1, 2, 3]
    assert [to for _, to in h.sock.sent] == [("198.18.0.9", 61000)]
    assert [to for _, to in h.raw.sent] == [(CLIENT, 0), (CLIENT, 0)]
    assert all(client.inb.open(d) is not None for d, _ in (h.raw.sent[0], h.sock.sent[0], h.raw.sent[1]))
    # in flight during the switch: ESP in UDP still opens, and is no NAT mapping to report
    h.dp.esp_received(client.out.seal(packet_from("198.19.0.200")), ("198.18.0.9", 61000))  # type: ignore[arg-type]
    h.plain_esp_arrives(client.out.seal(packet_from("198.19.0.200")))  # type: ignore[arg-type]
    assert len(h.tun.kernel_received()) == 2 and reported == []


def test_plain_esp_from_another_address_is_not_reported(h: Harness) -> None:
    # the kernel reports XFRM_MSG_MAPPING for encapsulated states only; plain
    # ESP has no NAT mapping, and no port the IKE side could check
    reported: list[tuple[int, tuple[str, int]]] = []
    h.dp.attach(h.sock, h.expiries.append, lambda spi, remote: reported.append((spi, remote)))  # type: ignore[arg-type]
    spec = child_spec(**PLAIN)
    h.dp.install(spec)
    h.plain_esp_arrives(Client(spec).out.seal(packet_from("198.19.0.200")), src="198.18.0.66")  # type: ignore[arg-type]
    assert len(h.tun.kernel_received()) == 1 and reported == []
    h.from_inside()
    assert h.raw.sent[-1][1] == (CLIENT, 0)


def test_without_a_raw_socket_plain_esp_is_refused_saying_why_and_udp_still_works() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def no_raw(address: str) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    async def make() -> Harness:
        return Harness(raw_socket=no_raw)

    h = loop.run_until_complete(make())
    try:
        with pytest.raises(DataPlaneError, match="needs plain ESP .* no raw ESP socket on 198.18.0.1: Operation not"):
            h.dp.install(child_spec(**PLAIN))
        assert h.routes.calls == []
        spec = child_spec()
        h.dp.install(spec)
        with pytest.raises(DataPlaneError, match="needs plain ESP"):
            h.dp.update(spec, replace(spec, **PLAIN))
        h.from_inside()
        assert h.sock.sent[-1][1] == (CLIENT, 4500)  # the failed move left the pair as it was
    finally:
        h.dp.close()
        loop.close()
        asyncio.set_event_loop(None)


def test_close_closes_the_raw_sockets(h: Harness) -> None:
    raw = h.raw
    h.dp.close()
    assert raw._fd.fileno() == -1
