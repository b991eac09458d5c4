"""What changed between the running configuration and a new one, one line
per difference, the way an administrator reads a deployment preview:

    ikev2 policy NSA: encryption aes-256 -> aes-256 aes-192
    connection profile Lab: removed
    group policy GP-CCIElab: banner "Welcome" -> "Hello"
    interface outside: address 198.18.0.1 -> 198.18.0.9 (needs a restart: not applied)

Pure: two `Config` values in, `Change`s out. Secrets (passwords, RADIUS
keys: the model's repr=False fields) are never printed, only said to have
changed. Algorithms print as the ASA CLI spells them.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..conf import algorithms
from ..conf.model import Config

# A change that would need sockets or listeners rebuilt: reported, not applied
RESTART_NOTE = " (needs a restart: not applied)"


@dataclass(frozen=True)
class Change:
    text: str
    restart: bool = False  # takes effect only after ikev2d restarts

    def __str__(self) -> str:
        return self.text + (RESTART_NOTE if self.restart else "")


# -- values as the CLI prints them ---------------------------------------------

def _names(table: Any) -> Callable[[Any], str]:
    return lambda v: " ".join(str(table.get(x, x)).lower() for x in v) or "(none)"


# (object label, field) -> formatter, for fields whose values are IANA numbers
_FORMATS: dict[tuple[str, str], Callable[[Any], str]] = {
    ("ikev2 policy", "encryption"): _names(algorithms.ENCRYPTION_NAMES),
    ("ikev2 policy", "integrity"): _names(algorithms.INTEGRITY_NAMES),
    ("ikev2 policy", "prf"): _names(algorithms.PRF_NAMES),
    ("ikev2 policy", "dh_groups"): _names(algorithms.DH_GROUP_NUMBERS),
    ("ipsec proposal", "encryption"): _names(algorithms.ENCRYPTION_NAMES),
    ("ipsec proposal", "integrity"): _names(algorithms.ESP_INTEGRITY_NAMES),
}


def value_text(value: Any) -> str:
    """A value in one line; a dataclass without its secret fields."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return value.name.lower().replace("_", "-")
    if isinstance(value, str):
        plain = value != "" and all(c.isalnum() or c in "-_.:/@" for c in value)
        return value if plain else json.dumps(value)
    if isinstance(value, (tuple, list)):
        return " ".join(value_text(v) for v in value) if value else "(none)"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = [f"{f.name.replace('_', '-')} {value_text(getattr(value, f.name))}"
                 for f in dataclasses.fields(value) if f.repr]
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _field_lines(kind: str, label: str, old: Any, new: Any, restart_fields: frozenset[str] = frozenset(),
                 prefix: str = "", skip: frozenset[str] = frozenset()) -> list[Change]:
    """One line per field that differs between two values of one dataclass
    (`kind`: the section, "ikev2 policy"; `label`: the object, "ikev2 policy NSA")."""
    changes: list[Change] = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b or f.name in skip:
            continue
        name = prefix + f.name.replace("_", " ")
        restart = f.name in restart_fields
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b) and type(a) is type(b):
            changes += _field_lines(kind, label, a, b, restart_fields, prefix=name + " ")
            continue
        if not f.repr:  # a secret: that it changed, never what it is
            changes.append(Change(f"{label}: {name} changed", restart))
            continue
        render = _FORMATS.get((kind, f.name), value_text)
        was, now = render(a), render(b)
        if was == now:  # differs only in what is not printed (a secret inside)
            changes.append(Change(f"{label}: {name} changed (a secret)", restart))
        else:
            changes.append(Change(f"{label}: {name} {was} -> {now}", restart))
    return changes


# -- named objects ------------------------------------------------------------------

@dataclass(frozen=True)
class _Section:
    label: str  # "ikev2 policy", as the line starts
    items: Callable[[Config], Sequence[Any]]
    key: Callable[[Any], str] = lambda item: str(item.name)
    restart: bool = False  # every change in it needs a restart
    restart_fields: frozenset[str] = frozenset()


SECTIONS: tuple[_Section, ...] = (
    _Section("interface", lambda c: c.interfaces, restart=True),
    _Section("access interface", lambda c: c.remote_access_vpn.access_interfaces,
             key=lambda a: str(a.interface), restart=True),
    _Section("ikev2 policy", lambda c: c.ike_policies),
    _Section("ipsec proposal", lambda c: c.ipsec_proposals),
    _Section("ip local pool", lambda c: c.ipv4_pools),
    _Section("group policy", lambda c: c.group_policies),
    _Section("identity certificate", lambda c: c.identity_certificates),
    _Section("local user", lambda c: c.local_users, key=lambda u: str(u.username)),
    _Section("aaa-server group", lambda c: c.radius_server_groups),
    # the TLS listener of client services is set up once, at start
    _Section("connection profile", lambda c: c.connection_profiles,
             restart_fields=frozenset({"enable_client_services"})),
)

# remote access VPN settings bound to sockets (access interfaces: a section)
RA_RESTART_FIELDS = frozenset({"web_access_port", "dtls_port", "ike_port", "nat_t_port"})


def _section_lines(section: _Section, old: Config, new: Config) -> list[Change]:
    before = {section.key(i): i for i in section.items(old)}
    after = {section.key(i): i for i in section.items(new)}
    changes: list[Change] = []
    for name in _ordered(before, after):
        label = f"{section.label} {name}"
        if name not in after:
            changes.append(Change(f"{label}: removed", section.restart))
        elif name not in before:
            changes.append(Change(f"{label}: added", section.restart))
        elif before[name] != after[name]:
            changes += [dataclasses.replace(c, restart=c.restart or section.restart)
                        for c in _field_lines(section.label, label, before[name], after[name],
                                                       section.restart_fields)]
    return changes


def _ordered(before: dict[str, Any], after: dict[str, Any]) -> Iterable[str]:
    # the old file's order, then what the new one adds, in its order
    yield from before
    yield from (name for name in after if name not in before)


def config_changes(old: Config, new: Config) -> list[Change]:
    """Every difference between two configurations, in a stable order:
    device, remote access VPN, then each kind of object."""
    changes = _field_lines("device", "device", old.device, new.device)
    ra = "remote access vpn"
    changes += _field_lines(ra, ra, old.remote_access_vpn, new.remote_access_vpn, RA_RESTART_FIELDS,
                            skip=frozenset({"access_interfaces"}))
    for section in SECTIONS:
        changes += _section_lines(section, old, new)
    # the key export is opened at start: a new folder would split one capture's keys
    changes += _field_lines("logging", "logging", old.logging, new.logging, frozenset({"wireshark_keys", "debug_trace"}))
    return changes
