"""IPv6 inside the tunnel over the IPv4 underlay (dual stack): IPv6 pools,
INTERNAL_IP6_ADDRESS, TS narrowing per family, and IPv6 inner packets in
the userspace data plane."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

from ikev2d.conf.model import Ipv6Pool
from ikev2d.core import Responder
from ikev2d.effects import InstallChildSa, RemoveChildSa
from ikev2d.events import AddressAssigned, AddressReleased, IkeSaEstablished
from ikev2d.iana import ConfigAttr, ConfigType, TsType
from ikev2d.pool import Ipv6AddressPool, Ipv6PoolSet
from ikev2d.settings import build_settings
from ikev2d.syslog.render import records_for
from ikev2d.tasks.config_payload import build_reply, requested_ipv6
from ikev2d.tasks.traffic_selectors import (ALL_IPV6, narrow_to_address, narrow_to_ranges, network_ranges,
                                            selectors_to_networks)
from ikev2d.wire.payloads import CP, ConfigAttribute, TrafficSelector
from responder_harness import Harness, make_config
from test_esp_dataplane import Client, child_spec
from test_esp_dataplane import Harness as PlaneHarness

V6 = IPv6Address
V6_POOL_YAML = """  ipv6_pools:
    - name: VPN-Pool6
      prefix: 2001:2:0:1::100/64
      number: 3

  # FMC: Objects > VPN > Group Policy"""


# --- pools ---------------------------------------------------------------------------


def test_ipv6_pool_lowest_free_first_release_and_exhaustion() -> None:
    pool = Ipv6AddressPool("P6", V6("2001:2:0:1::100"), 64, 3)
    assert (pool.size, pool.last) == (3, V6("2001:2:0:1::102"))
    assert pool.allocate("a") == V6("2001:2:0:1::100")
    assert pool.allocate("b") == V6("2001:2:0:1::101")
    assert pool.allocate("a") == V6("2001:2:0:1::100")  # a retransmission leaks nothing
    assert pool.allocate("c") == V6("2001:2:0:1::102")
    assert pool.allocate("d") is None and pool.free_count == 0
    assert pool.release(V6("2001:2:0:1::101"))
    assert not pool.release(V6("2001:2:0:1::101"))  # twice: not leased any more
    assert pool.allocate("d") == V6("2001:2:0:1::101")
    assert pool.owner_of(V6("2001:2:0:1::101")) == "d"
    assert pool.leases() == {V6("2001:2:0:1::100"): "a", V6("2001:2:0:1::101"): "d", V6("2001:2:0:1::102"): "c"}


def test_ipv6_pool_never_hands_out_the_subnet_router_anycast_address() -> None:
    pool = Ipv6AddressPool.from_config(Ipv6Pool("P6", V6("2001:2:0:2::"), 64, 2))
    assert pool.size == 1
    assert pool.allocate("a") == V6("2001:2:0:2::1")
    assert pool.allocate("b") is None


def test_ipv6_pool_must_fit_its_prefix() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        Ipv6AddressPool("P6", V6("2001:2:0:1::fffe"), 126, 4)


def test_ipv6_pool_set_tries_pools_in_order_and_prefers_a_freed_address() -> None:
    first = Ipv6AddressPool("A", V6("2001:2:0:1::1"), 64, 1)
    second = Ipv6AddressPool("B", V6("2001:2:0:2::1"), 64, 2)
    pools = Ipv6PoolSet([first, second])
    assert pools.allocate("x") == (first, V6("2001:2:0:1::1"))
    assert pools.allocate("y") == (second, V6("2001:2:0:2::1"))
    assert pools.allocate("z") == (second, V6("2001:2:0:2::2"))
    assert pools.allocate("w") is None
    assert pools.release(V6("2001:2:0:2::1")) and pools.free_count == 1
    assert pools.pool_of(V6("2001:2:0:2::2")) is second


# --- configuration payload -------------------------------------------------------------


def test_reply_carries_the_ipv6_address_with_its_prefix_length_and_parses_back(harness: Harness) -> None:
    policy = harness.responder.settings.default.group_policy
    cp = build_reply(IPv4Address("198.19.0.200"), IPv4Address("255.255.255.0"), policy, (V6("2001:2:0:1::100"), 64))
    parsed = CP.parse_body(cp.body())
    [a6] = [a for a in parsed.attributes if a.type == ConfigAttr.INTERNAL_IP6_ADDRESS]
    assert a6.value == V6("2001:2:0:1::100").packed + bytes([64])
    assert not any(a.type == ConfigAttr.INTERNAL_IP6_ADDRESS
                   for a in build_reply(IPv4Address("198.19.0.200"), IPv4Address("255.255.255.0"), policy).attributes)


def test_an_ipv6_request_is_seen_in_a_request_only() -> None:
    ask = [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS), ConfigAttribute(ConfigAttr.INTERNAL_IP6_ADDRESS)]
    assert requested_ipv6(CP(ConfigType.CFG_REQUEST, ask))
    assert not requested_ipv6(CP(ConfigType.CFG_REQUEST, ask[:1]))
    assert not requested_ipv6(CP(ConfigType.CFG_REPLY, ask))
    assert not requested_ipv6(None)


# --- traffic selectors -------------------------------------------------------------------


def ts4(first: str, last: str, protocol: int = 0) -> TrafficSelector:
    return TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, protocol, 0, 65535, IPv4Address(first), IPv4Address(last))


def ts6(first: str, last: str, protocol: int = 0) -> TrafficSelector:
    return TrafficSelector(TsType.TS_IPV6_ADDR_RANGE, protocol, 0, 65535, V6(first), V6(last))


ANY4, ANY6 = ts4("0.0.0.0", "255.255.255.255"), ts6("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")


def test_tsi_narrows_per_family_to_each_address() -> None:
    assert narrow_to_address([ANY4, ANY6], V6("2001:2:0:1::100")) == [ts6("2001:2:0:1::100", "2001:2:0:1::100")]
    assert narrow_to_address([ANY4, ANY6], IPv4Address("198.19.0.200")) == [ts4("198.19.0.200", "198.19.0.200")]
    assert narrow_to_address([ANY4], V6("2001:2:0:1::100")) == []  # no IPv6 asked for: none given
    assert narrow_to_address([ts6("2001:2:0:2::", "2001:2:0:2::ffff")], V6("2001:2:0:1::100")) == []


def test_tsr_narrows_ipv6_to_what_is_allowed() -> None:
    allowed = network_ranges([IPv6Network("2001:2:0:10::/64")])
    assert narrow_to_ranges([ANY4, ANY6], allowed) == [ts6("2001:2:0:10::", "2001:2:0:10:ffff:ffff:ffff:ffff")]
    assert narrow_to_ranges([ANY4], allowed) == []
    assert narrow_to_ranges([ANY6], network_ranges([ALL_IPV6])) == [ANY6]


def test_data_plane_networks_of_a_dual_stack_pair() -> None:
    selectors = [ts4("198.19.0.200", "198.19.0.200"), ts6("2001:2:0:1::100", "2001:2:0:1::100")]
    assert selectors_to_networks(selectors) == (IPv4Network("198.19.0.200/32"), IPv6Network("2001:2:0:1::100/128"))
    assert selectors_to_networks([ANY4, ANY6]) == (IPv4Network("0.0.0.0/0"), IPv6Network("::/0"))


# --- the responder: dual stack through IKE_AUTH ----------------------------------------------


@pytest.fixture
def dual(tmp_path: Path, pki_dir: Path) -> Harness:
    """The lab configuration with an IPv6 pool of three addresses on the profile."""
    config = make_config(tmp_path, **{
        f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
        "\n  # FMC: Objects > VPN > Group Policy": "\n" + V6_POOL_YAML,
        "    address_pools: [VPN-Pool]\n": "    address_pools: [VPN-Pool]\n    ipv6_address_pools: [VPN-Pool6]\n",
    })
    return Harness(Responder(build_settings(config)))


@pytest.fixture
def dual_dns(tmp_path: Path, pki_dir: Path) -> Harness:
    """`dual` with an IPv6 DNS server beside the IPv4 one in the group policy."""
    config = make_config(tmp_path, **{
        f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
        "\n  # FMC: Objects > VPN > Group Policy": "\n" + V6_POOL_YAML,
        "    address_pools: [VPN-Pool]\n": "    address_pools: [VPN-Pool]\n    ipv6_address_pools: [VPN-Pool6]\n",
        "dns_servers: [198.19.0.53]": "dns_servers: [198.19.0.53, 2001:2::53]",
    })
    return Harness(Responder(build_settings(config)))


def test_ipv6_dns_servers_go_to_dual_stack_clients_only(dual_dns: Harness) -> None:
    both = dual_dns.client(ipv6=True).connect()
    assert (both.dns, both.dns6) == ([IPv4Address("198.19.0.53")], [V6("2001:2::53")])
    four = dual_dns.client(3, username="bob", password="Lab-Passw0rd-2").connect()
    assert (four.dns, four.dns6) == ([IPv4Address("198.19.0.53")], [])


def test_a_dns_server_that_is_no_address_names_its_line(tmp_path: Path) -> None:
    from ikev2d.conf import ConfigError

    with pytest.raises(ConfigError, match="DNS server '2001:2::zz' is not an IPv4 or IPv6 address"):
        make_config(tmp_path, **{"dns_servers: [198.19.0.53]": "dns_servers: [198.19.0.53, '2001:2::zz']"})


def installed(h: Harness) -> list:
    return [e.spec for e in h.effects if isinstance(e, InstallChildSa)]


def test_a_client_asking_for_both_gets_both_in_one_child_sa(dual: Harness) -> None:
    client = dual.client(ipv6=True)
    result = client.connect()
    assert result.address == IPv4Address("198.19.0.200")
    assert (result.address6, result.prefix6) == (V6("2001:2:0:1::100"), 64)
    assert result.tsi == [ts4("198.19.0.200", "198.19.0.200"), ts6("2001:2:0:1::100", "2001:2:0:1::100")]
    assert result.tsr == [ANY4, ANY6]  # IPv6 tunnels everything (docs/ftd-behaviour.md)
    [spec] = installed(dual)
    assert spec.remote_selectors == (IPv4Network("198.19.0.200/32"), IPv6Network("2001:2:0:1::100/128"))
    assert spec.local_selectors == (IPv4Network("0.0.0.0/0"), IPv6Network("::/0"))
    [assigned] = dual.events(AddressAssigned)
    assert (assigned.address6, assigned.pool6) == (V6("2001:2:0:1::100"), "VPN-Pool6")
    lines = [r.text for r in records_for(assigned)]
    assert any("Client assigned 2001:2:0:1::100 from local pool VPN-Pool6" in t for t in lines), lines
    assert not any("no IPv6 address" in t for t in lines), lines
    [up] = dual.events(IkeSaEstablished)
    assert up.address6 == V6("2001:2:0:1::100")
    assert any("IPv4 Address=198.19.0.200 IPv6 address=2001:2:0:1::100 assigned" in r.text
               for r in records_for(up)), [r.text for r in records_for(up)]

    client.delete()
    assert [e.spec for e in dual.effects if isinstance(e, RemoveChildSa)] == [spec]
    released = {e.address for e in dual.events(AddressReleased)}
    assert released == {IPv4Address("198.19.0.200"), V6("2001:2:0:1::100")}
    assert dual.responder.settings.pools6["VPN-Pool6"].in_use == 0


def test_a_client_asking_for_ipv4_only_on_a_dual_stack_profile_gets_ipv4_only(dual: Harness) -> None:
    result = dual.client().connect()
    assert result.address == IPv4Address("198.19.0.200") and result.address6 is None
    assert all(ts.ts_type == TsType.TS_IPV4_ADDR_RANGE for ts in result.tsi + result.tsr)
    [spec] = installed(dual)
    assert all(n.version == 4 for n in spec.remote_selectors + spec.local_selectors)
    assert dual.responder.settings.pools6["VPN-Pool6"].in_use == 0


def test_ipv6_address_but_ipv4_selectors_only_gives_an_ipv4_child_sa(dual: Harness) -> None:
    result = dual.client(ipv6=True, tsi=[ANY4], tsr=[ANY4]).connect()
    assert result.address6 == V6("2001:2:0:1::100")
    assert [ts.ts_type for ts in result.tsi + result.tsr] == [TsType.TS_IPV4_ADDR_RANGE] * 2


def test_exhausted_ipv6_pool_leaves_the_session_ipv4_only(dual: Harness) -> None:
    bob = {"username": "bob", "password": "Lab-Passw0rd-2"}
    for n, who in ((2, {}), (3, {}), (4, bob)):  # within the simultaneous-login limit
        assert dual.client(n, ipv6=True, initial_contact=False, **who).connect().address6 is not None
    late = dual.client(9, ipv6=True, initial_contact=False, **bob).connect()
    assert late.address is not None and late.address6 is None
    assert all(ts.ts_type == TsType.TS_IPV4_ADDR_RANGE for ts in late.tsi)


def test_a_profile_without_ipv6_pools_answers_ipv4_only(harness: Harness) -> None:
    result = harness.client(ipv6=True).connect()
    assert result.address is not None and result.address6 is None
    assert all(ts.ts_type == TsType.TS_IPV4_ADDR_RANGE for ts in result.tsi + result.tsr)


def test_child_rekey_keeps_both_families(dual: Harness) -> None:
    client = dual.client(ipv6=True)
    client.connect()
    client.rekey_child()
    first, second = installed(dual)
    assert second.remote_selectors == first.remote_selectors
    assert len({n.version for n in second.remote_selectors}) == 2


# --- the userspace data plane ------------------------------------------------------------------


@pytest.fixture
def plane() -> Iterator[PlaneHarness]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make() -> PlaneHarness:
        return PlaneHarness()

    harness = loop.run_until_complete(make())
    yield harness
    harness.dp.close()
    loop.close()
    asyncio.set_event_loop(None)


def dual_spec() -> object:
    return replace(child_spec(), local_selectors=(IPv4Network("0.0.0.0/0"), IPv6Network("::/0")),
                   remote_selectors=(IPv4Network("198.19.0.200/32"), IPv6Network("2001:2:0:1::100/128")))


def test_userspace_plane_carries_ipv6_inner_packets_with_next_header_41(plane: PlaneHarness) -> None:
    spec = dual_spec()
    client = Client(spec)  # type: ignore[arg-type]
    plane.dp.install(spec)  # type: ignore[arg-type]
    assert plane.routes.table == {IPv4Network("198.19.0.200/32"), IPv6Network("2001:2:0:1::100/128")}

    down = bytes(IPv6(src="2001:2::1", dst="2001:2:0:1::100") / ICMPv6EchoRequest(data=b"d" * 64))
    plane.tun.kernel_sends(down)
    plane.dp._tun_readable()
    [(datagram, _)] = plane.sock.sent
    assert client.inb.open(datagram) == down
    # the trailer's Next Header says IPv6 (RFC 4303 §2.6): seen through the client's opener
    assert plane.dp.counters(spec.spi_in).packets_out == 1  # type: ignore[union-attr,attr-defined]

    up = bytes(IPv6(src="2001:2:0:1::100", dst="2001:2::1") / ICMPv6EchoRequest(data=b"u" * 64))
    plane.dp.esp_received(client.out.seal(up), ("198.18.0.2", 4500))  # type: ignore[arg-type]
    four = bytes(IP(src="198.19.0.200", dst="198.19.0.1") / ICMP())
    plane.dp.esp_received(client.out.seal(four), ("198.18.0.2", 4500))  # type: ignore[arg-type]
    assert plane.tun.kernel_received() == [up, four]

    plane.dp.remove(spec)  # type: ignore[arg-type]
    assert plane.routes.table == set()


def test_userspace_plane_drops_an_ipv6_source_outside_the_selectors(plane: PlaneHarness) -> None:
    spec = dual_spec()
    client = Client(spec)  # type: ignore[arg-type]
    plane.dp.install(spec)  # type: ignore[arg-type]
    spoofed = bytes(IPv6(src="2001:2:0:1::999", dst="2001:2::1") / ICMPv6EchoRequest())
    plane.dp.esp_received(client.out.seal(spoofed), ("198.18.0.2", 4500))  # type: ignore[arg-type]
    assert plane.tun.kernel_received() == []
    assert plane.dp.counters(spec.spi_in).other_drops == 1  # type: ignore[union-attr,attr-defined]


def test_an_ipv4_only_pair_carries_no_ipv6(plane: PlaneHarness) -> None:
    spec = child_spec()
    client = Client(spec)
    plane.dp.install(spec)
    v6 = bytes(IPv6(src="2001:2:0:1::100", dst="2001:2::1") / ICMPv6EchoRequest())
    plane.dp.esp_received(client.out.seal(v6), ("198.18.0.2", 4500))  # type: ignore[arg-type]
    assert plane.tun.kernel_received() == []
    # and an IPv6 packet from inside whose bytes 16-19 look like the client's IPv4 address finds no pair
    plane.tun.kernel_sends(bytes(IPv6(src="::c613:c8:0:0", dst="2001:2:0:1::100") / ICMPv6EchoRequest()))
    plane.dp._tun_readable()
    assert plane.sock.sent == [] and plane.dp.no_sa_for_destination == 1


# --- running-config and show vpn-sessiondb ---------------------------------------------------------


def test_running_config_prints_the_ipv6_pool_and_the_tunnel_groups_ipv6_address_pool(tmp_path: Path) -> None:
    from ikev2d.running_config import render_running_config

    config = make_config(tmp_path, **{
        "\n  # FMC: Objects > VPN > Group Policy": "\n" + V6_POOL_YAML,
        "    address_pools: [VPN-Pool]\n": "    address_pools: [VPN-Pool]\n    ipv6_address_pools: [VPN-Pool6]\n",
    })
    lines = render_running_config(config).splitlines()
    assert "ipv6 local pool VPN-Pool6 2001:2:0:1::100/64 3" in lines
    i = lines.index("tunnel-group CCIElab general-attributes")
    assert lines[i + 1:i + 3] == [" address-pool VPN-Pool", " ipv6-address-pool VPN-Pool6"]


def test_sessiondb_shows_the_assigned_ipv6_address_under_the_ipv4_one() -> None:
    from ikev2d.show import sessiondb_sessions
    from test_show_support import session, snapshot

    dual_session = session(assigned_ipv6="2001:2:0:1::100")
    text = sessiondb_sessions.render(snapshot(dual_session), "ra-ikev2-ipsec").splitlines()
    i = next(n for n, line in enumerate(text) if line.startswith("Assigned IP  :"))
    assert text[i + 1] == "Assigned IPv6: 2001:2:0:1::100"
    plain = sessiondb_sessions.render(snapshot(session()), "ra-ikev2-ipsec")
    assert "IPv6" not in plain


def test_reload_ends_a_session_whose_ipv6_pool_changed_and_keeps_an_unchanged_one(tmp_path: Path) -> None:
    from ikev2d.reload.plan import SessionTerms, why_it_ends

    def config(number: int, folder: str):
        (tmp_path / folder).mkdir()
        return make_config(tmp_path / folder, **{
            "\n  # FMC: Objects > VPN > Group Policy": "\n" + V6_POOL_YAML.replace("number: 3", f"number: {number}"),
            "    address_pools: [VPN-Pool]\n": "    address_pools: [VPN-Pool]\n    ipv6_address_pools: [VPN-Pool6]\n",
        })

    old, same, bigger = config(3, "a"), config(3, "b"), config(4, "c")
    terms = SessionTerms(1, "CCIElab", "VPN-Pool", "VPN-Pool6")
    assert why_it_ends(old, same, terms) is None
    assert why_it_ends(old, bigger, terms) == "ipv6 local pool VPN-Pool6 changed"


# --- RADIUS Framed-IPv6-Address (RFC 6911) -----------------------------------------------------------


def test_framed_ipv6_address_is_read_from_an_access_accept() -> None:
    from pyrad import packet as rp

    from ikev2d.aaa.radius.dictionary import radius_dictionary
    from ikev2d.aaa.radius.packets import read_access_reply

    reply = rp.Packet(code=rp.AccessAccept, id=1, secret=b"s", dict=radius_dictionary())
    reply.AddAttribute("Framed-IPv6-Address", "2001:2:0:1::120")
    assert read_access_reply(reply, 0, "h").authorization.framed_ipv6 == V6("2001:2:0:1::120")
    unspecified = rp.Packet(code=rp.AccessAccept, id=1, secret=b"s", dict=radius_dictionary())
    unspecified.AddAttribute("Framed-IPv6-Address", "::")
    assert read_access_reply(unspecified, 0, "h").authorization.framed_ipv6 is None


def test_ipv6_pool_claim_takes_exactly_a_free_address_of_the_pool() -> None:
    pool = Ipv6AddressPool("P6", V6("2001:2:0:1::100"), 64, 10)
    assert pool.claim("a", V6("2001:2:0:1::105"))
    assert not pool.claim("b", V6("2001:2:0:1::105"))  # held
    assert not pool.claim("b", V6("2001:2:0:2::1"))  # not in the pool
    assert pool.allocate("c") == V6("2001:2:0:1::100")  # the addresses skipped over stay free
    assert pool.release(V6("2001:2:0:1::105")) and pool.claim("d", V6("2001:2:0:1::105"))


def test_the_aaa_servers_ipv6_address_is_leased_when_the_pool_has_it_free() -> None:
    from types import SimpleNamespace

    from ikev2d.aaa.authorization import Authorization
    from ikev2d.sa_types import PendingChild
    from ikev2d.tasks.child_sa import _lease6

    pools6 = Ipv6PoolSet([Ipv6AddressPool("P6", V6("2001:2:0:1::100"), 64, 10)])
    ask = CP(ConfigType.CFG_REQUEST, [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS),
                                      ConfigAttribute(ConfigAttr.INTERNAL_IP6_ADDRESS)])
    pending = PendingChild(None, None, None, ask)

    def session(n: int, framed: str | None) -> SimpleNamespace:
        return SimpleNamespace(profile=SimpleNamespace(pools6=pools6, name="CCIElab"), session_id=f"s{n}",
                               username="alice", lease6=None,
                               authorization=Authorization(framed_ipv6=V6(framed) if framed else None))

    first = session(1, "2001:2:0:1::107")
    assert _lease6(first, pending) == (V6("2001:2:0:1::107"), 64)  # type: ignore[arg-type]
    assert first.lease6 == ("P6", V6("2001:2:0:1::107"))
    taken = session(2, "2001:2:0:1::107")  # already held: one from the pool instead
    assert _lease6(taken, pending) == (V6("2001:2:0:1::100"), 64)  # type: ignore[arg-type]
    outside = session(3, "2001:2:0:9::1")
    assert _lease6(outside, pending) == (V6("2001:2:0:1::101"), 64)  # type: ignore[arg-type]


# --- show ipv6 local pool ----------------------------------------------------------------------------


def test_show_ipv6_local_pool_counts_and_lists_what_is_in_use() -> None:
    from ikev2d.commands.show import IPV6_LOCAL_POOL, CommandError, resolve
    from ikev2d.show import ipv6_local_pool

    pool = Ipv6AddressPool("VPN-Pool6", V6("2001:2:0:1::100"), 64, 50)
    pool.allocate("a")
    pool.claim("b", V6("2001:2:0:1::120"))
    values = ipv6_local_pool.snapshot(pool)
    assert (values["free"], values["in_use"], values["prefix_length"]) == (48, 2, 64)
    lines = ipv6_local_pool.render(values).splitlines()
    assert lines[1].split() == ["2001:2:0:1::100", "2001:2:0:1::131", "/64", "48", "2"]
    assert lines[-3:] == ["In Use Addresses:", "2001:2:0:1::100", "2001:2:0:1::120"]
    assert resolve("ipv6 loc po VPN-Pool6".split()) == IPV6_LOCAL_POOL
    with pytest.raises(CommandError, match="Incomplete command: show ipv6 local pool"):
        resolve("ipv6 local pool".split())


def test_show_crypto_sa_listings_print_a_dual_stack_child_sa() -> None:
    from ikev2d.show import ikev2_sa, ipsec_sa
    from test_show_support import child, session, snapshot

    dual_child = child(local_selectors=("0.0.0.0/0", "::/0"),
                       remote_selectors=("172.31.1.205/32", "2001:2:0:1::100/128"))
    snap = snapshot(session(children=(dual_child,), assigned_ipv6="2001:2:0:1::100"))
    ipsec = ipsec_sa.render(snap)
    assert "(2001:2:0:1::100/128/0/0)" in ipsec and "(172.31.1.205/255.255.255.255/0/0)" in ipsec
    ike = ikev2_sa.render(snap, detail=True)
    assert "remote selector 2001:2:0:1::100/0 - 2001:2:0:1::100/65535" in ike
    assert ":: /0 - " not in ike and "::/0 - ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/65535" in ike


def test_logoff_by_ipaddress_finds_a_session_by_its_ipv6_address_in_any_spelling() -> None:
    from types import SimpleNamespace

    from ikev2d.control.service import _logoff_filter

    sa = SimpleNamespace(lease=("VPN-Pool", IPv4Address("198.19.0.200")), lease6=("VPN-Pool6", V6("2001:2:0:1::100")),
                         remote=("198.18.0.2", 4500))
    for spelling in ("2001:2:0:1::100", "2001:0002:0000:0001:0000:0000:0000:0100", "2001:2:0:1:0:0:0:100"):
        match = _logoff_filter({"ipaddress": spelling})
        assert match is not None and match(sa), spelling  # type: ignore[arg-type]
    other = _logoff_filter({"ipaddress": "2001:2:0:1::101"})
    assert other is not None and not other(sa)  # type: ignore[arg-type]


def test_reload_lists_an_ipv6_pool_change(tmp_path: Path) -> None:
    from ikev2d.reload.diff import config_changes

    def config(number: int, folder: str):
        (tmp_path / folder).mkdir()
        return make_config(tmp_path / folder, **{
            "\n  # FMC: Objects > VPN > Group Policy": "\n" + V6_POOL_YAML.replace("number: 3", f"number: {number}"),
        })

    lines = [c.text for c in config_changes(config(3, "a"), config(5, "b"))]
    assert "ipv6 local pool VPN-Pool6: number 3 -> 5" in lines, lines


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=60))
def test_ipv6_pool_gives_the_lowest_free_address_never_twice_and_counts_right(steps: list[tuple[bool, int]]) -> None:
    pool = Ipv6AddressPool("P6", V6("2001:2:0:1::"), 120, 6)  # the anycast address skipped: five to give
    held: dict[str, V6] = {}
    for take, n in steps:
        owner = f"s{n}"
        if take:
            free = sorted(set(range(1, 6)) - {int(a) & 0xFF for a in held.values()})
            address = pool.allocate(owner)
            if owner in held:
                assert address == held[owner]
            elif not free:
                assert address is None
            else:
                assert address is not None and int(address) & 0xFF == free[0]
                held[owner] = address
        elif owner in held:
            assert pool.release(held.pop(owner))
        assert pool.in_use == len(held) and pool.free_count == 5 - len(held)
