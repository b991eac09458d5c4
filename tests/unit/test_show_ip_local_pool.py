"""`show ip local pool NAME` in the ASA's layout: the header and columns of
a real ASA's output (kept by Cisco's genieparser as its parser's golden
output), the free addresses, then those in use."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from ikev2d.commands.show import IP_LOCAL_POOL, CommandError, resolve
from ikev2d.pool import AddressPool
from ikev2d.show import ip_local_pool

# an ASA's answer for a /30 pool of four with two in use (genieparser's golden output)
ASA = """\
Begin           End             Mask            Free     Held     In use
192.168.1.144   192.168.1.147   255.255.255.252     2        0        2

Available Addresses:
192.168.1.145
192.168.1.146

In Use Addresses:
192.168.1.144
192.168.1.147
"""


def test_the_layout_is_the_asas() -> None:
    values = {"name": "test1", "begin": "192.168.1.144", "end": "192.168.1.147", "mask": "255.255.255.252",
              "free": 2, "held": 0, "in_use": 2, "available_addresses": ["192.168.1.145", "192.168.1.146"],
              "in_use_addresses": ["192.168.1.144", "192.168.1.147"]}
    assert ip_local_pool.render(values) == ASA


def test_a_pool_as_it_stands() -> None:
    pool = AddressPool("VPN-Pool", IPv4Address("198.19.0.200"), IPv4Address("198.19.0.204"),
                       IPv4Address("255.255.255.0"))
    pool.allocate("0x00006000")
    pool.claim("0x00006001", IPv4Address("198.19.0.203"))
    values = ip_local_pool.snapshot(pool)
    assert (values["free"], values["held"], values["in_use"]) == (3, 0, 2)
    assert values["in_use_addresses"] == ["198.19.0.200", "198.19.0.203"]
    assert values["available_addresses"] == ["198.19.0.201", "198.19.0.202", "198.19.0.204"]
    text = ip_local_pool.render(values)
    assert text.splitlines()[1] == "198.19.0.200    198.19.0.204    255.255.255.0       3        0        2"


def test_the_words() -> None:
    assert resolve("ip local pool VPN-Pool".split()) == IP_LOCAL_POOL
    assert resolve("ip loc po VPN-Pool".split()) == IP_LOCAL_POOL
    with pytest.raises(CommandError, match="Incomplete"):
        resolve("ip local pool".split())
