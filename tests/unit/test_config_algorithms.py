"""FTD algorithm names -> IANA numbers (RFC 7296 §3.3.2, RFC 4106, RFC 4868),
and the AES-GCM / NULL integrity pairing FMC enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from ikev2d.conf import ConfigError, parse_config
from ikev2d.conf import algorithms as alg
from ikev2d.iana import DhId, EncrId, IntegId, PrfId

MINIMAL = Path(__file__).resolve().parent / "data" / "config" / "minimal.yaml"
IKE_LINES = "      encryption: [AES-256]\n      integrity: [SHA256]"
ESP_LINES = "      esp_encryption: [AES-256]\n      esp_hash: [SHA-256]"


def with_lines(old: str, new: str) -> str:
    text = MINIMAL.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AES", (EncrId.AES_CBC, 128)),
        ("AES-192", (EncrId.AES_CBC, 192)),
        ("AES-256", (EncrId.AES_CBC, 256)),
        ("AES-GCM", (EncrId.AES_GCM_16, 128)),
        ("AES-GCM-192", (EncrId.AES_GCM_16, 192)),
        ("AES-GCM-256", (EncrId.AES_GCM_16, 256)),
        ("DES", (EncrId.DES, 0)),
        ("3DES", (EncrId.TRIPLE_DES, 0)),
    ],
)
def test_encryption_names(name: str, expected: tuple[EncrId, int]) -> None:
    assert alg.ENCRYPTION[name] == expected
    assert alg.ESP_ENCRYPTION[name] == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AES-GMAC", (EncrId.NULL_AUTH_AES_GMAC, 128)),
        ("AES-GMAC-192", (EncrId.NULL_AUTH_AES_GMAC, 192)),
        ("AES-GMAC-256", (EncrId.NULL_AUTH_AES_GMAC, 256)),
        ("NULL", (EncrId.NULL, 0)),
    ],
)
def test_esp_only_encryption_names(name: str, expected: tuple[EncrId, int]) -> None:
    # FMC's IKEv2 IPsec proposal offers these; its IKEv2 policy does not use them
    assert alg.ESP_ENCRYPTION[name] == expected
    assert name not in alg.ENCRYPTION


@pytest.mark.parametrize(
    ("ike", "esp", "integ", "prf"),
    [
        ("SHA512", "SHA-512", IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512),
        ("SHA384", "SHA-384", IntegId.HMAC_SHA2_384_192, PrfId.HMAC_SHA2_384),
        ("SHA256", "SHA-256", IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256),
        ("SHA", "SHA-1", IntegId.HMAC_SHA1_96, PrfId.HMAC_SHA1),
        ("SHA1", "SHA-1", IntegId.HMAC_SHA1_96, PrfId.HMAC_SHA1),
        ("MD5", "MD5", IntegId.HMAC_MD5_96, PrfId.HMAC_MD5),
    ],
)
def test_hash_names(ike: str, esp: str, integ: IntegId, prf: PrfId) -> None:
    assert alg.INTEGRITY[ike] == integ
    assert alg.ESP_INTEGRITY[esp] == integ
    assert alg.PRF[ike] == prf
    assert alg.PRF_FOR_INTEGRITY[integ] == prf


def test_dh_group_numbers_are_the_iana_numbers() -> None:
    # FTD's "group 15" is the IANA Transform Type 4 ID 15, and so on.
    assert sorted(alg.DH_GROUPS) == [1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31]
    for number, group in alg.DH_GROUPS.items():
        assert group == DhId(number)


def test_names_match_case_insensitively() -> None:
    # ASA CLI writes `encryption aes-256`, `integrity sha512`.
    text = with_lines(
        IKE_LINES,
        "      encryption: [aes-gcm-256]\n      integrity: [null]\n      prf: [sha384]",
    )
    policy = parse_config(text, MINIMAL).ike_policy("P1")
    assert policy.encryption == ((EncrId.AES_GCM_16, 256),)
    assert policy.prf == (PrfId.HMAC_SHA2_384,)


def test_esp_gcm_with_null() -> None:
    text = with_lines(
        ESP_LINES, "      esp_encryption: [AES-GCM-256, AES-GCM]\n      esp_hash: [NULL]"
    )
    proposal = parse_config(text, MINIMAL).ipsec_proposal("E1")
    assert proposal.encryption == ((EncrId.AES_GCM_16, 256), (EncrId.AES_GCM_16, 128))
    assert proposal.integrity == (IntegId.NONE,)


def test_ike_policy_does_not_mix_gcm_and_cbc() -> None:
    # The FTD's IKEv2 policy: "you cannot include both mixed-mode (AES-GCM)
    # and normal mode options in the same policy", whatever the integrity.
    for integrity in ("[NULL, SHA512]", "[SHA512]"):
        bad = with_lines(
            IKE_LINES, f"      encryption: [AES-GCM-256, AES-256]\n      integrity: {integrity}"
        )
        with pytest.raises(ConfigError) as caught:
            parse_config(bad, MINIMAL)
        assert caught.value.line == 18
        assert "both mixed-mode (AES-GCM) and normal mode" in caught.value.problem


def test_esp_proposal_mixing_gcm_and_cbc_needs_null_and_a_hash() -> None:
    good = with_lines(
        ESP_LINES, "      esp_encryption: [AES-GCM-256, AES-256]\n      esp_hash: [NULL, SHA-512]"
    )
    proposal = parse_config(good, MINIMAL).ipsec_proposal("E1")
    assert proposal.integrity == (IntegId.NONE, IntegId.HMAC_SHA2_512_256)
    bad = with_lines(
        ESP_LINES, "      esp_encryption: [AES-GCM-256, AES-256]\n      esp_hash: [SHA-512]"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, MINIMAL)
    assert caught.value.line == 24
    assert "mixes AES-GCM or AES-GMAC with other ciphers" in caught.value.problem


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        # RFC 4303 §3.2: ESP may not be both unencrypted and unauthenticated
        ("      esp_encryption: [NULL]\n      esp_hash: [NULL]", "integrity NULL is only valid with"),
        ("      esp_encryption: [AES-GMAC-256]\n      esp_hash: [SHA-256]", "carries its own integrity check"),
    ],
)
def test_esp_only_ciphers_pair_with_the_right_hash(lines: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_lines(ESP_LINES, lines), MINIMAL)
    assert caught.value.line == 24
    assert words in caught.value.problem


def test_esp_null_and_gmac_load() -> None:
    text = with_lines(ESP_LINES, "      esp_encryption: [AES-GMAC-256, AES-GMAC]\n      esp_hash: NULL")
    assert parse_config(text, MINIMAL).ipsec_proposal("E1").encryption == (
        (EncrId.NULL_AUTH_AES_GMAC, 256), (EncrId.NULL_AUTH_AES_GMAC, 128))
    text = with_lines(ESP_LINES, "      esp_encryption: NULL\n      esp_hash: [SHA-256]")
    assert parse_config(text, MINIMAL).ipsec_proposal("E1").encryption == ((EncrId.NULL, 0),)


def test_ike_null_encryption_is_refused_on_its_line() -> None:
    text = with_lines(IKE_LINES, "      encryption: NULL\n      integrity: [SHA256]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, MINIMAL)
    assert caught.value.line == 18
    assert "encryption NULL is not valid for IKE" in caught.value.problem


def test_esp_gcm_with_hash_is_rejected_on_its_line() -> None:
    text = with_lines(ESP_LINES, "      esp_encryption: [AES-GCM-256]\n      esp_hash: [SHA-256]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, MINIMAL)
    assert caught.value.line == 24
    assert "IKEv2 IPsec proposal 'E1': AES-GCM" in caught.value.problem


def test_prf_null_is_not_a_prf() -> None:
    text = with_lines(IKE_LINES, IKE_LINES + "\n      prf: [NULL]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, MINIMAL)
    assert caught.value.line == 20
    assert "unknown prf 'NULL'" in caught.value.problem
