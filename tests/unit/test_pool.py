"""IPAA local pools: lowest free address first (as the whitepaper's
"Client assigned 172.31.1.205 from local pool VPN-Pool" sequence shows), one
owner per address, None when exhausted."""

from __future__ import annotations

from ipaddress import IPv4Address as A

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from ikev2d.conf.model import Ipv4Pool
from ikev2d.pool import AddressPool, PoolSet

MASK = A("255.255.255.0")


def vpn_pool() -> AddressPool:
    return AddressPool("VPN-Pool", A("198.19.0.200"), A("198.19.0.250"), MASK)


def test_lowest_free_address_first() -> None:
    pool = vpn_pool()
    assert pool.allocate("s1") == A("198.19.0.200")
    assert pool.allocate("s2") == A("198.19.0.201")
    assert pool.allocate("s3") == A("198.19.0.202")
    assert pool.release(A("198.19.0.201"))
    # The freed address is the lowest free one, so it is the next given.
    assert pool.allocate("s4") == A("198.19.0.201")
    assert pool.allocate("s5") == A("198.19.0.203")


def test_counts_and_owner() -> None:
    pool = vpn_pool()
    assert (pool.size, pool.in_use, pool.free_count) == (51, 0, 51)
    address = pool.allocate("alice")
    assert address is not None
    assert pool.owner_of(address) == "alice"
    assert (pool.in_use, pool.free_count) == (1, 50)
    assert pool.release(address)
    assert pool.owner_of(address) is None
    assert (pool.in_use, pool.free_count) == (0, 51)


def test_same_owner_gets_the_same_address() -> None:
    # A retransmitted request must not leak a second lease.
    pool = vpn_pool()
    first = pool.allocate("s1")
    assert pool.allocate("s1") == first
    assert pool.in_use == 1


def test_exhaustion_returns_none_until_a_release() -> None:
    pool = AddressPool("tiny", A("10.0.0.1"), A("10.0.0.2"), MASK)
    assert pool.allocate("a") == A("10.0.0.1")
    assert pool.allocate("b") == A("10.0.0.2")
    assert pool.allocate("c") is None
    assert pool.free_count == 0
    assert pool.release(A("10.0.0.2"))
    assert pool.allocate("c") == A("10.0.0.2")


def test_release_of_unknown_or_foreign_address() -> None:
    pool = vpn_pool()
    assert pool.release(A("198.19.0.200")) is False  # never leased
    assert pool.release(A("10.0.0.1")) is False  # not in the pool
    address = pool.allocate("a")
    assert address is not None
    assert pool.release(address) is True
    assert pool.release(address) is False  # twice


def test_network_and_broadcast_addresses_are_never_given() -> None:
    pool = AddressPool("edge", A("10.0.0.0"), A("10.0.0.255"), MASK)
    assert pool.size == 254
    assert pool.allocate("a") == A("10.0.0.1")
    assert A("10.0.0.255") not in pool and A("10.0.0.254") in pool
    # /31 (RFC 3021) and /32 have no network or broadcast address to skip.
    p31 = AddressPool("p2p", A("10.0.0.0"), A("10.0.0.1"), A("255.255.255.254"))
    assert p31.size == 2 and p31.allocate("a") == A("10.0.0.0")


def test_constructor_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError):
        AddressPool("rev", A("10.0.0.9"), A("10.0.0.1"), MASK)
    with pytest.raises(ValueError):
        AddressPool("wide", A("10.0.0.9"), A("10.0.1.1"), MASK)


def test_from_config() -> None:
    pool = AddressPool.from_config(Ipv4Pool("VPN-Pool", A("198.19.0.200"), A("198.19.0.250"), MASK))
    assert (pool.name, pool.size, pool.mask) == ("VPN-Pool", 51, MASK)


def test_pool_set_tries_pools_in_order() -> None:
    first = AddressPool("one", A("10.0.0.1"), A("10.0.0.1"), MASK)
    second = AddressPool("two", A("10.0.1.1"), A("10.0.1.2"), MASK)
    pools = PoolSet([first, second])
    assert pools.allocate("a") == (first, A("10.0.0.1"))
    assert pools.allocate("b") == (second, A("10.0.1.1"))
    assert pools.allocate("a") == (first, A("10.0.0.1"))  # already holds one
    assert pools.allocate("c") == (second, A("10.0.1.2"))
    assert pools.allocate("d") is None
    assert pools.owner_of(A("10.0.1.1")) == "b"
    assert pools.release(A("10.0.0.1"))
    assert not pools.release(A("10.0.0.1"))
    assert pools.allocate("d") == (first, A("10.0.0.1"))
    assert pools.pool_of(A("10.0.1.2")) is second and pools.pool_of(A("10.9.9.9")) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 15)), max_size=120))
def test_random_allocate_release_keeps_one_owner_per_address(ops: list[tuple[bool, int]]) -> None:
    pool = AddressPool("p", A("10.0.0.10"), A("10.0.0.19"), MASK)
    model: dict[str, A] = {}
    for allocate, who in ops:
        owner = f"s{who}"
        if allocate:
            got = pool.allocate(owner)
            if owner in model:
                assert got == model[owner]
            elif len(model) == pool.size:
                assert got is None
            else:
                assert got is not None and got not in model.values()
                # lowest free: nothing lower is free
                free_lower = [
                    A(v) for v in range(int(A("10.0.0.10")), int(got))
                    if A(v) not in model.values()
                ]
                assert free_lower == []
                model[owner] = got
        elif owner in model:
            assert pool.release(model.pop(owner))
    assert pool.leases() == {a: o for o, a in sorted(model.items(), key=lambda x: x[1])}
    assert pool.in_use + pool.free_count == pool.size


class PoolSetMachine(RuleBasedStateMachine):
    """Two pools behind a PoolSet: no address ever has two owners."""

    leased = Bundle("leased")

    def __init__(self) -> None:
        super().__init__()
        self.pools = PoolSet(
            [
                AddressPool("a", A("10.0.0.1"), A("10.0.0.3"), MASK),
                AddressPool("b", A("10.0.1.1"), A("10.0.1.2"), MASK),
            ]
        )
        self.owners: dict[A, str] = {}
        self.counter = 0

    @rule(target=leased)
    def allocate(self) -> A | None:
        self.counter += 1
        owner = f"s{self.counter}"
        got = self.pools.allocate(owner)
        if got is None:
            assert len(self.owners) == 5
            return None
        _, address = got
        assert address not in self.owners
        self.owners[address] = owner
        return address

    @rule(target=leased, last=st.integers(0, 4), network=st.sampled_from(["10.0.0", "10.0.1"]))
    def claim(self, last: int, network: str) -> A | None:
        """A AAA-assigned address (Framed-IP-Address): taken only when a
        pool holds it and nobody has it."""
        self.counter += 1
        owner, address = f"s{self.counter}", A(f"{network}.{last}")
        in_a_pool = (network == "10.0.0" and 1 <= last <= 3) or (network == "10.0.1" and 1 <= last <= 2)
        expected = in_a_pool and address not in self.owners
        assert (self.pools.claim(owner, address) is not None) is expected
        if not expected:
            return None
        self.owners[address] = owner
        return address

    @rule(address=leased)
    def release(self, address: A | None) -> None:
        if address is None:
            return
        expected = address in self.owners
        assert self.pools.release(address) is expected
        self.owners.pop(address, None)

    @invariant()
    def free_counts_add_up(self) -> None:
        assert self.pools.free_count == 5 - len(self.owners)

    @invariant()
    def one_owner_each(self) -> None:
        for address, owner in self.owners.items():
            assert self.pools.owner_of(address) == owner
        assert self.pools.free_count == 5 - len(self.owners)


TestPoolSetMachine = PoolSetMachine.TestCase
TestPoolSetMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
