"""Typed events the core reports; FTD syslog lines and `show` data derive
from these, so the core itself never formats a log message for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

Address = tuple[str, int]


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
class AuthSucceeded(Event):
    username: str
    method: str
    group_policy: str
    profile: str


@dataclass(frozen=True)
class AuthFailed(Event):
    username: str
    reason: str


@dataclass(frozen=True)
class AddressAssigned(Event):
    username: str
    pool: str
    address: IPv4Address
    profile: str
    group_policy: str


@dataclass(frozen=True)
class AddressReleased(Event):
    username: str
    pool: str
    address: IPv4Address


@dataclass(frozen=True)
class AddressAssignmentFailed(Event):
    username: str
    profile: str


@dataclass(frozen=True)
class IkeSaEstablished(Event):
    username: str
    proposal: str  # e.g. AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072


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


@dataclass(frozen=True)
class NegotiationAborted(Event):
    username: str
    reason: str
