"""`show ipv6 local pool NAME`: an IPv6 pool's start, prefix length and size,
its counts and the addresses in use. The ASA's own layout for this command
could not be confirmed (docs/ftd-behaviour.md, "IPv6 inside the tunnel"):
this one follows `show ip local pool`'s, with the prefix length where that
has the mask; the free addresses are counted, not listed (a pool may hold
thousands)."""

from __future__ import annotations

from typing import Any

from ..pool import Ipv6AddressPool

HEADER = "Begin                                     End                                       Prefix  Free   In use"


def snapshot(pool: Ipv6AddressPool) -> dict[str, Any]:
    """What the control socket answers: the pool now, as plain values."""
    in_use = [str(a) for a in pool.leases()]
    return {"name": pool.name, "begin": str(pool.start), "end": str(pool.last), "prefix_length": pool.prefix_length,
            "free": pool.free_count, "in_use": len(in_use), "in_use_addresses": in_use}


def render(values: dict[str, Any]) -> str:
    lines = [HEADER,
             f"{values['begin']:<42}{values['end']:<42}/{values['prefix_length']:<6}"
             f"{values['free']:>5}{values['in_use']:>9}",
             "", "In Use Addresses:", *values["in_use_addresses"]]
    return "\n".join(lines) + "\n"
