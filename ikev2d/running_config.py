"""`show running-config`: a configuration as the ASA/FTD CLI would print it.

The blocks come in the order an FTD's running configuration lists them
(header, hostname, interfaces, access lists, logging, pools, AAA servers,
crypto, webvpn, group policies, users, tunnel groups). Only what the RA VPN
uses is shown, as FMC deploys only referenced objects; values the ASA hides
when at their default are hidden too. Secrets print as `*****`, as the ASA
prints them.

Facts come from docs/ftd-behaviour.md ("FMC object model"); the ones it does not
give (FMC's crypto map names, the VPN logging list) are marked unconfirmed
where they are built.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Iterable

from .conf import algorithms, defaults
from .conf.model import (
    LOCAL_SERVER_GROUP,
    Config,
    ConnectionProfile,
    GroupPolicy,
    IdentityCertificate,
    IkePolicy,
    IpsecProposal,
    RadiusServerGroup,
    TrustedCa,
)
from .conf.san import parse_san

__all__ = ["render_running_config"]

SECRET = "*****"
VERSION = "NGFW Version 7.0.1"  # the whitepaper's FTDv release
LEVEL_NAMES = {3: "errors", 4: "warnings", 5: "notifications", 6: "informational", 7: "debugging"}
# FMC's "VPN Logging Settings" deploy a logging list sent to FMC. The name and
# the first two classes are seen in FTD output; the rest of the class list
# is unconfirmed (recalled from FTD configurations).
VPN_EVENT_LIST = "MANAGER_VPN_EVENT_LIST"
VPN_LOG_CLASSES = ("auth", "vpn", "vpnc", "vpdn", "vpnfo", "vpnlb", "webfo", "webvpn", "ca",
                   "svc", "ssl", "dap", "ipaa")
SPLIT_TUNNEL = {"tunnel-all": "tunnelall", "tunnel-specified": "tunnelspecified",
                "exclude-specified": "excludespecified"}
# In the ASA's own order, whatever order the file lists them in.
VPN_PROTOCOLS = {"ipsec-ikev2": "ikev2", "ssl-client": "ssl-client"}
BUILT_IN_TUNNEL_GROUPS = ("DefaultWEBVPNGroup", "DefaultRAGroup", "DefaultL2LGroup")
SYSLOG_PROTOCOL_NUMBERS = {"udp": 17, "tcp": 6}


def render_running_config(config: Config) -> str:
    blocks: list[list[str]] = [
        _header(config),
        _interfaces(config),
        _split_tunnel_acls(config),
        _logging(config),
        _pools(config),
        _aaa_servers(config),
        _crypto(config),
        _webvpn(config),
        _group_policies(config),
        ["dynamic-access-policy-record DfltAccessPolicy"],
        [f"username {u.username} password {SECRET} pbkdf2" for u in config.local_users],
        _tunnel_groups(config),
        [": end"],
    ]
    return "\n".join(line for block in blocks for line in block) + "\n"


# --- device and interfaces ----------------------------------------------------------


def _header(config: Config) -> list[str]:
    return [
        ": Saved",
        "",
        ":",
        ": Hardware:   NGFWv (emulated by ikev2d)",
        ":",
        VERSION,
        "!",
        f"hostname {config.device.hostname}",
        "names",
        "!",
    ]


def _interfaces(config: Config) -> list[str]:
    lines: list[str] = []
    for interface in config.interfaces:
        lines += [
            f"interface {interface.hardware}",
            f" nameif {interface.name}",
            # FMC leaves security levels at 0 on FTD; routed interfaces only.
            " security-level 0",
            f" ip address {interface.address} {interface.mask}",
            *([f" ipv6 address {interface.ipv6}", " ipv6 enable"] if interface.ipv6 is not None else []),
            "!",
        ]
    return lines


def _split_acl_name(policy: GroupPolicy) -> str:
    # FMC lets the admin pick a standard ACL object; ikev2d names one per policy.
    return f"{policy.name}_SplitTunnelAcl"


def _split_tunnel_acls(config: Config) -> list[str]:
    lines: list[str] = []
    for policy in _used_group_policies(config):
        if policy.split_tunnel == "tunnel-all":
            continue
        lines += [
            f"access-list {_split_acl_name(policy)} standard permit {_net(network)}"
            for network in policy.split_tunnel_networks
        ]
    return lines


def _net(network: IPv4Network) -> str:
    if network.prefixlen == 32:
        return f"host {network.network_address}"
    return f"{network.network_address} {network.netmask}"


# --- logging -----------------------------------------------------------------------


BUFFER_LEVEL_NAMES = {0: "emergencies", 1: "alerts", 2: "critical", 3: "errors", 4: "warnings",
                      5: "notifications", 6: "informational", 7: "debugging"}


def _logging(config: Config) -> list[str]:
    log = config.logging
    level = LEVEL_NAMES[log.vpn_logging_level]
    rfc5424 = any(s.format == "rfc5424" for s in log.syslog_servers)
    lines = ["logging enable", "logging timestamp rfc5424" if rfc5424 else "logging timestamp"]
    lines += [f"logging list {VPN_EVENT_LIST} level {level} class {c}" for c in VPN_LOG_CLASSES]
    if log.buffered is not None:
        lines.append(f"logging buffered {BUFFER_LEVEL_NAMES[log.buffered]}")
    if log.buffer_size != defaults.LOGGING_BUFFER_SIZE:
        lines.append(f"logging buffer-size {log.buffer_size}")
    if log.console:
        lines.append(f"logging console {VPN_EVENT_LIST}")
    if log.syslog_servers:
        lines.append(f"logging trap {VPN_EVENT_LIST}")
    for server in log.syslog_servers:
        interface = server.interface or _first_access_interface(config)
        line = f"logging host {interface} {server.host}"
        default_port = (defaults.SYSLOG_UDP_PORT if server.protocol == "udp"
                        else defaults.SYSLOG_TCP_PORT)
        # The ASA prints the transport as "protocol-number/port" unless it is UDP/514.
        if server.protocol != "udp" or server.port != default_port:
            line += f" {SYSLOG_PROTOCOL_NUMBERS[server.protocol]}/{server.port}"
        lines.append(line)
    lines.append(f"logging FMC {VPN_EVENT_LIST}")
    return lines


def _first_access_interface(config: Config) -> str:
    return config.remote_access_vpn.access_interfaces[0].interface


# --- pools and AAA --------------------------------------------------------------------


def _pools(config: Config) -> list[str]:
    used = _unique(n for p in config.connection_profiles for n in p.address_pools)
    lines = []
    for name in used:
        pool = config.pool(name)
        lines.append(f"ip local pool {pool.name} {pool.first}-{pool.last} mask {pool.mask}")
    for name in _unique(n for p in config.connection_profiles for n in p.ipv6_address_pools):
        pool6 = config.ipv6_pool(name)
        lines.append(f"ipv6 local pool {pool6.name} {pool6.start}/{pool6.prefix_length} {pool6.number}")
    return lines


def _used_radius_groups(config: Config) -> list[RadiusServerGroup]:
    names = _unique(
        name
        for p in config.connection_profiles
        for name in (p.server_group, p.accounting_server_group)
        if name is not None and name != LOCAL_SERVER_GROUP
    )
    return [config.radius_server_group(n) for n in names]


def _aaa_servers(config: Config) -> list[str]:
    lines: list[str] = []
    for group in _used_radius_groups(config):
        lines.append(f"aaa-server {group.name} protocol radius")
        for server in group.servers:
            where = f" ({server.interface})" if server.interface else ""
            lines += [
                f"aaa-server {group.name}{where} host {server.host}",
                f" timeout {server.timeout_seconds}",
                f" key {SECRET}",
                f" authentication-port {server.authentication_port}",
                f" accounting-port {server.accounting_port}",
            ]
    return lines


# --- crypto ------------------------------------------------------------------------------


def _crypto(config: Config) -> list[str]:
    proposals = config.ipsec_proposals_in_order()
    lines: list[str] = []
    for proposal in proposals:
        lines += _ipsec_proposal(proposal)
    lines.append("crypto ipsec security-association pmtu-aging infinite")
    lines += _crypto_maps(config, proposals)
    for certificate in _used_certificates(config):
        lines += _trustpoint(certificate)
    for ca in config.trusted_cas:
        # FMC's Trusted CA object: validated against for IPsec clients (the
        # validation-usage line as FMC deploys it is unconfirmed)
        lines += [f"crypto ca trustpoint {ca.name}", " enrollment terminal",
                  " validation-usage ipsec-client", *_revocation(ca), " crl configure", *_crl_configure(ca)]
    lines += _certificate_maps(config)
    lines.append("crypto ca trustpool policy")
    for policy in config.ike_policies_in_priority_order():
        lines += _ike_policy(policy)
    services = any(p.enable_client_services for p in config.connection_profiles)
    port = config.remote_access_vpn.web_access_port
    for interface in config.ikev2_interfaces():
        suffix = f" client-services port {port}" if services else ""
        lines.append(f"crypto ikev2 enable {interface.name}{suffix}")
    lines += [f"crypto ikev2 remote-access trustpoint {c.name}"
              for c in _used_certificates(config)]
    lines += _ikev2_parameters(config)
    return lines


def _ikev2_parameters(config: Config) -> list[str]:
    """The ASA prints these only when they differ from its defaults."""
    p = config.remote_access_vpn.ikev2_parameters
    lines = []
    if p.cookie_challenge == "always":
        lines.append("crypto ikev2 cookie-challenge 0")
    elif p.cookie_challenge == "never":
        lines.append("crypto ikev2 cookie-challenge 100")
    elif p.cookie_threshold_percent != defaults.COOKIE_THRESHOLD_PERCENT:
        lines.append(f"crypto ikev2 cookie-challenge {p.cookie_threshold_percent}")
    if p.max_in_negotiation != defaults.MAX_IN_NEGOTIATION:
        lines.append(f"crypto ikev2 limit max-in-negotiation-sa {p.max_in_negotiation}")
    return lines


def _ipsec_proposal(proposal: IpsecProposal) -> list[str]:
    encryption = " ".join(algorithms.ENCRYPTION_NAMES[e].lower() for e in proposal.encryption)
    integrity = " ".join(algorithms.ESP_INTEGRITY_NAMES[i].lower() for i in proposal.integrity)
    return [
        f"crypto ipsec ikev2 ipsec-proposal {proposal.name}",
        f" protocol esp encryption {encryption}",
        f" protocol esp integrity {integrity}",
    ]


def _crypto_maps(config: Config, proposals: tuple[IpsecProposal, ...]) -> list[str]:
    # FMC's names for the RA VPN's crypto maps (unconfirmed): CSM_<nameif>_map
    # with a dynamic map CSM_<nameif>_map_dynamic at sequence 65535.
    names = " ".join(p.name for p in proposals)
    first = proposals[0]
    lines: list[str] = []
    for interface in config.ikev2_interfaces():
        crypto_map = f"CSM_{interface.name}_map"
        dynamic = f"{crypto_map}_dynamic"
        lines.append(f"crypto dynamic-map {dynamic} 1 set ikev2 ipsec-proposal {names}")
        # The ASA hides lifetimes at their defaults; one set per dynamic map.
        if first.lifetime_seconds != defaults.IPSEC_LIFETIME_SECONDS:
            lines.append(f"crypto dynamic-map {dynamic} 1 set security-association lifetime"
                         f" seconds {first.lifetime_seconds}")
        if first.lifetime_kilobytes != defaults.IPSEC_LIFETIME_KILOBYTES:
            lines.append(f"crypto dynamic-map {dynamic} 1 set security-association lifetime"
                         f" kilobytes {first.lifetime_kilobytes}")
        if config.remote_access_vpn.pfs_group is not None:
            lines.append(f"crypto dynamic-map {dynamic} 1 set pfs group{config.remote_access_vpn.pfs_group}")
        lines += [
            f"crypto dynamic-map {dynamic} 1 set reverse-route",
            f"crypto map {crypto_map} 65535 ipsec-isakmp dynamic {dynamic}",
            f"crypto map {crypto_map} interface {interface.name}",
        ]
    return lines


def _used_certificates(config: Config) -> list[IdentityCertificate]:
    names = _unique(p.identity_certificate for p in config.connection_profiles)
    return [config.identity_certificate(n) for n in names]


def _trustpoint(certificate: IdentityCertificate) -> list[str]:
    lines = [
        f"crypto ca trustpoint {certificate.name}",
        " enrollment self" if certificate.enrollment == "self-signed" else " enrollment terminal",
    ]
    names = [parse_san(n) for n in certificate.subject_alt_names]
    fqdn = next((n for n in names if isinstance(n, str)), None)
    address = next((n for n in names if isinstance(n, IPv4Address)), None)
    if fqdn is not None:
        lines.append(f" fqdn {fqdn}")
    lines.append(f" subject-name {certificate.subject}")
    if address is not None:
        lines.append(f" ip-address {address}")
    lines += [f" keypair {certificate.name}", " crl configure"]
    return lines


def _ike_policy(policy: IkePolicy) -> list[str]:
    groups = " ".join(str(algorithms.DH_GROUP_NUMBERS[g]) for g in policy.dh_groups)
    return [
        f"crypto ikev2 policy {policy.priority}",
        " encryption " + " ".join(algorithms.ENCRYPTION_NAMES[e].lower()
                                  for e in policy.encryption),
        " integrity " + " ".join(algorithms.INTEGRITY_NAMES[i].lower() for i in policy.integrity),
        f" group {groups}",
        " prf " + " ".join(algorithms.PRF_NAMES[p].lower() for p in policy.prf),
        f" lifetime seconds {policy.lifetime_seconds}",
    ]


# --- webvpn and group policies -----------------------------------------------------------


def _webvpn(config: Config) -> list[str]:
    ra = config.remote_access_vpn
    ssl = [a for a in ra.access_interfaces if a.enable_ssl]
    if not ssl:
        return []
    lines = ["webvpn"]
    if ra.web_access_port != defaults.WEB_ACCESS_PORT:
        lines.append(f" port {ra.web_access_port}")
    if ra.dtls_port != defaults.DTLS_PORT:
        lines.append(f" dtls port {ra.dtls_port}")
    lines += [f" enable {a.interface}" + ("" if a.enable_dtls else " tls-only") for a in ssl]
    lines += [" anyconnect enable", " tunnel-group-list enable"]
    return lines


def _used_group_policies(config: Config) -> list[GroupPolicy]:
    # DfltGrpPolicy always exists on the device; the others only when used.
    names = _unique([defaults.GROUP_POLICY, *(p.group_policy for p in config.connection_profiles),
                     *config.remote_access_vpn.group_policies])
    return [config.group_policy(n) for n in names]


def _group_policies(config: Config) -> list[str]:
    lines: list[str] = []
    for policy in _used_group_policies(config):
        if policy.name != defaults.GROUP_POLICY:
            lines.append(f"group-policy {policy.name} internal")
        lines.append(f"group-policy {policy.name} attributes")
        lines += [f" banner value {text}" for text in (policy.banner or "").splitlines()]
        if policy.dns_servers:
            lines.append(" dns-server value " + " ".join(str(d) for d in policy.dns_servers))
        lines.append(f" vpn-simultaneous-logins {policy.simultaneous_logins}")
        lines.append(f" vpn-idle-timeout {policy.idle_timeout_minutes}")
        lines.append(f" vpn-session-timeout {policy.max_connect_time_minutes or 'none'}")
        protocols = " ".join(cli for p, cli in VPN_PROTOCOLS.items() if p in policy.vpn_protocols)
        lines.append(f" vpn-tunnel-protocol {protocols}")
        lines.append(f" split-tunnel-policy {SPLIT_TUNNEL[policy.split_tunnel]}")
        if policy.split_tunnel != "tunnel-all":
            lines.append(f" split-tunnel-network-list value {_split_acl_name(policy)}")
        if policy.default_domain:
            lines.append(f" default-domain value {policy.default_domain}")
    return lines


# --- tunnel groups -------------------------------------------------------------------------


def _tunnel_groups(config: Config) -> list[str]:
    lines: list[str] = []
    for profile in config.connection_profiles:
        lines += _tunnel_group(profile)
    mapping = config.remote_access_vpn.certificate_mapping
    if mapping is not None:
        # FMC Advanced > Certificate Maps; each map is sequence 10 of its name
        if mapping.use_configured_rules:
            lines.append("tunnel-group-map enable rules")
        lines += [f"tunnel-group-map {name} 10 {profile}" for name, profile in mapping.mappings]
    return lines


def _revocation(ca: TrustedCa) -> list[str]:
    return [] if ca.revocation_check == "none" else [f" revocation-check {ca.revocation_check}"]


def _crl_configure(ca: TrustedCa) -> list[str]:
    """The `crl configure` submode lines that differ from its defaults
    (policy cdp, cache-time 60, enforcenextupdate); file sources are a lab
    addition an FTD has no line for."""
    if ca.revocation_check == "none":
        return []
    urls = [u for u in ca.crl_urls if u.lower().startswith("http://")]
    lines = []
    if urls:
        lines.append("  policy both" if ca.crl_use_distribution_point else "  policy static")
        lines += [f"  url {n} {url}" for n, url in enumerate(urls, 1)]
    if ca.crl_cache_minutes != 60:
        lines.append(f"  cache-time {ca.crl_cache_minutes}")
    if not ca.crl_enforce_next_update:
        lines.append("  no enforcenextupdate")
    return lines


def _certificate_maps(config: Config) -> list[str]:
    lines: list[str] = []
    for certificate_map in config.certificate_maps:
        lines.append(f"crypto ca certificate map {certificate_map.name} 10")
        for rule in certificate_map.rules:
            attr = f" attr {rule.component}" if rule.component else ""
            lines.append(f" {rule.field}{attr} {rule.operator} {rule.value}")
    return lines


def _tunnel_group(profile: ConnectionProfile) -> list[str]:
    name = profile.name
    lines = [] if name in BUILT_IN_TUNNEL_GROUPS else [f"tunnel-group {name} type remote-access"]
    lines.append(f"tunnel-group {name} general-attributes")
    if profile.address_pools:
        lines.append(" address-pool " + " ".join(profile.address_pools))
    if profile.ipv6_address_pools:
        lines.append(" ipv6-address-pool " + " ".join(profile.ipv6_address_pools))
    # LOCAL is the ASA's default authentication server group: not printed.
    if not profile.authenticates_locally:
        lines.append(f" authentication-server-group {profile.server_group}")
    if profile.accounting_server_group is not None:
        lines.append(f" accounting-server-group {profile.accounting_server_group}")
    method = profile.authentication_method
    certificate = method == "client-certificate"
    # webvpn-attributes `authentication`: the ASA's words for the FMC method
    webvpn_auth = {"client-certificate": " authentication certificate",
                   "aaa-and-client-certificate": " authentication aaa certificate"}.get(method)
    lines += [
        f" default-group-policy {profile.group_policy}",
        f"tunnel-group {name} ipsec-attributes",
        # Standards-based clients: EAP after asking for the identity, or a
        # client certificate; the headend signing with its trustpoint
        # (docs/ftd-behaviour.md).
        " ikev2 remote-authentication certificate" if certificate
        else " ikev2 remote-authentication eap query-identity",
        f" ikev2 local-authentication certificate {profile.identity_certificate}",
        f"tunnel-group {name} webvpn-attributes",
        *([webvpn_auth] if webvpn_auth else []),
        f" group-alias {name} enable",
    ]
    return lines


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
