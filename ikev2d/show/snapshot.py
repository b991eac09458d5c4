"""What the running daemon reports to `show` commands: plain values only.

The daemon builds a `Snapshot` (ikev2d/control/collect.py), sends it as JSON
over the control socket, and the client renders it; renderers are pure
functions of a snapshot, so they are tested without a daemon.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class ChildSnapshot:
    """One ESP SA pair, from the responder's side."""

    spi_in: int  # we chose it; the client sends with it
    spi_out: int
    local_selectors: tuple[str, ...]  # CIDR, what we protect (TSr)
    remote_selectors: tuple[str, ...]  # CIDR, the client's address (TSi)
    encr_id: int  # IANA transform IDs
    encr_bits: int
    integ_id: int
    lifetime_seconds: int
    lifetime_kilobytes: int
    age_seconds: float
    nat_t: bool  # ESP in UDP (RFC 3948)
    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    replay_drops: int = 0
    integrity_failures: int = 0
    other_drops: int = 0
    seq_out: int = 0
    seq_in_highest: int = 0


@dataclass(frozen=True)
class SessionSnapshot:
    """One IKE SA and what hangs off it (user, lease, Child SAs)."""

    unique_id: int  # the session handle (IPAA Session=0x...)
    state: str  # ikev2d.sa.State value
    username: str
    tunnel_group: str  # connection profile; "" before IKE_AUTH
    group_policy: str
    interface: str  # nameif of the local address
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    assigned_ip: str | None
    pool: str | None
    spi_i: str  # hex, as on the wire
    spi_r: str
    encr_id: int
    encr_bits: int
    integ_id: int
    prf_id: int
    dh_id: int
    auth_sign: str  # how we authenticate: "RSA" | "ECDSA"
    auth_verify: str  # how the client authenticates: "EAP"
    local_id: str
    remote_id: str
    ike_lifetime_seconds: int
    created_epoch: float  # wall clock
    established_epoch: float | None
    active_seconds: float  # since the SA came up (or was created, if not up)
    nat_peer: bool  # the client is behind a NAT (NAT-D)
    nat_local: bool  # we are
    local_next_message_id: int  # requests we initiated
    remote_next_message_id: int  # requests we expect from the client
    dpd_interval: float
    dpd_retries: int
    idle_timeout_minutes: int
    client_type: str  # "generic" (standards IKEv2) | "anyconnect"
    children: tuple[ChildSnapshot, ...] = ()

    @property
    def established(self) -> bool:
        return self.state == "ESTABLISHED"

    @property
    def nat_t(self) -> bool:
        return self.nat_peer or self.nat_local


@dataclass(frozen=True)
class ListenerSnapshot:
    """A socket as `show asp table socket` lists it."""

    protocol: str  # "SSL", "DTLS", "IKE", "NAT-T"
    address: str
    port: int
    socket_id: int
    state: str = "LISTEN"
    foreign: str = "0.0.0.0:*"


@dataclass(frozen=True)
class Counter:
    """Active now, cumulative since start, peak concurrent (vpn-sessiondb)."""

    active: int = 0
    cumulative: int = 0
    peak: int = 0


@dataclass(frozen=True)
class SessionTotals:
    generic_ikev2: Counter = Counter()  # standards IKEv2 remote-access clients
    anyconnect: Counter = Counter()
    ikev2_tunnels: Counter = Counter()
    ipsec_tunnels: Counter = Counter()  # ESP without UDP encapsulation
    ipsec_natt_tunnels: Counter = Counter()


@dataclass(frozen=True)
class Snapshot:
    hostname: str
    taken_epoch: float
    vpn_capacity: int
    sessions: tuple[SessionSnapshot, ...] = ()
    listeners: tuple[ListenerSnapshot, ...] = ()
    totals: SessionTotals = SessionTotals()

    def established(self) -> list[SessionSnapshot]:
        return [s for s in self.sessions if s.established]


def to_dict(value: Any) -> dict[str, Any]:
    return dataclasses.asdict(value)


def fields_of(value: Any, leave_out: str = "") -> dict[str, Any]:
    """One level of a snapshot dataclass (tuples stay tuples, JSON makes
    them lists): what `to_dict` gives for a flat one, without its deep copy."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.name != leave_out}


_T = typing.TypeVar("_T", bound="DataclassInstance")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # resolving them is slow: once per class


def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
    """Rebuild a snapshot dataclass from `to_dict` output (after JSON).
    TypeError names the field when a value is missing or of the wrong type."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: not an object")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f.name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}: {exc}") from None


def _decode(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name}: not a list")
        (item, *_rest) = typing.get_args(hint)
        return tuple(_decode(item, v, name) for v in value)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (hint,) = [o for o in options if o is not type(None)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError(f"{name}: {type(value).__name__}, not {hint.__name__}")
    return value
