"""What the loader carries while it reads one file: issues found so far and
the objects defined so far, by kind, so references can be checked on the
line that makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Generic, TypeVar

import yaml

from . import defaults, nodes
from .model import (
    CertificateMap,
    ConnectionProfile,
    GroupPolicy,
    IdentityCertificate,
    IkePolicy,
    Interface,
    IpsecProposal,
    Ipv4Pool,
    Ipv6Pool,
    LocalUser,
    RadiusServerGroup,
    TrustedCa,
)
from .nodes import Problem

T = TypeVar("T")


class Registry(Generic[T]):
    """The objects of one kind (e.g. IPv4 pools), by name, in file order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.items: dict[str, T] = {}
        self.lines: dict[str, int] = {}
        # Names of objects that failed to load: their error is already
        # reported, so a reference to them must not add "not defined".
        self.broken: set[str] = set()

    def add(self, node: yaml.Node, name: str, item: T) -> None:
        if name in self.items:
            raise Problem.at(
                node, f"{self.kind} '{name}' is defined twice (first at line {self.lines[name]})"
            )
        self.items[name] = item
        self.lines[name] = nodes.line_of(node)

    def resolve(self, node: yaml.Node, what: str) -> str:
        """The name a reference node gives, which must be defined."""
        name = nodes.name(node, what)
        if name in self.items or name in self.broken:
            return name
        defined = (
            f"defined: {', '.join(self.items)}" if self.items else f"no {self.kind} is defined"
        )
        raise Problem.at(
            node, f"{what} '{name}' is not defined{nodes.suggest(name, self.items)}; {defined}"
        )

    def resolve_optional(self, node: yaml.Node | None, what: str) -> str | None:
        """`resolve`, or None when the reference is left out."""
        return None if node is None else self.resolve(node, what)

    def values(self) -> tuple[T, ...]:
        return tuple(self.items.values())


class Context:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Relative file names in the configuration are relative to its folder.
        self.folder = path.absolute().parent
        self.issues: list[tuple[int, str]] = []
        self.hostname = defaults.HOSTNAME
        self.interfaces: Registry[Interface] = Registry("interface")
        self.ike_policies: Registry[IkePolicy] = Registry("IKEv2 policy")
        self.ipsec_proposals: Registry[IpsecProposal] = Registry("IKEv2 IPsec proposal")
        self.pools: Registry[Ipv4Pool] = Registry("IPv4 pool")
        self.ipv6_pools: Registry[Ipv6Pool] = Registry("IPv6 pool")
        self.group_policies: Registry[GroupPolicy] = Registry("group policy")
        self.certificates: Registry[IdentityCertificate] = Registry("identity certificate")
        self.trusted_cas: Registry[TrustedCa] = Registry("trusted CA certificate")
        self.certificate_maps: Registry[CertificateMap] = Registry("certificate map")
        self.users: Registry[LocalUser] = Registry("local user")
        self.radius_groups: Registry[RadiusServerGroup] = Registry("RADIUS server group")
        self.profiles: Registry[ConnectionProfile] = Registry("connection profile")

    def attempt(self, parse: Callable[[], T]) -> T | None:
        """Run one object's parse; on a Problem, record it and carry on."""
        try:
            return parse()
        except Problem as problem:
            self.issues.extend(problem.issues)
            return None

    def each(
        self,
        item_nodes: list[yaml.Node],
        registry: Registry[T] | None,
        parse: Callable[[yaml.Node], object],
    ) -> None:
        """Parse every item of a list, each on its own, remembering broken names."""
        for item in item_nodes:
            try:
                parse(item)
            except Problem as problem:
                self.issues.extend(problem.issues)
                hint = name_hint(item)
                if registry is not None and hint is not None:
                    registry.broken.add(hint)


def name_hint(node: yaml.Node) -> str | None:
    """The `name:` (or `username:`) of a mapping that failed to load, if readable."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if (
            isinstance(key, yaml.ScalarNode)
            and key.value in ("name", "username")
            and isinstance(value, yaml.ScalarNode)
        ):
            return str(value.value).strip()
    return None
