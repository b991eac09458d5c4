"""Plain log lines for core events (the FTD syslog catalogue builds on the
same events). Nothing secret is in an event, so nothing secret is logged."""

from __future__ import annotations

import dataclasses
import logging

from . import events as ev

log = logging.getLogger("ikev2d")


def _where(e: ev.Event) -> str:
    return f"Local:{e.local[0]}:{e.local[1]} Remote:{e.remote[0]}:{e.remote[1]}"


def format_event(e: ev.Event) -> str:
    match e:
        case ev.IkeInitReceived():
            return f"{_where(e)} Username:Unknown IKEv2 Received a IKE_INIT_SA request"
        case ev.IkeInitRejected(notify=n, detail=d):
            return f"{_where(e)} IKE_SA_INIT refused with {n}: {d}"
        case ev.MessageDropped(reason=r):
            return f"{_where(e)} message dropped: {r}"
        case ev.ProfileSelected(profile=p, by=b, unmatched=None):
            return f"{_where(e)} connection profile {p} selected by {b}"
        case ev.ProfileSelected(profile=p, by=b, unmatched=n):
            return f"{_where(e)} connection profile {p} selected by {b}: no connection profile is named {n!r}"
        case ev.AuthSucceeded(username=u, method=m, group_policy=g):
            how = m if m == ev.CERTIFICATE else f"EAP {m}"
            return f"{_where(e)} Username:{u} {how} authentication successful, group policy {g}"
        case ev.CertificateChecked(serial=n, subject=s, failure=None):
            return f"{_where(e)} client certificate {s} (serial {n}) validated"
        case ev.CertificateChecked(serial=n, subject=s, failure=f):
            return f"{_where(e)} client certificate {s} (serial {n}) refused: {f}"
        case ev.AuthFailed(username=u, reason=r):
            return f"{_where(e)} Username:{u or 'Unknown'} authentication failed: {r}"
        case ev.NegotiationAborted(username=u, reason=r, detail=d):
            return (f"{_where(e)} Username:{u or 'Unknown'} IKEv2 Negotiation aborted due to ERROR: {r}"
                    + (f" ({d})" if d else ""))
        case ev.AddressAssigned(username=u, pool=p, address=a):
            return f"{_where(e)} Username:{u} IPv4 Address={a} assigned from local pool {p}"
        case ev.AddressAssignmentFailed(username=u, profile=p):
            return f"{_where(e)} Username:{u} no address available in the pools of {p}"
        case ev.AddressReleased(username=u, pool=p, address=a):
            return f"{_where(e)} Username:{u} Freeing local pool {p} address {a}"
        case ev.IkeSaEstablished(username=u, proposal=p):
            return f"{_where(e)} Username:{u} IKEv2 SA UP. Reason: New Connection Established ({p})"
        case ev.ChildSaCreated(username=u, spi_in=i, spi_out=o, proposal=p):
            return f"{_where(e)} Username:{u} Child SA up, SPI in 0x{i:08x} out 0x{o:08x} ({p})"
        case ev.ChildSaDeleted(username=u, spi_in=i, spi_out=o):
            return f"{_where(e)} Username:{u} Child SA deleted, SPI in 0x{i:08x} out 0x{o:08x}"
        case ev.ChildSaRekeyed(username=u, old_spi_in=old, spi_in=i, spi_out=o):
            return f"{_where(e)} Username:{u} Child SA rekeyed, SPI in 0x{old:08x} replaced by in 0x{i:08x} out 0x{o:08x}"
        case ev.IkeSaDeleted(username=u, reason=r, duration=d):
            return f"{_where(e)} Username:{u} IKEv2 SA DOWN. Reason: {r} (after {d:.0f} s)"
        case ev.SessionStarted(username=u, session=n, address=a, group_policy=g):
            return f"{_where(e)} Username:{u} session 0x{n:08x} started, address {a}, group policy {g}"
        case ev.AccountingSucceeded(username=u, aaa_server=server):
            return f"{_where(e)} Username:{u} accounting acknowledged by {server}"
        case ev.IkeSaRekeyed(username=u, new_ike_sa_id=new, proposal=p):
            return f"{_where(e)} Username:{u} IKE SA rekeyed into {new} ({p})"
        case ev.PeerAddressChanged(username=u, old_local=ol, old_remote=orr, why=w):
            return (f"{_where(e)} Username:{u or 'Unknown'} peer moved from {orr[0]}:{orr[1]} "
                    f"(local {ol[0]}:{ol[1]}): {w}; the IKE SA and its Child SAs follow")
    fields = ", ".join(f"{f.name}={getattr(e, f.name)!r}" for f in dataclasses.fields(e))
    return f"{type(e).__name__}({fields})"


# steps of a negotiation that goes on, not failures: a cookie challenge, a
# request for another DH group, a busy headend asking for a retry
_NOT_FAILURES = ("COOKIE", "INVALID_KE_PAYLOAD", "TEMPORARY_FAILURE")


def is_failure(e: ev.Event) -> bool:
    """A client refused, or a session that could not be made."""
    if isinstance(e, ev.IkeInitRejected):
        return e.notify not in _NOT_FAILURES
    return isinstance(e, (ev.AuthFailed, ev.NegotiationAborted, ev.AddressAssignmentFailed)) or \
        (isinstance(e, ev.CertificateChecked) and e.failure is not None)


def log_event(e: ev.Event) -> None:
    level = logging.DEBUG if isinstance(e, ev.MessageDropped) else logging.INFO
    if is_failure(e) or isinstance(e, ev.IkeInitRejected):
        level = logging.WARNING
    log.log(level, "%s", format_event(e))
