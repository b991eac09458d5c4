"""IKE and ESP over IPv6 outer addresses (issue 9, point 6, the underlay
half): the outside interface has an IPv6 address too (`ipv6_address`, from
2001:2::/48, RFC 5180), and `enable_ipsec_ikev2` serves both families, as
the FTD's `crypto ikev2 enable outside` does. A real strongSwan client
connects to the gateway's IPv6 address (an IPv4 pool address inside) and
pings the inside through the tunnel: strongSwan's kernel-libipsec always
encapsulates, so ESP goes in UDP 4500 over IPv6 to ikev2d's userspace data
plane. `show crypto ikev2 sa` and the syslog lines name the IPv6 peer;
`show asp table socket` lists the SSL and DTLS listeners of both addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from lab.netns import Topology, cleanup_stale, run_prefix

from .checks import assert_connected, assert_healthy, assert_initiated, assert_on_port_4500, ping, tail
from .conftest import StartCharon, StartFreeRadius, StartIkev2d, _counter

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

GATEWAY6 = "2001:2::1"


@pytest.fixture
def topology() -> Iterator[Topology]:
    """The usual lab, with IPv6 on the outside (gateway 2001:2::1, clients 2001:2::2 ...)."""
    cleanup_stale()
    topo = Topology(run_prefix(f"t{next(_counter)}"), 1, ipv6=True).create()
    try:
        yield topo
    finally:
        topo.destroy()


def _with_ipv6(cfg: dict) -> None:
    cfg["interfaces"][0]["ipv6_address"] = f"{GATEWAY6}/64"
    for access in cfg["remote_access_vpn"]["access_interfaces"]:  # SSL and DTLS listen too: in the table
        access.update(enable_ipsec_ikev2=True, enable_ssl=True, enable_dtls=True)


def test_a_strongswan_client_connects_over_ipv6_and_pings_through_the_userspace_plane(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=_with_ipv6)
    log = server.log()
    assert f"serving IKEv2 on {GATEWAY6} ports 500/4500" in log, tail(log)
    assert "serving IKEv2 on 198.18.0.1 ports 500/4500" in log, tail(log)  # the IPv4 address still is
    sockets = topology.gateway.run(["ss", "-Hulnp"]).stdout
    for port in (500, 4500, 443):  # IKE, NAT-T, DTLS
        assert re.search(rf"\[{re.escape(GATEWAY6)}\]:{port}\s", sockets), sockets
    assert re.search(rf"\[{re.escape(GATEWAY6)}\]:443\s", topology.gateway.run(["ss", "-Htln"]).stdout)
    table = server.show("asp", "table", "socket")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[2:]]
    assert sorted((r[0], r[3], r[4]) for r in rows) == [
        ("DTLS", "198.18.0.1:443", "0.0.0.0:*"), ("DTLS", f"{GATEWAY6}:443", ":::*"),
        ("SSL", "198.18.0.1:443", "0.0.0.0:*"), ("SSL", f"{GATEWAY6}:443", ":::*")], table.stdout

    client6 = topology.client_addrs6[0]
    charon = client(0, local_addr=client6, remote_addr=GATEWAY6)
    assert_initiated(charon.initiate(), charon)
    sa = assert_connected(charon)
    assert (sa.local_host, sa.remote_host) == (client6, GATEWAY6), sa
    assert_on_port_4500(sa)  # libipsec claims a NAT: ESP in UDP over IPv6

    result = ping(topology.clients[0])
    assert result.returncode == 0 and " 0% packet loss" in result.stdout, (
        f"ping through the tunnel failed:\n{result.stdout}{result.stderr}\n--- ikev2d:\n{tail(server.log())}")

    shown = server.show("crypto", "ikev2", "sa")
    assert shown.returncode == 0, shown.stderr
    assert f"{GATEWAY6}/4500" in shown.stdout and f"{client6}/4500" in shown.stdout, shown.stdout
    for words in (("crypto", "ikev2", "sa", "detail"), ("crypto", "ipsec", "sa"), ("vpn-sessiondb", "ra-ikev2-ipsec")):
        listing = server.show(*words)
        assert listing.returncode == 0 and client6 in listing.stdout, (words, listing.stdout, listing.stderr)
    # the FTD's syslog lines: address:port with no brackets, as the ASA writes them
    assert re.search(rf"Local:{re.escape(GATEWAY6)}:500 Remote:{re.escape(client6)}:500 ", server.log()), \
        tail(server.log())
    assert_healthy(server)


@pytest.mark.radius
def test_radius_authentication_and_accounting_for_a_client_over_ipv6(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon, freeradius_server: StartFreeRadius
) -> None:
    """FreeRADIUS (inside, on IPv4) authenticates a client that reached our
    IPv6 address: NAS-IPv6-Address (RFC 3162) is ours, Calling-Station-Id
    the client's IPv6 address, in the Access-Request and the accounting."""
    from .test_radius import ALICE_RADIUS_PW, SECRET, radius_server, use_radius

    radius = freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW})
    with_radius = use_radius([radius_server()], ["mschapv2"], accounting=True)

    def edit(cfg: dict) -> None:
        _with_ipv6(cfg)
        with_radius(cfg)

    server = ikev2d_server("--dataplane", "userspace", edit=edit)
    client6 = topology.client_addrs6[0]
    charon = client(0, local_addr=client6, remote_addr=GATEWAY6, password=ALICE_RADIUS_PW)
    assert_initiated(charon.initiate(timeout=15), charon)
    assert_connected(charon)
    assert ping(topology.clients[0]).returncode == 0
    assert charon.terminate().ok
    records = radius.wait_for_records(lambda rs: any(r.get("Acct-Status-Type") == "Stop" for r in rs))
    for record in records:
        assert record.get("NAS-IPv6-Address") == GATEWAY6, record
        assert record.get("NAS-IP-Address") in (None, "127.0.0.1"), record  # FreeRADIUS adds the source it saw
        assert record["Calling-Station-Id"] == client6, record
    assert {r.get("Acct-Status-Type") for r in records} >= {"Start", "Stop"}
    assert_healthy(server)
