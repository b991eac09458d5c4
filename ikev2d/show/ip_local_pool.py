"""`show ip local pool NAME`: an address pool's range, counts and the
addresses free and in use, in the ASA's layout (column widths from real
ASA output kept as parser test data by Cisco's genieparser, `show ip local
pool {pool}`; docs/ftd-behaviour.md, "show commands")."""

from __future__ import annotations

from typing import Any

from ..pool import AddressPool

HEADER = "Begin           End             Mask            Free     Held     In use"


def snapshot(pool: AddressPool) -> dict[str, Any]:
    """What the control socket answers: the pool now, as plain values."""
    in_use = sorted(pool.leases())
    taken = {int(a) for a in in_use}
    free = [str(a) for a in pool.addresses() if int(a) not in taken]
    return {"name": pool.name, "begin": str(pool.first), "end": str(pool.last), "mask": str(pool.mask),
            "free": len(free), "held": 0, "in_use": len(in_use),
            "available_addresses": free, "in_use_addresses": [str(a) for a in in_use]}


def render(values: dict[str, Any]) -> str:
    lines = [HEADER,
             f"{values['begin']:<16}{values['end']:<16}{values['mask']:<16}"
             f"{values['free']:>5}{values['held']:>9}{values['in_use']:>9}",
             "", "Available Addresses:", *values["available_addresses"],
             "", "In Use Addresses:", *values["in_use_addresses"]]
    return "\n".join(lines) + "\n"
