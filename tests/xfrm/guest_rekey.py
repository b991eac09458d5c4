"""Rekeys and PFS on the kernel data plane (issue 8): runs INSIDE user-mode
Linux (tests/xfrm/test_rekey.py boots it; not collected on the host).

ikev2d with ``--dataplane kernel``, a strongSwan client with the kernel's
ESP. Every step is checked with ping and with the gateway kernel's own view
(`ip -s xfrm state`, `ip xfrm policy`):

- the client rekeys the Child SA (RFC 7296 §2.8): the new pair is in the
  kernel, the old one goes with the client's Delete, traffic rides the new
  pair; then the client rekeys the IKE SA (§2.8): the Child SA's kernel
  states stay as they were (same SPIs, same add time) and carry on; then a
  Child rekey through the new IKE SA;
- the client rekeys the Child SA with PFS (§1.3.1), ikev2d's `set pfs`
  group15 (MODP-3072) or group20 (ECP-384);
- the IPsec proposal's lifetime in kilobytes, counted by the kernel: its
  soft XFRM expire makes ikev2d rekey the pair itself; with the client
  frozen (SIGSTOP) so no rekey can finish, the hard expiry removes the SA
  and ikev2d tells the client with a Delete once it answers again.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lab.pki import LabPki, make_lab_pki
from lab.strongswan import ChildSa, IkeSa
from lab.swanctl_conf import ClientConfig

from .guestlib import IpState, RaLab, in_uml, ip, nsexec, parse_ip_policies, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"
CHILD = IKE = "ftd-ra"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


def _edit(kilobytes: int | None = None, pfs_group: int | None = None) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        if kilobytes is not None:
            for proposal in cfg["objects"]["ikev2_ipsec_proposals"]:
                proposal["lifetime_kilobytes"] = kilobytes
        if pfs_group is not None:
            cfg["remote_access_vpn"]["pfs_group"] = pfs_group
    return edit


@pytest.fixture
def lab(pki: LabPki, request: pytest.FixtureRequest) -> Iterator[RaLab]:
    edit = getattr(request, "param", None) or _edit()
    with ra_lab(pki, "rekey", edit=edit) as started:
        yield started


# -- helpers -----------------------------------------------------------------


def _connect(lab: RaLab, pki: LabPki, encap: bool = True, esp_proposals: str = "aes256-sha512",
             child_rekey_time: str = "") -> tuple[IkeSa, ChildSa]:
    lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                 ca_cert=pki.ca_cert, encap=encap, esp_proposals=esp_proposals,
                                 child_rekey_time=child_rekey_time))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    [sa] = lab.client.list_sas()
    assert sa.state == "ESTABLISHED" and len(sa.children) == 1, sa
    assert sa.children[0].state == "INSTALLED" and sa.children[0].encap == encap, sa.children[0]
    return sa, sa.children[0]


def _spis(child: ChildSa) -> set[int]:
    return {int(child.spi_in, 16), int(child.spi_out, 16)}


def _gw_states(lab: RaLab) -> dict[int, IpState]:
    return {s.spi: s for s in parse_ip_states(ip(lab.gw_ns, "-s", "xfrm", "state"))}


def _gw_policy_dirs(lab: RaLab) -> list[str]:
    return sorted(p.split("\n")[1].split()[1] for p in parse_ip_policies(ip(lab.gw_ns, "xfrm", "policy")))


def _installed(lab: RaLab) -> list[ChildSa]:
    sas = lab.client.list_sas()
    return [c for c in sas[0].children if c.state == "INSTALLED"] if sas else []


def _ping(lab: RaLab, vip: str, count: int = 3, size: int = 56, check: bool = True) -> tuple[int, int]:
    """(sent, received) of `count` pings from the virtual address to INSIDE."""
    run = nsexec(lab.client_ns, "ping", "-n", "-c", str(count), "-i", "0.1", "-W", "2", "-s", str(size),
                 "-I", vip, INSIDE, check=False, timeout=30 + count)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", run.stdout)
    assert found, run.stdout + run.stderr
    sent, received = int(found.group(1)), int(found.group(2))
    if check:
        assert received == sent, f"{run.stdout}{lab.context()}"
    return sent, received


def _added(state: IpState) -> str:
    """The `add` time of the state's current lifetime: it changes only when
    the state is installed anew."""
    found = re.search(r"^\s*add (.+?)\s+use", state.text, flags=re.MULTILINE)
    assert found, state.text.splitlines()[:1]
    return found.group(1)


def _rekey_child_by_client(lab: RaLab, old: ChildSa) -> ChildSa:
    """The client's Child rekey; returns the new pair once the gateway
    kernel holds it and nothing of the old one (the client's Delete)."""
    lab.client.swanctl("--rekey", "--child", CHILD)
    assert wait_for(lambda: [c.spi_in for c in _installed(lab)] not in ([], [old.spi_in]), timeout=15), \
        f"no new Child SA{lab.context()}"
    [new] = _installed(lab)
    assert _spis(new).isdisjoint(_spis(old)), (new, old)
    assert wait_for(lambda: set(_gw_states(lab)) == _spis(new), timeout=10), \
        f"gateway kernel states {sorted(map(hex, _gw_states(lab)))}, want {sorted(map(hex, _spis(new)))}" \
        f"{lab.context()}"
    return new


def _assert_carries(lab: RaLab, vip: str, child: ChildSa, count: int = 3) -> None:
    """Pings go through, and the gateway kernel's states of `child` count them."""
    before = _gw_states(lab)
    _ping(lab, vip, count)
    after = _gw_states(lab)
    # the client's outbound SPI is the gateway's inbound one
    for spi in (int(child.spi_out, 16), int(child.spi_in, 16)):
        assert after[spi].packets >= before[spi].packets + count, (hex(spi), before[spi].packets, after[spi].packets)
        assert after[spi].bytes > before[spi].bytes, hex(spi)


def _session_bytes(lab: RaLab) -> tuple[int, int]:
    """(Bytes xmt, Bytes rcv) of the 113019 that ended the session."""
    assert wait_for(lambda: "113019" in lab.gateway.log(), timeout=5), lab.context()
    found = re.search(r"113019: .*Bytes xmt: (\d+), Bytes rcv: (\d+)", lab.gateway.log())
    assert found, lab.gateway.tail(5)
    return int(found.group(1)), int(found.group(2))


def _assert_healthy(lab: RaLab) -> None:
    assert lab.gateway.running(), lab.context()
    assert "Traceback" not in lab.gateway.log(), lab.context()


# -- the client rekeys -------------------------------------------------------


def test_client_rekeys_child_then_ike_then_child_on_the_kernel_dataplane(lab: RaLab, pki: LabPki) -> None:
    sa, first = _connect(lab, pki)
    vip = sa.local_vips[0]
    assert set(_gw_states(lab)) == _spis(first)
    _assert_carries(lab, vip, first)

    # Child rekey without PFS: new SPIs in the kernel, the old ones gone
    second = _rekey_child_by_client(lab, first)
    assert "[ N(REKEY_SA) SA No TSi TSr ]" in lab.client.log(), lab.context()
    assert _gw_policy_dirs(lab) == ["fwd", "in", "out"]
    assert vip in ip(lab.gw_ns, "route", "show", f"{vip}/32")
    _assert_carries(lab, vip, second)

    # IKE rekey: the Child SA's kernel states are left as they are
    kept = _gw_states(lab)
    policies = ip(lab.gw_ns, "xfrm", "policy")
    old_spi_r = lab.client.list_sas()[0].raw.get("responder-spi")
    lab.client.swanctl("--rekey", "--ike", IKE)
    assert wait_for(lambda: (s := lab.client.list_sas()) != [] and s[0].state == "ESTABLISHED"
                    and s[0].raw.get("responder-spi") != old_spi_r, timeout=15), f"IKE SA not rekeyed{lab.context()}"
    assert wait_for(lambda: "IKE_SA deleted" in lab.client.log(), timeout=10), lab.context()
    assert "rekeyed between" in lab.client.log(), lab.context()
    now = _gw_states(lab)
    assert set(now) == _spis(second), (sorted(map(hex, now)), second)
    for spi, state in now.items():
        assert _added(state) == _added(kept[spi]), hex(spi)
        assert state.packets >= kept[spi].packets, hex(spi)
    assert ip(lab.gw_ns, "xfrm", "policy") == policies
    [moved] = _installed(lab)
    assert _spis(moved) == _spis(second) and lab.client.list_sas()[0].local_vips == [vip]
    _assert_carries(lab, vip, second)

    # and a Child rekey through the new IKE SA
    third = _rekey_child_by_client(lab, second)
    _assert_carries(lab, vip, third)
    assert _gw_policy_dirs(lab) == ["fwd", "in", "out"]
    _assert_healthy(lab)

    # disconnect: nothing of it stays in the kernel, and 113019 counts the
    # traffic of all three pairs (12 pings of 84 octets each way)
    assert lab.client.terminate().ok
    assert wait_for(lambda: _gw_states(lab) == {} and ip(lab.gw_ns, "xfrm", "policy").strip() == "", timeout=5), \
        lab.context()
    xmt, rcv = _session_bytes(lab)
    assert xmt >= 12 * 84 and rcv >= 12 * 84, (xmt, rcv)


PFS = {"modp3072": ("aes256-sha512-modp3072", 15, "MODP_3072"),
       "ecp384": ("aes256-sha512-ecp384", 20, "ECP_384")}


@pytest.mark.parametrize(("lab", "esp_proposals", "dh_name"),
                         [(_edit(pfs_group=group), proposals, dh) for proposals, group, dh in PFS.values()],
                         ids=list(PFS), indirect=["lab"])
def test_client_child_rekey_with_pfs_on_the_kernel_dataplane(lab: RaLab, pki: LabPki, esp_proposals: str,
                                                             dh_name: str) -> None:
    """`set pfs groupN`: the client's rekey carries a KE (plain ESP here)."""
    sa, old = _connect(lab, pki, encap=False, esp_proposals=esp_proposals)
    vip = sa.local_vips[0]
    _assert_carries(lab, vip, old)
    new = _rekey_child_by_client(lab, old)
    assert "[ N(REKEY_SA) SA No KE TSi TSr ]" in lab.client.log(), lab.context()
    assert dh_name in new.proposal, new
    for state in _gw_states(lab).values():
        assert state.line("encap") is None  # plain ESP
    _assert_carries(lab, vip, new)
    _assert_healthy(lab)


# -- lifetimes the kernel counts -------------------------------------------------

SMALL = _edit(kilobytes=10)  # the FMC's minimum; soft at 90 % (esp/kernel.py)


def _expired(lab: RaLab, kind: str) -> bool:
    return re.search(rf"{kind} bytes lifetime", lab.gateway.log()) is not None


@pytest.mark.parametrize("lab", [SMALL], ids=["10kB"], indirect=True)
def test_soft_kilobyte_expiry_from_the_kernel_makes_ikev2d_rekey(lab: RaLab, pki: LabPki) -> None:
    """The kernel's soft XFRM expire reaches ikev2d, which rekeys the pair
    (CREATE_CHILD_SA with REKEY_SA) and deletes the old one."""
    sa, old = _connect(lab, pki, child_rekey_time="2h")  # the client's own rekey far away
    vip = sa.local_vips[0]
    _ping(lab, vip, 7, size=1000)  # some 7.2 kB each way: below the soft limit of 9.2 kB
    assert not _expired(lab, "soft"), lab.context()
    # then small pings, one at a time, until the soft limit: the hard one is a kilobyte on
    sent = 0
    while not _expired(lab, "soft") and sent < 40:
        _ping(lab, vip, 1, size=100)
        sent += 1
    assert _expired(lab, "soft"), f"no soft expiry after {sent} more pings{lab.context()}"
    assert wait_for(lambda: "received DELETE for ESP CHILD_SA" in lab.client.log(), timeout=10), lab.context()
    assert "parsed CREATE_CHILD_SA request" in lab.client.log() and "N(REKEY_SA)" in lab.client.log()
    assert "generating CREATE_CHILD_SA request" not in lab.client.log(), "the client rekeyed, not ikev2d"
    assert wait_for(lambda: len(_installed(lab)) == 1 and _installed(lab)[0].spi_in != old.spi_in, timeout=10), \
        lab.client.list_sas()
    [new] = _installed(lab)
    assert set(_gw_states(lab)) == _spis(new), lab.context()
    assert not _expired(lab, "hard"), lab.context()
    _assert_carries(lab, vip, new)
    _assert_healthy(lab)


@pytest.mark.parametrize("lab", [SMALL], ids=["10kB"], indirect=True)
def test_hard_kilobyte_expiry_from_the_kernel_deletes_the_child_sa(lab: RaLab, pki: LabPki) -> None:
    """With the client frozen no rekey can finish: the kernel's hard expiry
    takes the SA out, ikev2d removes the rest of the pair (its policies and
    route) and, once the client answers again, tells it with a Delete."""
    sa, old = _connect(lab, pki, child_rekey_time="2h")
    vip = sa.local_vips[0]
    assert lab.client.proc is not None
    charon = lab.client.proc.pid  # `ip netns exec`, unshare and sh all exec charon
    os.kill(charon, signal.SIGSTOP)  # its kernel keeps doing ESP
    try:
        _ping(lab, vip, 14, size=1000, check=False)  # 14 kB: past both limits
        assert wait_for(lambda: _expired(lab, "hard"), timeout=10), lab.context()
        assert _expired(lab, "soft"), lab.context()
        assert wait_for(lambda: _gw_states(lab) == {}, timeout=5), \
            f"{ip(lab.gw_ns, 'xfrm', 'state')}{lab.context()}"
        assert ip(lab.gw_ns, "xfrm", "policy").strip() == ""
        assert ip(lab.gw_ns, "route", "show", f"{vip}/32").strip() == ""
        assert _ping(lab, vip, 2, check=False)[1] == 0  # nothing carries it now
    finally:
        os.kill(charon, signal.SIGCONT)
    # our Delete names the old pair by our inbound SPI, the client's outbound
    # (the rekey the soft limit started is answered now and its pair, moot,
    # deleted too)
    gone = f"received DELETE for ESP CHILD_SA with SPI {int(old.spi_out, 16):08x}"
    assert wait_for(lambda: gone in lab.client.log(), timeout=20), lab.context()
    assert wait_for(lambda: _installed(lab) == [], timeout=10), lab.client.list_sas()
    assert wait_for(lambda: parse_ip_states(ip(lab.client_ns, "xfrm", "state")) == [], timeout=5), \
        ip(lab.client_ns, "xfrm", "state")
    assert [s.state for s in lab.client.list_sas()] == ["ESTABLISHED"]  # the IKE SA stays
    assert _gw_states(lab) == {}
    _assert_healthy(lab)
    # the expired SA's bytes are the session's: 113019 counts them at the end
    assert lab.client.terminate().ok
    assert _session_bytes(lab)[1] >= 9 * 1024
