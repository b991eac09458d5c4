"""Connection profile selection with real strongSwan 5.9 clients: three
profiles, each with its own pool and group policy; a client sending a
profile's name as its IKE identity (key-id or FQDN) lands in that profile,
one sending its user name or a group no profile has lands in the default.
Proven by the address each gets (from its profile's pool) and by the tunnel
and group policy `show vpn-sessiondb ra-ikev2-ipsec` reports."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from lab.swanctl_conf import DEFAULT_USERS

from .checks import assert_healthy, assert_initiated, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

POOLS = {"Sales-Pool": "198.19.1.10-198.19.1.20", "Eng-Pool": "198.19.2.10-198.19.2.20"}
DEFAULT = "CCIElab"
EXPECTED = {  # profile: (its pool's network, its group policy)
    DEFAULT: ("198.19.0.0/24", "GP-CCIElab"),
    "Sales": ("198.19.1.0/24", "GP-Sales"),
    "Engineering": ("198.19.2.0/24", "GP-Eng"),
}


def three_profiles(cfg: dict[str, Any]) -> None:
    objects = cfg["objects"]
    objects["ipv4_pools"] += [{"name": n, "range": r, "mask": "255.255.255.0"} for n, r in POOLS.items()]
    objects["group_policies"] += [{"name": gp, "vpn_protocols": ["ipsec-ikev2"]} for gp in ("GP-Sales", "GP-Eng")]
    (ccie,) = cfg["connection_profiles"]
    for name, pool, gp in (("Sales", "Sales-Pool", "GP-Sales"), ("Engineering", "Eng-Pool", "GP-Eng")):
        cfg["connection_profiles"].append(dict(ccie, name=name, address_pools=[pool], group_policy=gp))


def sessions(server) -> dict[str, dict]:
    result = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
    assert result.returncode == 0, result.stderr
    return {s["assigned_ip"]: s for s in json.loads(result.stdout)["sessions"]}


def test_three_clients_land_in_the_profiles_their_identities_name(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server(edit=three_profiles)
    wanted = [  # (client's IDi, profile it must land in)
        ("keyid:Sales", "Sales"),
        ("Engineering", "Engineering"),  # strongSwan sends a bare name as an FQDN
        ("", DEFAULT),  # the user name, as strongSwan sends by default
        ("keyid:Marketing", DEFAULT),  # a group no profile has
    ]
    # two users, so the group policies' three simultaneous logins are never reached
    users = ["alice", "bob", "alice", "bob"]
    clients = [client(i, ike_id=ike_id, identity=user, password=DEFAULT_USERS[user])
               for i, ((ike_id, _), user) in enumerate(zip(wanted, users))]
    for charon in clients:
        assert_initiated(charon.initiate(timeout=10), charon)
    by_address = sessions(server)
    assert len(by_address) == len(wanted), by_address
    for charon, (ike_id, profile) in zip(clients, wanted):
        (sa,) = charon.list_sas()
        (vip,) = sa.local_vips
        network, policy = EXPECTED[profile]
        assert ipaddress.ip_address(vip) in ipaddress.ip_network(network), (ike_id, vip)
        session = by_address[vip]
        assert (session["tunnel_group"], session["group_policy"]) == (profile, policy), (ike_id, session)
    log = server.log()
    assert "connection profile Sales selected by IKE identity" in log, tail(log)
    assert "connection profile Engineering selected by IKE identity" in log, tail(log)
    assert "no connection profile is named 'Marketing'" in log, tail(log)
    assert_healthy(server)
