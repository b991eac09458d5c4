"""A real strongSwan client whose address changes mid-session, ikev2d with
the userspace data plane (issue 8, "NAT rebinding"):

- its NAT mapping changes (RFC 7296 §2.23): nftables masquerades the
  client's IKE and ESP to a source port of our choosing; mid-session the
  port changes and the old conntrack entries go, so the gateway's answers
  to the old mapping are lost. Pings through the tunnel carry on: ESP from
  the new mapping makes ikev2d check there with IKE (or the client's own
  liveness check arrives first), and the IKE SA with its Child SA follows.
  The NAT is the client namespace's own postrouting (SNAT of its locally
  sent datagrams): to the gateway it is a NAT like any other, and charon
  does not see it.
- MOBIKE (RFC 4555): the client gets a second address and loses the first;
  charon (mobike=yes) sends UPDATE_SA_ADDRESSES from the new one, pings
  carry on and `show crypto ikev2 sa` names the new address.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lab.netns import Namespace

from .checks import INSIDE, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

NAT_PORTS = {500: 41500, 4500: 44500}  # the client's port -> its public port at first
NEW_NAT_PORT = 45500  # port 4500's mapping after the change
ROAMED_ADDR = "198.18.0.200"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (lab/setup.sh installs it)")


def _masquerade(ns: Namespace, rules: Path, gateway: str, ports: dict[int, int]) -> None:
    """The namespace's only NAT: its datagrams to `gateway` leave from `ports`."""
    lines = ["flush ruleset", "add table ip nat", "add chain ip nat post { type nat hook postrouting priority 100 ; }"]
    lines += [f"add rule ip nat post ip daddr {gateway} udp sport {inner} masquerade to :{outer}"
              for inner, outer in ports.items()]
    rules.write_text("\n".join(lines) + "\n")
    ns.run(["nft", "-f", str(rules)])


def _pinging(ns: Namespace, seconds: int) -> "subprocess.Popen[str]":
    return subprocess.Popen(ns.argv(["ping", "-i", "0.2", "-W", "1", "-w", str(seconds), INSIDE]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _replies_after(out: str, after_seq: int) -> int:
    seqs = [int(part.split("=")[1]) for line in out.splitlines() if "bytes from" in line
            for part in line.split() if part.startswith("icmp_seq=")]
    return sum(1 for s in seqs if s > after_seq)


def test_a_nat_mapping_change_mid_session_keeps_the_tunnel(ikev2d_server: StartIkev2d, client: StartCharon,
                                                           tmp_path: Path) -> None:
    _need("nft")
    _need("conntrack")
    server = ikev2d_server("--dataplane", "userspace")
    charon = client(0, mobike=False, dpd_delay=2)  # §2.23 without MOBIKE: the SA follows IKE's source
    ns = charon.ns
    gateway = "198.18.0.1"
    _masquerade(ns, tmp_path / "nat.nft", gateway, NAT_PORTS)
    assert_initiated(charon.initiate(timeout=10), charon)
    assert ping(ns).returncode == 0
    before = server.show("crypto", "ikev2", "sa").stdout
    assert f"/{NAT_PORTS[4500]}" in before, before
    pinger = _pinging(ns, 14)  # five a second
    time.sleep(2)  # about 10 replies through the old mapping
    _masquerade(ns, tmp_path / "nat.nft", gateway, {500: NAT_PORTS[500], 4500: NEW_NAT_PORT})
    ns.run(["conntrack", "-D", "-p", "udp"], check=False)  # the old mapping is gone
    out, _ = pinger.communicate(timeout=30)
    # from 3 s after the change (icmp_seq 25) to the end (about 70), all but a few come back
    assert _replies_after(out, 25) >= 40, out
    after = server.show("crypto", "ikev2", "sa").stdout
    assert f"/{NEW_NAT_PORT}" in after, after
    ipsec = server.show("crypto", "ipsec", "sa").stdout
    assert f"remote crypto endpt.: 198.18.0.2/{NEW_NAT_PORT}" in ipsec, ipsec
    log = server.log()
    assert f"peer moved from 198.18.0.2:{NAT_PORTS[4500]}" in log, tail(log)
    assert_healthy(server)


def test_a_mobike_client_moves_to_its_new_address(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    server = ikev2d_server("--dataplane", "userspace")
    charon = client(0, mobike=True, local_addr="198.18.0.0/24")
    ns = charon.ns
    assert_initiated(charon.initiate(timeout=10), charon)
    assert ping(ns).returncode == 0
    # the new address must outlive the old one (a secondary goes with its primary otherwise)
    ns.run(["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"])
    ns.add_address("eth0", f"{ROAMED_ADDR}/24")
    ns.ip("addr", "del", "198.18.0.2/24", "dev", "eth0")
    deadline = time.monotonic() + 20
    shown = ""
    while time.monotonic() < deadline:
        shown = server.show("crypto", "ikev2", "sa").stdout
        if ROAMED_ADDR in shown:
            break
        time.sleep(0.5)
    assert ROAMED_ADDR in shown, shown + tail(server.log())
    result = ping(ns)
    assert result.returncode == 0, result.stdout
    log = server.log()
    assert "MOBIKE UPDATE_SA_ADDRESSES" in log, tail(log)
    assert_healthy(server)
