"""The configuration loader on good input: the whitepaper's values, FTD
defaults where the file is silent, and the lookups the daemon uses."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ikev2d.conf import Config, ConfigError, load_config, parse_config
from ikev2d.conf.algorithms import FIXED_KEY_LENGTH
from ikev2d.iana import DhId, EapType, EncrId, IntegId, PrfId

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "ikev2d.yaml"
DATA = Path(__file__).resolve().parent / "data" / "config"
MINIMAL = DATA / "minimal.yaml"


@pytest.fixture(scope="module")
def whitepaper() -> Config:
    return load_config(DEFAULT)


@pytest.fixture(scope="module")
def minimal() -> Config:
    return load_config(MINIMAL)


def variant(old: str, new: str) -> Config:
    """minimal.yaml with one piece of text replaced, parsed as if in DATA."""
    text = MINIMAL.read_text()
    assert old in text, old
    return parse_config(text.replace(old, new, 1), MINIMAL)


# --- the whitepaper's configuration -----------------------------------------


def test_whitepaper_ike_policy_nsa(whitepaper: Config) -> None:
    # Whitepaper: IKEv2 policy "NSA", AES-256 / SHA-512 / PRF SHA-512 / group 15.
    (policy,) = whitepaper.ike_policies_in_priority_order()
    assert policy.name == "NSA"
    assert policy.priority == 10
    assert policy.encryption == ((EncrId.AES_CBC, 256),)
    assert policy.integrity == (IntegId.HMAC_SHA2_512_256,)
    assert policy.prf == (PrfId.HMAC_SHA2_512,)
    assert policy.dh_groups == (DhId.MODP_3072,)
    assert policy.lifetime_seconds == 86400


def test_whitepaper_ipsec_proposal_nsa(whitepaper: Config) -> None:
    # Whitepaper: IKEv2 IPsec proposal "NSA", ESP AES-256 / SHA-512.
    (proposal,) = whitepaper.ipsec_proposals_in_order()
    assert proposal.name == "NSA"
    assert proposal.encryption == ((EncrId.AES_CBC, 256),)
    assert proposal.integrity == (IntegId.HMAC_SHA2_512_256,)
    assert (proposal.lifetime_seconds, proposal.lifetime_kilobytes) == (28800, 4608000)


def test_whitepaper_pool_users_and_profile(whitepaper: Config) -> None:
    pool = whitepaper.pool("VPN-Pool")
    assert (pool.first, pool.last) == (IPv4Address("198.19.0.200"), IPv4Address("198.19.0.250"))
    assert pool.mask == IPv4Address("255.255.255.0")
    assert [u.username for u in whitepaper.local_users] == ["alice", "bob"]
    profile = whitepaper.default_profile()
    assert profile.name == "CCIElab"
    assert profile.eap_methods == (EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC)
    assert profile.ike_identity == "vpn.example.test"
    assert whitepaper.pools_of(profile) == (pool,)
    assert whitepaper.group_policy(profile.group_policy).dns_servers == (
        IPv4Address("198.19.0.53"),
    )
    # Whitepaper: client services deselected, so nothing listens on 443.
    assert profile.enable_client_services is False


def test_whitepaper_interfaces_and_logging(whitepaper: Config) -> None:
    assert whitepaper.device.hostname == "FTDv-1"
    assert whitepaper.ikev2_interfaces() == (whitepaper.interface("outside"),)
    assert whitepaper.interface("outside").address == IPv4Address("198.18.0.1")
    access = whitepaper.remote_access_vpn.access_interfaces[0]
    assert access.enable_ipsec_ikev2 is True
    assert (access.enable_ssl, access.enable_dtls) == (False, False)
    assert whitepaper.logging.vpn_logging_level == 3


def test_whitepaper_store_is_relative_to_the_file(whitepaper: Config) -> None:
    # config/ikev2d.yaml says `store: ../run/pki`.
    (cert,) = whitepaper.identity_certificates
    assert cert.store == ROOT / "run" / "pki"
    assert cert.store.is_absolute()
    assert cert.subject_alt_names == ("vpn.example.test", "198.18.0.1")


def test_passwords_never_in_repr(whitepaper: Config) -> None:
    text = repr(whitepaper) + str(whitepaper)
    assert "Lab-Passw0rd-1" not in text and "Lab-Passw0rd-2" not in text
    user = whitepaper.local_user("alice")
    assert user is not None and user.password == "Lab-Passw0rd-1"
    assert "Lab-Passw0rd-1" not in repr(user)


# --- FTD defaults where the file is silent ------------------------------------


def test_defaults_device_and_ra_vpn(minimal: Config) -> None:
    assert minimal.device.hostname == "firepower"
    ra = minimal.remote_access_vpn
    assert ra.name == "RA_VPN"
    assert (ra.web_access_port, ra.dtls_port, ra.fragment_size) == (443, 443, 1280)
    # The only profile is the default one when DefaultWEBVPNGroup is absent.
    assert ra.default_connection_profile == "Lab"
    # FMC's new access interface: SSL and DTLS on (whitepaper, "the default Enable SSL").
    (access,) = ra.access_interfaces
    assert (access.enable_ssl, access.enable_dtls) == (True, True)
    assert minimal.logging.vpn_logging_level == 3


def test_defaults_lifetimes_and_prf(minimal: Config) -> None:
    policy = minimal.ike_policy("P1")
    assert policy.lifetime_seconds == 86400
    # No prf: ASA takes the integrity algorithm's hash.
    assert policy.prf == (PrfId.HMAC_SHA2_256,)
    proposal = minimal.ipsec_proposal("E1")
    assert (proposal.lifetime_seconds, proposal.lifetime_kilobytes) == (28800, 4608000)


def test_defaults_profile_and_group_policy(minimal: Config) -> None:
    profile = minimal.profile("Lab")
    assert profile.authentication_method == "aaa-only"
    assert profile.server_group == "LOCAL"
    assert profile.eap_methods == (EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC)
    assert profile.identity_certificate == "ID"  # the only one
    assert profile.ike_identity is None
    assert profile.enable_client_services is True
    assert profile.group_policy == "DfltGrpPolicy"
    gp = minimal.group_policy("DfltGrpPolicy")
    assert gp.vpn_protocols == ("ssl-client", "ipsec-ikev2")
    assert (gp.split_tunnel, gp.idle_timeout_minutes) == ("tunnel-all", 30)


def test_defaults_identity_certificate(minimal: Config) -> None:
    cert = minimal.identity_certificate("ID")
    assert cert.enrollment == "self-signed"
    assert cert.subject == "CN=firepower"
    assert cert.key_type == "rsa-2048"
    assert cert.store == DATA / "pki"
    assert (cert.certificate, cert.private_key) == (None, None)


def test_documentation_addresses_are_allowed(minimal: Config) -> None:
    # Real users have real addresses: nothing restricts to 198.18.0.0/15.
    assert minimal.interface("outside").address == IPv4Address("203.0.113.1")
    assert minimal.pool("POOL").first == IPv4Address("10.10.0.10")


def test_dtls_follows_ssl_when_unstated() -> None:
    config = variant(
        "      enable_ipsec_ikev2: true", "      enable_ipsec_ikev2: true\n      enable_ssl: false"
    )
    access = config.remote_access_vpn.access_interfaces[0]
    assert (access.enable_ssl, access.enable_dtls) == (False, False)


def test_ikev2_defaults_off_like_fmc() -> None:
    config = variant("      enable_ipsec_ikev2: true\n", "")
    assert config.remote_access_vpn.access_interfaces[0].enable_ipsec_ikev2 is False
    assert config.ikev2_interfaces() == ()


def test_default_profile_prefers_defaultwebvpngroup() -> None:
    config = variant(
        "  - name: Lab\n",
        "  - name: DefaultWEBVPNGroup\n  - name: Lab\n",
    )
    assert config.remote_access_vpn.default_connection_profile == "DefaultWEBVPNGroup"


def test_file_may_redefine_dfltgrppolicy() -> None:
    config = variant(
        "  local_users:",
        "  group_policies:\n    - name: DfltGrpPolicy\n      idle_timeout_minutes: 5\n"
        "  local_users:",
    )
    assert [g.name for g in config.group_policies] == ["DfltGrpPolicy"]
    assert config.group_policy("DfltGrpPolicy").idle_timeout_minutes == 5


# --- values as YAML reads them ------------------------------------------------


@pytest.mark.parametrize(
    ("written", "password"),
    [('"1234"', "1234"), ("1234", "1234"), ("yes", "yes"), ("0x1F", "0x1F"), ("~x", "~x")],
)
def test_password_is_the_text_written(written: str, password: str) -> None:
    # YAML would make 1234 an int and yes a bool; a password is what was typed.
    config = variant('password: "1234"', f"password: {written}")
    user = config.local_user("carol")
    assert user is not None and user.password == password


def test_null_is_an_algorithm_name_not_nothing() -> None:
    # `NULL` is YAML's null; in `integrity: [NULL]` it is FTD's NULL integrity.
    config = variant(
        "      encryption: [AES-256]\n      integrity: [SHA256]",
        "      encryption: [AES-GCM-256]\n      integrity: [NULL]\n      prf: [SHA384]",
    )
    policy = config.ike_policy("P1")
    assert policy.encryption == ((EncrId.AES_GCM_16, 256),)
    assert policy.integrity == (IntegId.NONE,)
    assert policy.prf == (PrfId.HMAC_SHA2_384,)


def test_weak_algorithms_are_accepted() -> None:
    # FTD accepts them; flagging them is check-config's job.
    config = variant(
        "      encryption: [AES-256]\n      integrity: [SHA256]\n      dh_groups: [14]",
        "      encryption: [3DES, DES]\n      integrity: [MD5, SHA]\n      dh_groups: [1, 2, 5]",
    )
    policy = config.ike_policy("P1")
    assert policy.encryption == (
        (EncrId.TRIPLE_DES, FIXED_KEY_LENGTH),
        (EncrId.DES, FIXED_KEY_LENGTH),
    )
    assert policy.prf == (PrfId.HMAC_MD5, PrfId.HMAC_SHA1)
    assert policy.dh_groups == (DhId.MODP_768, DhId.MODP_1024, DhId.MODP_1536)


def test_logging_level_by_number() -> None:
    config = variant(
        "connection_profiles:", "logging:\n  vpn_logging_level: 6\nconnection_profiles:"
    )
    assert config.logging.vpn_logging_level == 6
    config = variant(
        "connection_profiles:", "logging:\n  vpn_logging_level: debugging\nconnection_profiles:"
    )
    assert config.logging.vpn_logging_level == 7


def test_single_scalar_counts_as_a_list() -> None:
    config = variant("  ike_policies: [P1]", "  ike_policies: P1")
    assert config.remote_access_vpn.ike_policies == ("P1",)


# --- lookups -----------------------------------------------------------------------

POLICIES = """
    - name: LOW
      priority: 30
      encryption: [AES]
      integrity: [SHA]
      dh_groups: [14]
    - name: UNUSED
      priority: 5
      encryption: [AES]
      integrity: [SHA]
      dh_groups: [14]
    - name: HIGH
      priority: 2
      encryption: [AES-GCM-256]
      integrity: [NULL]
      prf: [SHA512]
      dh_groups: [20, 19]
"""


def test_policies_in_priority_order_only_those_the_ra_vpn_uses() -> None:
    text = MINIMAL.read_text().replace("  ikev2_policies:\n", "  ikev2_policies:" + POLICIES)
    text = text.replace("ike_policies: [P1]", "ike_policies: [P1, LOW, HIGH]")
    config = parse_config(text, MINIMAL)
    assert [p.name for p in config.ike_policies_in_priority_order()] == ["P1", "HIGH", "LOW"]
    assert config.ike_policy("HIGH").dh_groups == (DhId.ECP_384, DhId.ECP_256)


def test_lookups_of_unknown_names(minimal: Config) -> None:
    with pytest.raises(KeyError):
        minimal.profile("nope")
    with pytest.raises(KeyError):
        minimal.pool("nope")
    # A username comes from the peer: a miss is an answer, not a bug.
    assert minimal.local_user("mallory") is None
    assert minimal.local_user("Carol") is None  # usernames are case-sensitive


# --- files -----------------------------------------------------------------------


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value).startswith(f"{missing}:1: cannot read the file")


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(MINIMAL.read_bytes().replace(b"# The least", b"# Th\xe9 least"))
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert (caught.value.line, caught.value.problem) == (1, "the file is not UTF-8 text")


def test_esp_hash_null_as_a_single_value() -> None:
    # `esp_hash: NULL` is FTD's NULL integrity, not an empty setting.
    config = variant(
        "      esp_encryption: [AES-256]\n      esp_hash: [SHA-256]",
        "      esp_encryption: AES-GCM-256\n      esp_hash: NULL",
    )
    assert config.ipsec_proposal("E1").integrity == (IntegId.NONE,)


def test_empty_value_means_default() -> None:
    # `key:` with nothing after it is FMC's "left blank": the default applies.
    config = variant("      dh_groups: [14]", "      dh_groups: [14]\n      lifetime_seconds:")
    assert config.ike_policy("P1").lifetime_seconds == 86400


def test_quoted_logging_level_number() -> None:
    config = variant(
        "connection_profiles:", 'logging:\n  vpn_logging_level: "5"\nconnection_profiles:'
    )
    assert config.logging.vpn_logging_level == 5
