"""KernelDataPlane against a real kernel with ESP: runs INSIDE user-mode Linux
(tests/xfrm/test_kernel_dataplane.py boots it; not collected on the host).

Two namespaces, one KernelDataPlane each, mirrored SA pairs: traffic goes
through, counters move, iproute2 reads back what we encoded, removal leaves
nothing, expiry arrives as an Expiry, a failed install leaves nothing, a
rekey's overlapping pairs share policies and route.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import replace
from typing import Iterator

import pytest

from esp.dataplane import DataPlaneError, Expiry, SaCounters
from esp.kernel import default_lifetime
from esp.spec import ChildSaSpec
from esp.xfrm import consts as c
from esp.xfrm.algorithms import kernel_algs
from esp.xfrm.model import Lifetime, SaParams
from esp.xfrm.netlink import NetlinkChannel
from esp.xfrm.messages import RESPONSE_CLASSES
from esp.xfrm.netns import in_netns
from esp.xfrm.sa import add_sa, alloc_spi, get_sa

from .guestlib import (
    INNER_A,
    SUITES,
    Pair,
    destroy_pair,
    in_uml,
    ip,
    make_pair,
    mirrored_specs,
    parse_ip_policies,
    parse_ip_states,
    ping,
    udp_round_trip,
    wait_for,
)

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")
_tags = itertools.count(1)


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair(f"g{next(_tags)}")
    try:
        yield p
    finally:
        destroy_pair(p)


def _install(pair: Pair, spec_a: ChildSaSpec, spec_b: ChildSaSpec, encap: bool, **dp_args: object) -> None:
    for side, spec in ((pair.a, spec_a), (pair.b, spec_b)):
        dp = side.data_plane(**dp_args)  # type: ignore[arg-type]
        if encap:
            side.attach()
        dp.install(spec)


@pytest.mark.parametrize("encap", [False, True], ids=["esp", "esp-in-udp"])
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_traffic_counters_and_clean_removal(pair: Pair, suite: str, encap: bool) -> None:
    spec_a, spec_b = mirrored_specs(SUITES[suite], encap)
    _install(pair, spec_a, spec_b, encap)
    a, b = pair.a, pair.b
    assert a.dp is not None and b.dp is not None

    # iproute2 decodes what we encoded: endpoints, SPIs, mode, algorithms, keys, encap
    states = {s.spi: s for s in parse_ip_states(a.xfrm_state())}
    assert set(states) == {spec_a.spi_in, spec_a.spi_out}
    inbound, outbound = states[spec_a.spi_in], states[spec_a.spi_out]
    assert (inbound.src, inbound.dst, outbound.src, outbound.dst) == (b.outer, a.outer, a.outer, b.outer)
    assert inbound.mode == outbound.mode == "tunnel"
    assert inbound.reqid == outbound.reqid
    if suite == "gcm16":
        aead = inbound.line("aead")
        assert aead is not None and aead.startswith("aead rfc4106(gcm(aes)) 0x") and aead.endswith(" 128")
        key_ok = aead.split()[2] == "0x" + spec_a.encr_key_in.hex()  # key and salt, 36 bytes
        assert key_ok, "inbound AEAD key (with salt) differs from the spec's"
    else:
        auth, enc = inbound.line("auth-trunc"), inbound.line("enc")
        assert auth is not None and auth.startswith("auth-trunc hmac(sha512) 0x") and auth.endswith(" 256")
        assert enc is not None and enc.startswith("enc cbc(aes) 0x")
        keys_ok = (auth.split()[2] == "0x" + spec_a.integ_key_in.hex()
                   and enc.split()[2] == "0x" + spec_a.encr_key_in.hex())
        assert keys_ok, "inbound keys differ from the spec's"
    if encap:
        assert inbound.line("encap") == "encap type espinudp sport 4500 dport 4500 addr 0.0.0.0"
    else:
        assert inbound.line("encap") is None

    policies = parse_ip_policies(a.xfrm_policy())
    assert sorted(p.split("\n")[1].split()[1] for p in policies) == ["fwd", "in", "out"]
    out_policy = next(p for p in policies if "dir out" in p)
    assert out_policy.startswith("src 198.19.0.0/24 dst 198.19.0.200/32")
    assert f"tmpl src {a.outer} dst {b.outer}" in out_policy and "mode tunnel" in out_policy
    assert "198.19.0.200" in ip(a.ns, "route", "show", "198.19.0.200/32")

    # traffic both ways: ping from the client's virtual address, and UDP
    ping(b, INNER_A, count=3)
    assert udp_round_trip(b, a, b"x" * 1000) == b"x" * 1000

    ca, cb = a.dp.counters(spec_a.spi_in), b.dp.counters(spec_b.spi_in)
    assert ca is not None and cb is not None
    assert ca.packets_in >= 4 and ca.packets_out >= 4, ca
    assert cb.packets_in >= 4 and cb.packets_out >= 4, cb
    assert ca.bytes_in > 1000 and ca.bytes_out > 1000
    assert ca.packets_in == cb.packets_out and ca.packets_out == cb.packets_in  # nothing lost, nothing extra
    assert ca.seq_out == cb.seq_in_highest >= 4
    assert ca.replay_drops == ca.integrity_failures == 0
    assert ca.last_used is not None and ca.last_used >= ca.added_at - 1
    # `ip -s xfrm state` sees the same counts
    after = {s.spi: s for s in parse_ip_states(a.xfrm_state())}
    assert after[spec_a.spi_in].packets == ca.packets_in
    assert after[spec_a.spi_out].packets == ca.packets_out

    # remove: no state, no policy, no route left; traffic stops
    a.dp.remove(spec_a)
    b.dp.remove(spec_b)
    a.dp.remove(spec_a)  # absent: not an error
    for side in (a, b):
        assert parse_ip_states(side.xfrm_state()) == []
        assert side.xfrm_policy().strip() == ""
    assert ip(a.ns, "route", "show", "198.19.0.200/32").strip() == ""
    assert a.dp.counters(spec_a.spi_in) is None
    assert ping(b, INNER_A, count=1, check=False).returncode != 0


def test_soft_expiry_arrives_once_per_pair(pair: Pair) -> None:
    """A soft packet limit of 3: after five pings one soft Expiry for the pair,
    reason "packets", and the SAs are still there (soft means rekey, not gone)."""

    def small(spec: ChildSaSpec) -> Lifetime:
        return replace(default_lifetime(spec), soft_packets=3)

    spec_a, spec_b = mirrored_specs(SUITES["cbc-hmac-sha512"], encap=True)
    _install(pair, spec_a, spec_b, encap=True, lifetime=small)
    ping(pair.b, INNER_A, count=5)
    assert wait_for(lambda: len(pair.a.expiries) >= 1, timeout=5)
    wait_for(lambda: False, timeout=0.5)  # the pair's other SA expires too: it must not add a report
    assert pair.a.expiries == [Expiry(spi_in=spec_a.spi_in, hard=False, reason="packets")]
    assert pair.b.expiries == [Expiry(spi_in=spec_b.spi_in, hard=False, reason="packets")]
    assert len(parse_ip_states(pair.a.xfrm_state())) == 2


def test_hard_expiry_on_the_event_loop(pair: Pair) -> None:
    """Attached inside a running asyncio loop (as ikev2d does), the expire
    listener calls back on that loop; a hard byte limit removes the SA."""
    threads: list[int] = []

    def tiny(spec: ChildSaSpec) -> Lifetime:
        return Lifetime(soft_bytes=500, hard_bytes=2000)

    spec_a, spec_b = mirrored_specs(SUITES["gcm16"], encap=False)
    a, b = pair.a, pair.b
    b.data_plane().install(spec_b)
    dp = a.data_plane(lifetime=tiny)
    got: list[Expiry] = []
    final: list[SaCounters | None] = []

    async def scenario() -> None:
        sock = a.udp_socket(a.outer, 4500)
        try:
            def record(e: Expiry) -> None:
                threads.append(threading.get_ident())
                got.append(e)

            dp.attach(sock, record)
            dp.install(spec_a)
            # 1000-byte pings: the byte limits pass after two; the rest fail
            await asyncio.to_thread(ping, b, INNER_A, 4, False, 1000)
            for _ in range(100):
                if any(e.hard for e in got):
                    break
                await asyncio.sleep(0.05)
            # the kernel deleted the inbound SA at its hard limit; its counts
            # (two pings in) stay readable until the pair is removed
            final.append(dp.counters(spec_a.spi_in))
            dp.close()  # removes the reader from this loop
        finally:
            sock.close()

    asyncio.run(scenario())
    assert Expiry(spec_a.spi_in, hard=False, reason="bytes") in got
    assert Expiry(spec_a.spi_in, hard=True, reason="bytes") in got
    assert threads and set(threads) == {threading.get_ident()}  # asyncio.run's thread
    [counters] = final
    assert counters is not None and counters.packets_in == 2 and counters.bytes_in >= 2000, counters
    assert parse_ip_states(a.xfrm_state()) == [] or all(s.spi != spec_a.spi_in for s in parse_ip_states(a.xfrm_state()))
    a.dp = None  # closed above


def test_failed_install_leaves_nothing(pair: Pair) -> None:
    """A policy for the same selector already exists (not ours): install fails
    with EEXIST, both SAs it had added are gone, the foreign policy stays."""
    a = pair.a
    ip(a.ns, "xfrm", "policy", "add", "src", "198.19.0.0/24", "dst", "198.19.0.200/32", "dir", "out",
       "tmpl", "src", a.outer, "dst", pair.b.outer, "proto", "esp", "mode", "tunnel", "reqid", "7")
    spec_a, _ = mirrored_specs(SUITES["cbc-hmac-sha512"], encap=False)
    dp = a.data_plane()
    with pytest.raises(DataPlaneError, match="EEXIST"):
        dp.install(spec_a)
    assert parse_ip_states(a.xfrm_state()) == []
    assert len(parse_ip_policies(a.xfrm_policy())) == 1
    assert ip(a.ns, "route", "show", "198.19.0.200/32").strip() == ""
    assert dp.installed() == []


def test_close_removes_ours_and_spares_the_rest(pair: Pair) -> None:
    a = pair.a
    ip(a.ns, "xfrm", "state", "add", "src", a.outer, "dst", pair.b.outer, "proto", "esp", "spi", "0x7777",
       "reqid", "7", "mode", "tunnel", "enc", "cbc(aes)", "0x" + "11" * 32,
       "auth-trunc", "hmac(sha256)", "0x" + "22" * 32, "128")
    spec_a, _ = mirrored_specs(SUITES["gcm16"], encap=False)
    dp = a.data_plane()
    dp.install(spec_a)
    assert len(parse_ip_states(a.xfrm_state())) == 3
    dp.close()
    a.dp = None
    left = parse_ip_states(a.xfrm_state())
    assert [(s.spi, s.reqid) for s in left] == [(0x7777, 7)]
    assert a.xfrm_policy().strip() == ""


def test_alloc_spi_then_update() -> None:
    """ALLOCSPI picks an SPI in range and keeps a larval SA; UPDSA completes it
    and GETSA reads it back with its algorithms. In a namespace of its own."""
    from .guestlib import sh

    ns = "ikv-alloc"
    sh("ip", "netns", "add", ns)
    try:
        nl = in_netns(ns, lambda: NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES))
        with nl:
            spi = alloc_spi(nl, "198.18.0.2", "198.18.0.1", reqid=9, low=0xC0000000, high=0xC00000FF)
            assert 0xC0000000 <= spi <= 0xC00000FF
            assert f"spi 0x{spi:08x}" in ip(ns, "xfrm", "state")
            algs = tuple(kernel_algs(12, 14, bytes(32), bytes(64)))
            add_sa(nl, SaParams("198.18.0.2", "198.18.0.1", spi, 9, algs), update=True)
            state = get_sa(nl, "198.18.0.1", spi, "198.18.0.2")
            assert state is not None and state.reqid == 9
            assert state.alg_names == ("cbc(aes)", "hmac(sha512)")
            assert get_sa(nl, "198.18.0.1", spi + 0x1000) is None
    finally:
        sh("ip", "netns", "del", ns, check=False)


def test_ip_reads_ours_and_we_read_ips() -> None:
    """Cross-check the decoder: a state added by iproute2 reads back through
    GETSA with iproute2's values (lifetimes, encap, algorithms)."""
    from .guestlib import sh

    ns = "ikv-readback"
    sh("ip", "netns", "add", ns)
    try:
        ip(ns, "xfrm", "state", "add", "src", "198.18.0.2", "dst", "198.18.0.1", "proto", "esp", "spi", "0x4242",
           "reqid", "42", "mode", "tunnel", "aead", "rfc4106(gcm(aes))", "0x" + "33" * 36, "128",
           "encap", "espinudp", "4501", "4502", "0.0.0.0",
           "limit", "byte-soft", "1000", "limit", "packet-hard", "77", "limit", "time-hard", "600")
        nl = in_netns(ns, lambda: NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES))
        with nl:
            state = get_sa(nl, "198.18.0.1", 0x4242)
        assert state is not None
        assert (state.src, state.dst, state.reqid, state.mode) == ("198.18.0.2", "198.18.0.1", 42, c.XFRM_MODE_TUNNEL)
        assert state.alg_names == ("rfc4106(gcm(aes))",)
        assert state.encap is not None and (state.encap.sport, state.encap.dport) == (4501, 4502)
        assert state.lifetime.soft_bytes == 1000 and state.lifetime.hard_packets == 77
        assert state.lifetime.hard_add_seconds == 600
        assert state.lifetime.hard_bytes == c.XFRM_INF
    finally:
        sh("ip", "netns", "del", ns, check=False)


def test_rekeyed_pair_shares_policies_and_route(pair: Pair) -> None:
    """A rekey installs a new SA pair for the same traffic before the old one
    goes: one reqid, the policies and the route stay until the last pair is
    removed, and traffic moves to the new pair."""
    old_a, old_b = mirrored_specs(SUITES["gcm16"], encap=False)
    new_a, new_b = mirrored_specs(SUITES["gcm16"], encap=False)
    a, b = pair.a, pair.b
    dp_a, dp_b = a.data_plane(), b.data_plane()
    dp_a.install(old_a)
    dp_b.install(old_b)
    dp_a.install(new_a)
    dp_b.install(new_b)
    states = parse_ip_states(a.xfrm_state())
    assert len(states) == 4 and len({s.reqid for s in states}) == 1
    assert len(parse_ip_policies(a.xfrm_policy())) == 3

    dp_a.remove(old_a)
    dp_b.remove(old_b)
    assert len(parse_ip_policies(a.xfrm_policy())) == 3
    assert "198.19.0.200" in ip(a.ns, "route", "show", "198.19.0.200/32")
    ping(b, INNER_A, count=2)
    counters = dp_a.counters(new_a.spi_in)
    assert counters is not None and counters.packets_in >= 2 and counters.packets_out >= 2
    assert dp_a.counters(old_a.spi_in) is None

    dp_a.remove(new_a)
    dp_b.remove(new_b)
    assert a.xfrm_policy().strip() == "" and parse_ip_states(a.xfrm_state()) == []
    assert ip(a.ns, "route", "show", "198.19.0.200/32").strip() == ""
