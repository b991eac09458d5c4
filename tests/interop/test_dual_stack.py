"""IPv6 inside the tunnel over the IPv4 underlay (issue 9 point 6): a real
strongSwan client asking for ``vips = 0.0.0.0,::`` gets an IPv4 and an
IPv6 address from ikev2d (INTERNAL_IP4_ADDRESS and INTERNAL_IP6_ADDRESS),
one Child SA with selectors of both families, and pings the gateway's
inside addresses 198.19.0.1 and 2001:2::1 through ikev2d's userspace data
plane; a client asking for IPv4 only, on the same dual-stack profile, gets
IPv4 only."""

from __future__ import annotations

import ipaddress
import time

import pytest

from lab.dualstack import INSIDE6, INSIDE_NET6, add_inside6, enable_ipv6, in_pool6, with_ipv6_pool
from lab.netns import Namespace, Topology

from .checks import INSIDE_NET, assert_healthy, assert_initiated, in_pool, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def ping6(ns: Namespace, count: int = 3) -> str:
    """`count` IPv6 pings from a client namespace to INSIDE6; the output,
    after a retry or two while the client's new address settles."""
    out = ""
    for _ in range(3):
        run = ns.run(["ping", "-6", "-c", str(count), "-i", "0.2", "-W", "2", INSIDE6], check=False, timeout=20)
        out = run.stdout + run.stderr
        if run.returncode == 0:
            return out
        time.sleep(1)
    return out


@pytest.fixture
def dual_stack(topology: Topology) -> Topology:
    for ns in topology.namespaces():
        enable_ipv6(ns)
    add_inside6(topology.gateway)
    return topology


def test_dual_stack_client_gets_both_addresses_and_pings_both(
    dual_stack: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=with_ipv6_pool)
    charon = client(0, vips="0.0.0.0,::", remote_ts=f"{INSIDE_NET},{INSIDE_NET6}")
    assert_initiated(charon.initiate(), charon)
    [sa] = charon.list_sas()
    v4 = [a for a in sa.local_vips if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in sa.local_vips if ipaddress.ip_address(a).version == 6]
    assert len(v4) == 1 and in_pool(v4[0]), sa.local_vips
    assert len(v6) == 1 and in_pool6(v6[0]), sa.local_vips
    [child] = sa.children  # one Child SA for both families
    assert child.state == "INSTALLED", child
    assert sorted(child.local_ts) == sorted([f"{v4[0]}/32", f"{v6[0]}/128"]), child
    assert sorted(child.remote_ts) == sorted([INSIDE_NET, INSIDE_NET6]), child

    ns = dual_stack.clients[0]
    four = ping(ns)
    assert four.returncode == 0 and " 0% packet loss" in four.stdout, (
        f"IPv4 ping through the tunnel failed:\n{four.stdout}{four.stderr}\n--- ikev2d:\n{tail(server.log())}")
    six = ping6(ns)
    assert " 0% packet loss" in six, (
        f"IPv6 ping through the tunnel failed:\n{six}\n--- client:\n{tail(charon.log())}\n"
        f"--- ikev2d:\n{tail(server.log())}")

    sessiondb = server.show("vpn-sessiondb", "ra-ikev2-ipsec").stdout
    assert f"Assigned IPv6: {v6[0]}" in sessiondb, sessiondb
    assert f"Client assigned {v6[0]} from local pool VPN-Pool6" in server.log()  # 737026
    ipsec = server.show("crypto", "ipsec", "sa")
    assert ipsec.returncode == 0 and f"({v6[0]}/128/0/0)" in ipsec.stdout, ipsec.stdout + ipsec.stderr
    ike = server.show("crypto", "ikev2", "sa", "detail")
    assert ike.returncode == 0 and f"remote selector {v6[0]}/0 - {v6[0]}/65535" in ike.stdout, ike.stdout
    pool = server.show("ipv6", "local", "pool", "VPN-Pool6").stdout.splitlines()
    assert pool[-2:] == ["In Use Addresses:", v6[0]], pool
    assert_healthy(server)


def test_ipv4_only_client_on_a_dual_stack_profile_gets_ipv4_only(
    dual_stack: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=with_ipv6_pool)
    charon = client(0, remote_ts=f"{INSIDE_NET},{INSIDE_NET6}")
    assert_initiated(charon.initiate(), charon)
    [sa] = charon.list_sas()
    assert len(sa.local_vips) == 1 and in_pool(sa.local_vips[0]), sa.local_vips
    [child] = sa.children
    assert child.local_ts == [f"{sa.local_vips[0]}/32"] and child.remote_ts == [INSIDE_NET], child
    assert ping(dual_stack.clients[0]).returncode == 0
    assert "Assigned IPv6" not in server.show("vpn-sessiondb", "ra-ikev2-ipsec").stdout
    assert_healthy(server)
