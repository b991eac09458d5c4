"""The small types an IKE SA and its tasks share (kept apart from sa.py so
the task modules can use them without importing the SA itself)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Callable, Protocol

from esp.spec import ChildSaSpec

from .aaa.radius.messages import AccessRequest, RadiusResult
from .crypto.jobs import Job, JobResult
from .effects import Effect
from .tasks.proposals import EspSuite
from .trace.tracer import SILENT, Tracer
from .wire.payloads import CP, SA, Payload, TSi, TSr


class State(enum.Enum):
    """The lifecycle of an IKE SA; where IKE_AUTH stands is its task's own
    business (tasks/ike_auth.py)."""

    CONNECTING = "CONNECTING"  # IKE_SA_INIT answered, IKE_AUTH under way
    ESTABLISHED = "ESTABLISHED"
    DELETING = "DELETING"  # our Delete is out, waiting for its answer
    FAILED = "FAILED"  # authentication failed: answers retransmits, then goes
    DELETED = "DELETED"


# the transitions an IKE SA may make; anything else is a bug, refused loudly
TRANSITIONS: dict[State, frozenset[State]] = {
    State.CONNECTING: frozenset({State.ESTABLISHED, State.FAILED, State.DELETED}),
    State.ESTABLISHED: frozenset({State.DELETING, State.DELETED}),
    State.DELETING: frozenset({State.DELETED}),
    State.FAILED: frozenset({State.DELETED}),
    State.DELETED: frozenset(),
}


@dataclass(slots=True)
class ChildSa:
    spec: ChildSaSpec
    suite: EspSuite
    created: float
    replaced_by: int | None = None  # our inbound SPI of the Child SA that rekeyed it (RFC 7296 §2.8)
    # the selectors as answered, TSi the client's side and TSr ours: what a
    # rekey of ours asks for again (RFC 7296 §2.9.2)
    selectors: tuple[TSi, TSr] | None = None
    # the lower nonce of the CREATE_CHILD_SA that made it: which of two
    # colliding rekeys survives (RFC 7296 §2.8.1); empty from IKE_AUTH
    lowest_nonce: bytes = b""


@dataclass
class PendingChild:
    """What the first IKE_AUTH asked for; answered once the client is
    authenticated (RFC 7296 §2.16, last exchange)."""

    sa: SA | None
    tsi: TSi | None
    tsr: TSr | None
    cp: CP | None


# turns a job's result into the response payloads, adding effects (events)
# (or, after a CRL fetch, the next job: Deferred again)
Finish = Callable[[JobResult | RadiusResult, float, list[Effect]], "list[Payload] | Deferred"]


@dataclass(frozen=True)
class Deferred:
    """A handler's answer that needs a `Compute` job first (a DH or
    signature, or a RADIUS round trip): `finish` makes the response."""

    job: Job | AccessRequest
    finish: Finish


@dataclass(frozen=True)
class LifecycleChanged:
    """An IKE SA moved from one lifecycle state to another (`move_to`)."""

    old: State
    new: State


@dataclass(frozen=True)
class RekeyedInto:
    """An IKE rekey made a new IKE SA that carries the session on (RFC 7296
    §2.8); the old one only waits for its Delete."""

    successor: Any  # the new IkeSa


@dataclass(frozen=True)
class Spawned:
    """An IKE SA this one's exchange made that carries no session: the
    redundant one of a simultaneous IKE rekey (RFC 7296 §2.8.2), made only
    to be closed."""

    sa: Any  # the new IkeSa


# what an IKE SA tells the responder happened to it: the responder keeps its
# tables from these, never by inspecting the SA afterwards
SaChange = LifecycleChanged | RekeyedInto | Spawned


class SessionDirectory(Protocol):
    """What an IKE SA may ask of the responder about the other sessions
    (a narrow interface: it never sees the SA table), and where it reports
    what happened to it."""

    tracer: Tracer  # the debug trace's outbox

    def changed(self, sa: Any, change: SaChange) -> None:
        """`sa` changed state or was rekeyed: book it."""
        ...

    def replace_older(self, sa: Any, now: float) -> tuple[list[Effect], IPv4Address | None]:
        """INITIAL_CONTACT: end `sa`'s peer's older sessions; the address the
        newest of them held."""
        ...

    def make_room(self, sa: Any, limit: int, now: float) -> list[Effect]:
        """Log off sessions of `sa`'s user until, with `sa`, no more than
        `limit` are up (vpn-simultaneous-logins)."""
        ...


class NoOtherSessions:
    """The directory of an SA that stands alone (tests, tools)."""

    tracer = SILENT

    def changed(self, sa: Any, change: SaChange) -> None:
        pass

    def replace_older(self, sa: Any, now: float) -> tuple[list[Effect], IPv4Address | None]:
        return [], None

    def make_room(self, sa: Any, limit: int, now: float) -> list[Effect]:
        return []


class AuthError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
