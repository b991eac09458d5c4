"""FTD defaults, used where the configuration file is silent.

Kept in one place so a default found to be wrong is corrected once. Sources:
shared/reference/ftd-behaviour.md ("Defaults") and the whitepaper; values
marked *unconfirmed* are the most plausible reading, not an observation.
"""

from __future__ import annotations

from ikev2d.iana import EapType

from .model import Enrollment, GroupPolicy, KeyType, SplitTunnel, VpnProtocol

HOSTNAME = "firepower"  # an unconfigured FTD's hostname
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

# Access interface check boxes. The whitepaper shows a new interface with
# SSL and DTLS on and IPsec-IKEv2 off ("select Enable IPsec-IKEv2 in lieu of
# the default Enable SSL"), so IKEv2 must be asked for.
ENABLE_IPSEC_IKEV2 = False
ENABLE_SSL = True
# DTLS follows SSL when unstated: FMC greys DTLS out while SSL is off.

# Connection profile, Advanced: the whitepaper says to "deselect the default
# Enable Client Services".
ENABLE_CLIENT_SERVICES = True
AUTHENTICATION_METHOD = "aaa-only"
SERVER_GROUP = "LOCAL"
# Standards-based EAP in the order offered (unconfirmed: what a Cisco
# headend proposes first to a non-AnyConnect client is not public).
EAP_METHODS = (EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC)

# Group policy object defaults (FMC: SSL and IPsec-IKEv2 both ticked,
# tunnel all traffic, 30 min idle timeout).
VPN_PROTOCOLS: tuple[VpnProtocol, ...] = ("ssl-client", "ipsec-ikev2")
SPLIT_TUNNEL: SplitTunnel = "tunnel-all"
IDLE_TIMEOUT_MINUTES = 30

KEY_TYPE: KeyType = "rsa-2048"
ENROLLMENT: Enrollment = "self-signed"
PKI_STORE = "pki"  # relative to the configuration file's folder

VPN_LOGGING_LEVEL = 3  # errors: FTD's default for VPN logging


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
