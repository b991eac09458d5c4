"""The AnyConnect VPN client profile the whitepaper makes with the Profile Editor.

With client services off, a client must already hold a profile that says
"connect with IPsec" (the default is SSL); the whitepaper builds one with the
AnyConnect Profile Editor and places it on the client. `render_profile`
writes the same XML (AnyConnectProfile.xsd): one server-list entry for a
connection profile with `PrimaryProtocol` IPsec and standards-based EAP
(`StandardAuthenticationOnly`), the only authentication ikev2d offers
(EAP-AnyConnect's wire format is not public). Client services serve the
same text for download when they are on.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from ipaddress import IPv4Address

from .conf.model import Config, ConnectionProfile
from .conf.san import parse_san
from .iana import EapType

__all__ = ["NAMESPACE", "render_profile"]

NAMESPACE = "http://schemas.xmlsoap.org/encoding/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
INDENT = "\t"  # the Profile Editor indents with tabs

# AuthMethodValues of the schema for the EAP methods ikev2d speaks.
AUTH_METHODS = {
    EapType.MSCHAPV2: "EAP-MSCHAPv2",
    EapType.MD5_CHALLENGE: "EAP-MD5",
    EapType.GTC: "EAP-GTC",
}

# ClientInitialization as the Profile Editor writes a new profile
# (schema defaults), with a UserControllable attribute where it puts one.
CLIENT_INITIALIZATION: tuple[tuple[str, str, str | None], ...] = (
    ("UseStartBeforeLogon", "false", "true"),
    ("AutomaticCertSelection", "true", "true"),
    ("ShowPreConnectMessage", "false", None),
    ("CertificateStore", "All", None),
    ("CertificateStoreOverride", "false", None),
    ("ProxySettings", "Native", None),
    ("AllowLocalProxyConnections", "true", None),
    ("AuthenticationTimeout", "12", None),
    ("AutoConnectOnStart", "false", "true"),
    ("MinimizeOnConnect", "true", "true"),
    ("LocalLanAccess", "false", "true"),
    ("DisableCaptivePortalDetection", "false", "true"),
    # ikev2d hands out IPv4 addresses only.
    ("IPProtocolSupport", "IPv4", None),
)


def render_profile(
    config: Config, profile_name: str | None = None, *, ike_identity: str | None = None
) -> str:
    """The client profile XML for one connection profile (the default one when
    unnamed). `ike_identity` fills `IKEIdentity` (the IDi the client sends):
    the schema notes it matters to IOS headends, so it is left out unless given.
    Raises KeyError for an unknown profile name."""
    profile = config.profile(profile_name) if profile_name else config.default_profile()
    root = ET.Element("AnyConnectProfile", {
        # Literal attributes rather than ET.register_namespace, which is global.
        "xmlns": NAMESPACE,
        "xmlns:xsi": XSI,
        "xsi:schemaLocation": f"{NAMESPACE} AnyConnectProfile.xsd",
    })
    root.append(_client_initialization(profile))
    server_list = ET.SubElement(root, "ServerList")
    server_list.append(_host_entry(config, profile, ike_identity))
    _indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _client_initialization(profile: ConnectionProfile) -> ET.Element:
    element = ET.Element("ClientInitialization")
    for name, value, user_controllable in CLIENT_INITIALIZATION:
        attributes = {} if user_controllable is None else {"UserControllable": user_controllable}
        ET.SubElement(element, name, attributes).text = value
    reconnect = _text(element, "AutoReconnect", "true", UserControllable="false")
    _text(reconnect, "AutoReconnectBehavior", "ReconnectAfterResume", UserControllable="false")
    # Updates come through client services: without them there is nothing to fetch.
    update = "true" if profile.enable_client_services else "false"
    _text(element, "AutoUpdate", update, UserControllable="false")
    _text(element, "RSASecurIDIntegration", "Automatic", UserControllable="false")
    _text(element, "WindowsLogonEnforcement", "SingleLocalLogon")
    _text(element, "WindowsVPNEstablishment", "LocalUsersOnly")
    _text(element, "AutomaticVPNPolicy", "false")
    _text(element, "EnableScripting", "false", UserControllable="false")
    _text(element, "RetainVpnOnLogoff", "false")
    _text(element, "AllowManualHostInput", "true")
    return element


def _host_entry(config: Config, profile: ConnectionProfile, ike_identity: str | None) -> ET.Element:
    entry = ET.Element("HostEntry")
    _text(entry, "HostName", profile.name)
    _text(entry, "HostAddress", host_address(config, profile))
    if profile.name != config.remote_access_vpn.default_connection_profile:
        # AnyConnect's way to ask for a tunnel group other than the default.
        _text(entry, "UserGroup", profile.name)
    primary = _text(entry, "PrimaryProtocol", "IPsec")
    standard = _text(primary, "StandardAuthenticationOnly", "true")
    # a certificate profile: the user's certificate signs AUTH; IKE-RSA is
    # the schema's value for the RSA keys user certificates mostly have
    method = "IKE-RSA" if profile.authentication_method == "client-certificate" \
        else AUTH_METHODS[profile.eap_methods[0]]
    _text(standard, "AuthMethodDuringIKENegotiation", method)
    if ike_identity:
        _text(standard, "IKEIdentity", ike_identity)
    return entry


def host_address(config: Config, profile: ConnectionProfile) -> str:
    """Where the client connects: the profile's IKE identity when it is an FQDN
    (the name its certificate carries), else the certificate's first DNS
    name, else the address of the first interface serving IKEv2."""
    identity = profile.ike_identity
    if identity:
        try:
            IPv4Address(identity)
        except ValueError:
            return identity
    certificate = config.identity_certificate(profile.identity_certificate)
    for name in certificate.subject_alt_names:
        if isinstance(parse_san(name), str):
            return name
    if identity:
        return identity
    interfaces = config.ikev2_interfaces() or config.interfaces
    return str(interfaces[0].address)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _indent(element: ET.Element, level: int = 0) -> None:
    """Tab indentation like the Profile Editor's, mixed content included:
    `<PrimaryProtocol>IPsec` keeps its word and indents its children after it
    (ET.indent leaves such elements on one line)."""
    children = list(element)
    if not children:
        return
    inner = "\n" + INDENT * (level + 1)
    element.text = (element.text or "").strip() + inner
    for child in children:
        _indent(child, level + 1)
        child.tail = inner
    children[-1].tail = "\n" + INDENT * level
