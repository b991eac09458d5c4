"""`check-config --clients`: which native clients a configuration admits,
and why not, by the engine's own proposal selection (docs/native-clients.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ikev2d.cli import main
from ikev2d.compliance.clients import (ANDROID, ANYCONNECT, APPLE, CLIENTS, WINDOWS, WINDOWS_DH2048,
                                       judge_client, judge_clients, parse_offer)
from ikev2d.conf import load_config, parse_config
from ikev2d.iana import DhId, EncrId, PrfId, ProtocolId, TransformType

ROOT = Path(__file__).resolve().parents[2]
NSA = ROOT / "config" / "ikev2d.yaml"
NATIVE = ROOT / "config" / "native-clients.yaml"
WEAK = ROOT / "config" / "weak.yaml"


def test_offer_parsing_follows_strongswan() -> None:
    ike = parse_offer("3des-aes256-sha1-sha256-modp1024,aes256gcm16-prfsha384-ecp384", ProtocolId.IKE)
    assert len(ike) == 2
    first = {(t.type, t.id, t.key_length) for t in ike[0].transforms}
    # no PRF named: strongSwan derives one per integrity algorithm
    assert (TransformType.PRF, PrfId.HMAC_SHA1, None) in first
    assert (TransformType.PRF, PrfId.HMAC_SHA2_256, None) in first
    assert (TransformType.ENCR, EncrId.TRIPLE_DES, None) in first  # fixed key: no Key Length attribute
    assert (TransformType.ENCR, EncrId.AES_CBC, 256) in first
    assert not any(t.type == TransformType.INTEG for t in ike[1].transforms)  # AEAD
    esp = parse_offer("aes256-sha1-modp2048", ProtocolId.ESP, in_ike_auth=True)
    assert not any(t.type == TransformType.DH for t in esp[0].transforms)  # none in IKE_AUTH
    with pytest.raises(ValueError):
        parse_offer("aes256-sha1-bogus", ProtocolId.IKE)


def test_the_nsa_configuration_refuses_windows_and_apple_defaults() -> None:
    config = load_config(NSA)
    windows = judge_client(config, WINDOWS)
    assert not windows.admitted
    assert "no IKEv2 policy offers MODP_1024 (group 2)" in windows.reasons
    assert "no IPsec proposal offers the ESP integrity HMAC_SHA1_96" in windows.reasons
    apple = judge_client(config, APPLE)
    assert not apple.admitted
    assert apple.reasons[0].startswith("no IKEv2 policy offers MODP_2048 (group 14) or ECP_256 (group 19)")
    # NegotiateDH2048_AES256 raises the group, not to the NSA's group 15
    assert not judge_client(config, WINDOWS_DH2048).admitted


def test_the_nsa_configuration_admits_the_strongswan_app() -> None:
    """The app's defaults include SHA-512 and MODP-3072: the NSA suite."""
    verdict = judge_client(load_config(NSA), ANDROID)
    assert verdict.admitted, verdict.reasons
    assert (verdict.ike_policy, verdict.ipsec_proposal) == ("NSA", "NSA")
    assert verdict.ike_suite == "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"


def test_native_clients_yaml_admits_every_client_with_its_strongest_suite() -> None:
    verdicts = {v.client.key: v for v in judge_clients(load_config(NATIVE))}
    assert set(verdicts) == {c.key for c in CLIENTS}
    assert all(v.admitted for v in verdicts.values()), [v.render() for v in verdicts.values()]
    assert verdicts["windows"].ike_policy == "WINDOWS"
    assert verdicts["windows"].ike_suite == "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
    assert verdicts["windows"].esp_suite == "AES_CBC-256/HMAC_SHA1_96"
    assert verdicts["apple"].ike_suite == "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    assert verdicts["apple"].esp_suite == "AES_GCM_16-256"
    assert verdicts["android"].ike_policy == "AEAD"
    assert verdicts["android"].ike_suite.startswith("AES_GCM_16-256/")


def test_taking_a_policy_out_names_who_is_lost() -> None:
    text = NATIVE.read_text().replace("ike_policies: [AEAD, APPLE, WINDOWS]", "ike_policies: [AEAD, APPLE]")
    verdicts = {v.client.key: v for v in judge_clients(parse_config(text, NATIVE))}
    assert verdicts["windows"].reasons == ("no IKEv2 policy offers MODP_1024 (group 2)",)
    assert verdicts["apple"].admitted and verdicts["android"].admitted


def test_a_profile_without_mschapv2_refuses_windows_and_apple() -> None:
    text = NATIVE.read_text().replace("eap_methods: [mschapv2, md5, gtc]", "eap_methods: [gtc]")
    verdicts = {v.client.key: v for v in judge_clients(parse_config(text, NATIVE))}
    assert verdicts["windows"].reasons == ("connection profile 'Native' offers no EAP-MSCHAPV2 (eap_methods)",)
    assert not verdicts["apple"].admitted
    assert verdicts["android"].admitted and verdicts["anyconnect"].admitted  # they do EAP-GTC too


def test_check_config_clients_lines_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--clients", str(NSA)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("Windows 10/11 (default): refused: no IKEv2 policy offers MODP_1024 (group 2); "
                      "no IPsec proposal offers the ESP integrity HMAC_SHA1_96")
    assert out[-1] == f"{NSA}: 2 of 5 native clients admitted"
    assert main(["check-config", "--clients", str(NATIVE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{NATIVE}: 5 of 5 native clients admitted"
    assert all(": admitted: " in line for line in out[:-1])


def test_check_config_clients_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--clients", "--json", str(WEAK)]) == 2
    report = json.loads(capsys.readouterr().out)
    clients = {c["client"]: c for c in report["clients"]}
    assert clients["windows"]["admitted"] and clients["windows"]["ike_policy"] == "LEGACY"
    assert clients["windows-dh2048"]["reasons"] == [
        "no IKEv2 policy matches one of its IKE proposals as a whole: 'MEDIUM' has none of its encryptions; "
        "'LEGACY' has none of its DH groups"]
    assert report["exit"] == 2 and report["findings"] == []


def test_every_offer_uses_only_known_keywords() -> None:
    for client in CLIENTS:
        assert parse_offer(client.ike, ProtocolId.IKE)
        assert parse_offer(client.esp, ProtocolId.ESP)
    assert ANYCONNECT.name.endswith("(*unconfirmed* offer)")  # docs/native-clients.md says why
    assert int(DhId.MODP_1024) == 2
