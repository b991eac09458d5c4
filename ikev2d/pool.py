"""Address pools (IPAA): `ip local pool NAME FIRST-LAST mask MASK` and
`ipv6 local pool NAME START/LEN NUMBER`.

Like the ASA, a pool hands out its lowest free address, so a freed address
is the next one given. No I/O and no clock: leases live until released.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Iterator, Sequence

from .conf.model import Ipv4Pool, Ipv6Pool


class AddressPool:
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
        self._low, self._high = low, high
        self._next = low  # lowest address never handed out yet
        self._freed: list[int] = []  # min-heap of released addresses below _next
        self._owner_by_address: dict[int, str] = {}
        self._address_by_owner: dict[str, int] = {}

    @classmethod
    def from_config(cls, pool: Ipv4Pool) -> AddressPool:
        return cls(pool.name, pool.first, pool.last, pool.mask)

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
        return isinstance(address, IPv4Address) and self._low <= int(address) <= self._high

    def allocate(self, owner: str, prefer: IPv4Address | None = None) -> IPv4Address | None:
        """The lowest free address for `owner` (or `prefer`, if it was freed
        and is free still), or None when the pool is exhausted.

        Asking again for the same owner returns its address rather than a
        second one: a retransmitted request must not leak a lease.
        """
        held = self._address_by_owner.get(owner)
        if held is not None:
            return IPv4Address(held)
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
        return IPv4Address(value)

    def claim(self, owner: str, address: IPv4Address) -> bool:
        """Lease exactly `address` to `owner` (one a AAA server assigned),
        if it is in the pool and free; False otherwise. `owner`'s own
        address stays its own."""
        value = int(address)
        if self._address_by_owner.get(owner) == value:
            return True
        if owner in self._address_by_owner or address not in self or value in self._owner_by_address:
            return False
        if value >= self._next:
            # the addresses skipped over become free ones below _next
            for skipped in range(self._next, value):
                heapq.heappush(self._freed, skipped)
            self._next = value + 1
        else:
            self._freed.remove(value)
            heapq.heapify(self._freed)
        self._owner_by_address[value] = owner
        self._address_by_owner[owner] = value
        return True

    def addresses(self) -> Iterator[IPv4Address]:
        """Every address the pool hands out, lowest first."""
        return (IPv4Address(v) for v in range(self._low, self._high + 1))

    def release(self, address: IPv4Address) -> bool:
        """Free an address; False if it was not leased from this pool."""
        value = int(address)
        owner = self._owner_by_address.pop(value, None)
        if owner is None:
            return False
        del self._address_by_owner[owner]
        heapq.heappush(self._freed, value)
        return True

    def owner_of(self, address: IPv4Address) -> str | None:
        return self._owner_by_address.get(int(address))

    def address_of(self, owner: str) -> IPv4Address | None:
        value = self._address_by_owner.get(owner)
        return None if value is None else IPv4Address(value)

    def leases(self) -> dict[IPv4Address, str]:
        """A copy of the current leases, address -> owner, lowest address first."""
        return {IPv4Address(a): o for a, o in sorted(self._owner_by_address.items())}

    def __repr__(self) -> str:
        return (
            f"AddressPool({self.name!r}, {self.first}-{self.last} mask {self.mask},"
            f" {self.in_use}/{self.size} in use)"
        )


class PoolSet:
    """A connection profile's pools, tried in the order the profile lists them."""

    def __init__(self, pools: Sequence[AddressPool]) -> None:
        self.pools = tuple(pools)

    def allocate(self, owner: str, prefer: IPv4Address | None = None) -> tuple[AddressPool, IPv4Address] | None:
        for pool in self.pools:
            held = pool.address_of(owner)
            if held is not None:
                return pool, held
        for pool in sorted(self.pools, key=lambda p: prefer not in p):  # prefer's pool first
            address = pool.allocate(owner, prefer)
            if address is not None:
                return pool, address
        return None

    def claim(self, owner: str, address: IPv4Address) -> AddressPool | None:
        """Lease exactly `address` from whichever pool holds it, if free."""
        pool = self.pool_of(address)
        return pool if pool is not None and pool.claim(owner, address) else None

    def release(self, address: IPv4Address) -> bool:
        for pool in self.pools:
            if pool.release(address):
                return True
        return False

    def owner_of(self, address: IPv4Address) -> str | None:
        for pool in self.pools:
            owner = pool.owner_of(address)
            if owner is not None:
                return owner
        return None

    def pool_of(self, address: IPv4Address) -> AddressPool | None:
        for pool in self.pools:
            if address in pool:
                return pool
        return None

    @property
    def free_count(self) -> int:
        return sum(p.free_count for p in self.pools)


class Ipv6AddressPool:
    """`ipv6 local pool NAME START/LEN NUMBER`: NUMBER addresses from START,
    each handed out with prefix length LEN (what INTERNAL_IP6_ADDRESS
    carries beside it, RFC 7296 §3.15.1). The lowest free address first,
    as the IPv4 pool does; the prefix's all-zero address (the
    Subnet-Router anycast address, RFC 4291 §2.6.1) is never handed out."""

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
        self._low, self._high = low, high
        self._next = low
        self._freed: list[int] = []
        self._owner_by_address: dict[int, str] = {}
        self._address_by_owner: dict[str, int] = {}

    @classmethod
    def from_config(cls, pool: Ipv6Pool) -> Ipv6AddressPool:
        return cls(pool.name, pool.start, pool.prefix_length, pool.number)

    @property
    def last(self) -> IPv6Address:
        return IPv6Address(self._high)

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
        return isinstance(address, IPv6Address) and self._low <= int(address) <= self._high

    def allocate(self, owner: str, prefer: IPv6Address | None = None) -> IPv6Address | None:
        """As AddressPool.allocate: the lowest free address (or `prefer`,
        freed and free still); the same one again for the same owner;
        None when the pool is exhausted."""
        held = self._address_by_owner.get(owner)
        if held is not None:
            return IPv6Address(held)
        if prefer is not None and int(prefer) in self._freed:
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
        return IPv6Address(value)

    def claim(self, owner: str, address: IPv6Address) -> bool:
        """Lease exactly `address` (one a AAA server assigned) if it is in
        the pool and free; False otherwise."""
        value = int(address)
        if self._address_by_owner.get(owner) == value:
            return True
        if owner in self._address_by_owner or address not in self or value in self._owner_by_address:
            return False
        if value >= self._next:
            for skipped in range(self._next, value):  # at most the pool's size
                heapq.heappush(self._freed, skipped)
            self._next = value + 1
        else:
            self._freed.remove(value)
            heapq.heapify(self._freed)
        self._owner_by_address[value] = owner
        self._address_by_owner[owner] = value
        return True

    def release(self, address: IPv6Address) -> bool:
        value = int(address)
        owner = self._owner_by_address.pop(value, None)
        if owner is None:
            return False
        del self._address_by_owner[owner]
        heapq.heappush(self._freed, value)
        return True

    def owner_of(self, address: IPv6Address) -> str | None:
        return self._owner_by_address.get(int(address))

    def address_of(self, owner: str) -> IPv6Address | None:
        value = self._address_by_owner.get(owner)
        return None if value is None else IPv6Address(value)

    def leases(self) -> dict[IPv6Address, str]:
        return {IPv6Address(a): o for a, o in sorted(self._owner_by_address.items())}

    def __repr__(self) -> str:
        return (f"Ipv6AddressPool({self.name!r}, {self.start}/{self.prefix_length} {self.number},"
                f" {self.in_use}/{self.size} in use)")


class Ipv6PoolSet:
    """A connection profile's IPv6 pools, tried in the order it lists them."""

    def __init__(self, pools: Sequence[Ipv6AddressPool]) -> None:
        self.pools = tuple(pools)

    def allocate(self, owner: str, prefer: IPv6Address | None = None) -> tuple[Ipv6AddressPool, IPv6Address] | None:
        for pool in self.pools:
            held = pool.address_of(owner)
            if held is not None:
                return pool, held
        for pool in sorted(self.pools, key=lambda p: prefer not in p):
            address = pool.allocate(owner, prefer)
            if address is not None:
                return pool, address
        return None

    def claim(self, owner: str, address: IPv6Address) -> Ipv6AddressPool | None:
        pool = self.pool_of(address)
        return pool if pool is not None and pool.claim(owner, address) else None

    def release(self, address: IPv6Address) -> bool:
        return any(pool.release(address) for pool in self.pools)

    def pool_of(self, address: IPv6Address) -> Ipv6AddressPool | None:
        return next((pool for pool in self.pools if address in pool), None)

    @property
    def free_count(self) -> int:
        return sum(p.free_count for p in self.pools)
