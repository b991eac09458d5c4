"""Issue 9, point 6 (IPv6 outer) on a kernel with ESP: runs INSIDE user-mode
Linux (tests/xfrm/test_ipv6_outer.py boots it; not collected on the host).

ikev2d serves its interface's IPv6 address (2001:2::1, RFC 5180's prefix);
a strongSwan client with the kernel's ESP connects to it from 2001:2::2
(an IPv4 pool address inside) with ``encap = no``: plain ESP, IP protocol
50, over IPv6. With ``--dataplane kernel`` ikev2d's XFRM SAs have IPv6
outer addresses (family AF_INET6) and carry IPv4 inside; with
``--dataplane userspace`` its AF_INET6 raw ESP socket carries the ESP.
Both: ping through the tunnel, the wire shows ESP over IPv6 with the pair's
SPIs and nothing in UDP, and the gateway's counters match the client's. And
the kernel plane with ``encap = yes``: ESP in UDP 4500 over IPv6 (esp6's
UDP encapsulation on ikev2d's AF_INET6 port-4500 socket).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.capture import Capture
from lab.netns import Namespace
from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig

from .guestlib import RaLab, in_uml, ip, nsexec, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"
GATEWAY6 = "2001:2::1"


def _ipv6_outside(cfg: dict[str, Any]) -> None:
    cfg["interfaces"][0]["ipv6_address"] = f"{GATEWAY6}/64"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


# (ikev2d's data plane, the client's encap, data-plane workers): plain ESP
# both ways (the userspace plane in one process and in two workers, each
# with its own AF_INET6 raw socket filtered to its SPIs), and the kernel's
# ESP in UDP over IPv6 (esp6 with UDP_ENCAP on an AF_INET6 socket)
CASES = {"kernel": ("kernel", False, 1), "userspace": ("userspace", False, 1),
         "userspace-workers": ("userspace", False, 2), "kernel-esp-in-udp": ("kernel", True, 1)}


@pytest.fixture
def lab(pki: LabPki, request: pytest.FixtureRequest) -> Iterator[RaLab]:
    dataplane, _encap, workers = CASES[request.param]
    extra = ("--dataplane-workers", str(workers)) if workers > 1 else ()
    with ra_lab(pki, "v6out", edit=_ipv6_outside, dataplane=dataplane, ipv6=True, extra_args=extra) as started:
        yield started


@pytest.mark.parametrize("lab", list(CASES), indirect=True)
def test_esp_over_ipv6_outer_addresses(lab: RaLab, pki: LabPki, tmp_path: Path,
                                       request: pytest.FixtureRequest) -> None:
    dataplane, encap, workers = CASES[request.node.callspec.params["lab"]]
    gw_ns, client_ns = lab.gw_ns, lab.client_ns
    client6 = lab.topology.client_addrs6[0]
    assert f"serving IKEv2 on {GATEWAY6} ports 500/4500" in lab.gateway.log(), lab.context()

    lab.client.load(ClientConfig(local_addr=client6, remote_addr=GATEWAY6, ca_cert=pki.ca_cert, encap=encap))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    [sa] = lab.client.list_sas()
    assert sa.state == "ESTABLISHED" and (sa.local_host, sa.remote_host) == (client6, GATEWAY6), sa
    [child] = sa.children
    assert child.state == "INSTALLED" and child.encap is encap, child
    vip = sa.local_vips[0]
    assert vip.startswith("198.19.0."), sa
    spi_in, spi_out = int(child.spi_in, 16), int(child.spi_out, 16)  # the client's

    client_states = parse_ip_states(ip(client_ns, "xfrm", "state"))
    assert {(s.src, s.dst) for s in client_states} == {(client6, GATEWAY6), (GATEWAY6, client6)}
    gw_states = parse_ip_states(ip(gw_ns, "xfrm", "state"))
    if dataplane == "kernel":  # ikev2d's XFRM SAs: IPv6 outside, plain ESP, tunnel mode
        assert {(s.src, s.dst, s.spi) for s in gw_states} == {(client6, GATEWAY6, spi_out),
                                                               (GATEWAY6, client6, spi_in)}, gw_states
        assert all(s.mode == "tunnel" and (s.line("encap") is not None) == encap for s in gw_states)
        policies = ip(gw_ns, "xfrm", "policy")
        assert f"tmpl src {GATEWAY6} dst {client6}" in policies, policies
    else:  # ESP runs in ikev2d, through its AF_INET6 raw socket
        assert gw_states == []
        assert f"plain ESP (IP protocol 50) on {GATEWAY6}" in lab.gateway.log(), lab.context()
        assert f"plain ESP to {client6}" in lab.gateway.log(), lab.context()
        if workers > 1:  # the pair's worker (ikev2d's inbound SPI's lane) routes the client via its TUN device
            assert f"dev ikev2d0w{spi_out % workers}" in ip(gw_ns, "route", "get", vip), lab.context()

    pcap = tmp_path / "client.pcap"
    # tcpdump on the client's wire (UML is slow: a long wait for it to listen)
    capture = Capture(Namespace(client_ns), pcap, iface="eth0", bpf="ip6").start(timeout=20, settle=0.2)
    try:
        pong = nsexec(client_ns, "ping", "-n", "-c", "5", "-i", "0.2", "-W", "3", "-I", vip, INSIDE, check=False)
        assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{lab.context()}"
        time.sleep(1.0)  # the last packets reach the capture file (UML is slow)
    finally:
        capture.stop()

    text = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    if encap:  # tcpdump: "2001:2::2.4500 > 2001:2::1.4500: UDP-encap: ESP(spi=..."
        out = [line for line in lines if f"{client6}.4500 > {GATEWAY6}.4500: UDP-encap: ESP(spi=0x{spi_out:08x}"
               in line]
        back = [line for line in lines if f"{GATEWAY6}.4500 > {client6}.4500: UDP-encap: ESP(spi=0x{spi_in:08x}"
                in line]
    else:
        assert not [line for line in lines if "UDP-encap" in line or ".4500" in line], text[-2000:]
        out = [line for line in lines if f"{client6} > {GATEWAY6}: ESP(spi=0x{spi_out:08x}" in line]
        back = [line for line in lines if f"{GATEWAY6} > {client6}: ESP(spi=0x{spi_in:08x}" in line]
    assert len(out) >= 5 and len(back) >= 5, f"{len(lines)} lines:\n{text[:3000]}"

    def counted() -> tuple[tuple[int, int], tuple[int, int]]:
        theirs = {s.spi: s.packets for s in parse_ip_states(ip(client_ns, "-s", "xfrm", "state"))}
        shown = lab.gateway.show("crypto", "ipsec", "sa", json=True)
        [ours] = json.loads(shown.stdout)["ipsec_sas"]
        return (ours["pkts_decaps"], ours["pkts_encaps"]), (theirs[spi_out], theirs[spi_in])

    assert wait_for(lambda: counted()[0] == counted()[1], timeout=10), counted()
    shown = lab.gateway.show("crypto", "ipsec", "sa").stdout
    assert GATEWAY6 in shown and client6 in shown, shown

    done = lab.client.terminate()
    assert done.ok, done.errmsg
    assert wait_for(lambda: parse_ip_states(ip(gw_ns, "xfrm", "state")) == [], timeout=5), lab.context()
    assert lab.gateway.running(), lab.context()
