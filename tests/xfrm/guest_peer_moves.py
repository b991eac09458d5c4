"""KernelDataPlane.update() against a real kernel: runs INSIDE user-mode
Linux (tests/xfrm/test_peer_moves.py boots it; not collected on the host).

Two namespaces, A the gateway and B the client, ESP in UDP between them:
- B's NAT mapping changes (its ESP now leaves from another port and the
  old port is closed): A's update() rewrites both states' encapsulation in
  place (XFRM_MSG_UPDSA), traffic flows again, and the outbound state's
  sequence numbers carry on;
- B's address changes (MOBIKE): the states' ids change, so update() re-adds
  them with their sequence numbers and points the policy templates at the
  new address; traffic flows again and nothing of the old address is left.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import pytest

from esp.spec import ChildSaSpec

from .guestlib import (INNER_A, OUTER_B, SUITES, Pair, destroy_pair, in_uml, ip, make_pair, mirrored_specs, nsexec,
                       ping)

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

NEW_PORT = 4600
NEW_ADDR = "198.18.0.77"


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair("mv")
    try:
        yield p
    finally:
        destroy_pair(p)


def _connected(pair: Pair) -> tuple[ChildSaSpec, ChildSaSpec]:
    spec_a, spec_b = mirrored_specs(SUITES["gcm16"], encap=True)
    for side, spec in ((pair.a, spec_a), (pair.b, spec_b)):
        side.data_plane()
        side.attach()
        assert side.dp is not None
        side.dp.install(spec)
    ping(pair.b, INNER_A)
    return spec_a, spec_b


def _seq_out(pair: Pair, spec: ChildSaSpec) -> int:
    assert pair.a.dp is not None
    counters = pair.a.dp.counters(spec.spi_in)
    assert counters is not None
    return counters.seq_out


def test_a_new_nat_port_is_updated_in_place(pair: Pair) -> None:
    spec_a, spec_b = _connected(pair)
    sent = _seq_out(pair, spec_a)
    assert sent >= 3
    # B's ESP now leaves from NEW_PORT, and nothing listens on 4500 there any more
    assert pair.b.dp is not None and pair.b.nat_t is not None
    pair.b.nat_t.close()
    pair.b.nat_t = None
    pair.b.attach(NEW_PORT)
    moved_b = replace(spec_b, encap_local_port=NEW_PORT)
    pair.b.dp.update(spec_b, moved_b)
    assert ping(pair.b, INNER_A, count=2, check=False).returncode != 0  # A still answers the old port
    assert pair.a.dp is not None
    moved_a = replace(spec_a, encap_remote_port=NEW_PORT)
    pair.a.dp.update(spec_a, moved_a)
    ping(pair.b, INNER_A)
    assert f"sport 4500 dport {NEW_PORT}" in pair.a.xfrm_state().replace("\n", " ").replace("  ", " ")
    assert _seq_out(pair, moved_a) >= sent + 3  # the same state: its sequence numbers go on


def test_a_new_peer_address_re_adds_the_states_with_their_sequence_numbers(pair: Pair) -> None:
    spec_a, spec_b = _connected(pair)
    sent = _seq_out(pair, spec_a)
    # the new address outlives the old one (a secondary goes with its primary otherwise)
    nsexec(pair.b.ns, "sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1")
    ip(pair.b.ns, "addr", "add", f"{NEW_ADDR}/24", "dev", "eth0")
    assert pair.a.dp is not None and pair.b.dp is not None
    # B's ESP-in-UDP socket moves with it (a client binds anew on its new address)
    assert pair.b.nat_t is not None
    pair.b.nat_t.close()
    pair.b.outer = NEW_ADDR
    pair.b.attach()
    moved_b = replace(spec_b, local_address=NEW_ADDR)
    moved_a = replace(spec_a, remote_address=NEW_ADDR)
    pair.b.dp.update(spec_b, moved_b)
    pair.a.dp.update(spec_a, moved_a)
    ip(pair.b.ns, "addr", "del", f"{OUTER_B}/24", "dev", "eth0")
    result = ping(pair.b, INNER_A, check=False)
    assert result.returncode == 0, (result.stdout + "\nA:\n" + pair.a.xfrm_state() + pair.a.xfrm_policy()
                                    + ip(pair.a.ns, "route") + "\nB:\n" + pair.b.xfrm_state() + pair.b.xfrm_policy()
                                    + ip(pair.b.ns, "route"))
    states, policies = pair.a.xfrm_state(), pair.a.xfrm_policy()
    assert OUTER_B not in states and OUTER_B not in policies, states + policies
    assert NEW_ADDR in states and NEW_ADDR in policies
    assert _seq_out(pair, moved_a) >= sent + 3  # re-added where it left off: B's replay window takes it
    pair.a.dp.remove(moved_a)
    assert pair.a.xfrm_state().strip() == "" and pair.a.xfrm_policy().strip() == ""
