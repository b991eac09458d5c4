"""ikev2d on a hostile, ordinary network, against a real strongSwan client.

- One IKE_SA_INIT from a source the gateway has no route to (its answer's
  `sendto` fails with ENETUNREACH) used to stop every later receive on UDP
  500. Now it is counted and the next client connects.
- A forged-source flood (RFC 7296 §2.6): 3000 IKE_SA_INIT/s for 12 s, half
  from an unroutable range, half routed towards a box that drops them. A
  real client connects and pings meanwhile; the daemon's memory stays put
  and its crypto workers do not work for the forged sources.
- Two access interfaces on two subnets: every datagram the gateway sends to
  a client (answers, DPD, Delete, retransmits) leaves from the address that
  client uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lab.capture import Capture
from lab.ikev2d import Ikev2d
from lab.netns import Namespace, Topology
from lab.pki import LabPki
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig

from .checks import assert_connected, assert_healthy, assert_initiated, ping
from .conftest import LabLogs, StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

UNROUTABLE = "198.19.64.0/18"  # no route in the gateway namespace: ENETUNREACH
BLACKHOLE = "198.19.128.0/17"  # routed to a client namespace that does not forward
FLOOD_RATE = 3000
FLOOD_SECONDS = 12.0
USERS = {"alice": "Lab-Passw0rd-1", "bob": "Lab-Passw0rd-2"}


def _accept_forged_sources(topology: Topology) -> None:
    # strict reverse-path filtering (inherited from the host) would drop the
    # forged datagrams before ikev2d sees them; a real headend's upstream
    # does not filter for it either
    topology.gateway.run(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                          "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.br0.rp_filter=0"])
    topology.gateway.ip("route", "add", BLACKHOLE, "via", topology.client_addrs[2])


def _flood(ns: Namespace, *args: str) -> "subprocess.Popen[str]":
    argv = ns.argv([sys.executable, "-m", "lab.flood", "--target", "198.18.0.1",
                    "--sources", UNROUTABLE, "--sources", BLACKHOLE, *args])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])


def _finish(flood: "subprocess.Popen[str]", timeout: float) -> dict[str, Any]:
    out, err = flood.communicate(timeout=timeout)
    assert flood.returncode == 0, f"lab.flood failed: {err}"
    return json.loads(out)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _children_cpu_seconds(pid: int) -> float:
    """CPU time of ikev2d's child processes (the crypto workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for child in children:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / 100.0  # USER_HZ


def _pid(server: Ikev2d) -> int:
    assert server.proc is not None
    return server.proc.pid


def test_one_unroutable_datagram_does_not_stop_the_headend(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    _accept_forged_sources(topology)
    server = ikev2d_server()
    summary = _finish(_flood(topology.clients[3], "--count", "1", "--sources", UNROUTABLE), timeout=30)
    assert summary["sent"] == 1
    time.sleep(0.5)
    # two clients, one after the other: the old receive loop served exactly
    # one more datagram on UDP 500 after the failed send, then died
    for index, user in ((0, "alice"), (1, "bob")):
        charon = client(index, identity=user, password=USERS[user])
        assert_initiated(charon.initiate(timeout=10), charon)
        assert_connected(charon, identity=user)
    log = server.log()
    assert "ENETUNREACH" in log and "the socket keeps serving" in log, server.tail()
    assert_healthy(server)


def test_a_client_connects_and_pings_through_a_forged_source_flood(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    _accept_forged_sources(topology)
    server = ikev2d_server("--dataplane", "userspace", "--crypto-workers", "1")
    pid = _pid(server)
    time.sleep(1.0)  # the worker pool has started
    rss_before, workers_before = _rss_kib(pid), _children_cpu_seconds(pid)
    flood = _flood(topology.clients[3], "--rate", str(FLOOD_RATE), "--seconds", str(FLOOD_SECONDS))
    try:
        time.sleep(3.0)  # well into the flood: the cookie threshold is long reached
        alice = client(0)
        started = time.monotonic()
        result = alice.initiate(timeout=10)
        connect_seconds = time.monotonic() - started
        assert_initiated(result, alice)
        assert_connected(alice)
        pinged = ping(topology.clients[0])
        assert pinged.returncode == 0, pinged.stdout + pinged.stderr
        assert flood.poll() is None, "the flood ended before the client was done"
    finally:
        summary = _finish(flood, timeout=FLOOD_SECONDS + 30)
    rss_after, workers_after = _rss_kib(pid), _children_cpu_seconds(pid)
    assert summary["sent"] >= FLOOD_RATE * 10, summary
    assert connect_seconds < 5.0, f"connect took {connect_seconds:.1f} s during the flood"
    # memory is bounded by the half-open cap, not by the flood
    assert rss_after - rss_before < 30 * 1024, f"RSS grew by {(rss_after - rss_before) / 1024:.0f} MiB"
    # no DH for sources that never returned a cookie: at most the 50 half-open
    # SAs of the threshold (0.7 ms each) and the real client's handshake
    assert workers_after - workers_before < 1.0, f"workers used {workers_after - workers_before:.2f} s"
    log = server.log()
    assert "Sending COOKIE challenge to throttle possible DoS" in log
    assert "ENETUNREACH" in log
    assert_healthy(server)


def _second_subnet(topology: Topology) -> tuple[Namespace, str, str]:
    """br1 198.18.1.1/24 on the gateway, and a client namespace on it."""
    gw = topology.gateway
    gw.ip("link", "add", "br1", "type", "bridge")
    gw.add_address("br1", "198.18.1.1/24")
    gw.ip("link", "set", "br1", "up")
    ns = Namespace.create(f"{topology.prefix}-c9")
    gw.ip("link", "add", "v9", "type", "veth", "peer", "name", "eth0", "netns", ns.name)
    gw.ip("link", "set", "v9", "master", "br1")
    gw.ip("link", "set", "v9", "up")
    ns.add_address("eth0", "198.18.1.2/24")
    ns.ip("link", "set", "eth0", "up")
    return ns, "198.18.1.2", "198.18.1.1"


def _two_access_interfaces(cfg: dict[str, Any]) -> None:
    cfg["interfaces"].append({"name": "outside2", "address": "198.18.1.1", "mask": "255.255.255.0",
                              "hardware": "GigabitEthernet0/1"})
    cfg["remote_access_vpn"]["access_interfaces"].append(
        {"interface": "outside2", "enable_ipsec_ikev2": True, "enable_ssl": False, "enable_dtls": False})
    cfg["remote_access_vpn"]["ikev2_parameters"]["dpd_interval_seconds"] = 2


def test_two_access_interfaces_answer_each_client_from_its_own_address(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon, lab_pki: LabPki,
    tmp_path: Path, lab_logs: LabLogs,
) -> None:
    far_ns, far_addr, far_gateway = _second_subnet(topology)
    captures = [Capture(topology.gateway, tmp_path / f"{iface}.pcap", iface=iface) for iface in ("br0", "br1")]
    far: Charon | None = None
    try:
        server = ikev2d_server(edit=_two_access_interfaces)
        for capture in captures:
            capture.start()
        alice = client(0)
        far = Charon(far_ns, tmp_path / "far-client").start()
        lab_logs.add("far client", far.log)
        far.load(ClientConfig(local_addr=far_addr, remote_addr=far_gateway, ca_cert=lab_pki.ca_cert,
                              identity="bob", password=USERS["bob"]))
        for charon in (alice, far):
            assert_initiated(charon.initiate(timeout=10), charon)
        time.sleep(5.0)  # DPD (every 2 s of silence) runs on both SAs
        # a Delete from our side to the far client...
        assert server.vpn_sessiondb("logoff", "name", "bob", "noconfirm").returncode == 0
        assert far.wait_for_sas(0, timeout=5) == []
        # ...and the near client falls silent: its DPD request is retransmitted
        topology.clients[0].ip("link", "set", "eth0", "down")
        time.sleep(7.0)  # 2 s to the check, 2 s to the first retransmit, margin
        near_packets, far_packets = (capture.stop().packets for capture in captures)
    finally:
        if far is not None:
            far.stop()
        for capture in captures:
            if capture.proc is not None:
                capture.stop()
        far_ns.delete()
    for packets, gateway, peer in ((near_packets, "198.18.0.1", topology.client_addrs[0]),
                                   (far_packets, far_gateway, far_addr)):
        ours = [p for p in packets if p.dst == peer]
        assert ours, f"nothing reached {peer}"
        assert {p.src for p in ours} == {gateway}, f"to {peer}: from {sorted({p.src for p in ours})}"
        requests = [p for p in ours if not p.response and p.exchange == "INFORMATIONAL"]
        assert len(requests) >= 2, f"expected DPD and Delete requests to {peer}: {ours}"
    # RFC 7296 §2.4: the unanswered DPD request went out again, from the same address
    sent = Counter(p.msg_id for p in near_packets if p.dst == topology.client_addrs[0]
                   and not p.response and p.exchange == "INFORMATIONAL")
    assert max(sent.values()) >= 2, f"no retransmitted request to the silent client: {sent}"
    assert_healthy(server)
