"""narrow_to_address: a TSi of the unspecified address alone (OpenIKED's
`from dynamic`) narrows to the assigned address, as a 0/0 TSi does."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from ikev2d.iana import TsType
from ikev2d.tasks.traffic_selectors import narrow_to_address
from ikev2d.wire.ts import TrafficSelector

VIP = IPv4Address("198.19.0.200")


def _v4(first: str, last: str) -> TrafficSelector:
    return TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, IPv4Address(first), IPv4Address(last))


def test_unspecified_address_narrows_to_the_assigned_one() -> None:
    assert narrow_to_address([_v4("0.0.0.0", "0.0.0.0")], VIP) == [_v4(str(VIP), str(VIP))]
    v6 = TrafficSelector(TsType.TS_IPV6_ADDR_RANGE, 0, 0, 65535, IPv6Address("::"), IPv6Address("::"))
    narrowed = narrow_to_address([v6], IPv6Address("2001:db8::5"))
    assert [(str(t.start_addr), str(t.end_addr)) for t in narrowed] == [("2001:db8::5", "2001:db8::5")]


def test_other_single_addresses_still_must_hold_the_assigned_one() -> None:
    assert narrow_to_address([_v4("198.18.0.2", "198.18.0.2")], VIP) == []
    assert narrow_to_address([_v4("0.0.0.0", "0.0.0.1")], VIP) == []
