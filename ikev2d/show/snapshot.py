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
    initiator: bool = False  # our own IKE rekey made the SA: we are its original initiator
    assigned_ipv6: str | None = None  # dual stack: the IPv6 pool address as well
    # since the data plane last saw traffic: what the idle timeout counts
    idle_seconds: float = 0.0

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
    cls: type = type(value)
    return {name: getattr(value, name) for name in _names(cls) if name != leave_out}


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_T = typing.TypeVar("_T", bound="DataclassInstance")
# turns one JSON value into a field's value; TypeError names the field
_Decoder = typing.Callable[[Any, str], Any]


def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
    """Rebuild a snapshot dataclass from `to_dict` output (after JSON).
    TypeError names the field when a value is missing or of the wrong type."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: not an object")
    kwargs = {name: decode(data[name], name) for name, decode in _plan(cls) if name in data}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}: {exc}") from None


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, _Decoder], ...]:
    # resolving type hints is slow: once per class, not once per record
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls))


def _decoder(hint: Any) -> _Decoder:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        return lambda value, name: from_dict(cls, value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        item = _decoder(args[0])

        def items(value: Any, name: str) -> Any:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{name}: not a list")
            return tuple(item(v, name) for v in value)
        return items
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (other,) = [a for a in args if a is not type(None)]
        inner = _decoder(other)
        return lambda value, name: None if value is None else inner(value, name)
    if hint is float:
        def number(value: Any, name: str) -> Any:
            if isinstance(value, float):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise TypeError(f"{name}: {type(value).__name__}, not float")
        return number
    if isinstance(hint, type):
        def plain(value: Any, name: str) -> Any:
            if not isinstance(value, hint):
                raise TypeError(f"{name}: {type(value).__name__}, not {hint.__name__}")
            return value
        return plain
    return lambda value, name: value
