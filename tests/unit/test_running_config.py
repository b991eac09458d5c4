"""`show running-config`: the configuration as the ASA/FTD CLI prints it.

Golden files under data/running_config/ hold the whole text for each
shipped configuration (regenerate with IKEV2D_UPDATE_GOLDEN=1 after a
deliberate change, and read the diff); the other tests pin the facts that
matter one by one, so a golden update cannot silently lose them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ikev2d.cli import main
from ikev2d.conf import Config, load_config, parse_config
from ikev2d.running_config import render_running_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
GOLDEN = Path(__file__).resolve().parent / "data" / "running_config"
MINIMAL = Path(__file__).resolve().parent / "data" / "config" / "minimal.yaml"
SHIPPED = ["ikev2d", "radius", "weak", "ssl-and-client-services", "client-services", "native-clients"]


@pytest.mark.parametrize("name", SHIPPED)
def test_golden(name: str) -> None:
    text = render_running_config(load_config(CONFIG / f"{name}.yaml"))
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("IKEV2D_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_shipped_config_has_a_golden_file() -> None:
    assert {p.stem for p in CONFIG.glob("*.yaml")} == set(SHIPPED)


@pytest.fixture(scope="module")
def whitepaper() -> list[str]:
    return render_running_config(load_config(CONFIG / "ikev2d.yaml")).splitlines()


def block(lines: list[str], head: str) -> list[str]:
    """A command and its indented sub-commands."""
    start = lines.index(head)
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return lines[start:end]


def test_whitepaper_crypto_blocks(whitepaper: list[str]) -> None:
    # docs/ftd-behaviour.md's CLI equivalents of the whitepaper's FMC objects.
    assert block(whitepaper, "crypto ikev2 policy 10") == [
        "crypto ikev2 policy 10",
        " encryption aes-256",
        " integrity sha512",
        " group 15",
        " prf sha512",
        " lifetime seconds 86400",
    ]
    assert block(whitepaper, "crypto ipsec ikev2 ipsec-proposal NSA") == [
        "crypto ipsec ikev2 ipsec-proposal NSA",
        " protocol esp encryption aes-256",
        " protocol esp integrity sha-512",
    ]
    assert "ip local pool VPN-Pool 198.19.0.200-198.19.0.250 mask 255.255.255.0" in whitepaper
    # Client services off: IKEv2 enabled without them; no webvpn at all.
    assert "crypto ikev2 enable outside" in whitepaper
    assert not any(line.startswith("webvpn") for line in whitepaper)


def test_whitepaper_tunnel_group_and_group_policy(whitepaper: list[str]) -> None:
    assert block(whitepaper, "tunnel-group CCIElab general-attributes") == [
        "tunnel-group CCIElab general-attributes",
        " address-pool VPN-Pool",
        " default-group-policy GP-CCIElab",
    ]
    assert block(whitepaper, "tunnel-group CCIElab ipsec-attributes") == [
        "tunnel-group CCIElab ipsec-attributes",
        " ikev2 remote-authentication eap query-identity",
        " ikev2 local-authentication certificate VPN-Identity",
    ]
    assert "tunnel-group CCIElab type remote-access" in whitepaper
    gp = block(whitepaper, "group-policy GP-CCIElab attributes")
    assert " vpn-tunnel-protocol ikev2" in gp
    assert " dns-server value 198.19.0.53" in gp
    assert " default-domain value lab.example.test" in gp
    assert " split-tunnel-policy tunnelall" in gp
    assert "group-policy GP-CCIElab internal" in whitepaper


def test_blocks_in_the_ftd_order(whitepaper: list[str]) -> None:
    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(whitepaper) if line.startswith(prefix))

    order = ["hostname", "interface", "logging enable", "ip local pool",
             "crypto ipsec ikev2 ipsec-proposal", "crypto map", "crypto ca trustpoint",
             "crypto ikev2 policy", "crypto ikev2 enable", "group-policy", "username",
             "tunnel-group", ": end"]
    positions = [first(p) for p in order]
    assert positions == sorted(positions)


def test_secrets_are_masked() -> None:
    config = load_config(CONFIG / "radius.yaml")
    text = render_running_config(config)
    assert "Lab-Radius-Secret" not in text and "Lab-Passw0rd" not in text
    assert text.count(" key *****") == 2
    assert "username alice password ***** pbkdf2" in text.splitlines()


def test_radius_groups_and_logging_hosts() -> None:
    lines = render_running_config(load_config(CONFIG / "radius.yaml")).splitlines()
    assert "aaa-server ISE protocol radius" in lines
    assert block(lines, "aaa-server ISE (inside) host 198.19.0.12") == [
        "aaa-server ISE (inside) host 198.19.0.12",
        " timeout 10",
        " key *****",
        " authentication-port 1812",
        " accounting-port 1813",
    ]
    general = block(lines, "tunnel-group CCIElab general-attributes")
    assert " authentication-server-group ISE" in general
    assert " accounting-server-group ISE" in general
    assert "logging host inside 198.19.0.10" in lines
    assert "logging timestamp rfc5424" in lines
    assert "logging list MANAGER_VPN_EVENT_LIST level informational class vpn" in lines
    assert "logging trap MANAGER_VPN_EVENT_LIST" in lines


def variant(*edits: tuple[str, str]) -> list[str]:
    text = MINIMAL.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return render_running_config(parse_config(text, MINIMAL)).splitlines()


def test_ssl_gives_webvpn_and_client_services_the_ikev2_port() -> None:
    lines = variant()  # minimal.yaml: FTD defaults, SSL+DTLS on, client services on
    assert block(lines, "webvpn") == ["webvpn", " enable outside", " anyconnect enable",
                                      " tunnel-group-list enable"]
    assert "crypto ikev2 enable outside client-services port 443" in lines


def test_tls_only_and_ports() -> None:
    lines = variant(
        ("      enable_ipsec_ikev2: true",
         "      enable_ipsec_ikev2: true\n      enable_dtls: false"),
        ("  ike_policies: [P1]", "  ike_policies: [P1]\n  web_access_port: 8443\n"
                                 "  dtls_port: 8443"),
    )
    assert block(lines, "webvpn")[:4] == ["webvpn", " port 8443", " dtls port 8443",
                                          " enable outside tls-only"]
    assert "crypto ikev2 enable outside client-services port 8443" in lines


def test_split_tunnel_acl_and_syslog_transport() -> None:
    lines = variant(
        ("  local_users:",
         "  group_policies:\n    - name: GP\n      split_tunnel: tunnel-specified\n"
         "      split_tunnel_networks: [10.1.0.0/16, 10.2.3.4/32]\n"
         "      banner: |\n        Authorised use only.\n        Second line.\n"
         "  local_users:"),
        ("    address_pools: [POOL]", "    address_pools: [POOL]\n    group_policy: GP"),
        ("connection_profiles:", "logging:\n  syslog_servers:\n    - host: 203.0.113.9\n"
                                 "      protocol: tcp\n    - host: 203.0.113.10\n      port: 5514\n"
                                 "connection_profiles:"),
    )
    assert "access-list GP_SplitTunnelAcl standard permit 10.1.0.0 255.255.0.0" in lines
    assert "access-list GP_SplitTunnelAcl standard permit host 10.2.3.4" in lines
    gp = block(lines, "group-policy GP attributes")
    assert gp[1:3] == [" banner value Authorised use only.", " banner value Second line."]
    assert " split-tunnel-policy tunnelspecified" in gp
    assert " split-tunnel-network-list value GP_SplitTunnelAcl" in gp
    # ASA style: protocol number/port unless UDP/514; the access interface by default.
    assert "logging host outside 203.0.113.9 6/1470" in lines
    assert "logging host outside 203.0.113.10 17/5514" in lines


def test_non_default_ipsec_lifetimes_on_the_dynamic_map() -> None:
    lines = variant(("      esp_hash: [SHA-256]",
                     "      esp_hash: [SHA-256]\n      lifetime_seconds: 3600"))
    assert ("crypto dynamic-map CSM_outside_map_dynamic 1 set security-association lifetime"
            " seconds 3600") in lines
    assert not any("kilobytes" in line for line in lines)


def test_built_in_tunnel_group_has_no_type_line() -> None:
    lines = variant(("  - name: Lab\n", "  - name: DefaultWEBVPNGroup\n"))
    assert "tunnel-group DefaultWEBVPNGroup general-attributes" in lines
    assert not any(line.endswith("type remote-access") for line in lines)


def test_offline_show_command(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIG / "ikev2d.yaml"
    assert main(["show", "running-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out == (GOLDEN / "ikev2d.txt").read_text()
    assert main(["show", "run", "--config", str(path)]) == 0  # FTD abbreviation
    capsys.readouterr()
    assert main(["show", "crypto", "ikev2", "sa", "--config", str(path)]) == 64  # usage: only running-config works offline
    assert "only show running-config works offline" in capsys.readouterr().err
    assert main(["show", "running-config", "--config", str(MINIMAL.parent / "bad_tab.yaml")]) == 1


def test_render_is_a_pure_function_of_the_config() -> None:
    config: Config = load_config(CONFIG / "weak.yaml")
    assert render_running_config(config) == render_running_config(config)


def test_show_running_config_of_a_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`show running-config crypto ikev2` prints only the commands that
    begin with those words (abbreviations allowed), with their sub-commands,
    as the ASA does; it used to be refused as invalid input."""
    path = ROOT / "config" / "ikev2d.yaml"
    assert main(["show", "running-config", "crypto", "ikev2", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert heads and all(line.startswith("crypto ikev2 ") for line in heads), out
    assert any(line.startswith(" encryption aes-256") for line in out.splitlines()), out
    assert main(["show", "run", "group-p", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("group-policy ") and "tunnel-group" not in out, out
    assert main(["show", "running-config", "nosuchthing", "--config", str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_client_certificate_profile_and_trusted_ca() -> None:
    """ASA: `tunnel-group X webvpn-attributes / authentication certificate`,
    `ikev2 remote-authentication certificate`, and the CA's trustpoint."""
    lines = variant(
        ("objects:\n", "objects:\n  trusted_ca_certificates:\n    - name: LAB-CA\n      certificate: ca.pem\n"),
        ("connection_profiles:\n  - name: ", "connection_profiles:\n  - authentication:\n"
                                            "      method: client-certificate\n    name: "),
    )
    assert block(lines, "crypto ca trustpoint LAB-CA") == [
        "crypto ca trustpoint LAB-CA", " enrollment terminal", " validation-usage ipsec-client", " crl configure"]
    ipsec = next(b for b in (block(lines, line) for line in lines if line.endswith(" ipsec-attributes")))
    assert " ikev2 remote-authentication certificate" in ipsec
    assert " ikev2 remote-authentication eap query-identity" not in ipsec
    webvpn = next(b for b in (block(lines, line) for line in lines if line.endswith(" webvpn-attributes")))
    assert webvpn[1] == " authentication certificate"


def test_certificate_and_aaa_profile() -> None:
    """FMC "Client Certificate & AAA": the ASA's `authentication aaa
    certificate`; IKEv2 still asks for the EAP identity (its second round)."""
    lines = variant(
        ("objects:\n", "objects:\n  trusted_ca_certificates:\n    - name: LAB-CA\n      certificate: ca.pem\n"),
        ("connection_profiles:\n  - name: ", "connection_profiles:\n  - authentication:\n"
                                            "      method: aaa-and-client-certificate\n    name: "),
    )
    ipsec = next(b for b in (block(lines, line) for line in lines if line.endswith(" ipsec-attributes")))
    assert " ikev2 remote-authentication eap query-identity" in ipsec
    webvpn = next(b for b in (block(lines, line) for line in lines if line.endswith(" webvpn-attributes")))
    assert webvpn[1] == " authentication aaa certificate"
