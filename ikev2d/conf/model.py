"""The FMC objects of a remote-access VPN, as immutable values.

One dataclass per FMC object (Devices > Remote Access, Objects > VPN, ...).
The loader fills every field, FTD defaults included, and checks every
reference, so code reading a `Config` never meets a missing value or a name
that points nowhere. Algorithms are already IANA numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
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
AuthenticationMethod = Literal["aaa-only", "client-certificate", "aaa-and-client-certificate"]
SyslogProtocol = Literal["udp", "tcp"]
SyslogFormat = Literal["rfc5424", "rfc3164"]
# The built-in AAA server group: the local user database.
LOCAL_SERVER_GROUP = "LOCAL"


@dataclass(frozen=True, slots=True)
class Device:
    hostname: str


@dataclass(frozen=True, slots=True)
class Interface:
    """A named data interface (`nameif`). `mask` and `hardware` only feed
    `show running-config`; the loader fills them (FTDv's GigabitEthernet0/N)."""

    name: str
    address: IPv4Address
    mask: IPv4Address = IPv4Address("255.255.255.0")
    hardware: str = "GigabitEthernet0/0"
    ipv6: IPv6Interface | None = None  # `ipv6 address 2001:db8::1/64`: IKE listens here too

    def addresses(self) -> list[str]:
        """Where IKE is served on this interface: IPv4, then IPv6 when it has one."""
        return [str(self.address)] + ([str(self.ipv6.ip)] if self.ipv6 is not None else [])


@dataclass(frozen=True, slots=True)
class AccessInterface:
    """An interface of the RA VPN and the protocols it accepts (FMC Access Interfaces tab)."""

    interface: str
    enable_ipsec_ikev2: bool
    enable_ssl: bool
    enable_dtls: bool


@dataclass(frozen=True, slots=True)
class Ikev2Parameters:
    """FMC Advanced > IPsec > IPsec/IKEv2 Parameters (and DPD)."""

    cookie_challenge: str = "custom"  # "custom" | "always" | "never"
    cookie_threshold_percent: int = 50
    max_in_negotiation: int = 100
    dpd_interval_seconds: int = 30  # 0 turns dead peer detection off
    mobike: bool = True  # answer MOBIKE_SUPPORTED (RFC 4555) when a client offers it


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
    ikev2_parameters: Ikev2Parameters = Ikev2Parameters()
    # the crypto map's `set pfs groupN` (FMC: Enable Perfect Forward
    # Secrecy, Modulus Group); None: PFS not demanded
    pfs_group: int | None = None
    # UDP ports IKE is served on: 500/4500 on an FTD (fixed there); ikev2d
    # lets a lab or an unprivileged user move them
    ike_port: int = 500
    nat_t_port: int = 4500
    # FMC Advanced > Group Policies: besides the connection profiles' own,
    # the group policies a AAA server may assign (RADIUS Class "OU=name")
    group_policies: tuple[str, ...] = ()
    # FMC Advanced > Certificate Maps (`tunnel-group-map`); None: not used
    certificate_mapping: CertificateMapping | None = None


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
class Ipv6Pool:
    """`ipv6 local pool NAME START/PREFIX-LENGTH NUMBER`: NUMBER addresses
    from START on, each handed out with PREFIX-LENGTH."""

    name: str
    start: IPv6Address
    prefix_length: int
    number: int

    @property
    def last(self) -> IPv6Address:
        return self.start + (self.number - 1)

    @property
    def network(self) -> IPv6Network:
        return IPv6Network(f"{self.start}/{self.prefix_length}", strict=False)


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    name: str
    vpn_protocols: tuple[VpnProtocol, ...]
    dns_servers: tuple[IPv4Address | IPv6Address, ...]  # IPv6 ones: for dual-stack clients
    default_domain: str | None
    banner: str | None
    split_tunnel: SplitTunnel
    split_tunnel_networks: tuple[IPv4Network, ...]
    idle_timeout_minutes: int
    # FTD defaults: 3 logins per user at once, no maximum connect time
    simultaneous_logins: int = 3
    max_connect_time_minutes: int | None = None


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


RevocationCheck = Literal["none", "crl", "crl none"]


@dataclass(frozen=True, slots=True)
class TrustedCa:
    """A trustpoint holding a CA client certificates are validated against,
    with its `revocation-check` and `crl configure` settings."""

    name: str
    certificate: Path
    # `revocation-check crl` (fail when no CRL), `crl none` (then accept), `none`
    revocation_check: RevocationCheck = "none"
    # `crl configure` / `url N`: http:// URLs or absolute file paths, in order
    crl_urls: tuple[str, ...] = ()
    # `policy cdp` (the default) or `both`: the certificate's CRL distribution points too
    crl_use_distribution_point: bool = True
    crl_cache_minutes: int = 60  # `cache-time`
    crl_enforce_next_update: bool = True  # `enforcenextupdate`


CertificateMapField = Literal["subject-name", "issuer-name", "alt-subject-name", "extended-key-usage"]
CertificateMapOperator = Literal["eq", "ne", "co", "nc"]


@dataclass(frozen=True, slots=True)
class CertificateMapRule:
    """One line of `crypto ca certificate map NAME SEQ`, e.g. `subject-name
    attr ou eq Engineering`; `component` None: the whole field."""

    field: CertificateMapField
    component: str | None
    operator: CertificateMapOperator
    value: str


@dataclass(frozen=True, slots=True)
class CertificateMap:
    """FMC's Certificate Map object: a certificate matches when every rule does."""

    name: str
    rules: tuple[CertificateMapRule, ...]


@dataclass(frozen=True, slots=True)
class CertificateMapping:
    """FMC RA VPN Advanced > Certificate Maps (`tunnel-group-map`)."""

    use_configured_rules: bool  # `tunnel-group-map enable rules`
    mappings: tuple[tuple[str, str], ...]  # (certificate map, connection profile), in priority order
    # a certificate no map matches: refused, or on to the other selections
    require_match: bool = False


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
    # A RADIUS server group that receives accounting Start/Stop, or None.
    accounting_server_group: str | None = None
    # `ipv6-address-pool`: IPv6 pools, for clients that ask for an IPv6 address too
    ipv6_address_pools: tuple[str, ...] = ()

    @property
    def authenticates_locally(self) -> bool:
        return self.server_group == LOCAL_SERVER_GROUP


@dataclass(frozen=True, slots=True)
class RadiusServer:
    """One RADIUS server of a group (FMC RADIUS Server object; ASA `aaa-server G host`).

    `timeout_seconds` is the wait for a reply to one transmission and
    `retries` the retransmissions to this server before the next one is
    tried. `secret` is keyword-only and never in repr.
    """

    host: IPv4Address | str  # an address, or a DNS name to resolve
    authentication_port: int = 1812
    accounting_port: int = 1813
    secret: str = field(repr=False, kw_only=True)
    timeout_seconds: int = 10
    retries: int = 3
    interface: str | None = None  # ASA `aaa-server G (interface) host ...`


@dataclass(frozen=True, slots=True)
class RadiusServerGroup:
    """`aaa-server NAME protocol radius`: servers tried in order."""

    name: str
    servers: tuple[RadiusServer, ...]


@dataclass(frozen=True, slots=True)
class DebugTrace:
    """`debug crypto ikev2 protocol|platform LEVEL` kept running into a file."""

    file: Path  # absolute, resolved against the configuration's folder
    protocol: int = 127
    platform: int = 127
    format: str = "json"  # json (schema ikev2d-trace/1) | text (the FTD's debug layout)


@dataclass(frozen=True, slots=True)
class SyslogServer:
    """FMC Platform Settings > Syslog > Syslog Servers (ASA `logging host`)."""

    host: IPv4Address | str
    port: int = 514
    protocol: SyslogProtocol = "udp"
    format: SyslogFormat = "rfc5424"
    interface: str | None = None  # the interface it is reached through


@dataclass(frozen=True, slots=True)
class Logging:
    """Where FTD syslog messages go and which ones (FMC Platform Settings > Syslog)."""

    vpn_logging_level: int  # syslog severity 3 (errors) .. 7 (debugging)
    console: bool = True  # ikev2d's standard output
    file: Path | None = None  # absolute, resolved against the configuration's folder
    syslog_servers: tuple[SyslogServer, ...] = ()
    # the explicit key export: Wireshark's decryption tables written here
    wireshark_keys: Path | None = None
    debug_trace: DebugTrace | None = None
    # the internal buffer (`logging buffered`, `logging buffer-size`): its
    # severity level, None when off (the ASA's default), and size in bytes
    buffered: int | None = None
    buffer_size: int = 4096


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
    radius_server_groups: tuple[RadiusServerGroup, ...] = ()
    trusted_cas: tuple[TrustedCa, ...] = ()
    ipv6_pools: tuple[Ipv6Pool, ...] = ()
    certificate_maps: tuple[CertificateMap, ...] = ()

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

    def ipv6_pool(self, name: str) -> Ipv6Pool:
        return _by_name(self.ipv6_pools, name, "IPv6 pool")

    def group_policy(self, name: str) -> GroupPolicy:
        return _by_name(self.group_policies, name, "group policy")

    def identity_certificate(self, name: str) -> IdentityCertificate:
        return _by_name(self.identity_certificates, name, "identity certificate")

    def profile(self, name: str) -> ConnectionProfile:
        return _by_name(self.connection_profiles, name, "connection profile")

    def default_profile(self) -> ConnectionProfile:
        return self.profile(self.remote_access_vpn.default_connection_profile)

    def radius_server_group(self, name: str) -> RadiusServerGroup:
        return _by_name(self.radius_server_groups, name, "RADIUS server group")

    def authentication_group_of(self, profile: ConnectionProfile) -> RadiusServerGroup | None:
        """The profile's RADIUS group, or None when it authenticates against LOCAL."""
        if profile.authenticates_locally:
            return None
        return self.radius_server_group(profile.server_group)

    def accounting_group_of(self, profile: ConnectionProfile) -> RadiusServerGroup | None:
        name = profile.accounting_server_group
        return None if name is None else self.radius_server_group(name)

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
