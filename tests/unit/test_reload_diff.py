"""The configuration diff a reload reports, line by line (issue 7 point 4)."""

from __future__ import annotations

from pathlib import Path

from ikev2d.conf import Config, load_config
from ikev2d.reload import Change, config_changes
from ikev2d.reload.diff import RESTART_NOTE

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "config" / "ikev2d.yaml").read_text()


def load(tmp_path: Path, name: str, text: str) -> Config:
    path = tmp_path / name
    path.write_text(text)
    return load_config(path)


def changes(tmp_path: Path, *edits: tuple[str, str], base: str = BASE) -> list[str]:
    new = base
    for old, replacement in edits:
        assert old in new, old
        new = new.replace(old, replacement, 1)
    return [str(c) for c in config_changes(load(tmp_path, "old.yaml", base), load(tmp_path, "new.yaml", new))]


def test_the_same_file_has_no_change(tmp_path: Path) -> None:
    assert changes(tmp_path) == []


def test_ike_policy_algorithms_print_as_the_cli_spells_them(tmp_path: Path) -> None:
    assert changes(tmp_path, ("encryption: [AES-256]\n      integrity", "encryption: [AES-256, AES-192]\n      integrity"),
                   ("dh_groups: [15]", "dh_groups: [15, 20]")) == [
        "ikev2 policy NSA: encryption aes-256 -> aes-256 aes-192",
        "ikev2 policy NSA: dh groups 15 -> 15 20",
    ]


def test_a_new_policy_is_an_added_object_and_a_new_list_in_the_ra_vpn(tmp_path: Path) -> None:
    policy = ("    - name: NSA\n      priority: 10\n",
              "    - name: GCM\n      priority: 5\n      encryption: [AES-GCM-256]\n      integrity: [NULL]\n"
              "      prf: [SHA384]\n      dh_groups: [20]\n      lifetime_seconds: 86400\n"
              "    - name: NSA\n      priority: 10\n")
    assert changes(tmp_path, policy, ("ike_policies: [NSA]", "ike_policies: [GCM, NSA]")) == [
        "remote access vpn: ike policies NSA -> GCM NSA",
        "ikev2 policy GCM: added",
    ]


def test_removed_and_added_objects(tmp_path: Path) -> None:
    lines = changes(tmp_path, ("  - name: CCIElab\n", "  - name: Lab2\n"),
                    ("default_connection_profile: CCIElab", "default_connection_profile: Lab2"))
    assert lines == ["remote access vpn: default connection profile CCIElab -> Lab2",
                     "connection profile CCIElab: removed", "connection profile Lab2: added"]


def test_group_policy_banner_and_dpd(tmp_path: Path) -> None:
    assert changes(tmp_path, ("default_domain: lab.example.test", "default_domain: lab.example.test\n"
                              "      banner: \"Authorized users only\""),
                   ("dpd_interval_seconds: 30", "dpd_interval_seconds: 10")) == [
        "remote access vpn: ikev2 parameters dpd interval seconds 30 -> 10",
        'group policy GP-CCIElab: banner none -> "Authorized users only"',
    ]


def test_secrets_are_said_to_change_never_shown(tmp_path: Path) -> None:
    lines = changes(tmp_path, ("password: Lab-Passw0rd-2", "password: New-Secret-Pw-7"))
    assert lines == ["local user bob: password changed"]
    radius = (ROOT / "config" / "radius.yaml").read_text()
    assert "secret: Lab-Radius-Secret" in radius
    lines = changes(tmp_path, ("secret: Lab-Radius-Secret", "secret: Other-Radius-Key-3"), base=radius)
    assert len(lines) == 1 and lines[0].startswith("aaa-server group ISE: servers changed"), lines
    assert not any("Lab-Radius-Secret" in x or "Other-Radius-Key-3" in x for x in lines)


def test_listening_changes_need_a_restart(tmp_path: Path) -> None:
    lines = changes(tmp_path, ("address: 198.18.0.1 ", "address: 198.18.0.9 "),
                    ("enable_ssl: false", "enable_ssl: true"), ("web_access_port: 443", "web_access_port: 8443"))
    assert lines == [
        "remote access vpn: web access port 443 -> 8443" + RESTART_NOTE,
        "interface outside: address 198.18.0.1 -> 198.18.0.9" + RESTART_NOTE,
        "access interface outside: enable ssl no -> yes" + RESTART_NOTE,
    ]


def test_client_services_switch_needs_a_restart_but_the_rest_of_the_profile_applies(tmp_path: Path) -> None:
    found = config_changes(load(tmp_path, "a.yaml", BASE), load(tmp_path, "b.yaml", BASE.replace(
        "enable_client_services: false", "enable_client_services: true").replace(
        "eap_methods: [mschapv2, md5, gtc]", "eap_methods: [md5, mschapv2]")))
    assert found == [Change("connection profile CCIElab: eap methods mschapv2 md5-challenge gtc -> "
                            "md5-challenge mschapv2"),
                     Change("connection profile CCIElab: enable client services no -> yes", restart=True)]


def test_a_new_key_export_folder_needs_a_restart(tmp_path: Path) -> None:
    lines = changes(tmp_path, ("  console: true", "  console: true\n  wireshark_keys: keys"))
    assert lines == [f"logging: wireshark keys none -> {tmp_path / 'keys'}{RESTART_NOTE}"]
