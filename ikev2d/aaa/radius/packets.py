"""Our request values into pyrad packets, pyrad replies into our answers.

pyrad does the codec (attribute encoding, User-Password hiding, the
Message-Authenticator, salt decryption of the MPPE keys); this module only
says which attributes a remote-access headend sends and what it reads back.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from pyrad import packet as rp

from ..authorization import NONE, Authorization, group_policy_from_class

from .messages import (
    AccessAnswer,
    AccessCode,
    AccessRequest,
    AccountingRecord,
    AcctStatus,
    NasContext,
    TrafficCounters,
)

# RFC 2865 §5: one attribute holds at most 253 octets; RFC 3579 §3.1 splits
# a longer EAP packet over consecutive EAP-Message attributes.
MAX_ATTRIBUTE = 253
NAS_PORT_TYPE_VIRTUAL = 5  # RFC 2865 §5.41: a tunnel, not a physical port
SERVICE_TYPE_FRAMED = 2
ACCT_AUTHENTIC_RADIUS = 1
ACCT_AUTHENTIC_LOCAL = 2
# RFC 3579 §2.4: lets the server size EAP-TLS fragments to fit our IKE messages
FRAMED_MTU = 1002

_CODES = {
    rp.AccessAccept: AccessCode.ACCEPT,
    rp.AccessReject: AccessCode.REJECT,
    rp.AccessChallenge: AccessCode.CHALLENGE,
}


class InvalidReply(Exception):
    """A reply that passed pyrad's checks but breaks a rule of ours."""


def split_eap(message: bytes) -> list[bytes]:
    return [message[i:i + MAX_ATTRIBUTE] for i in range(0, len(message), MAX_ATTRIBUTE)] or [b""]


def _add_nas(pkt: rp.Packet, nas: NasContext) -> None:
    # RFC 3162 §2.1: an IPv6 address of ours goes in NAS-IPv6-Address
    pkt["NAS-IPv6-Address" if ":" in nas.nas_ip else "NAS-IP-Address"] = nas.nas_ip
    pkt["NAS-Port-Type"] = NAS_PORT_TYPE_VIRTUAL
    pkt["Called-Station-Id"] = nas.nas_ip
    pkt["Calling-Station-Id"] = nas.client_ip
    pkt["Tunnel-Client-Endpoint"] = nas.client_ip


def fill_access_request(pkt: rp.AuthPacket, request: AccessRequest) -> None:
    """Attributes of an Access-Request; pyrad adds the Message-Authenticator
    (RFC 3579 §3.2 requires it with EAP-Message) when it encodes the packet."""
    pkt["User-Name"] = request.username
    pkt["Service-Type"] = SERVICE_TYPE_FRAMED
    _add_nas(pkt, request.nas)
    if request.password is not None:
        pkt["User-Password"] = pkt.PwCrypt(request.password)
    else:
        assert request.eap_message is not None
        for chunk in split_eap(request.eap_message):
            pkt.AddAttribute("EAP-Message", chunk)
        pkt["Framed-MTU"] = FRAMED_MTU
    if request.state is not None:
        pkt["State"] = request.state


def read_access_reply(reply: rp.Packet, server: int, host: str) -> AccessAnswer:
    """The reply as an answer; raises InvalidReply for one to discard."""
    code = _CODES.get(reply.code)
    if code is None:
        raise InvalidReply(f"RADIUS code {reply.code} does not answer an Access-Request")
    chunks = reply.get("EAP-Message", [])
    eap = b"".join(chunks) if chunks else None
    if eap is not None and not reply.message_authenticator:
        # RFC 3579 §3.2: EAP-Message without Message-Authenticator is discarded
        raise InvalidReply("EAP-Message without Message-Authenticator")
    if code is AccessCode.CHALLENGE and eap is None and "State" not in reply:
        raise InvalidReply("Access-Challenge with neither EAP-Message nor State")
    return AccessAnswer(
        code=code,
        server=server,
        server_host=host,
        eap_message=eap,
        state=_first(reply, "State"),
        msk=_msk(reply) if code is AccessCode.ACCEPT else None,
        reply_message=" ".join(_text(v) for v in reply.get("Reply-Message", [])) or None,
        classes=tuple(reply.get("Class", [])),
        authorization=_authorization(reply) if code is AccessCode.ACCEPT else NONE,
    )


def _authorization(reply: rp.Packet) -> Authorization:
    """What an Access-Accept assigns (docs/ftd-behaviour.md, "RADIUS
    authorization"). Cisco's Group-Policy attribute, the ASA's recommended
    one, comes before Class; a value that does not decode is ignored, as
    if the server had not sent it."""
    group_policy = _decoded(reply, "ASA-Group-Policy")
    if isinstance(group_policy, (str, bytes)):
        group_policy = _text(group_policy).strip() or None
    else:
        group_policy = None
    framed = _decoded(reply, "Framed-IP-Address")
    try:
        framed_ip = IPv4Address(framed) if isinstance(framed, (str, bytes)) else None
    except ValueError:
        framed_ip = None
    if framed_ip is not None and (framed_ip.is_unspecified or framed_ip == IPv4Address("255.255.255.255")
                                  or framed_ip == IPv4Address("255.255.255.254")):
        # RFC 2865 §5.8: 0xFFFFFFFF "let the user pick", 0xFFFFFFFE "the NAS
        # picks": both mean an address from the pool here
        framed_ip = None
    framed6 = _decoded(reply, "Framed-IPv6-Address")
    try:
        framed_ipv6 = IPv6Address(framed6) if isinstance(framed6, (str, bytes)) else None
    except ValueError:
        framed_ipv6 = None
    if framed_ipv6 is not None and (framed_ipv6.is_unspecified or framed_ipv6.is_multicast):
        framed_ipv6 = None
    session = _decoded(reply, "Session-Timeout")
    idle = _decoded(reply, "Idle-Timeout")
    return Authorization(
        group_policy=group_policy or group_policy_from_class([bytes(v) for v in reply.get("Class", [])]),
        framed_ip=framed_ip,
        session_timeout=session if isinstance(session, int) and session > 0 else None,
        idle_timeout=idle if isinstance(idle, int) and idle > 0 else None,
        framed_ipv6=framed_ipv6,
    )


def _decoded(reply: rp.Packet, name: str) -> object:
    try:
        values = reply.get(name, [])
    except Exception:  # pyrad decodes on access: a malformed value raises whatever its decoder does
        return None
    return values[0] if values else None


def _msk(reply: rp.Packet) -> bytes | None:
    recv = _first(reply, "MS-MPPE-Recv-Key")
    send = _first(reply, "MS-MPPE-Send-Key")
    if recv is None or send is None:
        return None
    return recv + send


def _first(reply: rp.Packet, name: str) -> bytes | None:
    values = reply.get(name, [])
    return bytes(values[0]) if values else None


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def fill_accounting_request(pkt: rp.AcctPacket, record: AccountingRecord, counters: TrafficCounters | None,
                            timestamp: int) -> None:
    """Attributes of an Accounting-Request (RFC 2866 §5); counters at Stop."""
    pkt["Acct-Status-Type"] = int(record.status)
    pkt["Acct-Session-Id"] = record.session_id
    pkt["User-Name"] = record.username
    pkt["Acct-Authentic"] = ACCT_AUTHENTIC_RADIUS if record.authenticated_by_radius else ACCT_AUTHENTIC_LOCAL
    pkt["Service-Type"] = SERVICE_TYPE_FRAMED
    pkt["Event-Timestamp"] = timestamp
    _add_nas(pkt, record.nas)
    if record.framed_ip is not None:
        pkt["Framed-IP-Address"] = str(record.framed_ip)
    for value in record.classes:
        pkt.AddAttribute("Class", value)
    if record.status is not AcctStatus.STOP:
        return
    if record.session_time is not None:
        pkt["Acct-Session-Time"] = record.session_time
    if record.terminate_cause is not None:
        pkt["Acct-Terminate-Cause"] = int(record.terminate_cause)
    c = counters or TrafficCounters()
    # RFC 2869 §5.1-5.2: Gigawords carry the overflow of the 32-bit octet counts
    pkt["Acct-Input-Octets"] = c.octets_in & 0xFFFFFFFF
    pkt["Acct-Input-Gigawords"] = c.octets_in >> 32
    pkt["Acct-Output-Octets"] = c.octets_out & 0xFFFFFFFF
    pkt["Acct-Output-Gigawords"] = c.octets_out >> 32
    pkt["Acct-Input-Packets"] = c.packets_in & 0xFFFFFFFF
    pkt["Acct-Output-Packets"] = c.packets_out & 0xFFFFFFFF
