"""Issue 9, point 1 on a real client: runs INSIDE user-mode Linux
(tests/xfrm/test_plain_esp.py boots it; not collected on the host).

ikev2d with ``--dataplane userspace`` in the gateway namespace, a strongSwan
client with the kernel's ESP and ``encap = no`` in a client namespace, no
NAT between them: the client sends plain ESP (IP protocol 50), as Windows'
and Apple's built-in clients do on a LAN, and ikev2d carries it through its
raw socket. Checked: the Child SA is not encapsulated on either side, the
client's wire carries ESP without UDP (tcpdump: ESP with the pair's SPIs, no
UDP-encapsulated ESP), ping and a TCP iperf3 run go through the tunnel, and
ikev2d's counters (show crypto ipsec sa) match the client kernel's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.capture import Capture
from lab.netns import Namespace
from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig

from .guestlib import RaLab, in_uml, ip, nsexec, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def lab(pki: LabPki) -> Iterator[RaLab]:
    with ra_lab(pki, "plain", dataplane="userspace") as started:
        yield started


def _raw_esp_drops(ns: str) -> int:
    """Packets the kernel dropped at ikev2d's raw ESP sockets (the last
    column of /proc/net/raw; the local "port" is the protocol, 0x32 = 50)."""
    rows = nsexec(ns, "cat", "/proc/net/raw").stdout.splitlines()[1:]
    return sum(int(r.split()[-1]) for r in rows if r.split()[1].endswith(":0032"))


def _gateway_sa(lab: RaLab) -> dict:
    shown = lab.gateway.show("crypto", "ipsec", "sa", json=True)
    assert shown.returncode == 0, shown.stderr
    (sa,) = json.loads(shown.stdout)["ipsec_sas"]
    return sa


def test_strongswan_plain_esp_through_ikev2d_userspace_dataplane(lab: RaLab, pki: LabPki, tmp_path: Path) -> None:
    gw_ns, client_ns = lab.gw_ns, lab.client_ns
    log = lab.gateway.log()
    assert "dataplane userspace: chosen with --dataplane userspace" in log, lab.context()
    assert "plain ESP (IP protocol 50) on" in log, lab.context()

    lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                 ca_cert=pki.ca_cert, encap=False))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    sas = lab.client.list_sas()
    assert len(sas) == 1 and sas[0].state == "ESTABLISHED" and len(sas[0].children) == 1, sas
    child = sas[0].children[0]
    assert child.state == "INSTALLED" and child.encap is False, child
    vip = sas[0].local_vips[0]
    spi_in, spi_out = int(child.spi_in, 16), int(child.spi_out, 16)  # the client's
    assert f"plain ESP to {lab.topology.client_addrs[0]}" in lab.gateway.log(), lab.context()

    # the client's kernel does its ESP, plain: no encap line on its states, no libipsec TUN
    client_states = parse_ip_states(ip(client_ns, "xfrm", "state"))
    assert {s.spi for s in client_states} == {spi_in, spi_out}
    assert all(s.line("encap") is None for s in client_states), [s.text for s in client_states]
    assert nsexec(client_ns, "ip", "link", "show", "ipsec0", check=False).returncode != 0
    # and ikev2d's own kernel holds nothing: ESP runs in ikev2d, on its TUN device
    assert parse_ip_states(ip(gw_ns, "xfrm", "state")) == []
    # the pool's range is routed to the TUN device once, not the client's /32
    assert "dev ikev2d0" in ip(gw_ns, "route", "get", vip)

    pcap = tmp_path / "client.pcap"
    # tcpdump on the client's wire (UML is slow: a long wait for it to listen)
    capture = Capture(Namespace(client_ns), pcap, iface="eth0", bpf='esp or udp port 4500').start(timeout=20, settle=0.2)
    try:
        pong = nsexec(client_ns, "ping", "-n", "-c", "5", "-i", "0.2", "-W", "3", "-I", vip, INSIDE, check=False)
        assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{lab.context()}"

        server = subprocess.Popen(["ip", "netns", "exec", gw_ns, "iperf3", "-s", "-1", "-B", INSIDE],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert wait_for(lambda: ":5201" in nsexec(gw_ns, "ss", "-Htln").stdout, timeout=15)
            run = nsexec(client_ns, "iperf3", "-c", INSIDE, "-B", vip, "-t", "2", "-J", check=False, timeout=60)
            report = json.loads(run.stdout or "{}")
            assert run.returncode == 0 and "sum_received" in report.get("end", {}), (
                f"iperf3 failed: {report.get('error')}\n{run.stderr}{lab.context()}")
            received = report["end"]["sum_received"]["bytes"]
            assert received > 200_000, f"iperf3 moved only {received} bytes"
            print(f"iperf3 TCP, plain ESP through ikev2d's userspace data plane under UML: "
                  f"{report['end']['sum_received']['bits_per_second'] / 1e6:.1f} Mbit/s")
        finally:
            if server.poll() is None:
                server.kill()
            server.wait()
    finally:
        capture.stop()

    # on the wire: ESP is IP protocol 50, both ways, with the pair's SPIs; none of it in UDP
    text = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    plain = [line for line in lines if "ESP(spi=" in line and "UDP-encap" not in line]
    assert not [line for line in lines if "UDP-encap" in line], text[-2000:]
    outbound = [line for line in plain if f"spi=0x{spi_out:08x}" in line]
    inbound = [line for line in plain if f"spi=0x{spi_in:08x}" in line]
    assert len(outbound) >= 5 and len(inbound) >= 5, text[-2000:]

    # ikev2d counted what the client's kernel counted (its out is our in),
    # less what the raw socket's full receive buffer dropped under iperf3
    # (the kernel counts those per socket): nothing else went missing
    def both() -> tuple[tuple[int, int], tuple[int, int]]:
        counted = {s.spi: s.packets for s in parse_ip_states(ip(client_ns, "-s", "xfrm", "state"))}
        sa = _gateway_sa(lab)
        return (sa["pkts_decaps"] + _raw_esp_drops(gw_ns), sa["pkts_encaps"]), (counted[spi_out], counted[spi_in])

    assert wait_for(lambda: both()[0] == both()[1], timeout=10), (both(), _raw_esp_drops(gw_ns))
    sa = _gateway_sa(lab)
    assert sa["pkts_decaps"] > 100 and sa["recv_errors"] == 0, sa
    assert "NAT-T-Encaps" not in sa["in_use_settings"], sa

    done = lab.client.terminate()
    assert done.ok, done.errmsg
    assert wait_for(lambda: ip(gw_ns, "route", "show", f"{vip}/32").strip() == "", timeout=5), lab.context()
    assert lab.gateway.running(), lab.context()


def test_strongswan_plain_esp_through_two_dataplane_workers(pki: LabPki) -> None:
    """The same client, plain ESP, with the userspace plane in two worker
    processes: the pair's worker (its SPI's lane) takes the client's ESP
    from its own raw socket (each worker's keeps only its SPIs), routes the
    client through its TUN device, and the traffic flows both ways."""
    with ra_lab(pki, "plainw", dataplane="userspace", extra_args=("--dataplane-workers", "2")) as lab:
        assert "2 worker processes" in lab.gateway.log(), lab.context()
        lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                     ca_cert=pki.ca_cert, encap=False))
        result = lab.client.initiate(timeout=30)
        assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
        [sa] = lab.client.list_sas()
        child = sa.children[0]
        assert child.encap is False, child
        vip, worker = sa.local_vips[0], int(child.spi_out, 16) % 2  # ikev2d's inbound SPI picks the worker
        assert f"dev ikev2d0w{worker}" in ip(lab.gw_ns, "route", "get", vip), lab.context()
        pong = nsexec(lab.client_ns, "ping", "-n", "-c", "5", "-i", "0.2", "-W", "3", "-I", vip, INSIDE, check=False)
        assert pong.returncode == 0 and " 0% packet loss" in pong.stdout, f"{pong.stdout}{pong.stderr}{lab.context()}"
        shown = _gateway_sa(lab)
        assert shown["pkts_decaps"] >= 5 and shown["pkts_encaps"] >= 5 and shown["recv_errors"] == 0, shown
        assert "NAT-T-Encaps" not in shown["in_use_settings"], shown
        assert lab.client.terminate().ok
        assert lab.gateway.running() and "Traceback" not in lab.gateway.log(), lab.context()
