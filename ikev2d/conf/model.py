"""The FMC objects of a remote-access VPN, as immutable values.

One dataclass per FMC object (Devices > Remote Access, Objects > VPN, ...).
The loader fills every field, FTD defaults included, and checks every
reference, so code reading a `Config` never meets a missing value or a name
that points nowhere. Algorithms are already IANA numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from ikev2d.iana import DhId, EapType, EncrId, IntegId, PrfId

# (transform ID, key length in bits); 0 bits marks a fixed-length cipher
# (DES, 3DES), which must be sent without a Key Length attribute (RFC 7296 §3.3.5).
Encryption = tuple[EncrId, int]

Enrollment = Literal["self-signed", "files"]
KeyType = Literal["rsa-2048", "rsa-3072", "ecdsa-p256", "ecdsa-p384"]
SplitTunnel = Literal["tunnel-all", "tunnel-specified", "exclude-specified"]
VpnProtocol = Literal["ipsec-ikev2", "ssl-client"]
AuthenticationMethod = Literal["aaa-only"]


@dataclass(frozen=True, slots=True)
class Device:
    hostname: str


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class AccessInterface:
    """An interface of the RA VPN and the protocols it accepts (FMC Access Interfaces tab)."""

    interface: str
    enable_ipsec_ikev2: bool
    enable_ssl: bool
    enable_dtls: bool


@dataclass(frozen=True, slots=True)
class RemoteAccessVpn:
    name: str
    access_interfaces: tuple[AccessInterface, ...]
    ike_policies: tuple[str, ...]
    ipsec_proposals: tuple[str, ...]
    fragment_size: int
    web_access_port: int
    dtls_port: int
    default_connection_profile: str


@dataclass(frozen=True, slots=True)
class IkePolicy:
    """`crypto ikev2 policy <priority>`: one IKE SA proposal, lower priority first."""

    name: str
    priority: int
    encryption: tuple[Encryption, ...]
    integrity: tuple[IntegId, ...]
    prf: tuple[PrfId, ...]
    dh_groups: tuple[DhId, ...]
    lifetime_seconds: int


@dataclass(frozen=True, slots=True)
class IpsecProposal:
    """`crypto ipsec ikev2 ipsec-proposal`: ESP transforms for the child SA."""

    name: str
    encryption: tuple[Encryption, ...]
    integrity: tuple[IntegId, ...]
    lifetime_seconds: int
    lifetime_kilobytes: int


@dataclass(frozen=True, slots=True)
class Ipv4Pool:
    """`ip local pool NAME FIRST-LAST mask MASK`."""

    name: str
    first: IPv4Address
    last: IPv4Address
    mask: IPv4Address

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(f"{self.first}/{self.mask}", strict=False)


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    name: str
    vpn_protocols: tuple[VpnProtocol, ...]
    dns_servers: tuple[IPv4Address, ...]
    default_domain: str | None
    banner: str | None
    split_tunnel: SplitTunnel
    split_tunnel_networks: tuple[IPv4Network, ...]
    idle_timeout_minutes: int


@dataclass(frozen=True, slots=True)
class IdentityCertificate:
    """The certificate the headend authenticates with (a trustpoint).

    Paths are absolute, resolved against the configuration file's folder.
    `subject` is a DN as an admin writes it (`CN=vpn.example.test, O=Lab`).
    """

    name: str
    enrollment: Enrollment
    subject: str
    subject_alt_names: tuple[str, ...]
    key_type: KeyType
    store: Path
    certificate: Path | None
    private_key: Path | None


@dataclass(frozen=True, slots=True)
class LocalUser:
    username: str
    # repr=False: a Config printed in a log or a test failure must not leak it.
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    """A tunnel-group: how its users authenticate and what they are given."""

    name: str
    authentication_method: AuthenticationMethod
    server_group: str
    eap_methods: tuple[EapType, ...]  # first is offered, the others on Nak
    ike_identity: str | None  # None: identify by the certificate's subject DN
    identity_certificate: str
    address_pools: tuple[str, ...]
    group_policy: str
    enable_client_services: bool


@dataclass(frozen=True, slots=True)
class Logging:
    vpn_logging_level: int  # syslog severity 3 (errors) .. 7 (debugging)


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    device: Device
    interfaces: tuple[Interface, ...]
    remote_access_vpn: RemoteAccessVpn
    ike_policies: tuple[IkePolicy, ...]
    ipsec_proposals: tuple[IpsecProposal, ...]
    ipv4_pools: tuple[Ipv4Pool, ...]
    group_policies: tuple[GroupPolicy, ...]
    identity_certificates: tuple[IdentityCertificate, ...]
    local_users: tuple[LocalUser, ...]
    connection_profiles: tuple[ConnectionProfile, ...]
    logging: Logging

    # Lookups by a name taken from the configuration itself raise KeyError:
    # the loader checked every reference, so a miss is a bug, not a user error.

    def interface(self, name: str) -> Interface:
        return _by_name(self.interfaces, name, "interface")

    def ikev2_interfaces(self) -> tuple[Interface, ...]:
        """The interfaces that serve IKEv2, in access-interface order."""
        return tuple(
            self.interface(a.interface)
            for a in self.remote_access_vpn.access_interfaces
            if a.enable_ipsec_ikev2
        )

    def ike_policy(self, name: str) -> IkePolicy:
        return _by_name(self.ike_policies, name, "IKEv2 policy")

    def ike_policies_in_priority_order(self) -> tuple[IkePolicy, ...]:
        """The RA VPN's IKEv2 policies, lowest priority number first (as FTD tries them)."""
        chosen = (self.ike_policy(n) for n in self.remote_access_vpn.ike_policies)
        return tuple(sorted(chosen, key=lambda p: p.priority))

    def ipsec_proposal(self, name: str) -> IpsecProposal:
        return _by_name(self.ipsec_proposals, name, "IKEv2 IPsec proposal")

    def ipsec_proposals_in_order(self) -> tuple[IpsecProposal, ...]:
        """The RA VPN's IPsec proposals in the order the admin listed them."""
        return tuple(self.ipsec_proposal(n) for n in self.remote_access_vpn.ipsec_proposals)

    def pool(self, name: str) -> Ipv4Pool:
        return _by_name(self.ipv4_pools, name, "IPv4 pool")

    def pools_of(self, profile: ConnectionProfile) -> tuple[Ipv4Pool, ...]:
        return tuple(self.pool(n) for n in profile.address_pools)

    def group_policy(self, name: str) -> GroupPolicy:
        return _by_name(self.group_policies, name, "group policy")

    def identity_certificate(self, name: str) -> IdentityCertificate:
        return _by_name(self.identity_certificates, name, "identity certificate")

    def profile(self, name: str) -> ConnectionProfile:
        return _by_name(self.connection_profiles, name, "connection profile")

    def default_profile(self) -> ConnectionProfile:
        return self.profile(self.remote_access_vpn.default_connection_profile)

    def local_user(self, username: str) -> LocalUser | None:
        """The LOCAL realm entry, or None: the name comes from a peer, so a miss is normal."""
        for user in self.local_users:
            if user.username == username:
                return user
        return None


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _by_name(items: tuple[_N, ...], name: str, kind: str) -> _N:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {kind} named {name!r}")
