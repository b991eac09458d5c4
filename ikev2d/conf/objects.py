"""The `objects:` section: FMC's reusable objects (Objects > VPN, PKI, pools, users).

Each reader takes one YAML mapping, builds one model object with FTD
defaults filled in, and registers it by name for later references.
"""

from __future__ import annotations

import os.path
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path
from typing import Mapping, TypeVar

import yaml

from ikev2d.iana import DhId, IntegId, PrfId

from . import algorithms, defaults, nodes, schema
from .context import Context
from .dn import parse_dn
from .model import (
    CertificateMap,
    CertificateMapField,
    CertificateMapOperator,
    CertificateMapRule,
    Encryption,
    Enrollment,
    GroupPolicy,
    IdentityCertificate,
    IkePolicy,
    IpsecProposal,
    Ipv4Pool,
    Ipv6Pool,
    KeyType,
    LocalUser,
    RevocationCheck,
    SplitTunnel,
    TrustedCa,
    VpnProtocol,
)
from .nodes import Fields, Problem, named_fields
from ..pki.certificate_map import DN_ATTRIBUTES, EKU_NAMES, eku_oid
from .radius import read_radius_group
from .san import is_dns_name, parse_san

T = TypeVar("T")

SECTION_KEYS = schema.keys("objects")
POLICY_KEYS = schema.keys("objects.ikev2_policies[]")
PROPOSAL_KEYS = schema.keys("objects.ikev2_ipsec_proposals[]")
POOL_KEYS = schema.keys("objects.ipv4_pools[]")
IPV6_POOL_KEYS = schema.keys("objects.ipv6_pools[]")
GROUP_POLICY_KEYS = schema.keys("objects.group_policies[]")
CERTIFICATE_KEYS = schema.keys("objects.identity_certificates[]")
USER_KEYS = schema.keys("objects.local_users[]")
TRUSTED_CA_KEYS = schema.keys("objects.trusted_ca_certificates[]")
CERTIFICATE_MAP_KEYS = schema.keys("objects.certificate_maps[]")
CERTIFICATE_MAP_RULE_KEYS = schema.keys("objects.certificate_maps[].rules[]")
REVOCATION_CHECKS: Mapping[str, RevocationCheck] = {"none": "none", "crl": "crl", "crl none": "crl none"}
MAP_FIELDS: Mapping[str, CertificateMapField] = {
    "subject-name": "subject-name", "issuer-name": "issuer-name",
    "alt-subject-name": "alt-subject-name", "extended-key-usage": "extended-key-usage"}
MAP_OPERATORS: Mapping[str, CertificateMapOperator] = {"eq": "eq", "ne": "ne", "co": "co", "nc": "nc"}
CRL_CACHE_MINUTES = (1, 1440)  # ASA `cache-time`

INT32_MAX = 2**31 - 1
# ASA `lifetime seconds` 120..2147483647; IPsec `kilobytes` from 10.
MIN_LIFETIME_SECONDS = 120
MIN_LIFETIME_KILOBYTES = 10
MAX_IDLE_TIMEOUT_MINUTES = 35791394  # ASA vpn-idle-timeout
MAX_SESSION_TIMEOUT_MINUTES = 35791394  # ASA vpn-session-timeout
MAX_SIMULTANEOUS_LOGINS = 2147483647  # ASA vpn-simultaneous-logins; 0 forbids logging in

VPN_PROTOCOLS: Mapping[str, VpnProtocol] = {
    "ipsec-ikev2": "ipsec-ikev2",
    "ssl-client": "ssl-client",
}
SPLIT_TUNNEL: Mapping[str, SplitTunnel] = {
    "tunnel-all": "tunnel-all",
    "tunnel-specified": "tunnel-specified",
    "exclude-specified": "exclude-specified",
}
ENROLLMENT: Mapping[str, Enrollment] = {"self-signed": "self-signed", "files": "files"}
KEY_TYPES: Mapping[str, KeyType] = {
    "rsa-2048": "rsa-2048",
    "rsa-3072": "rsa-3072",
    "ecdsa-p256": "ecdsa-p256",
    "ecdsa-p384": "ecdsa-p384",
}


def read_objects(ctx: Context, node: yaml.Node) -> None:
    fields = Fields(node, "objects", SECTION_KEYS)
    ctx.each(nodes.items(fields.optional("ikev2_policies"), "ikev2_policies"), ctx.ike_policies,
             lambda n: read_ike_policy(ctx, n))
    ctx.each(nodes.items(fields.optional("ikev2_ipsec_proposals"), "ikev2_ipsec_proposals"),
             ctx.ipsec_proposals, lambda n: read_ipsec_proposal(ctx, n))
    ctx.each(nodes.items(fields.optional("ipv4_pools"), "ipv4_pools"), ctx.pools,
             lambda n: read_pool(ctx, n))
    ctx.each(nodes.items(fields.optional("ipv6_pools"), "ipv6_pools"), ctx.ipv6_pools,
             lambda n: read_ipv6_pool(ctx, n))
    ctx.each(nodes.items(fields.optional("group_policies"), "group_policies"), ctx.group_policies,
             lambda n: read_group_policy(ctx, n))
    ctx.each(nodes.items(fields.optional("identity_certificates"), "identity_certificates"),
             ctx.certificates, lambda n: read_certificate(ctx, n))
    ctx.each(nodes.items(fields.optional("trusted_ca_certificates"), "trusted_ca_certificates"),
             ctx.trusted_cas, lambda n: read_trusted_ca(ctx, n))
    ctx.each(nodes.items(fields.optional("certificate_maps"), "certificate_maps"),
             ctx.certificate_maps, lambda n: read_certificate_map(ctx, n))
    ctx.each(nodes.items(fields.optional("local_users"), "local_users"), ctx.users,
             lambda n: read_user(ctx, n))
    ctx.each(nodes.items(fields.optional("radius_server_groups"), "radius_server_groups"),
             ctx.radius_groups, lambda n: read_radius_group(ctx, n))


# --- algorithms -------------------------------------------------------------


def _algorithm_list(node: yaml.Node, what: str, table: Mapping[str, T]) -> tuple[T, ...]:
    entries = nodes.items(node, what)
    if not entries:
        raise Problem.at(node, f"{what} lists nothing")
    seen: dict[object, int] = {}
    result: list[T] = []
    for entry in entries:
        value = nodes.choice(entry, what, table)
        nodes.unique(entry, seen, value, f"{what} '{entry.value}'")
        result.append(value)
    return tuple(result)


def _dh_groups(node: yaml.Node) -> tuple[DhId, ...]:
    entries = nodes.items(node, "dh_groups")
    if not entries:
        raise Problem.at(node, "dh_groups lists nothing")
    seen: dict[object, int] = {}
    result: list[DhId] = []
    for entry in entries:
        group = dh_group(entry)
        nodes.unique(entry, seen, group, f"DH group {int(group)}")
        result.append(group)
    return tuple(result)


def dh_group(node: yaml.Node) -> DhId:
    """One DH group number (an IKEv2 policy's, or the crypto map's PFS group)."""
    number = nodes.integer(node, "DH group", 0, INT32_MAX)
    group = algorithms.DH_GROUPS.get(number)
    if group is None:
        valid = ", ".join(str(g) for g in algorithms.DH_GROUPS)
        raise Problem.at(node, f"unknown DH group {number}; valid: {valid}")
    return group


def _check_aead(
    integrity_node: yaml.Node,
    encryption: tuple[Encryption, ...],
    integrity: tuple[IntegId, ...],
    what: str,
    combined: str = "AES-GCM",
) -> None:
    """AES-GCM (and ESP's AES-GMAC) authenticates itself (integrity NULL);
    every other cipher, NULL encryption included, needs a hash."""
    aead = any(e in algorithms.AEAD_ENCRYPTION for e, _ in encryption)
    plain = any(e not in algorithms.AEAD_ENCRYPTION for e, _ in encryption)
    has_null = IntegId.NONE in integrity
    keyed = any(i != IntegId.NONE for i in integrity)
    if has_null and not aead:
        raise Problem.at(
            integrity_node, f"{what}: integrity NULL is only valid with {combined} encryption"
        )
    if aead and not plain and keyed:
        raise Problem.at(
            integrity_node,
            f"{what}: {combined} carries its own integrity check, so integrity must be NULL",
        )
    if aead and plain and not (has_null and keyed):
        raise Problem.at(
            integrity_node,
            f"{what} mixes {combined} with other ciphers: integrity needs NULL (for {combined})"
            " as well as a hash (for the others)",
        )


def _ike_encryption(node: yaml.Node, what: str) -> tuple[Encryption, ...]:
    """An IKEv2 policy's ciphers: NULL is refused by name, and AES-GCM does
    not mix with the CBC ciphers ("you cannot include both mixed-mode
    (AES-GCM) and normal mode options in the same policy", the FTD's IKEv2
    policy dialog)."""
    for entry in nodes.items(node, "encryption"):
        if isinstance(entry, yaml.ScalarNode) and str(entry.value).upper() == algorithms.IKE_NULL_ENCRYPTION:
            raise Problem.at(entry, f"{what}: encryption NULL is not valid for IKE; IKE has no NULL"
                                    " cipher (RFC 7296 §3.3.2), NULL is for IPsec proposals only")
    encryption = _algorithm_list(node, "encryption", algorithms.ENCRYPTION)
    aead = [e for e in encryption if e[0] in algorithms.AEAD_ENCRYPTION]
    if aead and len(aead) != len(encryption):
        raise Problem.at(node, f"{what}: you cannot include both mixed-mode (AES-GCM) and normal mode"
                               " encryption in the same IKEv2 policy; use two policies")
    return encryption


def read_ike_policy(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "IKEv2 policy", POLICY_KEYS)
    what = fields.what
    priority_node = fields.required("priority")
    priority = nodes.integer(priority_node, "priority", 1, 65535)
    encryption = _ike_encryption(fields.required("encryption", null_is_a_name=True), what)
    integrity_node = fields.required("integrity", null_is_a_name=True)
    integrity = _algorithm_list(integrity_node, "integrity", algorithms.INTEGRITY)
    _check_aead(integrity_node, encryption, integrity, what)
    prf_node = fields.optional("prf")
    prf: tuple[PrfId, ...]
    if prf_node is not None:
        prf = _algorithm_list(prf_node, "prf", algorithms.PRF)
    else:
        prf = tuple(
            dict.fromkeys(
                algorithms.PRF_FOR_INTEGRITY[i] for i in integrity if i != IntegId.NONE
            )
        )
        if not prf:
            raise Problem.at(node, f"{what} has integrity NULL (AES-GCM), so it needs 'prf'")
    dh_groups = _dh_groups(fields.required("dh_groups"))
    lifetime = _lifetime_seconds(fields, defaults.IKE_LIFETIME_SECONDS)
    for other in ctx.ike_policies.items.values():
        if other.priority == priority and other.name != name:
            raise Problem.at(
                priority_node,
                f"priority {priority} is already used by IKEv2 policy '{other.name}'"
                f" (line {ctx.ike_policies.lines[other.name]})",
            )
    policy = IkePolicy(name, priority, encryption, integrity, prf, dh_groups, lifetime)
    ctx.ike_policies.add(name_node, name, policy)


def read_ipsec_proposal(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "IKEv2 IPsec proposal", PROPOSAL_KEYS)
    encryption = _algorithm_list(
        fields.required("esp_encryption", null_is_a_name=True), "esp_encryption", algorithms.ESP_ENCRYPTION
    )
    hash_node = fields.required("esp_hash", null_is_a_name=True)
    integrity = _algorithm_list(hash_node, "esp_hash", algorithms.ESP_INTEGRITY)
    _check_aead(hash_node, encryption, integrity, f"IKEv2 IPsec proposal '{name}'", "AES-GCM or AES-GMAC")
    seconds = _lifetime_seconds(fields, defaults.IPSEC_LIFETIME_SECONDS)
    kilobytes_node = fields.optional("lifetime_kilobytes")
    kilobytes = (
        defaults.IPSEC_LIFETIME_KILOBYTES
        if kilobytes_node is None
        else nodes.integer(kilobytes_node, "lifetime_kilobytes", MIN_LIFETIME_KILOBYTES, INT32_MAX)
    )
    proposal = IpsecProposal(name, encryption, integrity, seconds, kilobytes)
    ctx.ipsec_proposals.add(name_node, name, proposal)


def _lifetime_seconds(fields: Fields, default: int) -> int:
    value = fields.optional("lifetime_seconds")
    if value is None:
        return default
    return nodes.integer(value, "lifetime_seconds", MIN_LIFETIME_SECONDS, INT32_MAX)


# --- address pools -------------------------------------------------------------


def netmask(node: yaml.Node, what: str) -> IPv4Address:
    """A dotted netmask whose one bits are contiguous (255.255.255.0, not 0.0.0.255)."""
    mask = nodes.ipv4(node, what)
    host_bits = ~int(mask) & 0xFFFFFFFF
    if host_bits & (host_bits + 1):
        raise Problem.at(node, f"{what} {mask} is not a netmask (its one bits must be contiguous)")
    return mask


def read_pool(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "IPv4 pool", POOL_KEYS)
    range_node = fields.required("range")
    first, last = _address_range(range_node)
    mask = netmask(fields.required("mask"), "mask")
    pool = Ipv4Pool(name, first, last, mask)
    if first > last:
        raise Problem.at(
            range_node, f"range {first}-{last} is reversed: {first} comes after {last}"
        )
    network = pool.network
    if last not in network:
        raise Problem.at(
            range_node,
            f"range {first}-{last} does not fit in {network}, the network of mask {mask}",
        )
    for other in ctx.pools.items.values():
        # Two pools sharing an address would hand it to two clients.
        if first <= other.last and other.first <= last and other.name != name:
            raise Problem.at(
                range_node,
                f"range {first}-{last} overlaps IPv4 pool '{other.name}'"
                f" ({other.first}-{other.last}, line {ctx.pools.lines[other.name]})",
            )
    ctx.pools.add(name_node, name, pool)


# `ipv6 local pool NAME START/LEN NUMBER` (docs/ftd-behaviour.md, "IPv6 inside the tunnel")
MAX_IPV6_POOL_ADDRESSES = 16384
MIN_IPV6_POOL_PREFIX, MAX_IPV6_POOL_PREFIX = 1, 128


def read_ipv6_pool(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "IPv6 pool", IPV6_POOL_KEYS)
    prefix_node = fields.required("prefix")
    start, length = _ipv6_start(prefix_node)
    number = nodes.integer(fields.required("number"), "number", 1, MAX_IPV6_POOL_ADDRESSES)
    pool = Ipv6Pool(name, start, length, number)
    if int(start) + number - 1 > int(pool.network.broadcast_address):
        raise Problem.at(prefix_node, f"{number} addresses from {start} do not fit in {pool.network}")
    for other in ctx.ipv6_pools.items.values():
        # Two pools sharing an address would hand it to two clients.
        if start <= other.last and other.start <= pool.last and other.name != name:
            raise Problem.at(
                prefix_node,
                f"addresses {start}-{pool.last} overlap IPv6 pool '{other.name}'"
                f" ({other.start}-{other.last}, line {ctx.ipv6_pools.lines[other.name]})",
            )
    ctx.ipv6_pools.add(name_node, name, pool)


def _ipv6_start(node: yaml.Node) -> tuple[IPv6Address, int]:
    value = nodes.text(node, "prefix").strip()
    address, slash, length = value.partition("/")
    if not slash or not length.strip().isdecimal():
        raise Problem.at(node, f"prefix '{value}' must be START/PREFIX-LENGTH, e.g. 2001:2:0:1::100/64")
    try:
        start = IPv6Address(address.strip())
    except ValueError:
        raise Problem.at(node, f"prefix '{value}': '{address.strip()}' is not an IPv6 address") from None
    bits = int(length)
    if not MIN_IPV6_POOL_PREFIX <= bits <= MAX_IPV6_POOL_PREFIX:
        raise Problem.at(node, f"prefix '{value}': the prefix length must be 1-128")
    if start.is_multicast or start.is_unspecified or start.is_loopback or start.is_link_local:
        raise Problem.at(node, f"prefix '{value}': {start} is not a unicast address a client could use")
    return start, bits


def _address_range(node: yaml.Node) -> tuple[IPv4Address, IPv4Address]:
    value = nodes.text(node, "range").strip()
    parts = value.split("-")
    if len(parts) != 2:
        raise Problem.at(
            node, f"range '{value}' must be FIRST-LAST, e.g. 198.19.0.200-198.19.0.250"
        )
    bounds: list[IPv4Address] = []
    for part in parts:
        try:
            bounds.append(IPv4Address(part.strip()))
        except ValueError:
            raise Problem.at(
                node, f"range '{value}': '{part.strip()}' is not an IPv4 address"
            ) from None
    return bounds[0], bounds[1]


# --- group policies --------------------------------------------------------------


def _dns_server(node: yaml.Node) -> IPv4Address | IPv6Address:
    """An IPv4 address, or an IPv6 one (sent to clients given an IPv6 address)."""
    value = nodes.text(node, "DNS server").strip()
    if ":" not in value:
        return nodes.ipv4(node, "DNS server")
    try:
        return IPv6Address(value)
    except ValueError:
        raise Problem.at(node, f"DNS server '{value}' is not an IPv4 or IPv6 address") from None


def read_group_policy(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "group policy", GROUP_POLICY_KEYS)
    protocols_node = fields.optional("vpn_protocols")
    protocols = (
        defaults.VPN_PROTOCOLS
        if protocols_node is None
        else _algorithm_list(protocols_node, "vpn_protocols", VPN_PROTOCOLS)
    )
    dns: list[IPv4Address | IPv6Address] = []
    seen: dict[object, int] = {}
    for entry in nodes.items(fields.optional("dns_servers"), "dns_servers"):
        address = _dns_server(entry)
        nodes.unique(entry, seen, address, f"DNS server {address}")
        dns.append(address)
    domain_node = fields.optional("default_domain")
    domain = None if domain_node is None else nodes.name(domain_node, "default_domain")
    if domain is not None and domain_node is not None and not is_dns_name(domain):
        raise Problem.at(domain_node, f"default_domain '{domain}' is not a DNS domain name")
    banner_node = fields.optional("banner")
    banner = None if banner_node is None else nodes.text(banner_node, "banner")
    split_node = fields.optional("split_tunnel")
    split = (
        defaults.SPLIT_TUNNEL
        if split_node is None
        else nodes.choice(split_node, "split_tunnel", SPLIT_TUNNEL)
    )
    networks_node = fields.optional("split_tunnel_networks")
    networks = _networks(networks_node)
    if split == "tunnel-all" and networks and networks_node is not None:
        raise Problem.at(
            networks_node,
            "split_tunnel_networks is used only with tunnel-specified or exclude-specified",
        )
    if split != "tunnel-all" and not networks:
        line_node = networks_node or split_node or node
        raise Problem.at(line_node, f"split_tunnel {split} needs split_tunnel_networks")
    idle_node = fields.optional("idle_timeout_minutes")
    idle = (
        defaults.IDLE_TIMEOUT_MINUTES
        if idle_node is None
        else nodes.integer(idle_node, "idle_timeout_minutes", 1, MAX_IDLE_TIMEOUT_MINUTES)
    )
    logins_node = fields.optional("simultaneous_logins")
    logins = (defaults.SIMULTANEOUS_LOGINS if logins_node is None
              else nodes.integer(logins_node, "simultaneous_logins", 0, MAX_SIMULTANEOUS_LOGINS))
    connect_node = fields.optional("max_connect_time_minutes")
    connect = (None if connect_node is None
               else nodes.integer(connect_node, "max_connect_time_minutes", 1, MAX_SESSION_TIMEOUT_MINUTES))
    policy = GroupPolicy(name, protocols, tuple(dns), domain, banner, split, networks, idle, logins, connect)
    ctx.group_policies.add(name_node, name, policy)


def _networks(node: yaml.Node | None) -> tuple[IPv4Network, ...]:
    result: list[IPv4Network] = []
    seen: dict[object, int] = {}
    for entry in nodes.items(node, "split_tunnel_networks"):
        value = nodes.text(entry, "network").strip()
        try:
            network = IPv4Network(value)
        except ValueError:
            loose = _loose_network(value)
            if loose is None:
                raise Problem.at(
                    entry, f"'{value}' is not an IPv4 network like 10.1.0.0/16"
                ) from None
            raise Problem.at(
                entry, f"network '{value}' has host bits set (did you mean {loose}?)"
            ) from None
        nodes.unique(entry, seen, network, f"network {network}")
        result.append(network)
    return tuple(result)


def _loose_network(value: str) -> IPv4Network | None:
    try:
        return IPv4Network(value, strict=False)
    except ValueError:
        return None


# --- PKI and users -------------------------------------------------------------


def read_certificate(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "identity certificate", CERTIFICATE_KEYS)
    what = fields.what
    enrollment_node = fields.optional("enrollment")
    enrollment: Enrollment = (
        defaults.ENROLLMENT
        if enrollment_node is None
        else nodes.choice(enrollment_node, "enrollment", ENROLLMENT)
    )
    subject_node = fields.optional("subject")
    subject = f"CN={ctx.hostname}" if subject_node is None else nodes.text(subject_node, "subject")
    try:
        parse_dn(subject)
    except ValueError as exc:
        raise Problem.at(subject_node or node, f"subject '{subject}': {exc}") from None
    sans: list[str] = []
    seen: dict[object, int] = {}
    for entry in nodes.items(fields.optional("subject_alt_names"), "subject_alt_names"):
        value = nodes.text(entry, "subject alternative name").strip()
        try:
            parsed = parse_san(value)
        except ValueError as exc:
            raise Problem.at(entry, f"subject alternative name {exc}") from None
        nodes.unique(entry, seen, parsed, f"subject alternative name '{value}'")
        sans.append(value)
    key_node = fields.optional("key_type")
    key_type: KeyType = (
        defaults.KEY_TYPE if key_node is None else nodes.choice(key_node, "key_type", KEY_TYPES)
    )
    store_node = fields.optional("store")
    store = _path(ctx, store_node, "store") if store_node else ctx.folder / defaults.PKI_STORE
    cert_node, key_file_node = fields.optional("certificate"), fields.optional("private_key")
    certificate = _path(ctx, cert_node, "certificate") if cert_node else None
    private_key = _path(ctx, key_file_node, "private_key") if key_file_node else None
    if enrollment == "files":
        for key, file in (("certificate", certificate), ("private_key", private_key)):
            if file is None:
                message = f"{what} with enrollment files needs '{key}'"
                raise Problem([(fields.key_line(key), message)])
    else:
        for key, value_node in (("certificate", cert_node), ("private_key", key_file_node)):
            if value_node is not None:
                raise Problem.at(value_node, f"'{key}' is used only with enrollment: files")
    certificate_cfg = IdentityCertificate(
        name, enrollment, subject, tuple(sans), key_type, store, certificate, private_key
    )
    ctx.certificates.add(name_node, name, certificate_cfg)


def _path(ctx: Context, node: yaml.Node, what: str) -> Path:
    value = Path(nodes.text(node, what).strip())
    # normpath, not resolve(): the file may not exist yet, and a symlinked
    # folder should stay as the admin named it.
    return Path(os.path.normpath(ctx.folder / value))


def read_trusted_ca(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "trusted CA certificate", TRUSTED_CA_KEYS)
    certificate = _path(ctx, fields.required("certificate"), "certificate")
    check_node = fields.optional("revocation_check")
    check: RevocationCheck = "none"
    if check_node is not None:
        written = " ".join(nodes.text(check_node, "revocation_check").split()).lower()
        if written not in REVOCATION_CHECKS:
            raise Problem.at(check_node, f"unknown revocation_check '{written}'; valid: none, crl, crl none")
        check = REVOCATION_CHECKS[written]
    urls_node = fields.optional("crl_urls")
    urls: list[str] = []
    seen: dict[object, int] = {}
    for entry in nodes.items(urls_node, "crl_urls") if urls_node is not None else []:
        url = _crl_source(ctx, entry)
        nodes.unique(entry, seen, url, f"CRL URL '{url}'")
        urls.append(url)
    cdp_node = fields.optional("crl_use_distribution_point")
    cdp = True if cdp_node is None else nodes.boolean(cdp_node, "crl_use_distribution_point")
    cache = fields.optional_integer("crl_cache_minutes", 60, *CRL_CACHE_MINUTES)
    enforce_node = fields.optional("crl_enforce_next_update")
    enforce = True if enforce_node is None else nodes.boolean(enforce_node, "crl_enforce_next_update")
    if check != "none" and not urls and not cdp:
        raise Problem([(fields.key_line("revocation_check"), f"trusted CA certificate '{name}' checks CRLs but"
                        " has no source: list crl_urls or keep crl_use_distribution_point")])
    ctx.trusted_cas.add(name_node, name, TrustedCa(name, certificate, check, tuple(urls), cdp, cache, enforce))


def _crl_source(ctx: Context, node: yaml.Node) -> str:
    """An http:// URL as written, or a file path made absolute."""
    value = nodes.text(node, "CRL URL").strip()
    lowered = value.lower()
    if lowered.startswith("http://"):
        if len(value) <= len("http://"):
            raise Problem.at(node, f"CRL URL '{value}' names no host")
        return value
    if "://" in value:
        raise Problem.at(node, f"CRL URL '{value}': only http:// URLs and files are supported (the FTD's"
                         " ldap:// and scep are not)")
    return str(_path(ctx, node, "CRL URL"))


def read_certificate_map(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "certificate map", CERTIFICATE_MAP_KEYS)
    rules_node = fields.required("rules")
    entries = nodes.items(rules_node, "rules")
    if not entries:
        raise Problem.at(rules_node, f"certificate map '{name}' has no rules")
    rules = tuple(_certificate_map_rule(entry) for entry in entries)
    ctx.certificate_maps.add(name_node, name, CertificateMap(name, rules))


def _certificate_map_rule(node: yaml.Node) -> CertificateMapRule:
    fields = Fields(node, "certificate map rule", CERTIFICATE_MAP_RULE_KEYS)
    field_node = fields.required("field")
    map_field = nodes.choice(field_node, "field", MAP_FIELDS)
    operator_node = fields.required("operator")
    operator = nodes.choice(operator_node, "operator", MAP_OPERATORS)
    value_node = fields.required("value")
    value = nodes.text(value_node, "value").strip()
    if not value:
        raise Problem.at(value_node, "value is empty")
    component_node = fields.optional("component")
    component = None
    if component_node is not None:
        if map_field not in ("subject-name", "issuer-name"):
            raise Problem.at(component_node, f"component applies to subject-name and issuer-name only, not {map_field}")
        component = nodes.choice(component_node, "component", {k: k for k in DN_ATTRIBUTES})
    if map_field == "extended-key-usage":
        if operator not in ("co", "nc"):
            raise Problem.at(operator_node, "extended-key-usage takes the operators co and nc only")
        try:
            eku_oid(value)
        except ValueError:
            raise Problem.at(value_node, f"extended-key-usage '{value}' is neither a known usage"
                             f" ({', '.join(EKU_NAMES)}) nor a dotted OID") from None
    return CertificateMapRule(map_field, component, operator, value)


def read_user(ctx: Context, node: yaml.Node) -> None:
    fields = Fields(node, "local user", USER_KEYS)
    name_node = fields.required("username")
    username = nodes.name(name_node, "username")
    if any(c.isspace() for c in username):
        raise Problem.at(name_node, f"username '{username}' contains white space")
    # The password is never echoed: nodes.text's messages do not quote values.
    password = nodes.text(fields.required("password"), "password")
    ctx.users.add(name_node, username, LocalUser(username, password))
