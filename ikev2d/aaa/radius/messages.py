"""What the sans-I/O core asks of RADIUS, and what comes back, as values.

An `AccessRequest` is a job like a DH computation: the SA returns it in a
`Compute` effect and waits; the adapter sends it to the server group and
hands an `AccessAnswer` (or `RadiusUnreachable`) to `job_done`. An
`AccountingRecord` goes out in a `SendAccounting` effect and nothing waits
for it. Secrets (password, MSK) never appear in a repr.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from ..authorization import NONE, Authorization


@dataclass(frozen=True)
class NasContext:
    """Who asks, for whom: the NAS-side attributes of every request."""

    nas_ip: str  # our IKE address the client reached (NAS-IP-Address, Called-Station-Id)
    client_ip: str  # the client's public address (Calling-Station-Id)


@dataclass(frozen=True)
class AccessRequest:
    """One Access-Request to server group `group`.

    Exactly one of `eap_message` (RFC 3579 relay) and `password` (PAP,
    RFC 2865 §5.2) is set. `state` and `server` continue a conversation:
    the State attribute only means something to the server that sent it,
    so such a request goes to that server and no other.
    """

    group: str
    username: str
    nas: NasContext
    eap_message: bytes | None = None
    password: str | None = field(default=None, repr=False)
    state: bytes | None = field(default=None, repr=False)
    server: int | None = None  # index in the group, None: the group picks

    def __post_init__(self) -> None:
        if (self.eap_message is None) == (self.password is None):
            raise ValueError("an Access-Request carries either an EAP message or a PAP password")


class AccessCode(enum.Enum):
    ACCEPT = "Access-Accept"
    REJECT = "Access-Reject"
    CHALLENGE = "Access-Challenge"


@dataclass(frozen=True)
class AccessAnswer:
    """A verified reply (Response Authenticator and Message-Authenticator
    checked), reduced to what the authenticator needs."""

    code: AccessCode
    server: int  # index in the group of the server that answered
    server_host: str
    eap_message: bytes | None = None  # the EAP-Message attributes joined
    state: bytes | None = field(default=None, repr=False)
    # RFC 2548 keys, decrypted: MS-MPPE-Recv-Key | MS-MPPE-Send-Key, the
    # order strongSwan's eap-radius builds its MSK in (radius_socket.c)
    msk: bytes | None = field(default=None, repr=False)
    reply_message: str | None = None
    classes: tuple[bytes, ...] = ()  # Class attributes, echoed in accounting (RFC 2865 §5.25)
    authorization: Authorization = NONE  # what an Access-Accept assigns


@dataclass(frozen=True)
class RadiusUnreachable:
    """No server of the group answered (or none could be asked)."""

    group: str
    reason: str


RadiusResult = AccessAnswer | RadiusUnreachable


class AcctStatus(enum.IntEnum):
    START = 1
    STOP = 2


class TerminateCause(enum.IntEnum):
    """RFC 2866 §5.10 values ikev2d reports."""

    USER_REQUEST = 1
    LOST_CARRIER = 2
    IDLE_TIMEOUT = 4
    SESSION_TIMEOUT = 5
    ADMIN_RESET = 6
    ADMIN_REBOOT = 7
    NAS_ERROR = 9
    NAS_REQUEST = 10
    PORT_PREEMPTED = 12


@dataclass(frozen=True)
class AccountingRecord:
    """Accounting-Request contents the core knows; at Stop the adapter adds
    the data plane's byte and packet counters of `child_spis`."""

    group: str
    status: AcctStatus
    session_id: str
    username: str
    nas: NasContext
    framed_ip: IPv4Address | None = None
    session_time: int | None = None  # seconds, Stop only
    terminate_cause: TerminateCause | None = None  # Stop only
    child_spis: tuple[int, ...] = ()  # our inbound SPIs, to read counters
    classes: tuple[bytes, ...] = ()
    authenticated_by_radius: bool = True  # Acct-Authentic RADIUS, else Local


@dataclass(frozen=True)
class TrafficCounters:
    """Octets and packets of a session, as the data plane counted them."""

    octets_in: int = 0  # from the client (RFC 2866 Acct-Input-*)
    octets_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
