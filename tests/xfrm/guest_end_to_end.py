"""Issue 3's end-to-end on a kernel with ESP: runs INSIDE user-mode Linux
(tests/xfrm/test_end_to_end.py boots it; not collected on the host).

ikev2d with ``--dataplane kernel`` in the gateway namespace, a strongSwan
client with the kernel's ESP (kernel-netlink, no kernel-libipsec) in a client
namespace: the client connects, ping and UDP from its virtual address reach
the gateway's inside address through the tunnel, the gateway's
``ip -s xfrm state`` counters move (and the client's: its kernel does the
ESP), and the client's disconnect removes ikev2d's states, policies and the
route to the virtual address. ESP in UDP 4500 and plain ESP with the NSA
suite (AES-256-CBC + HMAC-SHA-512/256), and ESP in UDP with AES-256-GCM.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig
from esp.xfrm.netns import in_netns

from .guestlib import RaLab, in_uml, ip, nsexec, parse_ip_policies, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"


@dataclass(frozen=True)
class Case:
    encap: bool
    gcm: bool  # AES-256-GCM-16 instead of the NSA suite's AES-256-CBC + HMAC-SHA-512/256

    @property
    def client_esp(self) -> str:
        return "aes256gcm16" if self.gcm else "aes256-sha512"

    def gateway_config(self, cfg: dict[str, Any]) -> None:
        if self.gcm:  # offered beside the NSA suite: the client picks
            proposal = cfg["objects"]["ikev2_ipsec_proposals"][0]
            proposal["esp_encryption"] = ["AES-256", "AES-GCM-256"]
            proposal["esp_hash"] = ["SHA-512", "NULL"]


CASES = {"esp-in-udp": Case(encap=True, gcm=False), "esp": Case(encap=False, gcm=False),
         "esp-in-udp-gcm": Case(encap=True, gcm=True)}


@dataclass
class Lab(RaLab):
    case: Case


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def lab(pki: LabPki, request: pytest.FixtureRequest) -> Iterator[Lab]:
    case: Case = request.param
    with ra_lab(pki, "e2e", edit=case.gateway_config) as started:
        yield Lab(started.topology, started.gateway, started.client, case)


def _udp_round_trip(lab: Lab, vip: str, payload: bytes) -> bytes:
    def server() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.bind((INSIDE, 7777))
        return s

    def client() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.bind((vip, 0))
        return s

    srv = in_netns(lab.topology.gateway.name, server)
    cli = in_netns(lab.topology.clients[0].name, client)
    try:
        cli.sendto(payload, (INSIDE, 7777))
        data, peer = srv.recvfrom(65535)
        assert peer[0] == vip
        srv.sendto(data, peer)
        return cli.recvfrom(65535)[0]
    finally:
        srv.close()
        cli.close()


@pytest.mark.parametrize("lab", list(CASES.values()), ids=list(CASES), indirect=True)
def test_strongswan_kernel_esp_through_ikev2d_kernel_dataplane(lab: Lab, pki: LabPki) -> None:
    encap = lab.case.encap
    gw_ns, client_ns = lab.topology.gateway.name, lab.topology.clients[0].name
    assert "dataplane kernel: chosen with --dataplane kernel" in lab.gateway.log(), lab.context()

    lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                 ca_cert=pki.ca_cert, encap=encap, esp_proposals=lab.case.client_esp))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    sas = lab.client.list_sas()
    assert len(sas) == 1 and sas[0].state == "ESTABLISHED" and len(sas[0].children) == 1, sas
    child = sas[0].children[0]
    assert child.state == "INSTALLED" and child.encap == encap, child
    vip = sas[0].local_vips[0]
    assert vip.startswith("198.19.0."), sas[0]

    # the client's own kernel does its ESP: no libipsec TUN, its SAs count
    assert nsexec(client_ns, "ip", "link", "show", "ipsec0", check=False).returncode != 0

    # ikev2d's SAs and policies are in the gateway's kernel
    states = parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))
    spis = {s.spi for s in states}
    assert spis == {int(child.spi_in, 16), int(child.spi_out, 16)}, (states, child)
    for s in states:
        assert s.mode == "tunnel"
        assert (s.line("encap") is not None) == encap, s.text.splitlines()[:3]
        alg = s.line("aead") if lab.case.gcm else s.line("auth-trunc")
        expected = ("aead rfc4106(gcm(aes))", " 128") if lab.case.gcm else ("auth-trunc hmac(sha512)", " 256")
        assert alg is not None and alg.startswith(expected[0]) and alg.endswith(expected[1])
    assert child.proposal == ("AES_GCM_16-256" if lab.case.gcm else "AES_CBC-256/HMAC_SHA2_512_256"), child
    dirs = sorted(p.split("\n")[1].split()[1] for p in parse_ip_policies(ip(gw_ns, "xfrm", "policy")))
    assert dirs == ["fwd", "in", "out"]
    assert vip in ip(gw_ns, "route", "show", f"{vip}/32")
    before = {s.spi: s.packets for s in states}
    assert set(before.values()) == {0}

    # traffic from the virtual address, through the tunnel
    pong = nsexec(client_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-I", vip, INSIDE, check=False)
    assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{lab.context()}"
    assert _udp_round_trip(lab, vip, b"u" * 1200) == b"u" * 1200

    after = {s.spi: s for s in parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))}
    gw_in, gw_out = after[int(child.spi_out, 16)], after[int(child.spi_in, 16)]  # the client's out is our in
    assert gw_in.packets >= 4 and gw_out.packets >= 4, (gw_in.packets, gw_out.packets)
    assert gw_in.bytes > 1200 and gw_out.bytes > 1200
    client_states = {s.spi: s for s in parse_ip_states(ip(client_ns, "-s", "xfrm", "state"))}
    assert client_states[int(child.spi_out, 16)].packets == gw_in.packets
    assert client_states[int(child.spi_in, 16)].packets == gw_out.packets

    # disconnect: ikev2d takes its states, policies and route out
    done = lab.client.terminate()
    assert done.ok, done.errmsg
    gone = wait_for(lambda: parse_ip_states(ip(gw_ns, "xfrm", "state")) == []
                    and ip(gw_ns, "xfrm", "policy").strip() == "", timeout=5)
    assert gone, f"{ip(gw_ns, 'xfrm', 'state')}{ip(gw_ns, 'xfrm', 'policy')}{lab.context()}"
    assert ip(gw_ns, "route", "show", f"{vip}/32").strip() == ""
    assert lab.gateway.running(), lab.context()
