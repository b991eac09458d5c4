"""SSL/TLS exposure on the VPN headend: the whitepaper's whole point.

NSA/CISA advise IPsec IKEv2 over SSL/TLS VPNs because of the many TLS
implementation flaws attackers used. The whitepaper shows three steps on
`show asp table socket`: SSL and DTLS listening while the access interface
has `Enable SSL`; SSL still listening after it is unticked, because of
client services; nothing only once `Enable Client Services` is off too.
"""

from __future__ import annotations

from typing import Iterator

from ikev2d.conf.locate import Named, SourceMap
from ikev2d.conf.model import Config, ConnectionProfile
from ikev2d.udp import where as where_text

from .findings import Finding, Severity

ACCESS = ("remote_access_vpn", "access_interfaces")
PROFILES = ("connection_profiles",)
GROUP_POLICIES = ("objects", "group_policies")


def check_exposure(config: Config, where: SourceMap) -> Iterator[Finding]:
    yield from _access_interfaces(config, where)
    for profile in config.connection_profiles:
        yield from _client_services(config, profile, where)
    yield from _group_policies(config, where)


def _access_interfaces(config: Config, where: SourceMap) -> Iterator[Finding]:
    ra = config.remote_access_vpn
    for index, access in enumerate(ra.access_interfaces):
        if not access.enable_ssl:
            continue
        addresses = config.interface(access.interface).addresses()  # its IPv6 address too, if any
        location = where.find(*ACCESS, index, "enable_ssl")
        listening = "TLS on " + ", ".join(where_text(a, ra.web_access_port) for a in addresses)
        if access.enable_dtls:
            listening += " and DTLS on " + ", ".join(where_text(a, ra.dtls_port) for a in addresses)
        default = "" if location.written else " (FTD default for a new access interface)"
        fix = "set enable_ssl: false"
        if where.find(*ACCESS, index, "enable_dtls").written and access.enable_dtls:
            fix += " and enable_dtls: false"
        if not access.enable_ipsec_ikev2:
            fix += ", and enable_ipsec_ikev2: true"
        yield Finding(
            Severity.ERROR,
            f"access interface '{access.interface}'",
            location.line,
            f"Enable SSL{default}: the RA VPN is offered over SSL/TLS ({listening}), the"
            " exposure NSA/CISA advise removing in favour of IPsec IKEv2",
            fix,
        )


def _client_services(config: Config, profile: ConnectionProfile,
                     where: SourceMap) -> Iterator[Finding]:
    if not profile.enable_client_services:
        return
    ra = config.remote_access_vpn
    addresses = ", ".join(
        where_text(address, ra.web_access_port)
        for a in ra.access_interfaces for address in config.interface(a.interface).addresses()
    )
    location = where.find(*PROFILES, Named(profile.name), "enable_client_services")
    default = "" if location.written else " (FTD default)"
    ssl_on = any(a.enable_ssl for a in ra.access_interfaces)
    then = ("would keep it listening once Enable SSL is cleared" if ssl_on
            else "keeps it listening although Enable SSL is off")
    yield Finding(
        Severity.WARNING,
        f"connection profile '{profile.name}'",
        location.line,
        f"Enable Client Services{default} needs SSL/TLS on {addresses} and {then}"
        " (whitepaper: only when client services are disabled is SSL/TLS truly disabled)",
        "set enable_client_services: false and give clients their profile another way"
        " (`ikev2d profile`), or keep it as a local decision with compensating controls",
    )


def _group_policies(config: Config, where: SourceMap) -> Iterator[Finding]:
    users: dict[str, list[ConnectionProfile]] = {}
    for profile in config.connection_profiles:
        users.setdefault(profile.group_policy, []).append(profile)
    for name, profiles in users.items():
        policy = config.group_policy(name)
        if "ssl-client" not in policy.vpn_protocols:
            continue
        location = where.find(*GROUP_POLICIES, Named(name), "vpn_protocols")
        subject = f"group policy '{name}'"
        if not location.written:
            defined = where.find(*GROUP_POLICIES, Named(name))
            if defined.written:  # defined in the file, protocols left at the default
                location, subject = defined, subject + " (default protocols)"
            else:  # FTD's own DfltGrpPolicy: blame the profile that hands it out
                first = profiles[0].name
                location = where.find(*PROFILES, Named(first), "group_policy")
                subject += f" (FTD default, given by connection profile '{first}')"
        yield Finding(
            Severity.WARNING,
            subject,
            location.line,
            "VPN protocols include SSL (vpn-tunnel-protocol ssl-client): its users may"
            " tunnel over SSL/TLS wherever SSL is enabled; the guidance is IKEv2 only",
            "set vpn_protocols: [ipsec-ikev2]",
        )
