"""IKE messages as plain, JSON-ready values for the debug trace: every
payload with its fields, named where IANA names them.

What could open a session never appears: AUTH data, KE public values and
nonces are given by length; of EAP only code, type and identities (the
MS-CHAPv2 Response's Name, never its NT-Response; an MD5 or GTC response
not at all). Keys never reach a message, so they cannot reach a trace.
"""

from __future__ import annotations

import ipaddress
from enum import IntEnum
from typing import Any

from cryptography import x509

from ..iana import (AuthMethod, CertEncoding, ConfigAttr, ConfigType, DhId, EapCode, EapType, EncrId, EsnId,
                    ExchangeType, IdType, IntegId, NotifyType, PrfId, ProtocolId, TransformType)
from ..wire.cp import CP
from ..wire.message import Message
from ..wire.payloads import AUTH, CERT, CERTREQ, EAP, ID, KE, SK, SKF, Delete, IDi, IDr, Nonce, Notify, Unknown, Vendor
from ..wire.sa import SA, Transform
from ..wire.ts import TSi, TSr, TrafficSelector

Payloadish = Any  # a wire payload of any class

_TRANSFORM_NAMES: dict[int, type[IntEnum]] = {
    TransformType.ENCR: EncrId, TransformType.PRF: PrfId, TransformType.INTEG: IntegId,
    TransformType.DH: DhId, TransformType.ESN: EsnId,
}
# addresses in CP attributes, by attribute type
_ADDRESS_ATTRIBUTES = {ConfigAttr.INTERNAL_IP4_ADDRESS, ConfigAttr.INTERNAL_IP4_NETMASK, ConfigAttr.INTERNAL_IP4_DNS,
                       ConfigAttr.INTERNAL_IP4_NBNS, ConfigAttr.INTERNAL_IP4_DHCP, ConfigAttr.INTERNAL_IP6_DNS,
                       ConfigAttr.INTERNAL_IP6_DHCP}
_TEXT_ATTRIBUTES = {ConfigAttr.APPLICATION_VERSION, ConfigAttr.UNITY_BANNER, ConfigAttr.UNITY_DEF_DOMAIN,
                    ConfigAttr.UNITY_DDNS_HOSTNAME}


def name(enum: type[IntEnum], value: int) -> str:
    """IANA's name, else the number (a private or unknown value)."""
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def message_fields(message: Message) -> dict[str, Any]:
    """The header and every payload of a (decrypted, reassembled) message."""
    return {
        "exchange": name(ExchangeType, message.exchange),
        "message_id": message.message_id,
        "response": message.is_response,
        "initiator": message.is_initiator,
        "ispi": message.spi_i.hex(),
        "rspi": message.spi_r.hex(),
        "payloads": [payload_fields(p) for p in message.payloads],
    }


def payload_fields(p: Payloadish) -> dict[str, Any]:
    """One payload: its short tag (`summary` line) and its fields."""
    match p:
        case SA(proposals=proposals):
            return {"type": "SA", "proposals": [
                {"number": q.number, "protocol": name(ProtocolId, q.protocol), "spi": q.spi.hex(),
                 "transforms": [transform_name(t) for t in q.transforms]} for q in proposals]}
        case KE(group=group, data=data):
            return {"type": "KE", "group": name(DhId, group), "length": len(data)}
        case Nonce(data=data):
            return {"type": "No", "length": len(data)}
        case Notify():
            return _notify(p)
        case IDi() | IDr():
            return {"type": "IDi" if isinstance(p, IDi) else "IDr", "id_type": name(IdType, p.id_type),
                    "id": identity_text(p)}
        case CERT(encoding=encoding, data=data):
            return {"type": "CERT", "encoding": name(CertEncoding, encoding), "length": len(data),
                    **_certificate(encoding, data)}
        case CERTREQ(encoding=encoding, data=data):
            return {"type": "CERTREQ", "encoding": name(CertEncoding, encoding), "authorities": len(data) // 20}
        case AUTH(method=method, data=data):
            return {"type": "AUTH", "method": name(AuthMethod, method), "length": len(data)}
        case CP(cfg_type=cfg_type, attributes=attributes):
            return {"type": "CP", "cfg_type": name(ConfigType, cfg_type),
                    "attributes": [_attribute(a.type, a.value) for a in attributes]}
        case TSi() | TSr():
            return {"type": "TSi" if isinstance(p, TSi) else "TSr",
                    "selectors": [selector_text(s) for s in p.selectors]}
        case EAP(data=data):
            return {"type": "EAP", **eap_fields(data)}
        case Delete(protocol=protocol, spis=spis):
            return {"type": "D", "protocol": name(ProtocolId, protocol), "spis": [s.hex() for s in spis]}
        case Vendor(data=data):
            return {"type": "V", "data": _vendor(data)}
        case SKF(fragment_number=number, total_fragments=total, data=data):
            return {"type": "SKF", "fragment": number, "total": total, "length": len(data)}
        case SK(data=data):
            return {"type": "SK", "length": len(data)}
        case Unknown(type=kind, data=data, critical=critical):
            return {"type": str(kind), "length": len(data), "critical": critical}
    return {"type": type(p).__name__}


def transform_name(t: Transform) -> str:
    """strongSwan's style: AES_CBC_256, HMAC_SHA2_512_256, MODP_3072."""
    enum = _TRANSFORM_NAMES.get(t.type)
    text = name(enum, t.id) if enum is not None else f"{t.type}:{t.id}"
    if t.type == TransformType.PRF:
        text = "PRF_" + text
    return f"{text}_{t.key_length}" if t.key_length else text


def identity_text(p: ID) -> str:
    data = p.data
    try:
        if p.id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
            return data.decode("utf-8", errors="replace")
        if p.id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
            return str(ipaddress.ip_address(data))
        if p.id_type == IdType.ID_KEY_ID:
            text = data.decode("ascii")
            return text if text.isprintable() else data.hex()
    except (ValueError, UnicodeDecodeError):
        pass
    return data.hex()  # a DER DN (cryptography parses Names only inside certificates) or binary


def selector_text(s: TrafficSelector) -> str:
    ports = "" if (s.start_port, s.end_port) == (0, 65535) else f" ports {s.start_port}-{s.end_port}"
    proto = "" if s.ip_protocol == 0 else f" proto {s.ip_protocol}"
    span = str(s.start_addr) if s.start_addr == s.end_addr else f"{s.start_addr}-{s.end_addr}"
    return span + proto + ports


def eap_fields(data: bytes) -> dict[str, Any]:
    """Code, identifier and type of an EAP packet; an identity where one is
    sent in clear anyway; nothing derived from a password."""
    if len(data) < 4:
        return {"length": len(data)}
    code, identifier = data[0], data[1]
    out: dict[str, Any] = {"code": name(EapCode, code), "id": identifier}
    if code in (EapCode.REQUEST, EapCode.RESPONSE) and len(data) >= 5:
        kind = data[4]
        out["eap_type"] = name(EapType, kind)
        body = data[5:]
        if kind == EapType.IDENTITY and code == EapCode.RESPONSE:
            out["identity"] = body.decode("utf-8", errors="replace")
        elif kind == EapType.MSCHAPV2 and body:
            out.update(_mschapv2(code, body))
        elif kind == EapType.NAK:
            out["desired"] = [name(EapType, b) for b in body]
    return out


def _mschapv2(code: int, body: bytes) -> dict[str, Any]:
    # RFC 2759 in EAP (draft-kamath-pppext-eap-mschapv2): OpCode, MS-CHAPv2-ID,
    # MS-Length, then for a Response: Value-Size (49), Peer-Challenge, NT-Response, Flags, Name
    opcodes = {1: "Challenge", 2: "Response", 3: "Success", 4: "Failure", 7: "Change-Password"}
    out: dict[str, Any] = {"mschapv2": opcodes.get(body[0], str(body[0]))}
    if code == EapCode.RESPONSE and body[0] == 2 and len(body) >= 5 + 49:
        out["name"] = body[5 + 49:].decode("utf-8", errors="replace")
    return out


def _notify(p: Notify) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "N", "notify": name(NotifyType, p.type)}
    if p.protocol:
        out["protocol"] = name(ProtocolId, p.protocol)
    if p.spi:
        out["spi"] = p.spi.hex()
    data = p.data
    if p.type == NotifyType.INVALID_KE_PAYLOAD and len(data) == 2:
        out["group"] = name(DhId, int.from_bytes(data, "big"))
    elif p.type == NotifyType.SIGNATURE_HASH_ALGORITHMS:
        out["hashes"] = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]
    elif data:
        # NAT-D hashes, cookies, Cisco's delete reasons: public, shown in full when short
        out["data"] = data.hex() if len(data) <= 32 else f"{len(data)} octets"
    return out


def _attribute(kind: int, value: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"attr": name(ConfigAttr, kind)}
    if not value:
        return out
    if kind in _ADDRESS_ATTRIBUTES and len(value) in (4, 16):
        out["value"] = str(ipaddress.ip_address(value))
    elif kind == ConfigAttr.INTERNAL_IP6_ADDRESS and len(value) == 17:
        out["value"] = f"{ipaddress.IPv6Address(value[:16])}/{value[16]}"
    elif kind == ConfigAttr.INTERNAL_IP4_SUBNET and len(value) == 8:
        out["value"] = str(ipaddress.IPv4Network((value[:4], str(ipaddress.IPv4Address(value[4:]))),
                                                 strict=False))
    elif kind in _TEXT_ATTRIBUTES:
        out["value"] = value.decode("utf-8", errors="replace")
    else:
        out["length"] = len(value)
    return out


def _certificate(encoding: int, data: bytes) -> dict[str, Any]:
    if encoding != CertEncoding.X509_SIGNATURE:
        return {}
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        return {"parse": "not an X.509 certificate"}
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x")}


def _vendor(data: bytes) -> str:
    text = data.decode("ascii", errors="replace")
    return text if text.isprintable() and len(data) >= 4 else data.hex()


def summary(payloads: list[dict[str, Any]]) -> str:
    """strongSwan's one-line notation: [ SA KE No N(NAT_DETECTION_SOURCE_IP) ... ]."""
    tags = []
    for p in payloads:
        kind = p["type"]
        if kind == "N":
            tags.append(f"N({p['notify']})")
        elif kind == "EAP":
            tags.append("EAP/" + "/".join(str(p[k]) for k in ("code", "eap_type") if k in p))
        elif kind == "CP":
            tags.append(f"CP({p['cfg_type']})")
        elif kind == "SKF":
            tags.append(f"EF({p['fragment']}/{p['total']})")
        else:
            tags.append(kind)
    return "[ " + " ".join(tags) + " ]"

