"""The responder's run-time settings, built once from the configuration:
objects resolved, pools and credential stores instantiated, the identity
certificate loaded, so no per-message work repeats a lookup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from cryptography import x509

from .aaa.local import CredentialStore, LocalUserDatabase
from .crypto.auth import PrivateKey
from .conf.model import CertificateMap, Config, ConnectionProfile, GroupPolicy, IkePolicy, IpsecProposal, RadiusServerGroup
from .identity import Identity, load_identity, load_trusted_ca
from .iana import EapType, IdType
from .pki.crl import CrlCache, Trustpoint
from .pool import AddressPool, Ipv4PoolSet, Ipv6AddressPool, Ipv6PoolSet
from .tasks.proposals import Pfs
from .tasks.traffic_selectors import ALL_IPV4, AddressRange, complement, network_ranges
from .wire.payloads import IDr


@dataclass
class ProfileSettings:
    profile: ConnectionProfile
    group_policy: GroupPolicy
    identity: Identity
    pools: Ipv4PoolSet
    pool_masks: dict[str, IPv4Address]
    credentials: CredentialStore
    eap_methods: tuple[int, ...]
    # RADIUS AAA: the authentication server group (None: the local user
    # database); with GTC first among the EAP methods, username/password
    # go to it as PAP, else EAP is relayed to it; the accounting group.
    radius_group: str | None = None
    radius_pap: bool = False
    accounting_group: str | None = None
    # the CAs a client certificate may chain to (every trusted CA object)
    trusted_cas: tuple[x509.Certificate, ...] = ()
    # IPv6 pools: a client asking for an IPv6 address as well gets one
    pools6: Ipv6PoolSet = field(default_factory=lambda: Ipv6PoolSet(()))

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def client_certificate(self) -> bool:
        """The client authenticates with a certificate and AUTH signature, not EAP."""
        return self.profile.authentication_method == "client-certificate"

    @property
    def certificate_then_aaa(self) -> bool:
        """A certificate and AUTH signature first, then EAP: two rounds
        (RFC 4739), the FMC's "Client Certificate & AAA"."""
        return self.profile.authentication_method == "aaa-and-client-certificate"

    def own_id(self) -> IDr:
        """The IDr we present: the profile's IKE identity as an address or
        FQDN, else (the FTD default) our certificate's subject DN."""
        name = self.profile.ike_identity
        if not name:
            return IDr(IdType.ID_DER_ASN1_DN, self.identity.certificate.subject.public_bytes())
        try:
            address = ip_address(name)
        except ValueError:
            return IDr(IdType.ID_FQDN, name.encode())
        kind = IdType.ID_IPV4_ADDR if address.version == 4 else IdType.ID_IPV6_ADDR
        return IDr(kind, address.packed)

    def protected_ranges(self) -> list[AddressRange]:
        return protected_ranges(self.group_policy)


def protected_ranges(gp: GroupPolicy) -> list[AddressRange]:
    """What TSr may cover under a group policy's split tunnel."""
    if gp.split_tunnel == "tunnel-specified" and gp.split_tunnel_networks:
        return network_ranges(gp.split_tunnel_networks)
    if gp.split_tunnel == "exclude-specified":
        # everything but the exclusions: the client's own policy then
        # sends excluded traffic in the clear, whether or not it reads
        # the Unity LOCAL_LAN list the configuration payload also carries
        return complement(gp.split_tunnel_networks)
    return network_ranges([ALL_IPV4])


@dataclass
class ResponderSettings:
    ike_policies: list[IkePolicy]
    ipsec_proposals: list[IpsecProposal]
    profiles: dict[str, ProfileSettings]
    default_profile: str
    fragment_size: int
    half_open_timeout: float = 30.0
    # FMC "IPsec/IKEv2 Parameters": maximum SAs in negotiation, and the cookie
    # challenge (always / never / custom at a share of that maximum). The
    # FTD's exact defaults are unconfirmed (docs/ftd-behaviour.md, "Defaults").
    max_half_open: int = 1024
    cookie_challenge: str = "custom"  # "always" | "never" | "custom"
    cookie_threshold_percent: int = 50
    # one source address may hold this many of them (strongSwan's
    # block_threshold is 5): enough for a NAT with clients connecting at
    # once, too few for one host, cookie or not, to fill the table
    max_half_open_per_address: int = 10
    send_cisco_vendor_ids: bool = True
    dpd_interval: float = 30.0  # FTD default: DPD on, 30 s
    mobike: bool = True  # RFC 4555 offered to clients that support it
    # PFS in CREATE_CHILD_SA: the crypto map's group, required; without one,
    # a client's PFS is accepted in any group our IKEv2 policies allow
    pfs: Pfs = field(default_factory=Pfs)
    pools: dict[str, AddressPool] = field(default_factory=dict)
    pools6: dict[str, Ipv6AddressPool] = field(default_factory=dict)
    # identity certificate name -> its private key, for the signing jobs
    signing_keys: dict[str, PrivateKey] = field(default_factory=dict, repr=False)
    # RADIUS server groups by name, for the adapter's RADIUS client
    radius_groups: dict[str, RadiusServerGroup] = field(default_factory=dict, repr=False)
    # the group policies a AAA server may assign, by name: the profiles'
    # own and the RA VPN's list (FMC Advanced > Group Policies)
    group_policies: dict[str, GroupPolicy] = field(default_factory=dict)
    # the date certificates are checked against: the core's own clock is
    # monotonic; tests set this one
    wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)
    # trusted CA objects with their revocation settings, and the CRLs fetched for them
    trustpoints: tuple[Trustpoint, ...] = ()
    crl_cache: CrlCache = field(default_factory=CrlCache)
    # Advanced > Certificate Maps: (map, profile name) in priority order,
    # and whether a certificate no map matches is refused
    certificate_mappings: tuple[tuple[CertificateMap, str], ...] = ()
    require_certificate_map: bool = False

    @property
    def default(self) -> ProfileSettings:
        return self.profiles[self.default_profile]


def _pfs(config: Config) -> Pfs:
    ra = config.remote_access_vpn
    if ra.pfs_group is not None:
        return Pfs((ra.pfs_group,), required=True)
    groups = dict.fromkeys(int(g) for p in config.ike_policies_in_priority_order() if p.name in ra.ike_policies
                           for g in p.dh_groups)
    return Pfs(tuple(groups))


def build_settings(config: Config) -> ResponderSettings:
    users = LocalUserDatabase({u.username: u.password for u in config.local_users})
    pools = {p.name: AddressPool(p.name, p.first, p.last, p.mask) for p in config.ipv4_pools}
    pools6 = {p.name: Ipv6AddressPool.from_config(p) for p in config.ipv6_pools}
    identities: dict[str, Identity] = {}
    profiles: dict[str, ProfileSettings] = {}
    trustpoints = tuple(Trustpoint(ca, tuple(load_trusted_ca(ca.certificate))) for ca in config.trusted_cas)
    trusted_cas = tuple(c for tp in trustpoints for c in tp.certificates)
    for cp in config.connection_profiles:
        cert_name = cp.identity_certificate
        if cert_name not in identities:
            identities[cert_name] = load_identity(config.identity_certificate(cert_name))
        profiles[cp.name] = ProfileSettings(
            profile=cp,
            group_policy=config.group_policy(cp.group_policy),
            identity=identities[cert_name],
            pools=Ipv4PoolSet([pools[name] for name in cp.address_pools]),
            pool_masks={name: pools[name].mask for name in cp.address_pools},
            credentials=users,
            eap_methods=tuple(int(m) for m in cp.eap_methods),
            radius_group=None if cp.authenticates_locally else cp.server_group,
            radius_pap=cp.eap_methods[:1] == (EapType.GTC,),
            accounting_group=cp.accounting_server_group,
            trusted_cas=trusted_cas,
            pools6=Ipv6PoolSet([pools6[name] for name in cp.ipv6_address_pools]),
        )
    ra = config.remote_access_vpn
    return ResponderSettings(
        ike_policies=[p for p in config.ike_policies_in_priority_order() if p.name in ra.ike_policies],
        ipsec_proposals=[config.ipsec_proposal(n) for n in ra.ipsec_proposals],
        profiles=profiles,
        default_profile=ra.default_connection_profile,
        fragment_size=ra.fragment_size,
        max_half_open=ra.ikev2_parameters.max_in_negotiation,
        cookie_challenge=ra.ikev2_parameters.cookie_challenge,
        cookie_threshold_percent=ra.ikev2_parameters.cookie_threshold_percent,
        dpd_interval=float(ra.ikev2_parameters.dpd_interval_seconds),
        mobike=ra.ikev2_parameters.mobike,
        pfs=_pfs(config),
        pools=pools,
        pools6=pools6,
        signing_keys={name: ident.private_key for name, ident in identities.items()},
        radius_groups={g.name: g for g in config.radius_server_groups},
        group_policies={gp.name: gp for gp in (*(p.group_policy for p in profiles.values()),
                                               *(config.group_policy(n) for n in ra.group_policies))},
        trustpoints=trustpoints,
        certificate_mappings=_certificate_mappings(config),
        require_certificate_map=config.remote_access_vpn.certificate_mapping is not None
        and config.remote_access_vpn.certificate_mapping.require_match,
    )


def _certificate_mappings(config: Config) -> tuple[tuple[CertificateMap, str], ...]:
    mapping = config.remote_access_vpn.certificate_mapping
    if mapping is None or not mapping.use_configured_rules:
        return ()
    maps = {m.name: m for m in config.certificate_maps}
    return tuple((maps[name], profile) for name, profile in mapping.mappings)
