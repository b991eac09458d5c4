"""The XFRM layer on this host's own kernel, which has XFRM but (on the
project's machines) no ESP: policies add, read back and delete; the probe
tells ESP's absence with the errno's meaning; an install fails cleanly;
UDP_ENCAP on the 4500 socket lets IKE through and keeps ESP from user space.

Everything happens in network namespaces made for the test (198.18.0.0/15
addresses); the host's own SAs and policies are never touched. Needs root.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from esp.dataplane import DataPlaneError, Expiry
from esp.kernel import KernelDataPlane, probe_kernel_esp
from esp.spec import ChildSaSpec, EspAlgorithms
from esp.xfrm import consts as c
from esp.xfrm.flush import flush_owned
from esp.xfrm.messages import RESPONSE_CLASSES
from esp.xfrm.model import PolicyParams, Selector, Template
from esp.xfrm.netlink import NetlinkChannel, NetlinkError
from esp.xfrm.netns import in_netns
from esp.xfrm.policy import add_policy, delete_policy, dump_policies, get_policy
from esp.xfrm.route import add_route, delete_route, open_route_channel, route_toward

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and XFRM need root")

_count = iter(range(1, 10_000))


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {proc.stderr}")
    return proc


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"ikv-{os.getpid()}-x{next(_count)}"
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")
    try:
        yield name
    finally:
        ip("netns", "del", name, check=False)


def xfrm_channel(ns: str) -> NetlinkChannel:
    return in_netns(ns, lambda: NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES))


def kernel_has_esp(ns: str) -> bool:
    """Asked through iproute2, independently of our code."""
    proc = ip("-n", ns, "xfrm", "state", "add", "src", "198.18.0.2", "dst", "198.18.0.1", "proto", "esp",
              "spi", "0x1234", "mode", "tunnel", "enc", "cbc(aes)", "0x" + "00" * 32,
              "auth-trunc", "hmac(sha512)", "0x" + "00" * 64, "256", check=False)
    if proc.returncode == 0:
        ip("-n", ns, "xfrm", "state", "flush")  # the test's own namespace
        return True
    assert "Requested type not found" in proc.stderr or "not supported" in proc.stderr.lower(), proc.stderr
    return False


SEL = Selector(ipaddress.ip_network("198.19.0.0/24"), ipaddress.ip_network("198.19.0.200/32"))


def test_policy_add_read_back_delete(netns: str) -> None:
    with xfrm_channel(netns) as nl:
        tmpl = (Template("198.18.0.1", "198.18.0.2", reqid=0x40000001),)
        add_policy(nl, PolicyParams(SEL, c.XFRM_POLICY_OUT, tmpl, priority=1234))
        got = get_policy(nl, SEL, c.XFRM_POLICY_OUT)
        assert got is not None
        assert (got.selector, got.direction, got.priority, got.templates) == (SEL, c.XFRM_POLICY_OUT, 1234, tmpl)
        assert get_policy(nl, SEL, c.XFRM_POLICY_IN) is None
        # iproute2 decodes the same policy
        text = ip("-n", netns, "xfrm", "policy").stdout
        assert "src 198.19.0.0/24 dst 198.19.0.200/32" in text and "dir out priority 1234" in text
        assert "tmpl src 198.18.0.1 dst 198.18.0.2" in text and "reqid 1073741825 mode tunnel" in text
        with pytest.raises(NetlinkError) as exists:
            add_policy(nl, PolicyParams(SEL, c.XFRM_POLICY_OUT, tmpl))
        assert exists.value.errno == errno.EEXIST
        assert delete_policy(nl, SEL, c.XFRM_POLICY_OUT) is True
        assert delete_policy(nl, SEL, c.XFRM_POLICY_OUT) is False  # gone: not an error
        assert dump_policies(nl) == []
    assert ip("-n", netns, "xfrm", "policy").stdout.strip() == ""


def test_flush_removes_only_our_reqids(netns: str) -> None:
    ip("-n", netns, "xfrm", "policy", "add", "src", "198.19.1.0/24", "dst", "198.19.1.9/32", "dir", "out",
       "tmpl", "src", "198.18.0.1", "dst", "198.18.0.9", "proto", "esp", "mode", "tunnel", "reqid", "7")
    with xfrm_channel(netns) as nl:
        for direction in (c.XFRM_POLICY_OUT, c.XFRM_POLICY_FWD):
            add_policy(nl, PolicyParams(SEL, direction, (Template("198.18.0.1", "198.18.0.2", reqid=0x40000005),)))
        assert flush_owned(nl, {0x40000005}) == (0, 2)
        left = dump_policies(nl)
    assert [(p.selector.dst, p.templates[0].reqid) for p in left] == [(ipaddress.ip_network("198.19.1.9/32"), 7)]


def test_probe_agrees_with_iproute2(netns: str) -> None:
    ok, why = probe_kernel_esp()
    if kernel_has_esp(netns):
        assert ok, why
    else:
        assert (ok, why) == (False, "EPROTONOSUPPORT: the kernel has no ESP")


def test_probe_leaves_nothing_behind() -> None:
    """It works in a namespace of its own: ours shows no trace of it."""
    before = ip("xfrm", "state").stdout
    probe_kernel_esp()
    assert ip("xfrm", "state").stdout == before


def _spec() -> ChildSaSpec:
    algs = EspAlgorithms(12, 256, 14, 32, 64, 16)
    return ChildSaSpec(
        ike_sa_id="t", spi_in=0xC1000001, spi_out=0xC2000002, algorithms=algs,
        encr_key_in=os.urandom(32), integ_key_in=os.urandom(64), encr_key_out=os.urandom(32),
        integ_key_out=os.urandom(64), local_address="198.18.0.1", remote_address="198.18.0.2",
        encap_local_port=4500, encap_remote_port=4500,
        local_selectors=(ipaddress.IPv4Network("198.19.0.0/24"),),
        remote_selectors=(ipaddress.IPv4Network("198.19.0.200/32"),),
        lifetime_seconds=3600, lifetime_kilobytes=0,
    )


def test_install_without_esp_fails_cleanly(netns: str) -> None:
    if kernel_has_esp(netns):
        pytest.skip("this kernel has ESP: tests/xfrm covers installing")
    ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ip("-n", netns, "addr", "add", "198.18.0.1/24", "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    dp = in_netns(netns, KernelDataPlane)
    try:
        with pytest.raises(DataPlaneError) as failed:
            dp.install(_spec())
        assert "EPROTONOSUPPORT: the kernel has no ESP" in str(failed.value)
        assert dp.installed() == [] and dp.counters(0xC1000001) is None
        assert ip("-n", netns, "xfrm", "state").stdout.strip() == ""
        assert ip("-n", netns, "xfrm", "policy").stdout.strip() == ""
        assert ip("-n", netns, "route", "show", "198.19.0.200/32").stdout.strip() == ""
    finally:
        dp.close()


def test_udp_encap_keeps_esp_from_user_space_and_lets_ike_through(netns: str) -> None:
    """After attach(), the 4500 socket still receives IKE behind the non-ESP
    marker; a NAT keepalive and an ESP-looking datagram are the kernel's."""
    ip("-n", netns, "addr", "add", "198.18.0.1/32", "dev", "lo")
    dp = in_netns(netns, KernelDataPlane)

    def udp(port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("198.18.0.1", port))
        s.settimeout(1.0)
        return s

    nat_t, peer = in_netns(netns, lambda: udp(4500)), in_netns(netns, lambda: udp(4501))
    try:
        expiries: list[Expiry] = []
        dp.attach(nat_t, expiries.append)
        assert nat_t.getsockopt(socket.IPPROTO_UDP, c.UDP_ENCAP) == c.UDP_ENCAP_ESPINUDP
        peer.sendto(b"\xff", ("198.18.0.1", 4500))  # NAT keepalive
        peer.sendto(b"\x00\x00\x10\x00" + bytes(40), ("198.18.0.1", 4500))  # ESP, SPI 0x1000
        ike = b"\x00\x00\x00\x00" + b"IKE header and payloads"
        peer.sendto(ike, ("198.18.0.1", 4500))
        assert nat_t.recvfrom(2048)[0] == ike  # the first, and only, datagram user space sees
        with pytest.raises(socket.timeout):
            nat_t.recvfrom(2048)
    finally:
        dp.close()
        nat_t.close()
        peer.close()


def test_route_to_a_virtual_address_follows_the_peer(netns: str) -> None:
    ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ip("-n", netns, "addr", "add", "198.18.0.1/24", "dev", "eth0")
    ip("-n", netns, "addr", "add", "198.19.0.1/32", "dev", "lo")
    for dev in ("eth0", "eth1"):
        ip("-n", netns, "link", "set", dev, "up")
    rt = in_netns(netns, open_route_channel)
    with rt:
        vip = ipaddress.ip_network("198.19.0.200/32")
        route = route_toward(rt, vip, "198.18.0.2", [ipaddress.ip_network("198.19.0.0/24")])
        assert route.gateway is None and route.prefsrc == "198.19.0.1"
        assert add_route(rt, route) is True
        shown = ip("-n", netns, "route", "show", "198.19.0.200/32").stdout
        assert "dev eth0" in shown and "proto static" in shown and "src 198.19.0.1" in shown
        assert add_route(rt, route) is False  # already there: reported, not raised
        assert delete_route(rt, route) is True
        assert delete_route(rt, route) is False
        assert ip("-n", netns, "route", "show", "198.19.0.200/32").stdout.strip() == ""
        with pytest.raises(NetlinkError):
            route_toward(rt, vip, "203.0.113.9", [])  # no route toward that peer
