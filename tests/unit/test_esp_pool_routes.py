"""The userspace data plane routes each address pool's range to its TUN
device once (`route_pools`), so a client inside a pool needs no route of
its own; a client outside every pool (a RADIUS Framed-IP, a static
address) still gets one, and a reload moving pools moves the routes."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from esp.userspace import UserspaceDataPlane
from ikev2d.pool import AddressPool, Ipv6AddressPool
from test_esp_dataplane import FakeRoutes, FakeSocket, FakeTun, Harness, child_spec, kill_tun
from test_esp_dataplane import h  # noqa: F401 (the fixture: a data plane on fakes, in its own loop)

POOL = AddressPool("vpn", IPv4Address("198.19.0.10"), IPv4Address("198.19.0.250"), IPv4Address("255.255.255.0"))
POOL6 = Ipv6AddressPool("vpn6", IPv6Address("2001:db8:1::1"), 64, 100)


def test_a_pool_is_the_fewest_networks_holding_exactly_its_addresses() -> None:
    blocks = POOL.blocks()
    assert blocks[0] == IPv4Network("198.19.0.10/31") and blocks[-1] == IPv4Network("198.19.0.250/32")
    assert sum(b.num_addresses for b in blocks) == POOL.size == 241
    assert all(b.subnet_of(POOL.network) for b in blocks)
    assert sum(b.num_addresses for b in POOL6.blocks()) == 100
    # the network and broadcast addresses a pool never hands out are not routed either
    whole = AddressPool("w", IPv4Address("198.19.1.0"), IPv4Address("198.19.1.255"), IPv4Address("255.255.255.0"))
    assert IPv4Network("198.19.1.0/24") not in whole.blocks()
    assert sum(b.num_addresses for b in whole.blocks()) == 254


def test_a_client_inside_a_pool_is_installed_and_removed_with_no_route_of_its_own(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks())
    assert h.routes.table == set(POOL.blocks())
    h.routes.calls.clear()
    spec = child_spec()  # 198.19.0.200
    h.dp.install(spec)
    assert h.routes.calls == []
    h.from_inside("198.19.0.200")
    assert len(h.sock.sent) == 1
    h.dp.remove(spec)
    assert h.routes.calls == [] and h.routes.table == set(POOL.blocks())


def test_a_pool_address_no_client_holds_is_dropped_at_the_tun_device(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks())
    h.dp.install(child_spec())
    h.from_inside("198.19.0.201")  # routed into the device by the pool's route, held by nobody
    assert h.sock.sent == [] and h.dp.no_sa_for_destination == 1
    assert h.tun.kernel_received() == []  # not written back into the kernel: no loop


def test_a_client_outside_every_pool_still_gets_its_own_route(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks())
    h.routes.calls.clear()
    spec = child_spec(vip="198.19.5.7")  # e.g. a RADIUS Framed-IP-Address outside the pools
    h.dp.install(spec)
    assert h.routes.calls == [("replace", IPv4Network("198.19.5.7/32"))]
    h.dp.remove(spec)
    assert h.routes.calls[-1] == ("delete", IPv4Network("198.19.5.7/32"))
    assert h.routes.table == set(POOL.blocks())


def test_a_reload_that_drops_a_pool_gives_its_held_clients_routes_of_their_own_first(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks())
    spec = child_spec()
    h.dp.install(spec)
    h.routes.calls.clear()
    h.dp.route_pools([])
    assert h.routes.calls[0] == ("replace", IPv4Network("198.19.0.200/32"))  # before any pool route goes
    assert h.routes.table == {IPv4Network("198.19.0.200/32")}
    h.dp.remove(spec)
    assert h.routes.table == set()


def test_a_reload_that_adds_a_pool_over_a_held_client_takes_its_own_route_away(h: Harness) -> None:
    spec = child_spec()
    h.dp.install(spec)
    assert h.routes.table == {IPv4Network("198.19.0.200/32")}
    h.dp.route_pools(POOL.blocks())
    assert h.routes.table == set(POOL.blocks())
    h.dp.route_pools(POOL.blocks())  # the same pools again: nothing to do
    h.dp.remove(spec)
    assert h.routes.table == set(POOL.blocks())


def test_ipv6_pools_are_routed_as_a_whole_too(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks() + POOL6.blocks())
    h.routes.calls.clear()
    spec = child_spec(remote_selectors=(IPv4Network("198.19.0.200/32"), IPv6Network("2001:db8:1::5/128")))
    h.dp.install(spec)
    assert h.routes.calls == []
    outside = child_spec(0x1002, 0x2002, remote_selectors=(IPv4Network("198.19.0.201/32"),
                                                             IPv6Network("2001:db8:2::5/128")))
    h.dp.install(outside)
    assert h.routes.calls == [("replace", IPv6Network("2001:db8:2::5/128"))]


def test_a_pool_range_another_route_holds_is_left_to_it_and_its_clients_routed_one_by_one(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    first = POOL.blocks()[0]
    h.routes.table.add(first)  # someone else's route to that range
    h.dp.route_pools(POOL.blocks())
    assert "not routed through ikev2d0 as a whole (File exists)" in caplog.text
    h.routes.calls.clear()
    h.dp.install(child_spec(vip="198.19.0.10"))  # in the range left alone
    assert h.routes.calls == [("replace", IPv4Network("198.19.0.10/32"))]
    h.dp.route_pools([])
    assert first in h.routes.table  # never ours to delete


def test_pools_named_before_the_device_exists_are_routed_when_it_is_made() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        routes = FakeRoutes()
        dp = UserspaceDataPlane(device=FakeTun, routes=lambda: routes,  # type: ignore[arg-type]
                                raw_socket=lambda a: (_ for _ in ()).throw(OSError(1, "no")))
        dp.route_pools(POOL.blocks())
        assert routes.table == set()

        async def attach() -> None:
            dp.attach(FakeSocket(), lambda e: None)  # type: ignore[arg-type]
        loop.run_until_complete(attach())
        assert routes.table == set(POOL.blocks())
        dp.close()
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def test_a_recreated_tun_device_gets_the_pool_routes_back(h: Harness) -> None:
    h.dp.route_pools(POOL.blocks())
    h.dp.install(child_spec())
    h.dp.install(child_spec(0x1002, 0x2002, vip="198.19.5.7"))
    kill_tun(h.tun)
    h.dp._tun_readable()
    h.routes.table.clear()  # the kernel took the routes with the device
    asyncio.get_event_loop().run_until_complete(asyncio.sleep(0.01))
    assert h.dp.tun is h.tuns[-1] and len(h.tuns) == 2
    assert h.routes.table == set(POOL.blocks()) | {IPv4Network("198.19.5.7/32")}
