"""Accounting Start and Stop records of a session (RFC 2866), and the
data-plane counters a Stop carries."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Protocol

from .messages import AccountingRecord, AcctStatus, NasContext, TerminateCause, TrafficCounters

# The IKE SA's delete reason (as the SA logs it) -> Acct-Terminate-Cause
_CAUSES = {
    "User Requested": TerminateCause.USER_REQUEST,
    "Peer aborted the negotiation": TerminateCause.USER_REQUEST,
    "Peer not responding (DPD)": TerminateCause.LOST_CARRIER,
    "Timeout": TerminateCause.SESSION_TIMEOUT,
    "Idle Timeout": TerminateCause.IDLE_TIMEOUT,
    "Administrator Reset": TerminateCause.ADMIN_RESET,
    "Administrator Reboot": TerminateCause.ADMIN_REBOOT,
    "Peer reconnected (INITIAL_CONTACT)": TerminateCause.PORT_PREEMPTED,
    "Simultaneous logins exceeded": TerminateCause.PORT_PREEMPTED,
    "Max time exceeded": TerminateCause.SESSION_TIMEOUT,
}


def terminate_cause(reason: str) -> TerminateCause:
    return _CAUSES.get(reason, TerminateCause.NAS_REQUEST)


def session_id(unique_id: int) -> str:
    """Acct-Session-Id: the session's vpn-sessiondb index in hex, so a
    record matches `show vpn-sessiondb` (e.g. 00006000)."""
    return f"{unique_id:08X}"


def start_record(group: str, unique_id: int, username: str, nas: NasContext, framed_ip: IPv4Address | None,
                 classes: tuple[bytes, ...], by_radius: bool) -> AccountingRecord:
    return AccountingRecord(group=group, status=AcctStatus.START, session_id=session_id(unique_id),
                            username=username, nas=nas, framed_ip=framed_ip, classes=classes,
                            authenticated_by_radius=by_radius)


def stop_record(start: AccountingRecord, duration: float, reason: str,
                child_spis: tuple[int, ...]) -> AccountingRecord:
    return AccountingRecord(group=start.group, status=AcctStatus.STOP, session_id=start.session_id,
                            username=start.username, nas=start.nas, framed_ip=start.framed_ip,
                            session_time=max(0, int(duration)), terminate_cause=terminate_cause(reason),
                            child_spis=child_spis, classes=start.classes,
                            authenticated_by_radius=start.authenticated_by_radius)


class _Counted(Protocol):
    """One Child SA's counters, read only (the data plane's are frozen)."""

    @property
    def packets_in(self) -> int: ...
    @property
    def bytes_in(self) -> int: ...
    @property
    def packets_out(self) -> int: ...
    @property
    def bytes_out(self) -> int: ...


class CounterSource(Protocol):
    """The data plane, as far as accounting reads it."""

    def counters(self, spi_in: int) -> _Counted | None: ...


def added(a: TrafficCounters | None, b: TrafficCounters | None) -> TrafficCounters | None:
    if a is None or b is None:
        return a or b
    return TrafficCounters(octets_in=a.octets_in + b.octets_in, octets_out=a.octets_out + b.octets_out,
                           packets_in=a.packets_in + b.packets_in, packets_out=a.packets_out + b.packets_out)


class RetiredTraffic:
    """What the Child SAs a session no longer has carried (rekeyed away,
    deleted), kept from its accounting Start to its Stop: the data plane
    forgets a pair's counters when it removes it, and a Stop reports the
    whole session (RFC 2866 §5.3), not just its last pair."""

    def __init__(self) -> None:
        self._open: dict[str, TrafficCounters | None] = {}

    def start(self, session_id: str) -> None:
        self._open.setdefault(session_id, None)

    def retire(self, session_id: str, counters: _Counted | None) -> None:
        if session_id in self._open and counters is not None:
            self._open[session_id] = added(self._open[session_id], TrafficCounters(
                octets_in=counters.bytes_in, octets_out=counters.bytes_out,
                packets_in=counters.packets_in, packets_out=counters.packets_out))

    def stop(self, session_id: str) -> TrafficCounters | None:
        return self._open.pop(session_id, None)


def session_counters(source: CounterSource, child_spis: tuple[int, ...]) -> TrafficCounters | None:
    """Sum of the session's Child SA counters; None when the data plane
    knows none of them (then the Stop reports zeros)."""
    seen = [c for c in (source.counters(spi) for spi in child_spis) if c is not None]
    if not seen:
        return None
    return TrafficCounters(octets_in=sum(c.bytes_in for c in seen), octets_out=sum(c.bytes_out for c in seen),
                           packets_in=sum(c.packets_in for c in seen), packets_out=sum(c.packets_out for c in seen))
