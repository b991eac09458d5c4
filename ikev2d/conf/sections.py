"""The device-level sections: device, interfaces, connection profiles and the
RA VPN itself (logging: logging_settings.py). They reference the `objects:`
section, so they are read after it; each reference is checked on the line
that makes it.
"""

from __future__ import annotations

from typing import Callable, Mapping

import yaml

from ikev2d.iana import IKE_PORT, NAT_T_PORT, EapType

from . import defaults, nodes, schema
from .context import Context
from .model import (
    AccessInterface,
    AuthenticationMethod,
    CertificateMapping,
    ConnectionProfile,
    Device,
    Ikev2Parameters,
    Interface,
    LOCAL_SERVER_GROUP,
    RemoteAccessVpn,
)
from .nodes import Fields, Problem, named_fields
from .objects import dh_group, netmask
from .san import is_dns_name

DEVICE_KEYS = schema.keys("device")
INTERFACE_KEYS = schema.keys("interfaces[]")
PROFILE_KEYS = schema.keys("connection_profiles[]")
AUTHENTICATION_KEYS = schema.keys("connection_profiles[].authentication")
RA_VPN_KEYS = schema.keys("remote_access_vpn")
IKEV2_PARAMETER_KEYS = schema.keys("remote_access_vpn.ikev2_parameters")
COOKIE_CHALLENGES: Mapping[str, str] = {"custom": "custom", "always": "always", "never": "never"}
ACCESS_INTERFACE_KEYS = schema.keys("remote_access_vpn.access_interfaces[]")
CERTIFICATE_MAPPING_KEYS = schema.keys("remote_access_vpn.certificate_mapping")
MAPPING_KEYS = schema.keys("remote_access_vpn.certificate_mapping.mappings[]")

AUTHENTICATION_METHODS: Mapping[str, AuthenticationMethod] = {
    "aaa-only": "aaa-only", "client-certificate": "client-certificate",
    "aaa-and-client-certificate": "aaa-and-client-certificate"}
# the methods that validate a client certificate, so need a trusted CA
CERTIFICATE_METHODS = ("client-certificate", "aaa-and-client-certificate")
# FMC offers this too; ikev2d cannot do it, which deserves its own words.
UNSUPPORTED_METHODS = ("saml",)
EAP_METHODS: Mapping[str, EapType] = {
    "mschapv2": EapType.MSCHAPV2,
    "md5": EapType.MD5_CHALLENGE,
    "gtc": EapType.GTC,
}
MAX_POOLS_PER_PROFILE = 6  # ASA tunnel-group `address-pool` takes up to six
# RFC 7383 asks for at least 576 octets over IPv4; above an Ethernet MTU a
# "fragment" would itself be fragmented by IP.
FRAGMENT_SIZE_RANGE = (576, 1500)


def read_device(ctx: Context, node: yaml.Node | None) -> Device:
    if node is None:
        return Device(defaults.HOSTNAME)
    fields = Fields(node, "device", DEVICE_KEYS)
    hostname_node = fields.optional("hostname")
    if hostname_node is None:
        return Device(defaults.HOSTNAME)
    hostname = nodes.name(hostname_node, "hostname")
    if not is_dns_name(hostname) or "." in hostname:
        raise Problem.at(
            hostname_node, f"hostname '{hostname}' must be letters, digits and hyphens (max 63)"
        )
    ctx.hostname = hostname
    return Device(hostname)


def read_interface(ctx: Context, node: yaml.Node, index: int) -> None:
    """One data interface; `index` (file order) names its default hardware port."""
    fields, name_node, name = named_fields(node, "interface", INTERFACE_KEYS)
    address_node = fields.required("address")
    address = nodes.ipv4(address_node, "address")
    ipv6_node = fields.optional("ipv6_address")
    ipv6 = None if ipv6_node is None else nodes.ipv6_interface(ipv6_node, "ipv6_address")
    mask_node = fields.optional("mask")
    mask = defaults.INTERFACE_MASK if mask_node is None else netmask(mask_node, "mask")
    hardware_node = fields.optional("hardware")
    hardware = (
        defaults.INTERFACE_HARDWARE.format(index=index)
        if hardware_node is None
        else nodes.name(hardware_node, "hardware")
    )
    for other in ctx.interfaces.items.values():
        if other.address == address and other.name != name:
            raise Problem.at(
                address_node, f"address {address} is already on interface '{other.name}'"
            )
        if ipv6 is not None and other.ipv6 is not None and other.ipv6.ip == ipv6.ip and other.name != name:
            raise Problem.at(ipv6_node or name_node, f"address {ipv6.ip} is already on interface '{other.name}'")
        if other.hardware == hardware and other.name != name:
            raise Problem.at(
                hardware_node or name_node,
                f"hardware {hardware} is already interface '{other.name}'",
            )
    ctx.interfaces.add(name_node, name, Interface(name, address, mask, hardware, ipv6))


# --- connection profiles ---------------------------------------------------------


def read_profile(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "connection profile", PROFILE_KEYS)
    what = fields.what
    auth_node = fields.optional("authentication")
    method, server_group, eap = _authentication(ctx, auth_node)
    if method in CERTIFICATE_METHODS and not ctx.trusted_cas.items and auth_node is not None:
        raise Problem.at(auth_node, f"{what} authenticates by client certificate: define the CA"
                         " its users' certificates chain to under objects.trusted_ca_certificates")
    identity_node = fields.optional("ike_identity")
    ike_identity = None if identity_node is None else nodes.name(identity_node, "ike_identity")
    certificate = _profile_certificate(ctx, fields, what)
    pools: list[str] = []
    seen: dict[object, int] = {}
    pools_node = fields.optional("address_pools")
    for entry in nodes.items(pools_node, "address_pools"):
        pool = ctx.pools.resolve(entry, "IPv4 pool")
        nodes.unique(entry, seen, pool, f"IPv4 pool '{pool}'")
        pools.append(pool)
    if len(pools) > MAX_POOLS_PER_PROFILE and pools_node is not None:
        raise Problem.at(pools_node, f"{what} lists {len(pools)} address pools; at most 6")
    pools6: list[str] = []
    pools6_node = fields.optional("ipv6_address_pools")
    for entry in nodes.items(pools6_node, "ipv6_address_pools"):
        pool = ctx.ipv6_pools.resolve(entry, "IPv6 pool")
        nodes.unique(entry, seen, ("v6", pool), f"IPv6 pool '{pool}'")
        pools6.append(pool)
    if len(pools6) > MAX_POOLS_PER_PROFILE and pools6_node is not None:
        raise Problem.at(pools6_node, f"{what} lists {len(pools6)} IPv6 address pools; at most 6")
    policy_node = fields.optional("group_policy")
    group_policy = (
        defaults.GROUP_POLICY
        if policy_node is None
        else ctx.group_policies.resolve(policy_node, "group policy")
    )
    services_node = fields.optional("enable_client_services")
    services = (
        defaults.ENABLE_CLIENT_SERVICES
        if services_node is None
        else nodes.boolean(services_node, "enable_client_services")
    )
    accounting_node = fields.optional("accounting_server_group")
    accounting = (
        None if accounting_node is None else _radius_group(ctx, accounting_node, "accounting")
    )
    profile = ConnectionProfile(
        name, method, server_group, eap, ike_identity, certificate, tuple(pools), group_policy,
        services, accounting, tuple(pools6),
    )
    ctx.profiles.add(name_node, name, profile)


def _authentication(
    ctx: Context, node: yaml.Node | None
) -> tuple[AuthenticationMethod, str, tuple[EapType, ...]]:
    if node is None:
        return defaults.AUTHENTICATION_METHOD, defaults.SERVER_GROUP, defaults.EAP_METHODS
    fields = Fields(node, "authentication", AUTHENTICATION_KEYS)
    method_node = fields.optional("method")
    method: AuthenticationMethod = defaults.AUTHENTICATION_METHOD
    if method_node is not None:
        written = nodes.text(method_node, "method").strip()
        if written.lower() in UNSUPPORTED_METHODS:
            raise Problem.at(
                method_node, f"authentication method '{written}' is not supported; use aaa-only, client-certificate"
                " or aaa-and-client-certificate"
            )
        method = nodes.choice(method_node, "authentication method", AUTHENTICATION_METHODS)
    group_node = fields.optional("server_group")
    server_group = defaults.SERVER_GROUP if group_node is None else _server_group(ctx, group_node)
    eap_node = fields.optional("eap_methods")
    eap: tuple[EapType, ...] = defaults.EAP_METHODS
    if eap_node is not None:
        entries = nodes.items(eap_node, "eap_methods")
        if not entries:
            raise Problem.at(eap_node, "eap_methods lists nothing")
        seen: dict[object, int] = {}
        chosen: list[EapType] = []
        for entry in entries:
            method_id = nodes.choice(entry, "EAP method", EAP_METHODS)
            nodes.unique(entry, seen, method_id, f"EAP method '{entry.value}'")
            chosen.append(method_id)
        eap = tuple(chosen)
    return method, server_group, eap


def _server_group(ctx: Context, node: yaml.Node) -> str:
    """LOCAL (any case) or a RADIUS server group defined under objects."""
    name = nodes.name(node, "AAA server group")
    if name.upper() == LOCAL_SERVER_GROUP:
        return LOCAL_SERVER_GROUP
    return _radius_group(ctx, node, "AAA")


def _radius_group(ctx: Context, node: yaml.Node, use: str) -> str:
    name = nodes.name(node, f"{use} server group")
    registry = ctx.radius_groups
    if name in registry.items or name in registry.broken:
        return name
    known = ([LOCAL_SERVER_GROUP] if use == "AAA" else []) + list(registry.items)
    defined = f"defined: {', '.join(known)}" if known else "no RADIUS server group is defined"
    if use != "AAA" and name.upper() == LOCAL_SERVER_GROUP:
        defined = "LOCAL cannot do accounting; name a RADIUS server group"
    raise Problem.at(
        node,
        f"{use} server group '{name}' is not defined{nodes.suggest(name, known)}; {defined}",
    )


def _profile_certificate(ctx: Context, fields: Fields, what: str) -> str:
    node = fields.optional("identity_certificate")
    if node is not None:
        return ctx.certificates.resolve(node, "identity certificate")
    # Unstated: FTD would use the interface's (or the global) trustpoint;
    # with exactly one identity certificate there is nothing to choose.
    known = list(ctx.certificates.items)
    if len(known) == 1 and not ctx.certificates.broken:
        return known[0]
    if not known and ctx.certificates.broken:
        raise Problem([])  # the certificate's own error is already reported
    raise Problem(
        [(fields.line, f"{what} needs 'identity_certificate' ({len(known)} are defined)")]
    )


# --- the RA VPN --------------------------------------------------------------------


def read_ra_vpn(ctx: Context, node: yaml.Node) -> RemoteAccessVpn:
    fields = Fields(node, "remote_access_vpn", RA_VPN_KEYS)
    name_node = fields.optional("name")
    name = defaults.RA_VPN_NAME if name_node is None else nodes.name(name_node, "name")
    access_node = fields.required("access_interfaces")
    access = _access_interfaces(ctx, access_node)
    web_port = fields.optional_integer("web_access_port", defaults.WEB_ACCESS_PORT, 1, 65535)
    dtls_port = fields.optional_integer("dtls_port", defaults.DTLS_PORT, 1, 65535)
    ike_port = fields.optional_integer("ike_port", IKE_PORT, 1, 65535)
    nat_t_port = fields.optional_integer("nat_t_port", NAT_T_PORT, 1, 65535)
    if nat_t_port == ike_port:
        raise Problem([(fields.key_line("nat_t_port"),
                        f"nat_t_port {nat_t_port} is also the ike_port: IKE needs two UDP ports")])
    if dtls_port in (ike_port, nat_t_port) and any(a.enable_dtls for a in access):
        raise Problem(
            [(fields.key_line("dtls_port"), f"dtls_port {dtls_port} is IKE's UDP port")]
        )
    policies = _references(
        fields.required("ike_policies"), "ike_policies", ctx.ike_policies.resolve, "IKEv2 policy"
    )
    proposals = _references(
        fields.required("ipsec_proposals"),
        "ipsec_proposals",
        ctx.ipsec_proposals.resolve,
        "IKEv2 IPsec proposal",
    )
    fragment_node = fields.optional("fragment_size")
    fragment_size = (
        defaults.FRAGMENT_SIZE
        if fragment_node is None
        else nodes.integer(fragment_node, "fragment_size", *FRAGMENT_SIZE_RANGE)
    )
    profile = _default_profile(ctx, fields)
    parameters = _ikev2_parameters(fields.optional("ikev2_parameters"))
    pfs_node = fields.optional("pfs_group")
    pfs_group = None if pfs_node is None else int(dh_group(pfs_node))
    assignable_node = fields.optional("group_policies")
    assignable = () if assignable_node is None else _references(
        assignable_node, "group_policies", ctx.group_policies.resolve, "group policy")
    mapping_node = fields.optional("certificate_mapping")
    mapping = None if mapping_node is None else _certificate_mapping(ctx, mapping_node)
    return RemoteAccessVpn(
        name, access, policies, proposals, fragment_size, web_port, dtls_port, profile, parameters,
        pfs_group, ike_port, nat_t_port, assignable, mapping,
    )


def _certificate_mapping(ctx: Context, node: yaml.Node) -> CertificateMapping:
    fields = Fields(node, "certificate_mapping", CERTIFICATE_MAPPING_KEYS)
    use_rules = _flag(fields, "use_configured_rules", True)
    require = _flag(fields, "require_match", False)
    mappings_node = fields.required("mappings")
    entries = nodes.items(mappings_node, "mappings")
    if not entries:
        raise Problem.at(mappings_node, "mappings lists nothing")
    seen: dict[object, int] = {}
    mappings: list[tuple[str, str]] = []
    for entry in entries:
        entry_fields = Fields(entry, "certificate map mapping", MAPPING_KEYS)
        map_node = entry_fields.required("certificate_map")
        map_name = ctx.certificate_maps.resolve(map_node, "certificate map")
        nodes.unique(map_node, seen, map_name, f"certificate map '{map_name}'")
        profile = ctx.profiles.resolve(entry_fields.required("connection_profile"), "connection profile")
        mappings.append((map_name, profile))
    return CertificateMapping(use_rules, tuple(mappings), require)


def _ikev2_parameters(node: yaml.Node | None) -> Ikev2Parameters:
    if node is None:
        return Ikev2Parameters(defaults.COOKIE_CHALLENGE, defaults.COOKIE_THRESHOLD_PERCENT,
                               defaults.MAX_IN_NEGOTIATION, defaults.DPD_INTERVAL, defaults.MOBIKE)
    fields = Fields(node, "ikev2_parameters", IKEV2_PARAMETER_KEYS)
    challenge = fields.optional("cookie_challenge")
    threshold = fields.optional("cookie_threshold_percent")
    limit = fields.optional("max_in_negotiation")
    dpd = fields.optional("dpd_interval_seconds")
    mobike = fields.optional("mobike")
    return Ikev2Parameters(
        defaults.COOKIE_CHALLENGE if challenge is None
        else nodes.choice(challenge, "cookie_challenge", COOKIE_CHALLENGES),
        defaults.COOKIE_THRESHOLD_PERCENT if threshold is None
        else nodes.integer(threshold, "cookie_threshold_percent", 1, 100),
        defaults.MAX_IN_NEGOTIATION if limit is None else nodes.integer(limit, "max_in_negotiation", 1, 100000),
        defaults.DPD_INTERVAL if dpd is None else nodes.integer(dpd, "dpd_interval_seconds", 0, 3600),
        defaults.MOBIKE if mobike is None else nodes.boolean(mobike, "mobike"),
    )


def _access_interfaces(ctx: Context, node: yaml.Node) -> tuple[AccessInterface, ...]:
    entries = nodes.items(node, "access_interfaces")
    if not entries:
        raise Problem.at(node, "access_interfaces lists nothing: the RA VPN needs an interface")
    result: list[AccessInterface] = []
    seen: dict[object, int] = {}
    for entry in entries:
        fields = Fields(entry, "access interface", ACCESS_INTERFACE_KEYS)
        interface_node = fields.required("interface")
        interface = ctx.interfaces.resolve(interface_node, "interface")
        nodes.unique(interface_node, seen, interface, f"interface '{interface}'")
        ikev2 = _flag(fields, "enable_ipsec_ikev2", defaults.ENABLE_IPSEC_IKEV2)
        ssl = _flag(fields, "enable_ssl", defaults.ENABLE_SSL)
        dtls = _flag(fields, "enable_dtls", ssl)
        if dtls and not ssl:
            raise Problem(
                [
                    (
                        fields.key_line("enable_dtls"),
                        "enable_dtls needs enable_ssl (DTLS rides on the SSL tunnel)",
                    )
                ]
            )
        result.append(AccessInterface(interface, ikev2, ssl, dtls))
    return tuple(result)


def _flag(fields: Fields, key: str, default: bool) -> bool:
    node = fields.optional(key)
    return default if node is None else nodes.boolean(node, key)


def _references(
    node: yaml.Node, what: str, resolve: Callable[[yaml.Node, str], str], kind: str
) -> tuple[str, ...]:
    entries = nodes.items(node, what)
    if not entries:
        raise Problem.at(node, f"{what} lists nothing")
    seen: dict[object, int] = {}
    names: list[str] = []
    for entry in entries:
        name = resolve(entry, kind)
        nodes.unique(entry, seen, name, f"{kind} '{name}'")
        names.append(name)
    return tuple(names)


def _default_profile(ctx: Context, fields: Fields) -> str:
    node = fields.optional("default_connection_profile")
    if node is not None:
        return ctx.profiles.resolve(node, "connection profile")
    # Unstated: FTD's is DefaultWEBVPNGroup; a file that defines no such
    # profile but only one other means that one.
    known = list(ctx.profiles.items)
    if defaults.CONNECTION_PROFILE in known:
        return defaults.CONNECTION_PROFILE
    if len(known) == 1 and not ctx.profiles.broken:
        return known[0]
    if not known:
        # Every way to have no profile (section missing, empty, all broken)
        # is already reported; "no default" on top would only be noise.
        raise Problem([])
    raise Problem(
        [
            (
                fields.line,
                "remote_access_vpn needs 'default_connection_profile'"
                f" (no profile is named {defaults.CONNECTION_PROFILE})",
            )
        ]
    )
