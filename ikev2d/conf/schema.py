"""Every section and key a configuration file may hold, with what it means.

The readers take their allowed keys from here (`keys(section)`), so a key
the validator accepts is a key documented here, and docs/configuration.md
is generated from this (`python -m ikev2d.conf.reference`); a test fails
when the file and this module differ. Defaults come from defaults.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikev2d.iana import IKE_PORT, NAT_T_PORT

from . import defaults


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    doc: str
    default: str | None = None  # as written in a file; None: required, or no default
    required: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    path: str  # e.g. "objects.ikev2_policies[]": [] marks a list of such mappings
    title: str  # FMC's name for it
    doc: str
    keys: tuple[Key, ...]


def _on(flag: bool) -> str:
    return "true" if flag else "false"


SECTIONS: tuple[Section, ...] = (
    Section("", "The file", "Top-level sections.", (
        Key("device", "The device itself.", "hostname firepower"),
        Key("interfaces", "Data interfaces (nameif): where IKE is served.", required=True),
        Key("remote_access_vpn", "The RA VPN (FMC Devices > Remote Access).", required=True),
        Key("objects", "FMC's reusable objects: policies, proposals, pools, certificates, users.", required=True),
        Key("connection_profiles", "Tunnel groups: how users authenticate and what they get.", required=True),
        Key("logging", "VPN logging level and where FTD syslog lines go.", "errors, to the console"),
    )),
    Section("device", "Device", "The FTD device.", (
        Key("hostname", "Letters, digits and hyphens (max 63); in syslog lines and `show running-config`.",
            defaults.HOSTNAME),
    )),
    Section("interfaces[]", "Interface", "One data interface (`nameif`).", (
        Key("name", "The interface's name (`outside`), referenced by access interfaces.", required=True),
        Key("address", "Its IPv4 address: IKE is served here unless `run --listen` says otherwise.",
            required=True),
        Key("ipv6_address", "Its IPv6 address with prefix length (`2001:db8::1/64`; /64 when left out): "
            "IKE is served here too, as `crypto ikev2 enable` covers both families.", "none"),
        Key("mask", "Netmask, for `show running-config` only.", str(defaults.INTERFACE_MASK)),
        Key("hardware", "Port name, for `show running-config` only.",
            defaults.INTERFACE_HARDWARE.replace("{index}", "N (file order)")),
    )),
    Section("remote_access_vpn", "Remote Access VPN", "FMC: Devices > Remote Access > the RA VPN policy.", (
        Key("name", "The policy's name.", defaults.RA_VPN_NAME),
        Key("access_interfaces", "Interfaces the RA VPN serves and with which protocols.", required=True),
        Key("web_access_port", "TCP port of TLS (SSL VPN, client services).", str(defaults.WEB_ACCESS_PORT)),
        Key("dtls_port", "UDP port of DTLS.", str(defaults.DTLS_PORT)),
        Key("ike_policies", "IKEv2 policies offered, by name.", required=True),
        Key("ipsec_proposals", "IKEv2 IPsec proposals offered, by name.", required=True),
        Key("fragment_size", "IKE fragment size (RFC 7383), the whole IP datagram, 576-1500.",
            str(defaults.FRAGMENT_SIZE)),
        Key("default_connection_profile", "The profile for clients that name none, or one that does"
            " not exist.",
            f"{defaults.CONNECTION_PROFILE}, or the only profile"),
        Key("ikev2_parameters", "Advanced > IPsec > IPsec/IKEv2 Parameters.", "see below"),
        Key("pfs_group", "The crypto map's `set pfs groupN` (FMC: Enable Perfect Forward Secrecy, Modulus"
            " Group): Child SA rekeys must carry a KE of this DH group.", "none (PFS not demanded)"),
        Key("group_policies", "Advanced > Group Policies: group policies a RADIUS server may assign to a"
            " user (Class `OU=name;`), besides the connection profiles' own, by name.", "none"),
        Key("ike_port", "UDP port IKE is served on (an FTD's is fixed at 500). Above 1023 needs no root;"
            " `run --ike-port` overrides it. Clients must be told a port that is not 500.", str(IKE_PORT)),
        Key("nat_t_port", "UDP port of NAT-T (IKE and ESP in UDP, RFC 3948; 4500 on an FTD);"
            " `run --natt-port` overrides it.", str(NAT_T_PORT)),
        Key("certificate_mapping", "Advanced > Certificate Maps (`tunnel-group-map`): which connection"
            " profile a client certificate lands in.", "none (no certificate maps)"),
    )),
    Section("remote_access_vpn.certificate_mapping", "Certificate to connection profile mapping",
            "FMC: the RA VPN's Advanced > Certificate Maps. With a client certificate in IKE_AUTH, the"
            " mappings are tried in order before the client's IKE identity (docs/ftd-behaviour.md).", (
        Key("use_configured_rules", "\"Use the configured rules to match a certificate to a Connection"
            " Profile\" (`tunnel-group-map enable rules`).", "true"),
        Key("mappings", "Certificate to Connection Profile Mapping, in priority order.", required=True),
        Key("require_match", "A client certificate no map matches is refused (717037, then"
            " AUTHENTICATION_FAILED) instead of going on to the other selections and the default"
            " profile. Our choice: FMC has no such switch.", "false"),
    )),
    Section("remote_access_vpn.certificate_mapping.mappings[]", "Certificate map mapping",
            "`tunnel-group-map MAP SEQ PROFILE`: a certificate the map matches selects the profile.", (
        Key("certificate_map", "An objects.certificate_maps name.", required=True),
        Key("connection_profile", "The connection profile it selects.", required=True),
    )),
    Section("remote_access_vpn.access_interfaces[]", "Access interface",
            "FMC: the RA VPN's Access Interfaces tab, one entry per interface.", (
        Key("interface", "An interface's `name`.", required=True),
        Key("enable_ipsec_ikev2", "Serve IKEv2 here. Off by default, as in FMC: ask for it.",
            _on(defaults.ENABLE_IPSEC_IKEV2)),
        Key("enable_ssl", "Listen with TLS on web_access_port (the SSL VPN). The whitepaper turns it off.",
            _on(defaults.ENABLE_SSL)),
        Key("enable_dtls", "Listen on dtls_port too; needs enable_ssl.", "as enable_ssl"),
    )),
    Section("remote_access_vpn.ikev2_parameters", "IPsec/IKEv2 Parameters",
            "Denial-of-service protection and dead peer detection.", (
        Key("cookie_challenge", "`custom` (COOKIE past the threshold), `always` or `never` (RFC 7296 §2.6).",
            defaults.COOKIE_CHALLENGE),
        Key("cookie_threshold_percent", "With `custom`: percent of max_in_negotiation that starts cookies.",
            str(defaults.COOKIE_THRESHOLD_PERCENT)),
        Key("max_in_negotiation", "Half-open IKE SAs allowed at once (then TEMPORARY_FAILURE).",
            str(defaults.MAX_IN_NEGOTIATION)),
        Key("dpd_interval_seconds", "Dead peer detection interval; 0 turns it off.", str(defaults.DPD_INTERVAL)),
        Key("mobike", "Answer a client's MOBIKE_SUPPORTED (RFC 4555): it may then move the session to a new "
            "address with UPDATE_SA_ADDRESSES. The ASA has it always on since 9.8(1).",
            _on(defaults.MOBIKE)),
    )),
    Section("objects", "Objects", "FMC: Objects.", (
        Key("ikev2_policies", "Objects > VPN > IKEv2 Policy; at least the ones ike_policies names.", "none"),
        Key("ikev2_ipsec_proposals", "Objects > VPN > IKEv2 IPsec Proposal; at least the ones ipsec_proposals"
            " names.", "none"),
        Key("ipv4_pools", "Objects > Address Pools > IPv4 Pools.", "none"),
        Key("ipv6_pools", "Objects > Address Pools > IPv6 Pools.", "none"),
        Key("group_policies", "Objects > VPN > Group Policy.", f"{defaults.GROUP_POLICY} only"),
        Key("identity_certificates", "Objects > PKI > Cert Enrollment: the headend's certificate (one at least).",
            "none"),
        Key("trusted_ca_certificates", "Objects > PKI > Trusted CA (validation usage IPsec client): CAs a"
            " client certificate must chain to (`client-certificate` and `aaa-and-client-certificate`"
            " profiles).", "none"),
        Key("certificate_maps", "Objects > VPN > Certificate Map: rules a client certificate is"
            " matched against (remote_access_vpn.certificate_mapping).", "none"),
        Key("local_users", "Objects > Local Realm: the LOCAL AAA server group's users.", "none"),
        Key("radius_server_groups", "Objects > AAA Server > RADIUS Server Group.", "none"),
    )),
    Section("objects.ikev2_policies[]", "IKEv2 policy", "`crypto ikev2 policy <priority>`: one IKE SA proposal.", (
        Key("name", "The policy's name, referenced by ike_policies.", required=True),
        Key("priority", "1-65535, lower first; unique.", required=True),
        Key("encryption", "Encryption algorithms, in order; AES-GCM ones not mixed with the others"
            " (the FTD's rule); `NULL` is refused (IKE has none).", required=True),
        Key("integrity", "Integrity algorithms (`NULL` with AES-GCM).", required=True),
        Key("prf", "PRF algorithms.", "from the integrity algorithms"),
        Key("dh_groups", "Diffie-Hellman groups, by number.", required=True),
        Key("lifetime_seconds", "IKE SA lifetime, 120-2147483647 s.", str(defaults.IKE_LIFETIME_SECONDS)),
    )),
    Section("objects.ikev2_ipsec_proposals[]", "IKEv2 IPsec proposal",
            "`crypto ipsec ikev2 ipsec-proposal`: one Child SA (ESP) proposal.", (
        Key("name", "The proposal's name, referenced by ipsec_proposals.", required=True),
        Key("esp_encryption", "ESP encryption algorithms; AES-GMAC and NULL authenticate only.",
            required=True),
        Key("esp_hash", "ESP integrity algorithms (`NULL` with AES-GCM or AES-GMAC).", required=True),
        Key("lifetime_seconds", "Child SA lifetime, from 120 s.", str(defaults.IPSEC_LIFETIME_SECONDS)),
        Key("lifetime_kilobytes", "Child SA volume lifetime, from 10 kB.", str(defaults.IPSEC_LIFETIME_KILOBYTES)),
    )),
    Section("objects.ipv4_pools[]", "IPv4 pool", "`ip local pool`: addresses handed to clients.", (
        Key("name", "The pool's name, referenced by address_pools.", required=True),
        Key("range", "FIRST-LAST, e.g. 198.19.0.200-198.19.0.250.", required=True),
        Key("mask", "Netmask sent to clients.", required=True),
    )),
    Section("objects.ipv6_pools[]", "IPv6 pool", "`ipv6 local pool`: IPv6 addresses handed to clients"
            " that ask for one (dual stack).", (
        Key("name", "The pool's name, referenced by ipv6_address_pools.", required=True),
        Key("prefix", "START/PREFIX-LENGTH: the first address handed out, and the prefix length sent with"
            " each (e.g. 2001:2:0:1::100/64).", required=True),
        Key("number", "How many addresses, from START on: 1-16384.", required=True),
    )),
    Section("objects.group_policies[]", "Group policy", "`group-policy NAME attributes`: what a client gets.", (
        Key("name", "The policy's name; `DfltGrpPolicy` redefines the default one.", required=True),
        Key("vpn_protocols", "Tunnel protocols allowed.", " ".join(defaults.VPN_PROTOCOLS)),
        Key("dns_servers", "DNS servers sent in the configuration payload; IPv6 ones only to clients given an"
            " IPv6 address (INTERNAL_IP6_DNS).", "none"),
        Key("default_domain", "Default domain (Cisco Unity attribute).", "none"),
        Key("banner", "Login banner (Cisco Unity attribute).", "none"),
        Key("split_tunnel", "Which traffic enters the tunnel.", defaults.SPLIT_TUNNEL),
        Key("split_tunnel_networks", "Networks for tunnel-specified / exclude-specified.", "none"),
        Key("idle_timeout_minutes", "Idle time before the session ends.", str(defaults.IDLE_TIMEOUT_MINUTES)),
        Key("simultaneous_logins", "Sessions one user may hold at once (0 forbids logging in).",
            str(defaults.SIMULTANEOUS_LOGINS)),
        Key("max_connect_time_minutes", "Longest a session may last (vpn-session-timeout).", "none (no limit)"),
    )),
    Section("objects.identity_certificates[]", "Identity certificate",
            "The headend's certificate (a trustpoint): IKE_AUTH is signed with its key.", (
        Key("name", "The certificate's name, referenced by connection profiles.", required=True),
        Key("enrollment", "`self-signed`: created under store on first start; `files`: certificate and"
            " private_key.", defaults.ENROLLMENT),
        Key("subject", "Distinguished name, e.g. `CN=vpn.example.test, O=Lab`.", "CN=<hostname>"),
        Key("subject_alt_names", "DNS names and IPv4 addresses.", "none"),
        Key("key_type", "Key of a self-signed certificate.", defaults.KEY_TYPE),
        Key("store", "Folder for self-signed material (relative: to the file's folder); must be writable.",
            defaults.PKI_STORE),
        Key("certificate", "With enrollment files: PEM certificate (and chain).", "none"),
        Key("private_key", "With enrollment files: its unencrypted PEM key (RSA or ECDSA).", "none"),
    )),
    Section("objects.trusted_ca_certificates[]", "Trusted CA certificate",
            "`crypto ca trustpoint NAME` with `validation-usage ipsec-client`: client certificates are"
            " validated against every one of these.", (
        Key("name", "The trustpoint's name.", required=True),
        Key("certificate", "PEM file with the CA certificate (relative: to the file's folder).", required=True),
        Key("revocation_check", "`revocation-check`: `none`, `crl` (a client certificate whose CRL cannot be"
            " had is refused) or `crl none` (then accepted; FMC: \"Consider the certificate valid if"
            " revocation information can not be reached\").", "none"),
        Key("crl_urls", "`crl configure` > `url`: static CRL sources tried in order, `http://` URLs or"
            " files (relative: to the file's folder).", "none"),
        Key("crl_use_distribution_point", "`policy cdp` (or `both` with crl_urls): also fetch the"
            " certificate's own CRL distribution points (http only).", "true"),
        Key("crl_cache_minutes", "`cache-time`: a fetched CRL is used this long at most, 1-1440, and never"
            " past its nextUpdate.", "60"),
        Key("crl_enforce_next_update", "`enforcenextupdate`: a CRL without a nextUpdate, or past it, is not"
            " used.", "true"),
    )),
    Section("objects.certificate_maps[]", "Certificate map",
            "`crypto ca certificate map NAME 10`: a certificate matches when every rule does.", (
        Key("name", "The map's name, referenced by certificate_mapping.", required=True),
        Key("rules", "Mapping Criteria, at least one.", required=True),
    )),
    Section("objects.certificate_maps[].rules[]", "Certificate map rule",
            "One criterion, e.g. `subject-name attr ou eq Engineering`.", (
        Key("field", "`subject-name`, `issuer-name`, `alt-subject-name` or `extended-key-usage`.",
            required=True),
        Key("component", "For subject-name/issuer-name: a DN attribute (`cn`, `ou`, `o`, `c`, `l`, `st`,"
            " `ea`, `uid`, `ser`, `sn`, `gn`, `t`, `i`, `dnq`, `genq`, `n`, `sp`).", "the whole field"),
        Key("operator", "`eq`, `ne`, `co` (contains) or `nc` (does not contain); extended-key-usage takes"
            " `co`/`nc` only. Comparisons ignore case.", required=True),
        Key("value", "The text compared; for extended-key-usage a name (`clientauth`, `serverauth`,"
            " `codesigning`, `emailprotection`, `ocspsigning`, `timestamping`) or a dotted OID.",
            required=True),
    )),
    Section("objects.local_users[]", "Local user", "A user of the LOCAL server group.", (
        Key("username", "The name the client sends as its EAP identity.", required=True),
        Key("password", "Its password (never logged or echoed). Keep the file mode 0600.", required=True),
    )),
    Section("objects.radius_server_groups[]", "RADIUS server group", "`aaa-server NAME protocol radius`.", (
        Key("name", "The group's name, referenced by connection profiles.", required=True),
        Key("servers", "Its servers, tried in order (at most 16).", required=True),
    )),
    Section("objects.radius_server_groups[].servers[]", "RADIUS server", "One server of a group.", (
        Key("host", "IPv4 address or DNS name.", required=True),
        Key("authentication_port", "UDP port for Access-Requests.", str(defaults.RADIUS_AUTHENTICATION_PORT)),
        Key("accounting_port", "UDP port for Accounting-Requests.", str(defaults.RADIUS_ACCOUNTING_PORT)),
        Key("secret", "Shared secret (max 127 characters; never logged).", required=True),
        Key("timeout_seconds", "Wait per transmission, 1-300 s.", str(defaults.RADIUS_TIMEOUT_SECONDS)),
        Key("retries", "Retransmissions before the next server, 0-10.", str(defaults.RADIUS_RETRIES)),
        Key("interface", "Interface the server is reached through.", "none"),
    )),
    Section("connection_profiles[]", "Connection profile", "A tunnel group.", (
        Key("name", "The profile's name; a client sending it as its IKE identity (IDi of type key-id"
            " or FQDN) lands in this profile.", required=True),
        Key("authentication", "How users authenticate.", "aaa-only, LOCAL, mschapv2 md5 gtc"),
        Key("ike_identity", "The IDr presented (FQDN); a client asking for it as its IDr lands in this"
            " profile.", "none"),
        Key("identity_certificate", "The certificate to sign with.", "the only one defined"),
        Key("address_pools", "IPv4 pools, by name, at most 6.", "none"),
        Key("ipv6_address_pools", "IPv6 pools, by name, at most 6: a client asking for an IPv6 address"
            " as well gets one from these.", "none"),
        Key("group_policy", "Group policy, by name.", defaults.GROUP_POLICY),
        Key("enable_client_services", "Serve the AnyConnect profile over TLS on web_access_port; the"
            " whitepaper turns it off.", _on(defaults.ENABLE_CLIENT_SERVICES)),
        Key("accounting_server_group", "RADIUS server group for accounting Start/Stop.", "none"),
    )),
    Section("connection_profiles[].authentication", "Authentication", "The profile's AAA settings.", (
        Key("method", "`aaa-only` (EAP), `client-certificate` (IKE certificate authentication, RFC 7296"
            " §2.15: the client signs AUTH, its certificate must chain to a trusted CA), or"
            " `aaa-and-client-certificate` (both, as RFC 4739 multiple authentication: the certificate"
            " round first, then EAP against `server_group`); SAML is not supported.",
            defaults.AUTHENTICATION_METHOD),
        Key("server_group", "`LOCAL` or a RADIUS server group.", defaults.SERVER_GROUP),
        Key("eap_methods", "EAP methods, the first offered, the others on a Nak.", "mschapv2 md5 gtc"),
    )),
    Section("logging", "VPN logging", "FMC: Devices > Platform Settings > Syslog.", (
        Key("vpn_logging_level", "Most verbose level sent.", "errors"),
        Key("console", "FTD syslog lines on standard output.", _on(defaults.LOGGING_CONSOLE)),
        Key("file", "Also append them to this file (relative: to the file's folder); must be writable.",
            "none"),
        Key("syslog_servers", "Syslog servers (`logging host`), at most 16.", "none"),
        Key("buffered", "Internal buffer (`logging buffered`; Logging Destinations: Internal Buffer): the most"
            " verbose level kept, `emergencies` (0) to `debugging` (7), read by `show logging`; its own"
            " level, not bound by `vpn_logging_level`.", "off"),
        Key("buffer_size", "Internal buffer size in bytes (`logging buffer-size`), 4096 to 52428800; the"
            " oldest lines go first.", str(defaults.LOGGING_BUFFER_SIZE)),
        Key("wireshark_keys", "Lab only: write every SA's keys to Wireshark's decryption tables"
            " (`ikev2_decryption_table`, `esp_sa`) in this folder (relative: to the file's folder), as"
            " `run --keylog` does. Anyone who reads them decrypts every session.", "none"),
        Key("debug_trace", "The debug trace (`ikev2d debug crypto ikev2`) also written to a file, from start.",
            "none"),
    )),
    Section("logging.debug_trace", "Debug trace", "`debug crypto ikev2 protocol|platform LEVEL` into a file.", (
        Key("file", "Where (relative: to the file's folder); lines are appended.", required=True),
        Key("protocol", "Level 0-255 of `debug crypto ikev2 protocol` (0: off; 127: everything).", "127"),
        Key("platform", "Level 0-255 of `debug crypto ikev2 platform`.", "127"),
        Key("format", "`json` (one object per record, schema ikev2d-trace/1) or `text` (the FTD's layout).",
            "json"),
    )),
    Section("logging.syslog_servers[]", "Syslog server", "One `logging host`.", (
        Key("host", "IPv4 address or DNS name.", required=True),
        Key("port", "Server port.", f"{defaults.SYSLOG_UDP_PORT} (udp), {defaults.SYSLOG_TCP_PORT} (tcp)"),
        Key("protocol", "Transport.", defaults.SYSLOG_PROTOCOL),
        Key("format", "Framing.", defaults.SYSLOG_FORMAT),
        Key("interface", "Interface the server is reached through.", "none"),
    )),
)

_BY_PATH = {s.path: s for s in SECTIONS}


def section(path: str) -> Section:
    return _BY_PATH[path]


def keys(path: str) -> tuple[str, ...]:
    """The keys a reader accepts at `path`, in documentation order."""
    return tuple(k.name for k in _BY_PATH[path].keys)
