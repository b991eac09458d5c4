"""What the sans-I/O core asks its adapter to do, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from esp.spec import ChildSaSpec

from .aaa.radius.messages import AccessRequest, AccountingRecord
from .crypto.jobs import Job

from .events import Event
from .keylog import IkeSaKeys

Address = tuple[str, int]


@dataclass(frozen=True)
class SendDatagram:
    """An IKE message to send; from local port 4500 the adapter prepends the
    non-ESP marker (RFC 3948 §2.2)."""

    data: bytes
    local: Address
    remote: Address


@dataclass(frozen=True)
class InstallChildSa:
    spec: ChildSaSpec


@dataclass(frozen=True)
class RemoveChildSa:
    spec: ChildSaSpec


@dataclass(frozen=True)
class UpdateChildSa:
    """A Child SA's peer moved (a new NAT mapping, RFC 7296 §2.23, or
    MOBIKE's UPDATE_SA_ADDRESSES, RFC 4555 §3.5): the same keys and SPIs,
    ESP now to `new`'s addresses and ports."""

    old: ChildSaSpec
    new: ChildSaSpec


@dataclass(frozen=True)
class Compute:
    """Run `job` off the event loop, then hand the result to
    `Responder.job_done(token, result, now)`. A RADIUS Access-Request is
    such a job too: its answer comes back the same way; so is a CRL fetch
    (pki.crl.CrlFetch, a member of `Job`), which the adapter runs in a
    thread, not in a crypto worker."""

    token: tuple
    job: Job | AccessRequest


@dataclass(frozen=True)
class SendAccounting:
    """Send a RADIUS accounting record; nothing waits for the answer. At
    Stop the adapter adds the data plane's counters, so this effect comes
    before the session's Child SAs are removed."""

    record: AccountingRecord
    ike_sa_id: str
    local: Address
    remote: Address


@dataclass(frozen=True)
class Emit:
    """A typed event for logs, syslog and counters."""

    event: Event


@dataclass(frozen=True)
class ReadActivity:
    """How many packets have the session's Child SAs carried? The adapter
    reads the data plane's counters and answers with
    `Responder.activity(ike_spi, packets, now)`: the core never reads them
    itself. Asked when the group policy's idle timeout may have run out."""

    ike_spi: bytes  # our SPI of the IKE SA
    child_spis: tuple[int, ...]


@dataclass(frozen=True)
class IkeKeysDerived:
    """A new IKE SA's keys (IKE_SA_INIT or a rekey), for the explicit key
    export only (`run --keylog`): the adapter drops it otherwise."""

    keys: IkeSaKeys


Effect = Union[SendDatagram, InstallChildSa, RemoveChildSa, UpdateChildSa, Compute, SendAccounting, Emit, ReadActivity,
               IkeKeysDerived]
