"""Connection profile selection (ikev2d/tasks/profile_select.py): three
profiles with their own pools and group policies; each client lands where
the identity it sends says, proven by the address and DNS server (the
group policy's) it is given, and anything unknown lands in the default."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from ikev2d.conf import parse_config
from ikev2d.conf.errors import ConfigError
from ikev2d.core import Responder
from ikev2d.events import AuthSucceeded, ProfileSelected
from ikev2d.iana import IdType
from ikev2d.running_config import render_running_config
from ikev2d.settings import build_settings
from ikev2d.tasks.profile_select import SelectedBy, select_profile
from ikev2d.wire.payloads import IDi, IDr

from responder_harness import Harness, make_config

POOLS = """      range: 198.19.0.200-198.19.0.250
      mask: 255.255.255.0
    - name: Sales-Pool
      range: 198.19.1.10-198.19.1.20
      mask: 255.255.255.0
    - name: Eng-Pool
      range: 198.19.2.10-198.19.2.20
      mask: 255.255.255.0
"""
POLICIES = """      idle_timeout_minutes: 30
    - name: GP-Sales
      vpn_protocols: [ipsec-ikev2]
      dns_servers: [198.19.1.53]
    - name: GP-Eng
      vpn_protocols: [ipsec-ikev2]
      dns_servers: [198.19.2.53]
"""
PROFILES = """    enable_client_services: false
  - name: Sales
    identity_certificate: VPN-Identity
    address_pools: [Sales-Pool]
    group_policy: GP-Sales
    enable_client_services: false
  - name: Engineering
    ike_identity: eng.example.test
    identity_certificate: VPN-Identity
    address_pools: [Eng-Pool]
    group_policy: GP-Eng
    enable_client_services: false
"""
CCIE = (IPv4Network("198.19.0.0/24"), IPv4Address("198.19.0.53"), "GP-CCIElab")
SALES = (IPv4Network("198.19.1.0/24"), IPv4Address("198.19.1.53"), "GP-Sales")
# an IDr no profile presents, so only the IDi can pick
NOWHERE = "nowhere.example.test"
ENG = (IPv4Network("198.19.2.0/24"), IPv4Address("198.19.2.53"), "GP-Eng")


@pytest.fixture
def three(tmp_path: Path, pki_dir: Path) -> Harness:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      "      range: 198.19.0.200-198.19.0.250\n      mask: 255.255.255.0\n": POOLS,
                                      "      idle_timeout_minutes: 30\n": POLICIES,
                                      "    enable_client_services: false\n": PROFILES})
    return Harness(Responder(build_settings(config)))


def _lands_in(harness: Harness, n: int, expected: tuple, profile: str, by: str, **options) -> None:
    result = harness.client(n, **options).connect()
    pool, dns, policy = expected
    assert result.address in pool
    assert result.dns == [dns]
    auth = harness.events(AuthSucceeded)[-1]
    assert (auth.profile, auth.group_policy) == (profile, policy)
    chosen = harness.events(ProfileSelected)[-1]
    assert (chosen.profile, chosen.by) == (profile, by)
    sa = next(sa for sa in harness.responder.sas.values() if sa.remote[0] == f"198.18.0.{n}")
    assert sa.profile is not None and sa.profile.name == profile


@pytest.mark.parametrize("identity_type", [IdType.ID_KEY_ID, IdType.ID_FQDN])
def test_three_clients_land_in_the_profile_their_ike_identity_names(three: Harness, identity_type: int) -> None:
    _lands_in(three, 2, SALES, "Sales", "IKE identity", identity="Sales", identity_type=identity_type)
    _lands_in(three, 3, ENG, "Engineering", "IKE identity", identity="Engineering", identity_type=identity_type,
              responder_id="eng.example.test")
    _lands_in(three, 4, CCIE, "CCIElab", "default", username="bob", password="Lab-Passw0rd-2",
              responder_id=NOWHERE)


def test_the_identity_outranks_the_idr(three: Harness) -> None:
    # asks for Engineering's IDr but names Sales: the group name wins
    _lands_in(three, 2, SALES, "Sales", "IKE identity", identity="Sales", responder_id="eng.example.test")


def test_the_idr_asked_for_still_selects(three: Harness) -> None:
    _lands_in(three, 2, ENG, "Engineering", "requested IDr", responder_id="eng.example.test")


def test_an_unknown_group_name_gets_the_default_and_is_reported(three: Harness) -> None:
    _lands_in(three, 2, CCIE, "CCIElab", "default", identity="Marketing", responder_id=NOWHERE)
    assert three.events(ProfileSelected)[-1].unmatched == "Marketing"


def test_names_are_matched_exactly(three: Harness) -> None:
    # compared exactly (our choice: docs/ftd-behaviour.md, "Connection profile selection")
    _lands_in(three, 2, CCIE, "CCIElab", "default", identity="sales", responder_id=NOWHERE)


def test_an_unknown_group_name_is_reported_whatever_then_selects(three: Harness) -> None:
    _lands_in(three, 2, ENG, "Engineering", "requested IDr", identity="Marketing", responder_id="eng.example.test")
    assert three.events(ProfileSelected)[-1].unmatched == "Marketing"


def test_a_user_name_is_not_a_miss(three: Harness) -> None:
    _lands_in(three, 2, CCIE, "CCIElab", "default", identity="alice@example.test", responder_id=NOWHERE)
    assert three.events(ProfileSelected)[-1].unmatched is None


def test_identities_that_cannot_name_a_profile(three: Harness) -> None:
    settings = three.responder.settings
    for idi in (IDi(IdType.ID_IPV4_ADDR, bytes(4)), IDi(IdType.ID_KEY_ID, b"\xffSales"),
                IDi(IdType.ID_KEY_ID, b"Sales\n"), IDi(IdType.ID_DER_ASN1_DN, b"Sales")):
        assert select_profile(settings, idi, None).by is SelectedBy.DEFAULT


def test_a_group_url_is_no_configuration_key(three: Harness, tmp_path: Path) -> None:
    """A group URL selects a profile only for AnyConnect's aggregate
    authentication, which no IKEv2 client carries: the configuration does
    not take a key that nothing on the wire could use."""
    path = tmp_path / "ikev2d.yaml"
    text = path.read_text().replace("    address_pools: [Eng-Pool]\n",
                                    "    address_pools: [Eng-Pool]\n    group_urls: [https://vpn.example.test/eng]\n")
    with pytest.raises(ConfigError, match="group_urls"):
        parse_config(text, path)
