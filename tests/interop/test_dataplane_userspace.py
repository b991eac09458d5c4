"""ikev2d's userspace ESP data plane carries a real strongSwan client's traffic
(issue 3, "This machine"): strongSwan 5.9.8 with kernel-libipsec (ESP in UDP
4500, its own TUN device) in a client namespace, ikev2d with
``--dataplane userspace`` in the gateway namespace.

- ping from the client's virtual IP to the gateway's inside address
  198.19.0.1 goes through the tunnel and back;
- an iperf3 TCP run (2 s) goes through it;
- an ESP datagram captured on the client's wire and sent again (replay),
  and a copy with a raised sequence number and one flipped ciphertext bit
  (tamper), are dropped and counted by ikev2d: its counters, logged when the
  SA is removed, show exactly one replay drop and one integrity failure;
- with the default ``--dataplane auto`` on this kernel (no ESP), ikev2d
  picks userspace and its log line says why.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from lab.netns import Namespace, Topology, stop_process
from lab.strongswan import Charon

from .checks import INSIDE, assert_connected, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


# Runs in the client namespace: capture one ESP datagram the client sends to
# the gateway (triggered by a UDP packet from the virtual IP into the tunnel),
# then send it again unchanged (replay) and once tampered, through a raw
# IPPROTO_RAW socket, so both leave from the client's own address and port.
INJECT = r"""
import json, socket, struct, sys, time
vip, gateway, inside = sys.argv[1:4]
cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL: outgoing too
cap.bind(("eth0", 3))
cap.settimeout(0.2)
trigger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
trigger.bind((vip, 0))
deadline = time.monotonic() + 5
captured = None
while captured is None and time.monotonic() < deadline:
    trigger.sendto(b"to be captured", (inside, 9))
    try:
        while True:
            ip, link = cap.recvfrom(65535)
            if link[1] != 0x0800:
                continue
            ihl = (ip[0] & 15) * 4
            if ip[9] != 17 or socket.inet_ntoa(ip[16:20]) != gateway:
                continue
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            esp = ip[ihl + 8:]
            if dport == 4500 and len(esp) > 8 and esp[:4] != bytes(4):
                captured = ip
                break
    except socket.timeout:
        pass
if captured is None:
    sys.exit("no ESP datagram seen")
ihl = (captured[0] & 15) * 4
esp = captured[ihl + 8:]
seq = int.from_bytes(esp[4:8], "big")
# The copy leaves with UDP checksum 0, as RFC 3948 §3.1.1 lets ESP-in-UDP do: a
# captured outgoing datagram still carries the partial checksum veth offloads.
captured = bytearray(captured)
captured[ihl + 6:ihl + 8] = b"\0\0"
tampered = bytearray(captured)
off = ihl + 8
tampered[off + 4:off + 8] = (seq + 1000).to_bytes(4, "big")  # a fresh number: gets past the replay check
tampered[off + 40] ^= 0x01  # and a flipped ciphertext bit
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
time.sleep(0.3)  # let the original arrive first
raw.sendto(bytes(captured), (gateway, 0))
raw.sendto(bytes(tampered), (gateway, 0))
print(json.dumps({"spi": esp[:4].hex(), "seq": seq, "sport": struct.unpack("!H", captured[ihl:ihl + 2])[0]}))
"""

REMOVED = re.compile(r"Child SA 0x(?P<spi_in>[0-9a-f]{8})/0x[0-9a-f]{8} of .+? removed: in (?P<pin>\d+) packets "
                     r"\((?P<bin>\d+) bytes\), out (?P<pout>\d+) packets \((?P<bout>\d+) bytes\); dropped: "
                     r"replay (?P<replay>\d+), integrity (?P<integ>\d+), other (?P<other>\d+)")


def connect(client: StartCharon) -> tuple[Charon, str]:
    charon = client(0)
    assert_initiated(charon.initiate(), charon)
    sa = assert_connected(charon)
    return charon, sa.local_vips[0]


def wait_tcp_listening(ns: Namespace, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(rf":{port}\s", ns.run(["ss", "-Htln"], check=False).stdout):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on TCP {port} in {ns.name}")


def test_ping_iperf_replay_and_tamper_through_the_userspace_dataplane(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace")
    assert "dataplane userspace: chosen with --dataplane userspace" in server.log()
    charon, vip = connect(client)
    ns = topology.clients[0]

    result = ping(ns)
    assert result.returncode == 0 and " 0% packet loss" in result.stdout, (
        f"ping through the tunnel failed:\n{result.stdout}{result.stderr}\n--- ikev2d:\n{tail(server.log())}")

    iperf_server = subprocess.Popen(topology.gateway.argv(["iperf3", "-s", "-1", "-B", INSIDE]),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_tcp_listening(topology.gateway, 5201)
        run = ns.run(["iperf3", "-c", INSIDE, "-t", "2", "-J"], check=False, timeout=20)
        report = json.loads(run.stdout or "{}")
        assert run.returncode == 0 and "sum_received" in report.get("end", {}), (
            f"iperf3 failed: {report.get('error')}\n{run.stderr}")
        received = report["end"]["sum_received"]["bytes"]
        mbps = report["end"]["sum_received"]["bits_per_second"] / 1e6
        assert received > 1_000_000, f"iperf3 moved only {received} bytes"
    finally:
        stop_process(iperf_server)
    print(f"iperf3 TCP through ikev2d's userspace data plane: {mbps:.0f} Mbit/s")

    injected = ns.run([sys.executable, "-c", INJECT, vip, topology.gateway_addr, INSIDE], timeout=20)
    info = json.loads(injected.stdout)
    child = charon.list_sas()[0].children[0]
    assert info["spi"] == child.spi_out, "the captured datagram is not the client's ESP"
    time.sleep(0.5)
    assert ping(ns, 1).returncode == 0, "the tunnel broke after the injected packets"

    charon.terminate()
    deadline = time.monotonic() + 5
    while not REMOVED.search(server.log()) and time.monotonic() < deadline:
        time.sleep(0.1)
    m = REMOVED.search(server.log())
    assert m, f"ikev2d logged no counters at removal:\n{tail(server.log())}"
    assert int(m["spi_in"], 16) == int(child.spi_out, 16)
    assert (int(m["replay"]), int(m["integ"])) == (1, 1), m.group(0)
    assert int(m["pin"]) > 100 and int(m["pout"]) > 100, m.group(0)  # ping and iperf3 both ways
    assert "that failed anti-replay checking" in server.log()
    assert_healthy(server)


def test_auto_picks_userspace_on_this_kernel_and_says_why(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server()  # no --dataplane: auto
    lines = [line for line in server.log().splitlines() if "dataplane " in line]
    assert len(lines) == 1, f"expected one data plane line:\n{tail(server.log())}"
    assert re.search(r"dataplane userspace: the kernel cannot carry ESP \(.+\)", lines[0]), lines[0]
    assert "EPROTONOSUPPORT" in lines[0] or "no ESP" in lines[0], lines[0]
    connect(client)
    result = ping(topology.clients[0], 1)
    assert result.returncode == 0, f"auto-chosen data plane carries no traffic:\n{result.stdout}"
    assert_healthy(server)
