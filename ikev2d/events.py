"""Typed events the core reports; FTD syslog lines and `show` data derive
from these, so the core itself never formats a log message for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

Address = tuple[str, int]

LOCAL_DATABASE = "LOCAL"  # the AAA "server" of the local user database
CERTIFICATE = "certificate"  # the "server" of certificate-only authentication: none


@dataclass(frozen=True)
class Event:
    ike_sa_id: str
    local: Address
    remote: Address


@dataclass(frozen=True)
class IkeInitReceived(Event):
    """IKE_SA_INIT request arrived (FTD 750002)."""


@dataclass(frozen=True)
class IkeInitRejected(Event):
    notify: str
    detail: str = ""


@dataclass(frozen=True)
class MessageDropped(Event):
    reason: str


@dataclass(frozen=True)
class ProfileSelected(Event):
    """IKE_AUTH placed the client in a connection profile (no FTD syslog
    message of its own: docs/ftd-behaviour.md, "Connection profile selection")."""

    profile: str
    by: str  # group URL, IKE identity, requested IDr, default
    unmatched: str | None = None  # a group name or URL the client gave that no profile has


@dataclass(frozen=True)
class AuthSucceeded(Event):
    username: str
    method: str
    group_policy: str  # the connection profile's (the default)
    profile: str
    aaa_server: str = LOCAL_DATABASE  # or the RADIUS server's address
    assigned_group_policy: str | None = None  # the one the AAA server set, when it exists here


@dataclass(frozen=True)
class CertificateChecked(Event):
    """A client certificate chain was validated (717022/717028) or refused
    (717009/717027); `failure` is cert_verify.Failure's value, or None."""

    serial: str
    subject: str
    failure: str | None = None
    # a CRL said it is not revoked (717028 "with revocation status check")
    revocation_checked: bool = False


@dataclass(frozen=True)
class CertificateMapSearched(Event):
    """The client certificate was run through the certificate maps
    (717036), and matched one (717038, `profile`) or none (717037)."""

    serial: str
    subject: str  # as the ASA prints a DN: c=..,o=..,cn=..
    issuer: str
    profile: str | None
    certificate_map: str | None = None


@dataclass(frozen=True)
class CrlUnusable(Event):
    """A trustpoint's CRL source gave no CRL (717010) or an invalid one (717019)."""

    trustpoint: str
    source: str
    unreachable: bool
    reason: str


@dataclass(frozen=True)
class AuthFailed(Event):
    username: str
    reason: str
    aaa_server: str = LOCAL_DATABASE
    aaa_rejected: bool = False  # the credentials were refused (not a protocol error)


@dataclass(frozen=True)
class AddressAssigned(Event):
    username: str
    pool: str
    address: IPv4Address
    profile: str
    group_policy: str
    session: int = 0  # the SA's unique ID, FTD's "Session=0x00006000"
    # dual stack: the IPv6 address assigned as well, and its pool
    address6: IPv6Address | None = None
    pool6: str = ""


@dataclass(frozen=True)
class AddressReleased(Event):
    username: str
    pool: str
    address: IPv4Address | IPv6Address
    session: int = 0


@dataclass(frozen=True)
class AddressAssignmentFailed(Event):
    username: str
    profile: str
    session: int = 0


@dataclass(frozen=True)
class IkeSaEstablished(Event):
    username: str
    proposal: str  # e.g. AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072
    session: int = 0
    group_policy: str = ""
    address: IPv4Address | None = None  # the client's pool address, if it got one
    client: str = ""  # APPLICATION_VERSION from the client's CFG_REQUEST (RFC 7296 §3.15.1)
    address6: IPv6Address | None = None  # and its IPv6 pool address (dual stack)


@dataclass(frozen=True)
class ChildSaCreated(Event):
    username: str
    spi_in: int
    spi_out: int
    proposal: str


@dataclass(frozen=True)
class ChildSaDeleted(Event):
    username: str
    spi_in: int
    spi_out: int


@dataclass(frozen=True)
class IkeSaDeleted(Event):
    username: str
    reason: str
    duration: float
    stats: dict[str, int] = field(default_factory=dict)
    session: int = 0
    group_policy: str = ""
    # bytes over the session's Child SAs as the data plane counts them;
    # the adapter fills them in (the core never sees traffic)
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass(frozen=True)
class NegotiationAborted(Event):
    username: str
    reason: str  # as the FTD's 750003 words it
    detail: str = ""  # ours, for the plain log: e.g. what was offered beside what is configured


@dataclass(frozen=True)
class SessionStarted(Event):
    """The first Child SA is up: the client can send (FTD 109201)."""

    username: str
    session: int
    address: IPv4Address
    group_policy: str


@dataclass(frozen=True)
class AccountingSucceeded(Event):
    """An accounting server acknowledged a record (FTD 113004 "accounting")."""

    username: str
    aaa_server: str


@dataclass(frozen=True)
class ChildSaRekeyed(Event):
    username: str
    old_spi_in: int
    spi_in: int
    spi_out: int


@dataclass(frozen=True)
class IkeSaRekeyed(Event):
    username: str
    new_ike_sa_id: str
    proposal: str


@dataclass(frozen=True)
class PeerAddressChanged(Event):
    """The IKE SA and its Child SAs now talk to `remote` (and from `local`):
    a NAT mapping that changed (RFC 7296 §2.23) or a MOBIKE address update
    (RFC 4555). The FTD has no syslog message for it that we know of, so it
    is a line of ikev2d's own log."""

    username: str
    old_local: Address
    old_remote: Address
    why: str  # "NAT mapping changed" | "MOBIKE UPDATE_SA_ADDRESSES"
