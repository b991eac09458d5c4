"""`ikev2d profile`: the AnyConnect client profile XML, parsed back with the
standard library and checked value by value against the configuration."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ikev2d.anyconnect_profile import NAMESPACE, render_profile
from ikev2d.cli import main
from ikev2d.conf import Config, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
MINIMAL = Path(__file__).resolve().parent / "data" / "config" / "minimal.yaml"
NS = {"ac": NAMESPACE}


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(xml.encode("utf-8"))


def host_entry(root: ET.Element) -> ET.Element:
    (entry,) = root.findall("ac:ServerList/ac:HostEntry", NS)
    return entry


def value(element: ET.Element, path: str) -> str | None:
    found = element.find(path, NS)
    return None if found is None else (found.text or "").strip()


def minimal(*edits: tuple[str, str]) -> Config:
    text = MINIMAL.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_config(text, MINIMAL)


def test_whitepaper_profile_says_ipsec_with_eap() -> None:
    root = parse(render_profile(load_config(CONFIG / "ikev2d.yaml")))
    assert root.tag == f"{{{NAMESPACE}}}AnyConnectProfile"
    entry = host_entry(root)
    assert value(entry, "ac:HostName") == "CCIElab"
    assert value(entry, "ac:HostAddress") == "vpn.example.test"  # the profile's IKE identity
    assert value(entry, "ac:UserGroup") is None  # the default profile needs no group
    # Mixed content: the word, then the nested settings.
    assert value(entry, "ac:PrimaryProtocol") == "IPsec"
    assert value(entry, "ac:PrimaryProtocol/ac:StandardAuthenticationOnly") == "true"
    assert value(entry, "ac:PrimaryProtocol/ac:StandardAuthenticationOnly/"
                        "ac:AuthMethodDuringIKENegotiation") == "EAP-MSCHAPv2"
    assert entry.find(".//ac:IKEIdentity", NS) is None
    # Schema order inside HostEntry: HostName, HostAddress, ..., PrimaryProtocol.
    assert [child.tag.split("}")[1] for child in entry] == [
        "HostName", "HostAddress", "PrimaryProtocol"]


def test_client_initialization_fits_ikev2d() -> None:
    root = parse(render_profile(load_config(CONFIG / "ikev2d.yaml")))
    init = root.find("ac:ClientInitialization", NS)
    assert init is not None
    assert value(init, "ac:IPProtocolSupport") == "IPv4"
    # Client services off (the whitepaper): nothing to update from.
    assert value(init, "ac:AutoUpdate") == "false"
    reconnect = init.find("ac:AutoReconnect", NS)
    assert reconnect is not None and reconnect.get("UserControllable") == "false"
    services_on = parse(render_profile(load_config(CONFIG / "client-services.yaml")))
    assert value(services_on, "ac:ClientInitialization/ac:AutoUpdate") == "true"


@pytest.mark.parametrize(("methods", "expected"), [
    ("[mschapv2, md5]", "EAP-MSCHAPv2"),
    ("[md5, gtc]", "EAP-MD5"),
    ("[gtc]", "EAP-GTC"),
])
def test_auth_method_is_the_profiles_first_eap_method(methods: str, expected: str) -> None:
    config = minimal(("    address_pools: [POOL]",
                      f"    address_pools: [POOL]\n    authentication:\n"
                      f"      eap_methods: {methods}"))
    entry = host_entry(parse(render_profile(config)))
    assert value(entry, ".//ac:AuthMethodDuringIKENegotiation") == expected


def test_host_address_falls_back_to_the_interface() -> None:
    # minimal.yaml: no IKE identity, a certificate without names.
    entry = host_entry(parse(render_profile(minimal())))
    assert value(entry, "ac:HostAddress") == "203.0.113.1"


def test_host_address_from_certificate_dns_name() -> None:
    config = minimal(("    - name: ID\n",
                      "    - name: ID\n      subject_alt_names: [203.0.113.1, vpn.lab.test]\n"),
                     ("    address_pools: [POOL]",
                      "    address_pools: [POOL]\n    ike_identity: 203.0.113.1"))
    assert value(host_entry(parse(render_profile(config))), "ac:HostAddress") == "vpn.lab.test"


def test_named_profile_and_ike_identity() -> None:
    config = minimal(("connection_profiles:\n", "connection_profiles:\n  - name: Other\n"
                      "    address_pools: [POOL]\n    authentication:\n"
                      "      eap_methods: [gtc]\n"),
                     ("  ipsec_proposals: [E1]",
                      "  ipsec_proposals: [E1]\n  default_connection_profile: Lab"))
    entry = host_entry(parse(render_profile(config, "Other", ike_identity="lab-clients")))
    assert value(entry, "ac:HostName") == "Other"
    assert value(entry, "ac:UserGroup") == "Other"
    assert value(entry, ".//ac:AuthMethodDuringIKENegotiation") == "EAP-GTC"
    assert value(entry, ".//ac:StandardAuthenticationOnly/ac:IKEIdentity") == "lab-clients"
    with pytest.raises(KeyError):
        render_profile(config, "Nope")


def test_profile_command_writes_the_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "CCIElab.xml"
    config = str(CONFIG / "ikev2d.yaml")
    assert main(["profile", "--config", config, "-o", str(out)]) == 0
    assert out.read_text() == render_profile(load_config(CONFIG / "ikev2d.yaml"))
    assert main(["profile", "--config", config, "--profile", "CCIElab"]) == 0
    assert capsys.readouterr().out == out.read_text()
    assert main(["profile", "--config", config, "--profile", "Nope"]) == 1
    assert "no connection profile 'Nope'" in capsys.readouterr().err
    assert main(["profile", "--config", str(MINIMAL.parent / "bad_tab.yaml")]) == 1


def test_certificate_profile_asks_anyconnect_for_ike_rsa() -> None:
    """AnyConnect's profile schema: IKE-RSA makes the client sign AUTH with
    the user's certificate instead of running EAP."""
    config = minimal(("objects:\n", "objects:\n  trusted_ca_certificates:\n    - name: CA\n      certificate: ca.pem\n"),
                     ("    address_pools: [POOL]",
                      "    address_pools: [POOL]\n    authentication:\n      method: client-certificate"))
    entry = host_entry(parse(render_profile(config)))
    assert value(entry, ".//ac:AuthMethodDuringIKENegotiation") == "IKE-RSA"
