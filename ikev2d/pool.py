"""Address pools (IPAA): `ip local pool NAME FIRST-LAST mask MASK` and
`ipv6 local pool NAME START/LEN NUMBER`.

Like the ASA, a pool hands out its lowest free address, so a freed address
is the next one given. No I/O and no clock: leases live until released.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, summarize_address_range
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar

from .conf.model import Ipv4Pool, Ipv6Pool

A = TypeVar("A", IPv4Address, IPv6Address)
P = TypeVar("P", bound="_Leases[Any]")


class _Leases(Generic[A]):
    """The leases of a range of addresses `_low`..`_high`: the lowest free
    address first (a freed one is the next given), one address an owner.
    An IPv4 and an IPv6 pool differ only in how their range is made."""

    _kind: Callable[[int], A]
    name: str

    def _start_leasing(self, low: int, high: int) -> None:
        self._low, self._high = low, high
        self._next = low  # lowest address never handed out yet
        self._freed: list[int] = []  # min-heap of released addresses below _next
        self._owner_by_address: dict[int, str] = {}
        self._address_by_owner: dict[str, int] = {}

    @property
    def size(self) -> int:
        return max(0, self._high - self._low + 1)

    @property
    def in_use(self) -> int:
        return len(self._owner_by_address)

    @property
    def free_count(self) -> int:
        return self.size - self.in_use

    def __contains__(self, address: object) -> bool:
        # an address of the other family is never in the pool, whatever its number
        return isinstance(address, (IPv4Address, IPv6Address)) and type(address) is self._kind \
            and self._low <= int(address) <= self._high

    def allocate(self, owner: str, prefer: A | None = None) -> A | None:
        """The lowest free address for `owner` (or `prefer`, if it was freed
        and is free still), or None when the pool is exhausted.

        Asking again for the same owner returns its address rather than a
        second one: a retransmitted request must not leak a lease.
        """
        held = self._address_by_owner.get(owner)
        if held is not None:
            return self._kind(held)
        if prefer is not None and int(prefer) in self._freed:
            # a client that reconnects gets back the address it had
            value = int(prefer)
            self._freed.remove(value)
            heapq.heapify(self._freed)
        elif self._freed:
            value = heapq.heappop(self._freed)
        elif self._next <= self._high:
            value = self._next
            self._next += 1
        else:
            return None
        self._owner_by_address[value] = owner
        self._address_by_owner[owner] = value
        return self._kind(value)

    def claim(self, owner: str, address: A) -> bool:
        """Lease exactly `address` to `owner` (one a AAA server assigned),
        if it is in the pool and free; False otherwise. `owner`'s own
        address stays its own."""
        value = int(address)
        if self._address_by_owner.get(owner) == value:
            return True
        if owner in self._address_by_owner or address not in self or value in self._owner_by_address:
            return False
        if value >= self._next:
            # the addresses skipped over become free ones below _next (at most the pool's size)
            for skipped in range(self._next, value):
                heapq.heappush(self._freed, skipped)
            self._next = value + 1
        else:
            self._freed.remove(value)
            heapq.heapify(self._freed)
        self._owner_by_address[value] = owner
        self._address_by_owner[owner] = value
        return True

    def addresses(self) -> Iterator[A]:
        """Every address the pool hands out, lowest first."""
        return (self._kind(v) for v in range(self._low, self._high + 1))

    def blocks(self) -> list[IPv4Network | IPv6Network]:
        """The fewest networks that hold exactly the addresses handed out
        (the data plane routes them to its TUN device once, not per client)."""
        if self._high < self._low:
            return []
        return list(summarize_address_range(self._kind(self._low), self._kind(self._high)))

    def release(self, address: A) -> bool:
        """Free an address; False if it was not leased from this pool."""
        value = int(address)
        owner = self._owner_by_address.pop(value, None)
        if owner is None:
            return False
        del self._address_by_owner[owner]
        heapq.heappush(self._freed, value)
        return True

    def owner_of(self, address: A) -> str | None:
        return self._owner_by_address.get(int(address))

    def address_of(self, owner: str) -> A | None:
        value = self._address_by_owner.get(owner)
        return None if value is None else self._kind(value)

    def leases(self) -> dict[A, str]:
        """A copy of the current leases, address -> owner, lowest address first."""
        return {self._kind(a): o for a, o in sorted(self._owner_by_address.items())}


class AddressPool(_Leases[IPv4Address]):
    """`ip local pool NAME FIRST-LAST mask MASK`."""

    _kind = IPv4Address

    def __init__(self, name: str, first: IPv4Address, last: IPv4Address, mask: IPv4Address) -> None:
        if first > last:
            raise ValueError(f"pool {name}: {first} comes after {last}")
        network = IPv4Network(f"{first}/{mask}", strict=False)
        if last not in network:
            raise ValueError(f"pool {name}: {first}-{last} does not fit in {network}")
        self.name = name
        self.first = first
        self.last = last
        self.mask = mask
        self.network = network
        # A client given its subnet's network or broadcast address could not
        # use it as a host address on that subnet, so those two are never
        # handed out (a /31 or /32 has neither).
        low, high = int(first), int(last)
        if network.prefixlen <= 30:
            low = max(low, int(network.network_address) + 1)
            high = min(high, int(network.broadcast_address) - 1)
        self._start_leasing(low, high)

    @classmethod
    def from_config(cls, pool: Ipv4Pool) -> AddressPool:
        return cls(pool.name, pool.first, pool.last, pool.mask)

    def __repr__(self) -> str:
        return (
            f"AddressPool({self.name!r}, {self.first}-{self.last} mask {self.mask},"
            f" {self.in_use}/{self.size} in use)"
        )


class Ipv6AddressPool(_Leases[IPv6Address]):
    """`ipv6 local pool NAME START/LEN NUMBER`: NUMBER addresses from START,
    each handed out with prefix length LEN (what INTERNAL_IP6_ADDRESS
    carries beside it, RFC 7296 §3.15.1). The prefix's all-zero address
    (the Subnet-Router anycast address, RFC 4291 §2.6.1) is never handed out."""

    _kind = IPv6Address

    def __init__(self, name: str, start: IPv6Address, prefix_length: int, number: int) -> None:
        if number < 1:
            raise ValueError(f"pool {name}: {number} addresses")
        network = IPv6Network(f"{start}/{prefix_length}", strict=False)
        low, high = int(start), int(start) + number - 1
        if high > int(network.broadcast_address):
            raise ValueError(f"pool {name}: {number} addresses from {start} do not fit in {network}")
        if prefix_length < 127 and low == int(network.network_address):
            low += 1
        self.name = name
        self.start = start
        self.prefix_length = prefix_length
        self.number = number
        self.network = network
        self._start_leasing(low, high)

    @classmethod
    def from_config(cls, pool: Ipv6Pool) -> Ipv6AddressPool:
        return cls(pool.name, pool.start, pool.prefix_length, pool.number)

    @property
    def last(self) -> IPv6Address:
        return IPv6Address(self._high)

    def __repr__(self) -> str:
        return (f"Ipv6AddressPool({self.name!r}, {self.start}/{self.prefix_length} {self.number},"
                f" {self.in_use}/{self.size} in use)")


class PoolSet(Generic[P]):
    """A connection profile's pools of one family, tried in the order the profile lists them."""

    def __init__(self, pools: Sequence[P]) -> None:
        self.pools = tuple(pools)

    def allocate(self, owner: str, prefer: Any = None) -> tuple[P, Any] | None:
        for pool in self.pools:
            held = pool.address_of(owner)
            if held is not None:
                return pool, held
        for pool in sorted(self.pools, key=lambda p: prefer not in p):  # prefer's pool first
            address = pool.allocate(owner, prefer)
            if address is not None:
                return pool, address
        return None

    def claim(self, owner: str, address: Any) -> P | None:
        """Lease exactly `address` from whichever pool holds it, if free."""
        pool = self.pool_of(address)
        return pool if pool is not None and pool.claim(owner, address) else None

    def release(self, address: Any) -> bool:
        return any(pool.release(address) for pool in self.pools)

    def owner_of(self, address: Any) -> str | None:
        for pool in self.pools:
            owner = pool.owner_of(address)
            if owner is not None:
                return owner
        return None

    def pool_of(self, address: Any) -> P | None:
        return next((pool for pool in self.pools if address in pool), None)

    @property
    def free_count(self) -> int:
        return sum(p.free_count for p in self.pools)


Ipv4PoolSet = PoolSet[AddressPool]
Ipv6PoolSet = PoolSet[Ipv6AddressPool]
