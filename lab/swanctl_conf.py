"""strongswan.conf and swanctl.conf text for lab charons (client or responder).

Only text generation lives here; :mod:`lab.strongswan` writes the files and
runs the daemon.  The settings are those of a strongSwan lab client and responder (docs/lab.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NSA_IKE = "aes256-sha512-prfsha512-modp3072"
NSA_ESP = "aes256-sha512"
SERVER_ID = "vpn.example.test"
GATEWAY_ADDR = "198.18.0.1"
INSIDE_NET = "198.19.0.0/24"
DEFAULT_POOL = "198.19.0.200-198.19.0.250"
DEFAULT_USERS = {"alice": "Lab-Passw0rd-1", "bob": "Lab-Passw0rd-2"}

PLUGINS = (
    "random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey "
    "sha1 sha2 hmac aes gmp kdf kernel-libipsec kernel-netlink socket-default "
    "vici updown eap-identity eap-mschapv2 eap-md5 eap-gtc eap-tls eap-ttls counters"
)
# swanctl's own plugins when kernel_esp is set (under user-mode Linux): its
# default list includes af-alg, whose probing costs ~12 s there (kernel-esp.md)
SWANCTL_PLUGINS = "random openssl pem pkcs1 pkcs8 x509 pubkey"


def plugins(kernel_esp: bool) -> str:
    """charon's plugin list: ESP in user space (kernel-libipsec, this machine)
    or the kernel's ESP through kernel-netlink alone (a kernel that has it)."""
    return PLUGINS.replace(" kernel-libipsec", "") if kernel_esp else PLUGINS
# eap-tls and eap-ttls reach a RADIUS server through the headend (RFC 3579);
# Debian 12's strongSwan has no eap-peap plugin
EAP_METHODS = ("eap-mschapv2", "eap-md5", "eap-gtc", "eap-tls", "eap-ttls")
# "pubkey": IKE certificate authentication (the FTD's Client Certificate Only)
AUTH_METHODS = (*EAP_METHODS, "pubkey")


@dataclass(frozen=True)
class DaemonSettings:
    """strongswan.conf knobs (the same for client and responder)."""

    folder: Path
    fragment_size: int = 1280
    retransmit_tries: int = 2
    retransmit_timeout: float = 1.0
    retransmit_base: float = 1.4
    ike_log_level: int = 2
    # RFC 7427: with "no" charon sends no SIGNATURE_HASH_ALGORITHMS notify
    # (and so a responder must fall back to RSA_SIG / ECDSA auth methods).
    signature_authentication: bool = True
    # True: the kernel's ESP (kernel-netlink, no kernel-libipsec), as under UML
    kernel_esp: bool = False
    # charon.cookie_threshold: half-open IKE SAs from which a responder asks
    # every IKE_SA_INIT for a COOKIE (and for 10 s after); None: charon's default
    cookie_threshold: int | None = None

    @property
    def vici_socket(self) -> Path:
        return self.folder / "charon.vici"

    @property
    def log_file(self) -> Path:
        return self.folder / "charon.log"


def strongswan_conf(s: DaemonSettings) -> str:
    swanctl_load = f"\n  load = {SWANCTL_PLUGINS}" if s.kernel_esp else ""
    cookies = f"\n  cookie_threshold = {s.cookie_threshold}" if s.cookie_threshold is not None else ""
    return f"""\
charon {{
  load_modular = no
  load = {plugins(s.kernel_esp)}
  port = 500
  port_nat_t = 4500
  install_routes = yes
  fragment_size = {s.fragment_size}
  reuse_ikesa = no
  retransmit_tries = {s.retransmit_tries}
  retransmit_timeout = {s.retransmit_timeout}
  retransmit_base = {s.retransmit_base}
  signature_authentication = {"yes" if s.signature_authentication else "no"}{cookies}
  filelog {{
    cl {{
      path = {s.log_file}
      time_format = %H:%M:%S
      ike_name = yes
      append = no
      default = 1
      ike = {s.ike_log_level}
      flush_line = yes
    }}
  }}
  syslog {{
  }}
  plugins {{
    vici {{
      socket = unix://{s.vici_socket}
    }}
  }}
}}
swanctl {{
  socket = unix://{s.vici_socket}{swanctl_load}
}}
"""


@dataclass(frozen=True)
class ClientConfig:
    """One remote-access connection as a strongSwan client sees it."""

    local_addr: str
    remote_addr: str = GATEWAY_ADDR
    name: str = "ftd-ra"
    proposals: str = NSA_IKE
    esp_proposals: str = NSA_ESP
    eap: str = "eap-mschapv2"
    identity: str = "alice"
    password: str = DEFAULT_USERS["alice"]
    # the IKE identity (IDi) when not the EAP identity, in swanctl's syntax:
    # "keyid:Sales" (key-id), "Sales" (FQDN): a connection profile's name
    # asks for that profile; Windows sends its address
    ike_id: str = ""
    remote_id: str = SERVER_ID
    remote_ts: str = INSIDE_NET
    ca_cert: Path | None = None
    # ESP in UDP 4500 even without NAT; "no" sends plain ESP (only with the
    # kernel's ESP: kernel-libipsec always encapsulates)
    encap: bool = True
    # the Child SA's own rekey_time (e.g. "2h"); empty: strongSwan's default (1h)
    child_rekey_time: str = ""
    # RFC 4555, on by default in strongSwan as here
    mobike: bool = True
    # seconds between the client's liveness checks when idle (0: none)
    dpd_delay: int = 0
    # the user's certificate and key, for eap-tls and pubkey; with pubkey an
    # empty identity means the certificate's subject DN (strongSwan's default)
    client_cert: Path | None = None
    client_key: Path | None = None
    # RFC 4739 multiple authentication (the FTD's Client Certificate & AAA):
    # with eap = "pubkey", a second round `local-2` by this EAP method, as
    # `second_identity` with `password`
    second_eap: str = ""
    second_identity: str = "alice"
    # the virtual IPs asked for: "0.0.0.0,::" asks for an IPv6 address too
    # (dual stack; remote_ts then lists IPv6 networks beside the IPv4 ones)
    vips: str = "0.0.0.0"

    def __post_init__(self) -> None:
        if self.eap not in AUTH_METHODS:
            raise ValueError(f"eap must be one of {AUTH_METHODS}: {self.eap}")
        if self.second_eap and (self.eap != "pubkey" or self.second_eap not in EAP_METHODS):
            raise ValueError(f"second_eap takes one of {EAP_METHODS} after eap = pubkey")
        if self.eap in ("eap-tls", "pubkey") and (self.client_cert is None or self.client_key is None):
            raise ValueError(f"{self.eap} needs client_cert and client_key")


@dataclass(frozen=True)
class ResponderConfig:
    """strongSwan as the reference responder: the NSA suite, EAP, a pool."""

    server_cert: Path
    server_key: Path
    local_addr: str = GATEWAY_ADDR
    name: str = "ftd-ra"
    proposals: str = NSA_IKE
    esp_proposals: str = NSA_ESP
    eap: str = "eap-mschapv2"
    server_id: str = SERVER_ID
    pool: str = DEFAULT_POOL
    dns: tuple[str, ...] = ("198.19.0.53",)
    local_ts: str = INSIDE_NET
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))


def _quote(secret: str) -> str:
    return '"' + secret.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _client_local(c: ClientConfig) -> str:
    cert = f"\n      certs = {c.client_cert.name}" if c.client_cert is not None else ""
    if c.eap == "pubkey":
        own_id = f"\n      id = \"{c.identity}\"" if c.identity else ""
        return f"auth = pubkey{own_id}{cert}"
    return f"auth = {c.eap}\n      id = {c.ike_id or c.identity}\n      eap_id = {c.identity}{cert}"


def _client_rounds(c: ClientConfig) -> str:
    """`local`, or with a second round (RFC 4739) `local-1` and `local-2`."""
    if not c.second_eap:
        return f"local {{\n      {_client_local(c)}\n    }}"
    return (f"local-1 {{\n      {_client_local(c)}\n    }}\n"
            f"    local-2 {{\n      auth = {c.second_eap}\n      id = {c.second_identity}\n"
            f"      eap_id = {c.second_identity}\n    }}")


def client_swanctl_conf(c: ClientConfig) -> str:
    return f"""\
connections {{
  {c.name} {{
    version = 2
    local_addrs = {c.local_addr}
    remote_addrs = {c.remote_addr}
    proposals = {c.proposals}
    fragmentation = yes
    encap = {"yes" if c.encap else "no"}
    mobike = {"yes" if c.mobike else "no"}
    dpd_delay = {c.dpd_delay}s
    vips = {c.vips}
    {_client_rounds(c)}
    remote {{
      auth = pubkey
      id = {c.remote_id}
    }}
    children {{
      {c.name} {{
        remote_ts = {c.remote_ts}
        esp_proposals = {c.esp_proposals}{f"{chr(10)}        rekey_time = {c.child_rekey_time}" if c.child_rekey_time else ""}
      }}
    }}
  }}
}}
{_client_secrets(c)}"""


def _client_secrets(c: ClientConfig) -> str:
    if c.eap == "pubkey" and not c.second_eap:
        return ""  # the key is loaded from swanctl/private
    user = c.second_identity if c.second_eap else c.identity
    return f"""\
secrets {{
  eap-{user} {{
    id = {user}
    secret = {_quote(c.password)}
  }}
}}
"""


def responder_swanctl_conf(r: ResponderConfig) -> str:
    users = "".join(
        f"""\
  eap-{i} {{
    id = {user}
    secret = {_quote(pw)}
  }}
"""
        for i, (user, pw) in enumerate(sorted(r.users.items()))
    )
    dns = ", ".join(r.dns)
    return f"""\
connections {{
  {r.name} {{
    version = 2
    local_addrs = {r.local_addr}
    proposals = {r.proposals}
    fragmentation = yes
    pools = vpn-pool
    send_certreq = no
    local {{
      auth = pubkey
      certs = {r.server_cert.name}
      id = {r.server_id}
    }}
    remote {{
      auth = {r.eap}
      eap_id = %any
    }}
    children {{
      {r.name} {{
        local_ts = {r.local_ts}
        esp_proposals = {r.esp_proposals}
      }}
    }}
  }}
}}
pools {{
  vpn-pool {{
    addrs = {r.pool}
    dns = {dns}
  }}
}}
secrets {{
{users}}}
"""
