"""IPv6 inside the tunnel with the kernel's ESP: runs INSIDE user-mode Linux
(tests/xfrm/test_dual_stack.py boots it; not collected on the host).

ikev2d with ``--dataplane kernel`` and an IPv6 pool, a strongSwan client
with the kernel's ESP asking for ``vips = 0.0.0.0,::``: one Child SA, one
IPv4 SA pair (outer 198.18.0.x) whose policies select both families (the
states are AF_UNSPEC: inner IPv4 and IPv6 alike), a route to each virtual
address; ping and ping -6 from the virtual addresses reach 198.19.0.1 and
2001:2::1 and the gateway's SA counters move; the disconnect takes it all
out again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from lab.dualstack import INSIDE6, INSIDE_NET6, add_inside6, enable_ipv6, in_pool6, with_ipv6_pool
from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig

from .guestlib import RaLab, in_uml, ip, nsexec, parse_ip_policies, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE, INSIDE_NET = "198.19.0.1", "198.19.0.0/24"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def lab(pki: LabPki) -> Iterator[RaLab]:
    with ra_lab(pki, "dual", edit=with_ipv6_pool) as started:
        for ns in started.topology.namespaces():
            enable_ipv6(ns)
        add_inside6(started.topology.gateway)
        yield started


def _ping6(ns: str, vip6: str) -> tuple[int, str]:
    out = ""
    for _ in range(3):  # the client's new address may still be settling
        run = nsexec(ns, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-I", vip6, INSIDE6, check=False)
        out = run.stdout + run.stderr
        if run.returncode == 0:
            return 0, out
        wait_for(lambda: False, timeout=1)
    return 1, out


def test_dual_stack_child_sa_through_ikev2d_kernel_dataplane(lab: RaLab, pki: LabPki) -> None:
    gw_ns, client_ns = lab.gw_ns, lab.client_ns
    lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                 ca_cert=pki.ca_cert, encap=False, vips="0.0.0.0,::",
                                 remote_ts=f"{INSIDE_NET},{INSIDE_NET6}"))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    [sa] = lab.client.list_sas()
    vip4 = next(a for a in sa.local_vips if ipaddress.ip_address(a).version == 4)
    vip6 = next(a for a in sa.local_vips if ipaddress.ip_address(a).version == 6)
    assert vip4.startswith("198.19.0.") and in_pool6(vip6), sa.local_vips
    [child] = sa.children
    assert sorted(child.remote_ts) == sorted([INSIDE_NET, INSIDE_NET6]), child

    # one SA pair, IPv4 outside; a policy triple per family inside
    states = parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))
    assert {s.spi for s in states} == {int(child.spi_in, 16), int(child.spi_out, 16)}, states
    assert all(s.text.startswith("src 198.18.0.") for s in states), [s.text.splitlines()[0] for s in states]
    policies = parse_ip_policies(ip(gw_ns, "xfrm", "policy"))
    selectors = sorted(p.split("\n")[0].split()[1] for p in policies)
    assert len(policies) == 6, policies
    assert selectors.count(f"{vip6}/128") == 2 and selectors.count(f"{vip4}/32") == 2, selectors  # in and fwd
    assert vip6 in ip(gw_ns, "-6", "route", "show", f"{vip6}/128")

    pong = nsexec(client_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-I", vip4, INSIDE, check=False)
    assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{lab.context()}"
    code, out = _ping6(client_ns, vip6)
    assert code == 0, f"{out}\n{ip(gw_ns, '-6', 'route')}{ip(gw_ns, 'xfrm', 'policy')}{lab.context()}"
    after = {s.spi: s for s in parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))}
    assert after[int(child.spi_out, 16)].packets >= 6 and after[int(child.spi_in, 16)].packets >= 6, after

    done = lab.client.terminate()
    assert done.ok, done.errmsg
    gone = wait_for(lambda: parse_ip_states(ip(gw_ns, "xfrm", "state")) == []
                    and ip(gw_ns, "xfrm", "policy").strip() == "", timeout=5)
    assert gone, f"{ip(gw_ns, 'xfrm', 'state')}{ip(gw_ns, 'xfrm', 'policy')}{lab.context()}"
    assert ip(gw_ns, "-6", "route", "show", f"{vip6}/128").strip() == ""
    assert lab.gateway.running(), lab.context()
