"""`ikev2d load --ping`: an ICMP echo through each client's Child SA.

The client's Child SA keys against those the responder core installed
(its own KEYMAT code), the echo request opened and answered with those
keys, scapy's ESP and IP/ICMP as an independent reader and writer, and
the runner's ping over loopback UDP (ESP in UDP on a second port)."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from typing import cast

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw

from esp.spec import ChildSaSpec
from esp.userspace.lifetime import Limits, Lifetime
from esp.userspace.sa import InboundSa, OutboundSa
from esp.userspace.suites import make_opener, make_sealer
from ikev2d.crypto.errors import CryptoError
from ikev2d.effects import InstallChildSa
from ikev2d.iana import ProtocolId, TransformType
from ikev2d.load.ping import PAYLOAD, Pinger, checksum, echo_reply_seq, echo_request
from ikev2d.load.runner import NON_ESP_MARKER, LoadOptions, run_load
from ikev2d.load.session import ClientProfile, LoadSession, Phase
from ikev2d.load.stats import LoadStats
from ikev2d.wire.payloads import Proposal, Transform

from responder_harness import GATEWAY, Harness
from test_load_session import drive

PROFILE = ClientProfile(username="alice", password="Lab-Passw0rd-1", fake_nat=True)
INSIDE = IPv4Address("198.19.0.1")
VIP = IPv4Address("198.19.1.7")


def installed(harness: Harness, spi_in: int) -> ChildSaSpec:
    return next(e.spec for e in harness.effects if isinstance(e, InstallChildSa) and e.spec.spi_in == spi_in)


class EchoGateway:
    """The responder's side of the Child SAs the core installed, with the
    ESP code of its userspace data plane and the keys of its InstallChildSa:
    opens an echo request and seals the echo reply (written by scapy)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.pairs: dict[int, tuple[InboundSa, OutboundSa]] = {}
        self.requests: list[bytes] = []

    def answer(self, esp: bytes) -> bytes | None:
        spi = int.from_bytes(esp[:4], "big")
        if spi not in self.pairs:
            spec = installed(self.harness, spi)
            alg = spec.algorithms
            lifetime = Lifetime(spi, Limits(), 0.0, lambda expiry: None)
            self.pairs[spi] = (
                InboundSa(spi, make_opener(alg, spec.encr_key_in, spec.integ_key_in), alg.esn, 64, lifetime, None),
                OutboundSa(spec.spi_out, make_sealer(alg, spec.encr_key_out, spec.integ_key_out), alg.esn, lifetime,
                           None))
        inbound, outbound = self.pairs[spi]
        inner = inbound.open(esp)
        if inner is None:
            return None
        self.requests.append(inner)
        request = IP(inner)
        reply = IP(src=request.dst, dst=request.src) / ICMP(type=0, id=request[ICMP].id, seq=request[ICMP].seq) \
            / Raw(bytes(request[ICMP].payload))
        return outbound.seal(bytes(reply))


def connect(harness: Harness, profile: ClientProfile = PROFILE) -> LoadSession:
    session = LoadSession(profile, ("198.18.0.2", 500), GATEWAY)
    drive(harness, session, session.start(harness.now))
    assert session.phase == Phase.ESTABLISHED, session.error
    return session


def test_fake_nat_makes_the_responder_encapsulate_and_the_client_move_to_4500(harness: Harness) -> None:
    session = connect(harness)
    assert session.remote == (GATEWAY[0], 4500)
    keys = session.child_sa()
    spec = installed(harness, keys.spi_out)
    assert spec.encap_remote_port is not None  # the responder saw a NAT: ESP in UDP
    assert (spec.spi_in, spec.spi_out) == (keys.spi_out, keys.spi_in)
    # what the client sends is what the responder receives, and the other way round
    assert (keys.encr_key_out, keys.integ_key_out) == (spec.encr_key_in, spec.integ_key_in)
    assert (keys.encr_key_in, keys.integ_key_in) == (spec.encr_key_out, spec.integ_key_out)
    assert keys.algorithms == spec.algorithms


def test_without_fake_nat_nothing_changes(harness: Harness) -> None:
    session = connect(harness, ClientProfile(username="alice", password="Lab-Passw0rd-1"))
    assert session.remote == GATEWAY
    assert installed(harness, session.child_sa().spi_out).encap_remote_port is None


def test_echo_through_the_child_sa_with_the_responders_keys(harness: Harness) -> None:
    session = connect(harness)
    assert session.address is not None
    pinger = Pinger(session.child_sa(), session.address, INSIDE, 0x1234)
    gateway = EchoGateway(harness)
    replies = []
    for seq in (1, 2, 3):
        reply = gateway.answer(pinger.request(seq))
        assert reply is not None
        replies.append(reply)
        assert pinger.reply(reply) == seq
    request = IP(gateway.requests[0])
    assert (request.src, request.dst, request[ICMP].type, request[ICMP].id) == (str(session.address), str(INSIDE),
                                                                               8, 0x1234)
    assert pinger.dropped == 0
    fresh = gateway.answer(pinger.request(4))
    assert fresh is not None
    tampered = bytearray(fresh)
    tampered[-20] ^= 1
    assert pinger.reply(bytes(tampered)) is None  # ICV
    assert pinger.reply(fresh) == 4
    assert pinger.reply(replies[1]) is None  # replayed
    assert pinger.reply(b"\x01\x02") is None  # anything: dropped, never raised
    assert pinger.dropped == 3
    assert pinger.inbound.integrity_failures == 1 and pinger.inbound.replay_drops == 1


def test_scapy_reads_our_echo_request_and_we_read_its_reply(harness: Harness) -> None:
    session = connect(harness)
    assert session.address is not None
    keys = session.child_sa()
    pinger = Pinger(keys, session.address, INSIDE, 77)
    common = {"crypt_algo": "AES-CBC", "auth_algo": "SHA2-512-256"}
    outer = IP(src="198.18.0.2", dst=GATEWAY[0])
    toward_gateway = SecurityAssociation(ESP, spi=keys.spi_out, crypt_key=keys.encr_key_out,
                                         auth_key=keys.integ_key_out, tunnel_header=outer, **common)
    toward_client = SecurityAssociation(ESP, spi=keys.spi_in, crypt_key=keys.encr_key_in,
                                        auth_key=keys.integ_key_in, tunnel_header=outer, **common)
    request = toward_gateway.decrypt(IP(bytes(IP(src="198.18.0.2", dst=GATEWAY[0], proto=50) / Raw(pinger.request(5)))))
    # scapy recomputes both checksums when told to: ours must be the same
    assert request.chksum == IP(bytes(IP(src=request.src, dst=request.dst, id=request.id, flags=request.flags,
                                         ttl=request.ttl) / request[ICMP].copy())).chksum
    icmp = request[ICMP]
    fresh = ICMP(type=8, id=77, seq=5) / Raw(PAYLOAD)
    assert (icmp.type, icmp.id, icmp.seq, bytes(icmp.payload)) == (8, 77, 5, PAYLOAD)
    assert icmp.chksum == ICMP(bytes(fresh)).chksum
    reply = IP(src=str(INSIDE), dst=str(session.address)) / ICMP(type=0, id=77, seq=5) / Raw(PAYLOAD)
    esp = bytes(toward_client.encrypt(IP(bytes(reply)), seq_num=1)[ESP])
    assert pinger.reply(esp) == 5


def test_a_child_sa_we_cannot_run_is_an_error_not_an_exception(harness: Harness) -> None:
    session = connect(harness)
    session._child = Proposal(1, ProtocolId.ESP, bytes([0, 0, 1, 0]), [])  # as if answered without transforms
    with pytest.raises(ValueError):
        session.child_sa()
    session._child = Proposal(1, ProtocolId.ESP, bytes([0, 0, 1, 0]), [Transform(TransformType.ENCR, 9999)])
    with pytest.raises(CryptoError):
        session.child_sa()


def test_packets_that_are_not_our_echo_reply_are_not_taken() -> None:
    request = echo_request(VIP, INSIDE, 9, 1)
    assert checksum(request[:20]) == 0 and checksum(request[20:]) == 0
    assert echo_reply_seq(request, VIP, INSIDE, 9) is None  # a request, not a reply
    good = bytes(IP(src=str(INSIDE), dst=str(VIP)) / ICMP(type=0, id=9, seq=1) / Raw(PAYLOAD))
    assert echo_reply_seq(good, VIP, INSIDE, 9) == 1
    assert echo_reply_seq(good, VIP, INSIDE, 10) is None  # another client's identifier
    assert echo_reply_seq(good[:-1] + b"x", VIP, INSIDE, 9) is None  # payload (and checksum) changed
    assert echo_reply_seq(good[:27], VIP, INSIDE, 9) is None
    other = bytes(IP(src="198.19.0.2", dst=str(VIP)) / ICMP(type=0, id=9, seq=1) / Raw(PAYLOAD))
    assert echo_reply_seq(other, VIP, INSIDE, 9) is None


class NatTServer(asyncio.DatagramProtocol):
    """The responder core behind a NAT-T port: IKE after the non-ESP marker,
    ESP answered by an EchoGateway (unless `answer_esp` is off)."""

    def __init__(self, harness: Harness, gateway: EchoGateway, marker: bool, answer_esp: bool = True) -> None:
        self.harness, self.gateway, self.marker, self.answer_esp = harness, gateway, marker, answer_esp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.marker and not data.startswith(NON_ESP_MARKER):
            reply = self.gateway.answer(data) if self.answer_esp else None
            if reply is not None:
                self.transport.sendto(reply, addr)
            return
        prefix = NON_ESP_MARKER if self.marker else b""
        for answer in self.harness.sender(addr)(data[len(prefix):]):
            self.transport.sendto(prefix + answer, addr)


def ping_load(harness: Harness, answer_esp: bool = True, **options) -> LoadStats:
    async def main() -> LoadStats:
        loop = asyncio.get_running_loop()
        gateway = EchoGateway(harness)
        ike, _ = await loop.create_datagram_endpoint(lambda: NatTServer(harness, gateway, False),
                                                     local_addr=("127.0.0.1", 0))
        natt, _ = await loop.create_datagram_endpoint(lambda: NatTServer(harness, gateway, True, answer_esp),
                                                      local_addr=("127.0.0.1", 0))
        try:
            return await run_load(LoadOptions(remote=ike.get_extra_info("sockname")[:2], sources=["127.0.0.1"],
                                              timeout=0.5, nat_port=natt.get_extra_info("sockname")[1],
                                              ping=INSIDE, **options), PROFILE)
        finally:
            ike.close()
            natt.close()
    return asyncio.run(main())


def test_runner_pings_through_every_tunnel_and_reports_it(harness: Harness) -> None:
    stats = ping_load(harness, sessions=3, concurrency=2, ping_count=2)
    assert stats.established == 3 and stats.deleted == 3 and not stats.errors
    report = stats.as_dict()
    assert (report["pings_sent"], report["pings_answered"], report["pings_lost"]) == (6, 6, 0), report
    assert report["esp_dropped"] == 0
    assert 0 < report["latency_ms"]["ping"]["p50"] <= report["latency_ms"]["ping"]["p100"]
    assert "ESP pings: 6 sent, 6 answered, 0 lost" in stats.text()


def test_unanswered_pings_are_counted_lost(harness: Harness) -> None:
    stats = ping_load(harness, answer_esp=False, sessions=2, ping_count=2, ping_timeout=0.2)
    assert stats.established == 2 and stats.deleted == 2
    report = stats.as_dict()
    assert (report["pings_sent"], report["pings_answered"], report["pings_lost"]) == (4, 0, 4), report
    assert report["latency_ms"]["ping"]["p50"] == 0.0


def test_the_ping_figures_of_workers_add_up() -> None:
    a, b = LoadStats(), LoadStats()
    a.pings_sent, b.pings_sent, b.pings_lost = 2, 3, 1
    a.pinged(0.01)
    a.pinged(0.02)
    b.pinged(0.03)
    b.pinged(0.04)
    a.merge(b)
    assert (a.pings_sent, a.pings_answered, a.pings_lost) == (5, 4, 1)


@pytest.mark.parametrize("argv", [["--ping", "not-an-address"], ["--ping", "198.19.0.1", "--ping-count", "0"]])
def test_bad_ping_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from ikev2d import cli
    assert cli.main(["load", "127.0.0.1", "--password", "x", *argv]) == 2
    assert "ikev2d load:" in capsys.readouterr().err
