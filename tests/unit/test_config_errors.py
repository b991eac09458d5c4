"""Bad configurations: each fixture under data/config/ has one defect (marked
`# defect` on its line) and must give exactly one error naming that line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ikev2d.conf import ConfigError, load_config, parse_config

DATA = Path(__file__).resolve().parent / "data" / "config"

# (fixture, line, words the message must contain)
CASES = [
    ("bad_yaml_syntax", 12, ["invalid YAML", "flow sequence at line 11"]),
    ("bad_tab", 17, ["invalid YAML", "'\\t'"]),
    ("bad_empty", 1, ["the file is empty"]),
    ("bad_not_mapping", 2, ["the configuration must be a mapping"]),
    ("bad_unknown_key", 18, ["unknown key 'encrytion'", "did you mean 'encryption'?"]),
    ("bad_unknown_section", 14, ["unknown key 'objets'", "did you mean 'objects'?"]),
    ("bad_duplicate_key", 18, ["'priority' is set twice (first at line 17)"]),
    ("bad_type_integer", 17, ["priority must be a whole number, got 'high'"]),
    ("bad_type_list", 11, ["ike_policies must be a list"]),
    ("bad_type_boolean", 10, ["enable_ipsec_ikev2 must be true or false"]),
    ("bad_priority_range", 17, ["priority must be between 1 and 65535, got 0"]),
    ("bad_encryption", 18, [
        "unknown encryption 'AES256'",
        "did you mean 'AES-256'?",
        "valid: AES, AES-192, AES-256, AES-GCM, AES-GCM-192, AES-GCM-256, DES, 3DES",
    ]),
    ("bad_esp_hash", 24, ["unknown esp_hash 'SHA512'", "did you mean 'SHA-512'?"]),
    ("bad_dh_group", 20, ["unknown DH group 7", "valid: 1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31"]),
    ("bad_ike_null_encryption", 18, ["IKEv2 policy 'P1'", "encryption NULL is not valid for IKE",
                                     "RFC 7296 §3.3.2"]),
    ("bad_gcm_with_hash", 19, ["AES-GCM", "integrity must be NULL"]),
    ("bad_null_without_gcm", 19, ["integrity NULL is only valid with AES-GCM"]),
    ("bad_gcm_without_prf", 16, ["IKEv2 policy 'P1'", "needs 'prf'"]),
    ("bad_repeated_algorithm", 20, ["encryption 'aes-256' is listed twice (first at line 19)"]),
    ("bad_address", 5, ["'203.0.113.256' is not an IPv4 address"]),
    ("bad_address_ipv6", 5, ["only IPv4 is supported"]),
    ("bad_pool_reversed", 27, ["range 10.10.0.20-10.10.0.10 is reversed"]),
    ("bad_pool_outside_mask", 27, ["does not fit in 10.10.0.0/24"]),
    ("bad_pool_mask", 28, ["0.0.0.255 is not a netmask"]),
    ("bad_pool_range_syntax", 27, ["must be FIRST-LAST"]),
    ("bad_pool_overlap", 30, ["overlaps IPv4 pool 'POOL'", "line 26"]),
    ("bad_undefined_pool", 37, ["IPv4 pool 'NOPOOL' is not defined", "defined: POOL"]),
    ("bad_ipv6_pool_syntax", 31, ["prefix '2001:2:0:1::100' must be START/PREFIX-LENGTH"]),
    ("bad_ipv6_pool_address", 31, ["'2001:2:0:1::g' is not an IPv6 address"]),
    ("bad_ipv6_pool_number", 32, ["number must be between 1 and 16384, got 20000"]),
    ("bad_ipv6_pool_outside_prefix", 31, ["100 addresses from 2001:2:0:1::fff0 do not fit in 2001:2:0:1::fff0/124"]),
    ("bad_ipv6_pool_overlap", 34, ["overlap IPv6 pool 'V6'", "line 30"]),
    ("bad_undefined_ipv6_pool", 42, ["IPv6 pool 'NOV6' is not defined", "defined: V6"]),
    ("bad_undefined_group_policy", 38, ["group policy 'GP-Missing' is not defined"]),
    ("bad_undefined_certificate", 38, ["identity certificate 'IDX' is not defined",
                                       "did you mean 'ID'?"]),
    ("bad_undefined_ike_policy", 11, ["IKEv2 policy 'P2' is not defined", "defined: P1"]),
    ("bad_undefined_proposal", 12, ["IKEv2 IPsec proposal 'E2' is not defined"]),
    ("bad_undefined_profile", 13, ["connection profile 'LAB' is not defined",
                                   "did you mean 'Lab'?"]),
    ("bad_undefined_interface", 9, ["interface 'inside' is not defined"]),
    ("bad_duplicate_policy", 21, ["IKEv2 policy 'P1' is defined twice (first at line 16)"]),
    ("bad_duplicate_priority", 22, ["priority 1 is already used by IKEv2 policy 'P1'"]),
    ("bad_duplicate_user", 34, ["local user 'carol' is defined twice (first at line 32)"]),
    ("bad_missing_required", 16, ["IKEv2 policy 'P1' needs 'dh_groups'"]),
    ("bad_trusted_ca_missing_certificate", 33, ["trusted CA certificate 'LAB-CA' needs 'certificate'"]),
    ("bad_files_without_key", 30, ["enrollment files needs 'private_key'"]),
    ("bad_subject", 31, ["subject 'CN=vpn, C=USA'", "C=USA"]),
    ("bad_san", 31, ["'not_a_name' is neither an IP address nor a DNS name"]),
    ("bad_logging_level", 39, ["unknown vpn_logging_level 'verbose'",
                               "valid: errors, warnings, notifications, informational, debugging"]),
    ("bad_dtls_without_ssl", 12, ["enable_dtls needs enable_ssl"]),
    ("bad_split_tunnel", 36, ["tunnel-specified needs split_tunnel_networks"]),
    ("bad_split_network", 37, ["host bits set (did you mean 10.1.0.0/16?)"]),
    ("bad_two_certificates", 37, ["connection profile 'Lab' needs 'identity_certificate'"]),
    ("bad_password_type", 33, ["password must be text"]),
]


def fixture(name: str) -> Path:
    return DATA / f"{name}.yaml"


@pytest.mark.parametrize(("name", "line", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_file_names_its_line(name: str, line: int, words: list[str]) -> None:
    path = fixture(name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert len(error.issues) == 1, str(error)
    assert error.line == line, str(error)
    assert str(error).startswith(f"{path}:{line}: "), str(error)
    for word in words:
        assert word in error.problem, f"{word!r} not in {error.problem!r}"


@pytest.mark.parametrize("name", [c[0] for c in CASES if c[0] not in ("bad_empty",)])
def test_fixture_marks_its_defect_on_the_reported_line(name: str) -> None:
    # Keeps the table honest: the expected line is where the fixture says
    # its defect is, not merely where the loader happened to point.
    line = dict((c[0], c[1]) for c in CASES)[name]
    lines = fixture(name).read_text().splitlines()
    marked = [i + 1 for i, text in enumerate(lines) if "# defect" in text]
    assert marked, f"{name} marks no defect"
    # A YAML syntax error is found where parsing stops: the line after.
    slack = 1 if name == "bad_yaml_syntax" else 0
    assert any(m <= line <= m + slack for m in marked), marked


def test_every_fixture_is_in_the_table() -> None:
    listed = {c[0] for c in CASES} | {"bad_several"}
    on_disk = {p.stem for p in DATA.glob("bad_*.yaml")}
    assert on_disk == listed


def test_several_problems_reported_together_in_file_order() -> None:
    path = fixture("bad_several")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = [issue.line for issue in caught.value.issues]
    assert lines == [5, 24, 37]
    text = str(caught.value).splitlines()
    assert text[0].startswith(f"{path}:5: address '203.0.113.999'")
    assert text[1].startswith(f"{path}:24: unknown esp_hash 'SHA-999'")
    assert text[2].startswith(f"{path}:37: IPv4 pool 'NOPOOL' is not defined")


def test_a_broken_object_is_not_also_reported_as_undefined() -> None:
    # The pool's own error is enough; "POOL is not defined" would mislead.
    text = fixture("bad_pool_reversed").read_text()
    with pytest.raises(ConfigError) as caught:
        parse_config(text, fixture("bad_pool_reversed"))
    assert len(caught.value.issues) == 1
    assert "not defined" not in str(caught.value)


def test_password_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(fixture("bad_password_type"))
    assert "s3cret-Value" not in str(caught.value)
    assert "s3cret-Value" not in repr(caught.value)


def test_yaml_error_does_not_quote_the_line() -> None:
    # PyYAML's own message quotes the offending line; a password may be on it.
    text = "local_users:\n  - username: a\n    password: 'Secr3t-Quote\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("x.yaml"))
    assert "Secr3t" not in str(caught.value)
    assert str(caught.value).startswith("x.yaml:")


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("a: " + "[" * 5000 + "]" * 5000, Path("deep.yaml"))
    assert caught.value.line == 1


def test_unsupported_authentication_says_so() -> None:
    text = fixture("bad_undefined_pool").read_text().replace(
        "    address_pools: [POOL, NOPOOL]   # defect: not defined",
        "    address_pools: [POOL]\n    authentication:\n      method: saml",
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("auth.yaml"))
    assert caught.value.line == 39
    assert "'saml' is not supported; use aaa-only, client-certificate or aaa-and-client-certificate" \
        in caught.value.problem


def test_recursive_alias_is_a_config_error() -> None:
    text = fixture("bad_undefined_pool").read_text().replace(
        "    address_pools: [POOL, NOPOOL]   # defect: not defined",
        "    address_pools: &loop [POOL, *loop]",
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("alias.yaml"))
    # The list contains itself; reading follows the schema, so it stops at once.
    assert str(caught.value) == "alias.yaml:37: IPv4 pool must be text, got a list"


def test_missing_section_is_one_error_not_a_cascade() -> None:
    text = fixture("bad_undefined_pool").read_text()
    text = text[: text.index("connection_profiles:")]
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("short.yaml"))
    assert str(caught.value) == "short.yaml:3: the configuration needs 'connection_profiles'"


def test_lines_are_counted_by_newlines_like_an_editor() -> None:
    # YAML also breaks lines at NEL (U+0085) and a lone CR; an admin's editor,
    # grep and sed do not, so the reported line follows the newlines.
    text = "# note\x85# after a NEL\r\n# a lone CR:\r# then\n0\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("nel.yaml"))
    assert caught.value.line == 3
    assert "must be a mapping" in caught.value.problem
