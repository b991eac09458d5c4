"""Core events to FTD syslog records, in the order an FTD prints them.

One event may stand for several FTD messages (a successful EAP
authentication is five AAA/DAP lines); an event the FTD has no message for
gives none. No secret is in an event, so none can reach a record.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from .. import events as ev
from .catalogue import (CATALOGUE, CERTIFICATE_FAILURE_REASONS, CHAIN_FAILURE_REASON, CONNECTION_TYPE, DAP_DEFAULT_RECORD, DISCONNECT_REASONS, HIDDEN_USERNAME,
                        INIT_REJECT_ERRORS, LOCAL_REJECT_REASONS, NO_IPV6, NO_IPV6_EXPLANATIONS,
                        RADIUS_REJECT_REASON, REVOCATION_CHECKED, REVOCATION_NOT_CHECKED, REVOKED_REASON,
                        SA_UP_REASON, SESSION_TYPE, UNKNOWN, Record)


def records_for(e: ev.Event) -> list[Record]:
    match e:
        case ev.IkeInitReceived():
            return [_ike(750002, e, UNKNOWN)]
        case ev.IkeInitRejected(notify="COOKIE"):
            return [_ike(750004, e, UNKNOWN)]
        case ev.IkeInitRejected(notify=n) if n in INIT_REJECT_ERRORS:
            return [_ike(750003, e, UNKNOWN, error=INIT_REJECT_ERRORS[n])]
        case ev.AuthSucceeded():
            return _auth_succeeded(e)
        case ev.CertificateChecked():
            return _certificate_checked(e)
        case ev.CertificateMapSearched():
            return _certificate_map_searched(e)
        case ev.CrlUnusable(trustpoint=t, unreachable=True):
            return [_msg(717010, trustpoint=t)]
        case ev.CrlUnusable(trustpoint=t, reason=r):
            return [_msg(717019, trustpoint=t, reason=r)]
        case ev.AuthFailed(aaa_rejected=True):
            return [_auth_rejected(e)]
        case ev.NegotiationAborted(username=u, reason=r):
            return [_ike(750003, e, u or UNKNOWN, error=r)]
        case ev.AddressAssigned():
            return _address_assigned(e)
        case ev.AddressAssignmentFailed(session=s, profile=p):
            return [_msg(737003, session=session_id(s), tunnel_group=p),
                    _msg(737019, session=session_id(s)),
                    _msg(737012, session=session_id(s))]
        case ev.IkeSaEstablished():
            return _sa_up(e)
        case ev.ChildSaCreated(username=u, spi_in=i, spi_out=o):
            return _ipsec(602303, e, u, i, o)
        case ev.SessionStarted(username=u, session=s, address=a):
            # in the whitepaper's table after 602303 and before accounting,
            # as docs/ftd-behaviour.md ("Syslog messages") lists that order
            return [_msg(109201, session=session_id(s), username=u, address=str(a))]
        case ev.AccountingSucceeded(username=u, aaa_server=server):
            return [_msg(113004, aaa_type="accounting", server=server, username=u)]
        case ev.ChildSaDeleted(username=u, spi_in=i, spi_out=o):
            return _ipsec(602304, e, u, i, o)
        case ev.AddressReleased(pool=p, address=IPv6Address() as a, session=s):
            return [_msg(737016, session=session_id(s), pool=p, address=str(a))]  # the user entry goes with IPv4's
        case ev.AddressReleased(username=u, pool=p, address=a, session=s):
            return [_msg(737016, session=session_id(s), pool=p, address=str(a)),
                    _msg(109210, session=session_id(s), username=u, address=str(a))]
        case ev.IkeSaDeleted():
            return _sa_down(e)
    return []


def session_id(unique_id: int) -> str:
    """`0x00006000`: the FTD's session handle, eight hex digits."""
    return f"0x{unique_id:08x}"


def spi(value: int) -> str:
    """`0x460223`, `0x3E75843`: as the whitepaper prints them."""
    return f"0x{value:X}"


def duration(seconds: float) -> str:
    """`0h:05m:09s` (113019)."""
    total = max(0, int(seconds))
    return f"{total // 3600}h:{total % 3600 // 60:02d}m:{total % 60:02d}s"


def _msg(message_id: int, **values: str) -> Record:
    return CATALOGUE[message_id].record(**values)


def _where(address: ev.Address) -> str:
    return f"{address[0]}:{address[1]}"


def _ike(message_id: int, e: ev.Event, username: str, **values: str) -> Record:
    return _msg(message_id, local=_where(e.local), remote=_where(e.remote), username=username, **values)


def _certificate_checked(e: ev.CertificateChecked) -> list[Record]:
    ids = {"serial": e.serial, "subject": e.subject}
    if e.failure is None:
        info = REVOCATION_CHECKED if e.revocation_checked else REVOCATION_NOT_CHECKED
        return [_msg(717022, **ids), _msg(717028, additional_info=info)]
    if e.failure in CERTIFICATE_FAILURE_REASONS:
        return [_msg(717009, reason=CERTIFICATE_FAILURE_REASONS[e.failure], **ids)]
    if e.failure == "revoked":
        return [_msg(717027, reason=REVOKED_REASON)]
    return [_msg(717027, reason=CHAIN_FAILURE_REASON)]


def _certificate_map_searched(e: ev.CertificateMapSearched) -> list[Record]:
    # the certificate identifier as ASA devices print it (docs/ftd-behaviour.md)
    certificate = f"serial number: {e.serial}, subject name: {e.subject}, issuer_name: {e.issuer}"
    out = [_msg(717036, certificate=certificate)]
    if e.profile is None:
        return out + [_msg(717037, certificate=certificate)]
    return out + [_msg(717038, tunnel_group=e.profile, certificate=certificate)]


def _auth_succeeded(e: ev.AuthSucceeded) -> list[Record]:
    u, peer = e.username, e.remote[0]
    if e.aaa_server == ev.CERTIFICATE:
        # certificate only: no AAA server authenticated anyone (717022 said it);
        # the authorization lines that follow are our choice
        return [
            _msg(113009, group_policy=e.group_policy, username=u),
            _msg(113008, username=u),
            _msg(734001, username=u, ip=peer, connection=CONNECTION_TYPE, records=DAP_DEFAULT_RECORD),
            _msg(113039, group_policy=e.group_policy, username=u, ip=peer),
        ]
    if e.aaa_server == ev.LOCAL_DATABASE:
        authenticated = _msg(113012, username=u)
    else:
        authenticated = _msg(113004, aaa_type="authentication", server=e.aaa_server, username=u)
    assigned = [_msg(113003, username=u, group_policy=e.assigned_group_policy)] if e.assigned_group_policy else []
    return [
        authenticated,
        _msg(113009, group_policy=e.group_policy, username=u),
        *assigned,
        _msg(113008, username=u),
        _msg(734001, username=u, ip=peer, connection=CONNECTION_TYPE, records=DAP_DEFAULT_RECORD),
        _msg(113039, group_policy=e.assigned_group_policy or e.group_policy, username=u, ip=peer),
    ]


def _auth_rejected(e: ev.AuthFailed) -> Record:
    if e.aaa_server == ev.LOCAL_DATABASE:
        return _msg(113015, reason=LOCAL_REJECT_REASONS.get(e.reason, "Invalid password"),
                    username=HIDDEN_USERNAME, user_ip=e.remote[0])
    return _msg(113005, reason=RADIUS_REJECT_REASON, server=e.aaa_server, username=HIDDEN_USERNAME,
                user_ip=e.remote[0])


def _address_assigned(e: ev.AddressAssigned) -> list[Record]:
    s = session_id(e.session)
    # an FTD reports the DHCP check and the missing IPv6 pool even when
    # neither is configured (the whitepaper's table)
    out = [
        _msg(737003, session=s, tunnel_group=e.profile),
        _msg(737026, session=s, address=str(e.address), pool=e.pool),
        _msg(737006, session=s, tunnel_group=e.profile),
    ]
    if e.address6 is not None:  # the same line for the IPv6 address: unconfirmed (docs/ftd-behaviour.md, "IPv6 inside the tunnel")
        return out + [_msg(737026, session=s, address=str(e.address6), pool=e.pool6)]
    return out + [_msg(737034, session=s, explanation=x) for x in NO_IPV6_EXPLANATIONS]


def _sa_up(e: ev.IkeSaEstablished) -> list[Record]:
    out = [_ike(750006, e, e.username, reason=SA_UP_REASON)]
    if e.address is not None:
        out.append(_ike(751025, e, e.username, group_policy=e.group_policy, ipv4=str(e.address),
                        ipv6=NO_IPV6 if e.address6 is None else str(e.address6)))
    out.append(_ike(751026, e, e.username, **_client(e.client)))
    return out


def _client(version: str) -> dict[str, str]:
    # the client's own APPLICATION_VERSION string names it; the OS only an
    # AnyConnect client reports (in its proprietary EAP), so it stays unknown
    return {"client_os": UNKNOWN, "client": version.strip() or UNKNOWN}


def _ipsec(message_id: int, e: ev.Event, username: str, spi_in: int, spi_out: int) -> list[Record]:
    local, remote = e.local[0], e.remote[0]
    return [_msg(message_id, direction=direction, spi=spi(value), local_ip=local, remote_ip=remote, username=username)
            for direction, value in (("outbound", spi_out), ("inbound", spi_in))]


def _sa_down(e: ev.IkeSaDeleted) -> list[Record]:
    return [
        _ike(750007, e, e.username, reason=e.reason),
        _msg(113019, group=e.group_policy, username=e.username, ip=e.remote[0], session_type=SESSION_TYPE,
             duration=duration(e.duration), bytes_xmt=str(e.bytes_out), bytes_rcv=str(e.bytes_in),
             reason=DISCONNECT_REASONS.get(e.reason, UNKNOWN)),
    ]

