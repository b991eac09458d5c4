"""NAT rebinding on the kernel data plane (issue 8): runs INSIDE user-mode
Linux (tests/xfrm/test_nat_rebinding.py boots it; not collected on the host).

- The kernel's own report: two KernelDataPlanes, ESP in UDP; B's ESP starts
  to leave from another port. A's kernel still takes it in, sends
  XFRM_MSG_MAPPING and keeps answering the old port; A's data plane hands
  the IKE side one report (our inbound SPI, B's new source), not one per
  packet, and none once update() has moved the pair.
- ikev2d ``--dataplane kernel`` and a strongSwan client on the kernel's
  ESP, behind a NAT of its own (as tests/interop/test_nat_rebinding.py, but
  with iptables: this UML kernel has no nftables for IPv4, see
  NAT_FOR_IPV4). The mapping changes mid-ping (new source port, conntrack
  entries flushed). The client has no DPD and no MOBIKE, and sends no IKE
  of its own: only ESP arrives from the new port, so the kernel's
  XFRM_MSG_MAPPING is the one thing that tells ikev2d. ikev2d checks
  there with an empty INFORMATIONAL, the client's answer moves the IKE SA
  and the Child SA (the kernel's states get the new encapsulation), and the
  pings carry on. Twice, to a third port.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig

from .guestlib import (INNER_A, OUTER_B, SUITES, Pair, RaLab, destroy_pair, in_uml, ip, make_pair, mirrored_specs,
                       nsexec, parse_ip_states, ping, ra_lab, wait_for)

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"
NAT_PORTS = {500: 41500, 4500: 44500}  # the client's port -> its public port at first
REBOUND = (45500, 46500)  # port 4500's public port after each change
# Debian's UML kernel (6.1) has CONFIG_NF_TABLES=m but neither
# CONFIG_NF_TABLES_IPV4 nor CONFIG_NF_TABLES_INET (so no `ip` table, and no
# CONFIG_NFT_NAT): nft answers EOPNOTSUPP. Its x_tables NAT is there
# (CONFIG_IP_NF_NAT, CONFIG_NETFILTER_XT_TARGET_MASQUERADE), so the lab
# masquerades with iptables-legacy; conntrack needs nf_conntrack_netlink.
NAT_FOR_IPV4 = "iptables-legacy"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


# -- the kernel's report, between two data planes -----------------------------


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair("map")
    try:
        yield p
    finally:
        destroy_pair(p)


def test_the_kernel_reports_esp_from_a_new_port_once_and_not_after_the_move(pair: Pair) -> None:
    spec_a, spec_b = mirrored_specs(SUITES["gcm16"], encap=True)
    for side, spec in ((pair.a, spec_a), (pair.b, spec_b)):
        side.data_plane()
        side.attach()
        assert side.dp is not None
        side.dp.install(spec)
    ping(pair.b, INNER_A)
    assert pair.a.mappings == []  # ESP from where the SA says: nothing to report
    # B's ESP now leaves from 4600 (its 4500 socket closed)
    assert pair.b.dp is not None and pair.b.nat_t is not None and pair.a.dp is not None
    pair.b.nat_t.close()
    pair.b.attach(4600)
    moved_b = replace(spec_b, encap_local_port=4600)
    pair.b.dp.update(spec_b, moved_b)
    # A's kernel takes the three requests in (the counters say so) and answers the old port
    assert ping(pair.b, INNER_A, count=3, check=False).returncode != 0
    assert wait_for(lambda: pair.a.mappings != [], timeout=3), "no XFRM_MSG_MAPPING reached A's data plane"
    time.sleep(0.3)
    assert pair.a.mappings == [(spec_a.spi_in, (OUTER_B, 4600))]  # one report for three packets
    inbound = {s.spi: s for s in parse_ip_states(pair.a.xfrm_state())}[spec_a.spi_in]
    assert inbound.packets >= 6, inbound.packets  # 3 before, 3 from the new port: authentic, taken in
    # the IKE side moves the pair: the kernel reports no more
    pair.a.dp.update(spec_a, replace(spec_a, encap_remote_port=4600))
    ping(pair.b, INNER_A)
    time.sleep(0.3)
    assert pair.a.mappings == [(spec_a.spi_in, (OUTER_B, 4600))]


# -- ikev2d and a strongSwan client behind a NAT that rebinds -----------------


def _masquerade(lab: RaLab, ports: dict[int, int]) -> None:
    """The client namespace's only NAT: its datagrams to the gateway leave
    from `ports` (its IKE and ESP sockets do not know)."""
    nsexec(lab.client_ns, NAT_FOR_IPV4, "-t", "nat", "-F", "POSTROUTING")
    for inner, outer in ports.items():
        nsexec(lab.client_ns, NAT_FOR_IPV4, "-t", "nat", "-A", "POSTROUTING", "-d", lab.topology.gateway_addr,
               "-p", "udp", "--sport", str(inner), "-j", "MASQUERADE", "--to-ports", str(outer))


def _rebind(lab: RaLab, port_4500: int) -> None:
    """The NAT gives port 4500 a new public port; the old mapping is gone."""
    _masquerade(lab, {500: NAT_PORTS[500], 4500: port_4500})
    nsexec(lab.client_ns, "conntrack", "-D", "-p", "udp", check=False)


def _pinging(lab: RaLab, vip: str, seconds: int) -> "subprocess.Popen[str]":
    return subprocess.Popen(["ip", "netns", "exec", lab.client_ns, "ping", "-n", "-i", "0.2", "-W", "1",
                             "-w", str(seconds), "-I", vip, INSIDE],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _replied(out: str) -> set[int]:
    return {int(m) for m in re.findall(r"bytes from .* icmp_seq=(\d+)", out)}


def _encap(lab: RaLab, src: str, dst: str) -> str:
    """The `encap` line of the gateway kernel's state from `src` to `dst`."""
    states = [s for s in parse_ip_states(ip(lab.gw_ns, "-s", "xfrm", "state")) if (s.src, s.dst) == (src, dst)]
    assert len(states) == 1, [(s.src, s.dst) for s in states]
    return states[0].line("encap") or ""


def test_a_nat_rebinding_moves_the_kernel_sas_on_the_kernels_mapping_report(pki: LabPki) -> None:
    with ra_lab(pki, "natmap") as lab:
        gw, client = lab.topology.gateway_addr, lab.topology.client_addrs[0]
        _masquerade(lab, NAT_PORTS)
        lab.client.load(ClientConfig(local_addr=client, remote_addr=gw, ca_cert=pki.ca_cert, encap=True,
                                     mobike=False, dpd_delay=0))
        result = lab.client.initiate(timeout=30)
        assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
        [sa] = lab.client.list_sas()
        vip = sa.local_vips[0]
        assert f"{client}/{NAT_PORTS[4500]}" in lab.gateway.show("crypto", "ikev2", "sa").stdout, lab.context()
        assert _encap(lab, gw, client).startswith(f"encap type espinudp sport 4500 dport {NAT_PORTS[4500]}")

        old = NAT_PORTS[4500]
        for new in REBOUND:
            pinger = _pinging(lab, vip, 6)  # five a second
            time.sleep(1.5)
            changed_at = time.monotonic()
            _rebind(lab, new)
            moved = wait_for(lambda: f"dport {new}" in _encap(lab, gw, client), timeout=10)
            took = time.monotonic() - changed_at
            out, _ = pinger.communicate(timeout=30)
            assert moved, f"the gateway kernel still sends to {old}: {_encap(lab, gw, client)}{lab.context()}"
            # the pings of the last 1.5 s but one (seq 20..27 of 30) all came back through the new mapping
            replied = _replied(out)
            assert set(range(20, 28)) <= replied, f"{took:.1f} s to move; replies {sorted(replied)}\n{out}"
            assert _encap(lab, client, gw).startswith(f"encap type espinudp sport {new} dport 4500")
            ipsec = lab.gateway.show("crypto", "ipsec", "sa").stdout
            assert f"remote crypto endpt.: {client}/{new}" in ipsec, ipsec
            assert f"{client}/{new}" in lab.gateway.show("crypto", "ikev2", "sa").stdout
            log = lab.gateway.log()
            # from the old mapping, or from a port the client namespace's NAT
            # let one datagram out with while its conntrack entries were
            # being flushed (CI saw the raw 4500 once, then the new port)
            assert f"the kernel saw ESP from {client}:{new}, not {client}:" in log, lab.context()
            assert f"peer moved from {client}:{old}" in log, lab.context()
            old = new

        # nothing but ESP came from the client: its charon sent no request of
        # its own (no DPD, no MOBIKE) and answered ikev2d's checks
        client_log = lab.client.log()
        assert "sending DPD request" not in client_log, lab.context()
        assert len(re.findall(r"parsed INFORMATIONAL request \d+ \[ \]", client_log)) >= len(REBOUND), \
            lab.context()
        assert lab.gateway.running() and "Traceback" not in lab.gateway.log(), lab.context()
