"""What the configuration makes listen for client services, per access
interface (the rules behind the whitepaper's three listings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..conf.model import AccessInterface, Config

Protocol = Literal["SSL", "DTLS"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    protocol: Protocol  # as `show asp table socket` names it
    interface: str
    address: str
    port: int
    # AnyConnect profile (and software) downloads: the whitepaper says they
    # need BOTH the SSL transport and client services; with client services
    # alone the socket is exposed but serves no profile
    downloads: bool = True


def tls_listens(access: AccessInterface, client_services: bool) -> bool:
    """SSL (the SSL VPN transport) needs TLS; so does client services on an
    IKEv2 interface (`crypto ikev2 enable <if> client-services port <p>`)."""
    return access.enable_ssl or (access.enable_ipsec_ikev2 and client_services)


def dtls_listens(access: AccessInterface) -> bool:
    # DTLS is the SSL VPN's datagram channel: FMC offers it only with SSL
    return access.enable_ssl and access.enable_dtls


def plan_endpoints(config: Config) -> list[Endpoint]:
    ra = config.remote_access_vpn
    # FMC sets "Enable Client Services" per connection profile; the ASA
    # command it deploys is per interface, so any profile turns it on
    client_services = any(p.enable_client_services for p in config.connection_profiles)
    out: list[Endpoint] = []
    for access in ra.access_interfaces:
        # on each of the interface's addresses: its IPv6 one too, when it has one
        for address in config.interface(access.interface).addresses():
            if tls_listens(access, client_services):
                out.append(Endpoint("SSL", access.interface, address, ra.web_access_port,
                                    downloads=access.enable_ssl and client_services))
            if dtls_listens(access):
                out.append(Endpoint("DTLS", access.interface, address, ra.dtls_port))
    return out
