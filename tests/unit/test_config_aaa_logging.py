"""The configuration's RADIUS server groups, syslog destinations and the
interface details that only `show running-config` uses: values, FTD
defaults, and errors that name their line."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ikev2d.conf import Config, ConfigError, load_config, parse_config
from ikev2d.conf.model import RadiusServer

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "config"
MINIMAL = DATA / "minimal.yaml"
RADIUS_FILE = ROOT / "config" / "radius.yaml"

RADIUS = """
  radius_server_groups:
    - name: ISE
      servers:
        - host: 198.19.0.12
          secret: "s3cret-ISE-1"
          interface: outside
        - host: radius2.lab.example.test
          secret: s3cret-ISE-2
          authentication_port: 1645
          accounting_port: 1646
          timeout_seconds: 3
          retries: 0
"""


def variant(*edits: tuple[str, str]) -> str:
    text = MINIMAL.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def parse(*edits: tuple[str, str]) -> Config:
    return parse_config(variant(*edits), MINIMAL)


def error_of(*edits: tuple[str, str]) -> ConfigError:
    text = variant(*edits)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, MINIMAL)
    return caught.value


def line_of(text: str, needle: str) -> int:
    (line,) = [i + 1 for i, t in enumerate(text.splitlines()) if needle in t]
    return line


WITH_RADIUS = ("  local_users:", RADIUS.lstrip("\n") + "  local_users:")


def with_group(group: str) -> tuple[str, str]:
    return ("    address_pools: [POOL]",
            f"    address_pools: [POOL]\n    authentication:\n      server_group: {group}")


# --- RADIUS server groups ------------------------------------------------------------


def test_radius_group_values_and_defaults() -> None:
    config = parse(WITH_RADIUS)
    (group,) = config.radius_server_groups
    assert group.name == "ISE"
    first, second = group.servers
    # FMC RADIUS server defaults: 1812/1813, 10 s; ikev2d's 3 retransmissions.
    assert first == RadiusServer(
        IPv4Address("198.19.0.12"), 1812, 1813, secret="s3cret-ISE-1",
        timeout_seconds=10, retries=3, interface="outside",
    )
    assert second.host == "radius2.lab.example.test"
    assert (second.authentication_port, second.accounting_port) == (1645, 1646)
    assert (second.timeout_seconds, second.retries, second.interface) == (3, 0, None)


def test_radius_secret_never_in_repr() -> None:
    config = parse(WITH_RADIUS)
    text = repr(config) + str(config.radius_server_group("ISE"))
    assert "s3cret" not in text
    assert config.radius_server_group("ISE").servers[0].secret == "s3cret-ISE-1"


def test_profile_authenticates_against_a_radius_group() -> None:
    config = parse(WITH_RADIUS, with_group("ISE"),
                   ("    address_pools: [POOL]", "    address_pools: [POOL]\n"
                    "    accounting_server_group: ISE"))
    profile = config.profile("Lab")
    assert (profile.server_group, profile.accounting_server_group) == ("ISE", "ISE")
    assert not profile.authenticates_locally
    assert config.authentication_group_of(profile) is config.radius_server_group("ISE")
    assert config.accounting_group_of(profile) is config.radius_server_group("ISE")


def test_local_in_any_case_is_the_local_database() -> None:
    config = parse(WITH_RADIUS, with_group("local"))
    profile = config.profile("Lab")
    assert profile.server_group == "LOCAL" and profile.authenticates_locally
    assert config.authentication_group_of(profile) is None
    assert config.accounting_group_of(profile) is None


def test_unknown_server_group_lists_local_and_the_groups() -> None:
    error = error_of(WITH_RADIUS, with_group("ISR"))
    assert len(error.issues) == 1
    assert error.line == line_of(variant(WITH_RADIUS, with_group("ISR")), "server_group: ISR")
    assert "AAA server group 'ISR' is not defined" in error.problem
    assert "did you mean 'ISE'?" in error.problem
    assert "defined: LOCAL, ISE" in error.problem


def test_accounting_needs_a_radius_group() -> None:
    edit = ("    address_pools: [POOL]",
            "    address_pools: [POOL]\n    accounting_server_group: LOCAL")
    error = error_of(edit)
    assert error.line == line_of(variant(edit), "accounting_server_group")
    assert "LOCAL cannot do accounting" in error.problem


def test_radius_group_may_not_be_called_local() -> None:
    text = RADIUS.replace("name: ISE", "name: Local").lstrip("\n")
    error = error_of(("  local_users:", text + "  local_users:"))
    assert "LOCAL is the local user database" in error.problem


@pytest.mark.parametrize(
    ("old", "new", "needle", "words"),
    [
        ("host: 198.19.0.12", "host: 2001:db8::12", "2001:db8::12", ["only IPv4 is supported"]),
        ("host: 198.19.0.12", "host: 198.19.0.300", "198.19.0.300",
         ["neither an IPv4 address nor a DNS name"]),
        ("          timeout_seconds: 3", "          timeout_seconds: 0", "timeout_seconds",
         ["timeout_seconds must be between 1 and 300"]),
        ("          retries: 0", "          retries: 11", "retries",
         ["retries must be between 0 and 10"]),
        ("          interface: outside", "          interface: inside", "interface: inside",
         ["interface 'inside' is not defined"]),
        ("          accounting_port: 1646", "          accounting_port: 70000", "accounting_port",
         ["accounting_port must be between 1 and 65535"]),
        ('          secret: "s3cret-ISE-1"\n', "", "host: 198.19.0.12",
         ["RADIUS server 198.19.0.12 needs 'secret'"]),
        ("        - host: radius2.lab.example.test",
         "        - host: 198.19.0.12\n          secret: other\n"
         "        - host: radius2.lab.example.test",
         "secret: other",
         ["RADIUS server 198.19.0.12:1812 is listed twice"]),
    ],
)
def test_bad_radius_values_name_their_line(
    old: str, new: str, needle: str, words: list[str]
) -> None:
    bad = RADIUS.replace(old, new, 1).lstrip("\n")
    assert bad != RADIUS.lstrip("\n")
    edit = ("  local_users:", bad + "  local_users:")
    error = error_of(edit)
    assert len(error.issues) == 1, str(error)
    for word in words:
        assert word in error.problem, error.problem
    expected = line_of(variant(edit), needle)
    if "listed twice" in words[0]:
        expected -= 1  # the list item starts on its `- host:` line
    assert error.line == expected


def test_a_bad_secret_is_not_echoed() -> None:
    bad = RADIUS.replace('secret: "s3cret-ISE-1"', "secret: [s3cret-ISE-1]").lstrip("\n")
    error = error_of(("  local_users:", bad + "  local_users:"))
    assert "secret must be text" in error.problem
    assert "s3cret" not in str(error)


def test_a_broken_group_is_not_also_reported_as_undefined() -> None:
    bad = RADIUS.replace("          retries: 0", "          retries: many").lstrip("\n")
    error = error_of(("  local_users:", bad + "  local_users:"), with_group("ISE"))
    assert [i.problem for i in error.issues] == [
        "retries must be a whole number, got 'many'"
    ]


# --- logging ---------------------------------------------------------------------

LOGGING = """logging:
  vpn_logging_level: informational
  console: false
  file: ../log/ikev2d.log
  syslog_servers:
    - host: 198.18.0.10
      interface: outside
    - host: 198.18.0.11
      protocol: tcp
    - host: syslog.lab.example.test
      protocol: TCP
      port: 6514
      format: rfc3164
"""


def test_logging_values_and_defaults() -> None:
    config = parse(("connection_profiles:", LOGGING + "connection_profiles:"))
    log = config.logging
    assert (log.vpn_logging_level, log.console) == (6, False)
    # Relative to the configuration file's folder, like the PKI store.
    assert log.file == DATA.parent / "log" / "ikev2d.log"
    udp, tcp, named = log.syslog_servers
    # ASA `logging host`: UDP 514, TCP 1470 unless told; RFC 5424 framing.
    assert (udp.host, udp.port, udp.protocol, udp.format, udp.interface) == (
        IPv4Address("198.18.0.10"), 514, "udp", "rfc5424", "outside")
    assert (tcp.port, tcp.protocol, tcp.interface) == (1470, "tcp", None)
    assert (named.host, named.port, named.protocol, named.format) == (
        "syslog.lab.example.test", 6514, "tcp", "rfc3164")


def test_logging_defaults_when_silent() -> None:
    log = load_config(MINIMAL).logging
    assert (log.vpn_logging_level, log.console, log.file, log.syslog_servers) == (3, True, None, ())


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("      protocol: tcp\n", "      protocol: tls\n",
         ["unknown protocol 'tls'", "valid: udp, tcp"]),
        ("      format: rfc3164", "      format: emblem", ["unknown format 'emblem'"]),
        ("      interface: outside", "      interface: inside",
         ["interface 'inside' is not defined"]),
        ("  console: false", "  console: maybe", ["console must be true or false"]),
        ("    - host: 198.18.0.11",
         "    - host: 198.18.0.10\n      port: 514\n    - host: 198.18.0.11",
         ["syslog server udp/198.18.0.10:514 is listed twice"]),
    ],
)
def test_bad_logging_values_name_their_line(old: str, new: str, words: list[str]) -> None:
    bad = LOGGING.replace(old, new, 1)
    assert bad != LOGGING
    edit = ("connection_profiles:", bad + "connection_profiles:")
    error = error_of(edit)
    assert len(error.issues) == 1, str(error)
    for word in words:
        assert word in error.problem, error.problem
    offending = new.strip().splitlines()[0] if "listed twice" not in words[0] else "port: 514"
    assert error.line == line_of(variant(edit), offending) + (
        -1 if "listed twice" in words[0] else 0)


# --- interfaces ------------------------------------------------------------------


def test_interface_hardware_and_mask_defaults() -> None:
    config = parse(("    address: 203.0.113.1\n",
                    "    address: 203.0.113.1\n  - name: inside\n    address: 10.0.0.1\n"
                    "    mask: 255.255.0.0\n"))
    outside, inside = config.interfaces
    assert outside.hardware == "GigabitEthernet0/0"
    assert outside.mask == IPv4Address("255.255.255.0")
    assert (inside.hardware, inside.mask) == ("GigabitEthernet0/1", IPv4Address("255.255.0.0"))


def test_interface_hardware_used_twice() -> None:
    edit = ("    address: 203.0.113.1\n",
            "    address: 203.0.113.1\n  - name: inside\n    address: 10.0.0.1\n"
            "    hardware: GigabitEthernet0/0\n")
    error = error_of(edit)
    assert error.line == line_of(variant(edit), "hardware: GigabitEthernet0/0")
    assert "already interface 'outside'" in error.problem


# --- the shipped RADIUS example ------------------------------------------------------


def test_config_radius_yaml_loads() -> None:
    config = load_config(RADIUS_FILE)
    profile = config.default_profile()
    group = config.authentication_group_of(profile)
    assert group is not None and group.name == "ISE"
    assert config.accounting_group_of(profile) is group
    assert config.logging.vpn_logging_level == 6
    assert config.logging.syslog_servers[0].protocol == "udp"
