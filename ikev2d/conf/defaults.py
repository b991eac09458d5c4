"""FTD defaults, used where the configuration file is silent.

Kept in one place so a default found to be wrong is corrected once. Sources:
docs/ftd-behaviour.md ("Defaults") and the whitepaper; values
marked *unconfirmed* are the most plausible reading, not an observation.
"""

from __future__ import annotations

from ikev2d.iana import EapType

from ipaddress import IPv4Address

from .model import (
    AuthenticationMethod,
    Enrollment,
    GroupPolicy,
    KeyType,
    SplitTunnel,
    SyslogFormat,
    SyslogProtocol,
    VpnProtocol,
)

HOSTNAME = "firepower"  # an unconfigured FTD's hostname

# Interfaces. Neither reaches the wire (IKE binds the address alone); they
# make `show running-config` read like an FTDv's: data interfaces are
# GigabitEthernet0/0, 0/1, ... in file order, and a /24 is assumed
# (unconfirmed: a lab's usual subnet) when the file gives no mask.
INTERFACE_HARDWARE = "GigabitEthernet0/{index}"
INTERFACE_MASK = IPv4Address("255.255.255.0")
RA_VPN_NAME = "RA_VPN"

IKE_LIFETIME_SECONDS = 86400
IPSEC_LIFETIME_SECONDS = 28800
IPSEC_LIFETIME_KILOBYTES = 4608000

# FMC's default connection profile, and the group policy every profile
# falls back to.
CONNECTION_PROFILE = "DefaultWEBVPNGroup"
GROUP_POLICY = "DfltGrpPolicy"

WEB_ACCESS_PORT = 443
DTLS_PORT = 443
FRAGMENT_SIZE = 1280  # whole IP datagram, as strongSwan counts it
# IPsec/IKEv2 Parameters: cookie challenge "custom" at 50 % of the SAs allowed
# in negotiation (100), DPD every 30 s -- ASA-documented values; the FTD's own
# defaults are unconfirmed (docs/ftd-behaviour.md, "Defaults").
COOKIE_CHALLENGE = "custom"
COOKIE_THRESHOLD_PERCENT = 50
MAX_IN_NEGOTIATION = 100
DPD_INTERVAL = 30
# MOBIKE (RFC 4555) for remote access: "always on" since ASA 9.8(1)
# (docs/ftd-behaviour.md, "NAT rebinding and MOBIKE")
MOBIKE = True

# Access interface check boxes. The whitepaper shows a new interface with
# SSL and DTLS on and IPsec-IKEv2 off ("select Enable IPsec-IKEv2 in lieu of
# the default Enable SSL"), so IKEv2 must be asked for.
ENABLE_IPSEC_IKEV2 = False
ENABLE_SSL = True
# DTLS follows SSL when unstated: FMC greys DTLS out while SSL is off.

# Connection profile, Advanced: the whitepaper says to "deselect the default
# Enable Client Services".
ENABLE_CLIENT_SERVICES = True
AUTHENTICATION_METHOD: AuthenticationMethod = "aaa-only"
SERVER_GROUP = "LOCAL"
# Standards-based EAP in the order offered (unconfirmed: what a Cisco
# headend proposes first to a non-AnyConnect client is not public).
EAP_METHODS: tuple[EapType, ...] = (EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC)

# Group policy object defaults (FMC: SSL and IPsec-IKEv2 both ticked,
# tunnel all traffic, 30 min idle timeout).
VPN_PROTOCOLS: tuple[VpnProtocol, ...] = ("ssl-client", "ipsec-ikev2")
SPLIT_TUNNEL: SplitTunnel = "tunnel-all"
IDLE_TIMEOUT_MINUTES = 30
SIMULTANEOUS_LOGINS = 3  # vpn-simultaneous-logins

KEY_TYPE: KeyType = "rsa-2048"
ENROLLMENT: Enrollment = "self-signed"
PKI_STORE = "pki"  # relative to the configuration file's folder

VPN_LOGGING_LEVEL = 3  # errors: FTD's default for VPN logging
LOGGING_BUFFER_SIZE = 4096  # bytes: the ASA's `logging buffer-size` default
LOGGING_CONSOLE = True  # ikev2d's own default: a foreground daemon shows its log
# ASA `logging host`: UDP 514 unless told; TCP's default port is 1470.
SYSLOG_PROTOCOL: SyslogProtocol = "udp"
SYSLOG_UDP_PORT = 514
SYSLOG_TCP_PORT = 1470
# Framing: RFC 5424 (FTD's `logging timestamp rfc5424` style) unless told.
SYSLOG_FORMAT: SyslogFormat = "rfc5424"

# RADIUS server (FMC RADIUS Server object): IANA ports, 10 s timeout; three
# retransmissions per server before the next (ikev2d's choice: FMC has no
# per-server retry count, only a group retry interval).
RADIUS_AUTHENTICATION_PORT = 1812
RADIUS_ACCOUNTING_PORT = 1813
RADIUS_TIMEOUT_SECONDS = 10
RADIUS_RETRIES = 3


def default_group_policy() -> GroupPolicy:
    """DfltGrpPolicy as an FTD ships it; a file may redefine it."""
    return GroupPolicy(
        name=GROUP_POLICY,
        vpn_protocols=VPN_PROTOCOLS,
        dns_servers=(),
        default_domain=None,
        banner=None,
        split_tunnel=SPLIT_TUNNEL,
        split_tunnel_networks=(),
        idle_timeout_minutes=IDLE_TIMEOUT_MINUTES,
    )
