"""IKE over IPv6 outer addresses (issue 9, point 6, the underlay half): NAT-D
hashes over 16-byte addresses, UDP endpoints on IPv6, the per-source
half-open limit by /64, an interface's `ipv6_address` served by IKE, and
IPv6 peers in syslog lines and `show` output. Addresses: 2001:2::/48 (RFC 5180)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import struct
from pathlib import Path

import pytest

from ikev2d import events as ev
from ikev2d.client_services import plan_endpoints
from ikev2d.conf.errors import ConfigError
from ikev2d.control.collect import listeners
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.daemon import Daemon, Listener
from ikev2d.effects import Emit, SendDatagram, UpdateChildSa
from ikev2d.half_open import HalfOpen, source_key
from ikev2d.iana import IdType, NotifyType
from ikev2d.listen_errors import where_from
from ikev2d.running_config import render_running_config
from ikev2d.settings import build_settings
from ikev2d.show import asp_socket
from ikev2d.show.names import audit_session_id
from ikev2d.syslog.render import records_for
from ikev2d.tasks.natd import nat_detected, natd_hash, natd_notifies
from ikev2d.udp import BindError, SocketErrors, UdpEndpoint, where
from lab.initiator import Initiator, InitiatorOptions

from responder_harness import GATEWAY, Harness, make_config
from test_show_support import snapshot

GATEWAY6 = ("2001:2::1", 500)
CLIENT6 = ("2001:2:0:1::2", 500)
SPI_I, SPI_R = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")


# -- NAT-D (RFC 7296 §2.23) -------------------------------------------------------


def test_natd_hashes_the_16_byte_ipv6_address() -> None:
    # SHA-1(SPIi | SPIr | IP address | port), the address as its 16 bytes
    packed = bytes.fromhex("20010002000000000000000000000001")
    expected = hashlib.sha1(SPI_I + SPI_R + packed + struct.pack("!H", 500)).digest()
    assert natd_hash(SPI_I, SPI_R, GATEWAY6) == expected
    # never the 4-byte form, nor the text
    assert natd_hash(SPI_I, SPI_R, GATEWAY6) != natd_hash(SPI_I, SPI_R, ("0.0.0.1", 500))


def test_ipv6_nat_detection_finds_no_nat_and_a_nat() -> None:
    zero = bytes(8)
    honest = natd_notifies(SPI_I, zero, CLIENT6, GATEWAY6)  # what the client sends: source, destination
    assert nat_detected(honest, SPI_I, GATEWAY6, CLIENT6) == (False, False)
    # an NPTv6 / NAT66 box rewrote the client's source on the way
    assert nat_detected(honest, SPI_I, GATEWAY6, ("2001:2:0:2::9", 500)) == (True, False)
    # and a different port alone is a NAT too (a NAT66 that maps ports)
    assert nat_detected(honest, SPI_I, GATEWAY6, (CLIENT6[0], 4500)) == (True, False)
    [source, _] = honest
    assert source.type == NotifyType.NAT_DETECTION_SOURCE_IP and len(source.data) == 20


# -- UDP endpoints ------------------------------------------------------------------


@needs_ipv6
def test_an_endpoint_on_ipv6_loopback_receives_and_answers() -> None:
    async def scenario() -> tuple[list, bytes, tuple]:
        received: list = []
        endpoint = UdpEndpoint("::1", 0, lambda d, local, remote: received.append((d, local, remote)),
                               SocketErrors())
        endpoint.start()
        peer = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        peer.bind(("::1", 0))
        peer.setblocking(False)
        try:
            peer.sendto(b"ike", endpoint.local)
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.01)
            data, local, remote = received[0]
            assert endpoint.send(b"answer", remote)
            loop = asyncio.get_running_loop()
            answer, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 100), 2)
            return received, answer, (local, remote, source, peer.getsockname()[:2], endpoint.local)
        finally:
            peer.close()
            endpoint.close()

    received, answer, (local, remote, source, peer, ours) = asyncio.run(scenario())
    assert received[0][0] == b"ike" and answer == b"answer"
    assert local == ours and local[0] == "::1"
    assert remote == peer  # (address, port): the flow info and scope id are left out
    assert source[:2] == ours


@needs_ipv6
def test_an_ipv6_endpoint_is_ipv6_only() -> None:
    # its IPv4 twin is another endpoint (the interface's IPv4 address): a
    # dual-stack socket on :: would take IPv4 500 from under it
    endpoint = UdpEndpoint("::", 0, lambda *a: None, SocketErrors())
    try:
        assert endpoint.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("127.0.0.1", endpoint.local[1]))  # the same port on IPv4 is still free
    finally:
        endpoint.close()


def test_a_bind_error_names_the_ipv6_socket_so_the_fixes_find_it() -> None:
    with pytest.raises(BindError) as caught:
        UdpEndpoint("2001:2::77", 0, lambda *a: None, SocketErrors())  # not an address of this host
    message = str(caught.value)
    assert "UDP [2001:2::77]:0" in message
    named = where_from(message)
    assert named is not None and (named.protocol, named.address, named.port) == ("UDP", "2001:2::77", 0)
    assert where("2001:2::1", 4500) == "[2001:2::1]:4500" and where("198.18.0.1", 500) == "198.18.0.1:500"


# -- half-open accounting --------------------------------------------------------------


def test_ipv6_sources_count_by_their_64() -> None:
    half_open = HalfOpen()
    for n in range(5):  # one host walking through its /64
        half_open.add(("sa", n), f"2001:2:0:1::{n + 1:x}")
    half_open.add(("sa", "other"), "2001:2:0:2::1")
    half_open.add(("sa", "v4"), "198.18.0.2")
    assert half_open.for_host("2001:2:0:1:ffff::1") == 5
    assert half_open.for_host("2001:2:0:2::1") == 1 and half_open.for_host("198.18.0.2") == 1
    assert source_key("::ffff:198.18.0.2") == "198.18.0.2"
    for n in range(5):
        half_open.discard(("sa", n))
    assert half_open.for_host("2001:2:0:1::1") == 0 and len(half_open) == 2


# -- configuration: the interface's IPv6 address --------------------------------------


def _config(tmp_path: Path, address: str = "2001:2::1/64"):
    return make_config(tmp_path, **{"    mask: 255.255.255.0            # for show running-config only":
                                    f"    ipv6_address: {address}\n    mask: 255.255.255.0"})


def test_ikev2_enabled_on_an_interface_serves_its_ipv6_address_too(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert Daemon(config).ike_addresses() == ["198.18.0.1", "2001:2::1"]
    text = render_running_config(config)
    assert " ipv6 address 2001:2::1/64\n ipv6 enable\n" in text


def test_an_ipv6_address_without_a_prefix_is_a_64_and_link_local_is_refused(tmp_path: Path) -> None:
    assert str(_config(tmp_path, "2001:2::1").interface("outside").ipv6) == "2001:2::1/64"
    with pytest.raises(ConfigError, match="global unicast"):
        _config(tmp_path, "fe80::1/64")
    with pytest.raises(ConfigError, match="not an IPv6 address"):
        _config(tmp_path, "198.18.0.9")


def test_an_ipv6_ike_identity_is_sent_as_id_ipv6_addr(tmp_path: Path) -> None:
    profile = build_settings(_config(tmp_path)).default
    named = dataclasses.replace(profile, profile=dataclasses.replace(profile.profile, ike_identity="2001:2::1"))
    idr = named.own_id()
    assert idr.id_type == IdType.ID_IPV6_ADDR and idr.data == bytes.fromhex("20010002" + "00" * 11 + "01")


# -- a whole session over IPv6, and how it is shown -------------------------------------


def test_a_client_connects_over_ipv6_and_the_lines_show_its_ipv6_address(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    responder = Responder(build_settings(config))
    worker, now, effects = CryptoWorker(responder.settings.signing_keys), 1000.0, []

    def send(datagram: bytes) -> list[bytes]:
        out = settle(responder, responder.datagram_received(datagram, GATEWAY6, CLIENT6, now), worker, now)
        effects.extend(out)
        return [e.data for e in out if isinstance(e, SendDatagram)]

    client = Initiator(InitiatorOptions(local=CLIENT6, remote=GATEWAY6), send)
    result = client.connect()
    assert result.address is not None  # an IPv4 pool address over an IPv6 underlay
    [sa] = responder.sas.values()
    assert not sa.nat_peer and sa.remote == CLIENT6 and sa.local == GATEWAY6
    [child] = sa.children
    assert (child.spec.local_address, child.spec.remote_address) == (GATEWAY6[0], CLIENT6[0])
    assert child.spec.encap_remote_port is None  # no NAT: plain ESP over IPv6
    assert all(e.remote == CLIENT6 for e in effects if isinstance(e, SendDatagram))
    established = [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, ev.IkeSaEstablished)]
    lines = [r.line() for r in records_for(established[0])]
    # the ASA writes address:port with no brackets (see docs/ftd-behaviour.md)
    assert any("Local:2001:2::1:500 Remote:2001:2:0:1::2:500 Username:" in line for line in lines), lines
    assert audit_session_id(GATEWAY6[0], 0x6000, 0x5E715555) == "000000010000600" "05e715555"


# -- client services and `show asp table socket` ------------------------------------------


def test_client_services_listen_on_the_ipv6_address_too_and_the_table_shows_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ra = config.remote_access_vpn
    access = dataclasses.replace(ra.access_interfaces[0], enable_ssl=True, enable_dtls=True)
    config = dataclasses.replace(config, remote_access_vpn=dataclasses.replace(ra, access_interfaces=(access,)))
    planned = [(e.protocol, e.address) for e in plan_endpoints(config)]
    assert planned == [("SSL", "198.18.0.1"), ("DTLS", "198.18.0.1"), ("SSL", "2001:2::1"), ("DTLS", "2001:2::1")]

    shown = listeners([Listener("SSL", "198.18.0.1", 443, 0x8BD8), Listener("SSL", "2001:2::1", 443, 0x8BE0)])
    lines = asp_socket.render(snapshot(listeners=shown)).splitlines()[2:]
    assert lines == ["SSL       00008bd8    LISTEN     198.18.0.1:443     0.0.0.0:*",
                     "SSL       00008be0    LISTEN     2001:2::1:443      :::*"]


def test_mobike_moves_a_session_from_ipv4_to_ipv6(harness: Harness) -> None:
    """RFC 4555 §3.5 across families: a client on IPv4 that gets IPv6 (a
    phone going from Wi-Fi to an IPv6-only mobile network) sends
    UPDATE_SA_ADDRESSES to our IPv6 address; the IKE SA and its Child SA
    follow, both ends now IPv6, and the NAT-D over 16-byte addresses finds
    no NAT: plain ESP."""
    client = harness.client(mobike=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    assert sa.local == GATEWAY and not sa.nat_peer

    def send6(datagram: bytes) -> list[bytes]:
        effects = settle(harness.responder, harness.responder.datagram_received(datagram, GATEWAY6, CLIENT6,
                                                                                 harness.now), harness.worker,
                         harness.now)
        harness.effects += effects
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    client.moved(CLIENT6, send6)
    client.o.remote = GATEWAY6
    client.update_sa_addresses()
    [update] = [e for e in harness.effects if isinstance(e, UpdateChildSa)]
    assert (update.old.local_address, update.old.remote_address) == (GATEWAY[0], "198.18.0.2")
    assert (update.new.local_address, update.new.remote_address) == (GATEWAY6[0], CLIENT6[0])
    assert update.new.encap_remote_port is None and not sa.nat_peer
    assert (sa.local, sa.remote) == (GATEWAY6, CLIENT6)
    [moved] = harness.events(ev.PeerAddressChanged)
    assert moved.remote == CLIENT6
    client.liveness_check()  # the SA answers on its new path


def test_check_config_names_the_ipv6_ssl_exposure_too(tmp_path: Path) -> None:
    from ikev2d.compliance.exposure import _access_interfaces
    from ikev2d.conf.locate import SourceMap

    config = _config(tmp_path)
    ra = config.remote_access_vpn
    access = dataclasses.replace(ra.access_interfaces[0], enable_ssl=True, enable_dtls=False)
    config = dataclasses.replace(config, remote_access_vpn=dataclasses.replace(ra, access_interfaces=(access,)))
    [finding] = _access_interfaces(config, SourceMap(None))
    assert "TLS on 198.18.0.1:443, [2001:2::1]:443" in finding.problem, finding
