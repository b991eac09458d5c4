"""The userspace data plane's plain ESP and its moves between plain ESP and
ESP in UDP, against the kernel's ESP: runs INSIDE user-mode Linux
(tests/xfrm/test_plain_esp.py boots it; not collected on the host).

A is the gateway with `UserspaceDataPlane` (its TUN device, routes, UDP 4500
and raw ESP sockets in namespace A), B the client with `KernelDataPlane`.
The pair starts with plain ESP (IP protocol 50), moves to ESP in UDP (MOBIKE
when a NAT appears, ikev2d/tasks/mobike.py) and back to plain ESP; both sides
`update()` and ping goes through at each step, with A's outbound sequence
numbers carrying on. The kernel is the independent ESP implementation here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from esp.spec import ChildSaSpec
from esp.userspace import UserspaceDataPlane
from esp.userspace.dataplane import open_raw_esp
from esp.userspace.routes import RouteTable
from esp.userspace.tun import TunDevice
from esp.xfrm.netns import in_netns

from .guestlib import (INNER_A, SUITES, Pair, destroy_pair, in_uml, ip, make_pair, mirrored_specs, nsexec,
                       parse_ip_states)

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

NON_ESP_MARKER, KEEPALIVE = bytes(4), b"\xff"


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair("us")
    try:
        yield p
    finally:
        destroy_pair(p)


def _udp(spec: ChildSaSpec) -> ChildSaSpec:
    return replace(spec, encap_local_port=4500, encap_remote_port=4500)


def _udp_out(ns: str) -> int:
    """Namespace `ns`'s UDP datagrams sent so far (/proc/net/snmp)."""
    udp = [line.split() for line in nsexec(ns, "cat", "/proc/net/snmp").stdout.splitlines() if line.startswith("Udp:")]
    return int(udp[1][udp[0].index("OutDatagrams")])


async def _ping(ns: str, count: int = 3) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec("ip", "netns", "exec", ns, "ping", "-n", "-c", str(count), "-i",
                                                "0.2", "-W", "3", INNER_A, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


def test_userspace_plain_esp_moves_to_udp_and_back_against_the_kernel(pair: Pair) -> None:
    spec_a, spec_b = mirrored_specs(SUITES["gcm16"], encap=False)
    ns_a = pair.a.ns

    async def run() -> None:
        dp = UserspaceDataPlane(
            tun_name="ikev2d0",
            device=lambda name, mtu: in_netns(ns_a, lambda: TunDevice(name, mtu)),
            routes=lambda: in_netns(ns_a, RouteTable),
            raw_socket=lambda address: in_netns(ns_a, lambda: open_raw_esp(address)))

        def bind() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((spec_a.local_address, 4500))
            s.setblocking(False)
            return s

        nat_t = in_netns(ns_a, bind)

        def nat_t_readable() -> None:  # ikev2d's transport, for ESP only
            while True:
                try:
                    data, remote = nat_t.recvfrom(65535)
                except BlockingIOError:
                    return
                if data[:4] != NON_ESP_MARKER and data != KEEPALIVE:
                    dp.esp_received(data, remote)

        loop = asyncio.get_running_loop()
        loop.add_reader(nat_t.fileno(), nat_t_readable)
        kernel = pair.b.data_plane()
        pair.b.attach()
        try:
            dp.attach(nat_t, lambda e: None)
            dp.install(spec_a)
            kernel.install(spec_b)
            steps = [("plain", spec_a, spec_b), ("in UDP", _udp(spec_a), _udp(spec_b)), ("plain again", spec_a, spec_b)]
            seq = before = 0
            for i, (what, a, b) in enumerate(steps):
                before = seq
                if i:
                    dp.update(steps[i - 1][1], a)
                    kernel.update(steps[i - 1][2], b)
                sent_udp = _udp_out(ns_a)
                code, out = await _ping(pair.b.ns)
                assert code == 0, f"ping with ESP {what} failed:\n{out}"
                # A's replies left as plain ESP (no UDP datagram) or in UDP, as the pair says
                udp_delta = _udp_out(ns_a) - sent_udp
                assert (udp_delta >= 3) if a.encap_remote_port else (udp_delta == 0), (what, udp_delta)
                states = parse_ip_states(ip(pair.b.ns, "xfrm", "state"))
                assert all((s.line("encap") is not None) == (a.encap_remote_port is not None) for s in states), what
                counters = dp.counters(spec_a.spi_in)
                assert counters is not None
                assert counters.seq_out >= seq + 3 and counters.packets_in >= 3 * (i + 1), (what, counters)
                assert (counters.integrity_failures, counters.replay_drops, counters.other_drops) == (0, 0, 0)
                seq = counters.seq_out
            # the kernel opened all the last step sealed (its update re-adds
            # the states when the encapsulation changes: their counters restart)
            b_in = {s.spi: s for s in parse_ip_states(ip(pair.b.ns, "-s", "xfrm", "state"))}[spec_b.spi_in]
            assert b_in.packets == seq - before, (b_in.packets, seq, before)
        finally:
            loop.remove_reader(nat_t.fileno())
            dp.close()
            nat_t.close()

    asyncio.run(run())
