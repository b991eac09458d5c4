"""A session's exchanges as a sequence (ladder) diagram: what each IKE SA
keeps of the messages it passed (a bounded history, the payload list as
one shared string), and its drawings: terminal text, a standalone HTML
page with SVG a teacher can project, and Wireshark's packet list as the
whitepaper shows it (one row per datagram, fragments and reassembly)."""

from __future__ import annotations

import html
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .iana import ExchangeType, NotifyType, PayloadType
from .wire.cp import CP
from .wire.payloads import EAP, Notify, Payload

HISTORY = 24  # messages an IKE SA keeps: establishment, then the latest rekeys and checks

_SHORT: dict[int, str] = {PayloadType.SA: "SA", PayloadType.KE: "KE", PayloadType.NONCE: "No", PayloadType.IDi: "IDi",
          PayloadType.IDr: "IDr", PayloadType.CERT: "CERT", PayloadType.CERTREQ: "CERTREQ",
          PayloadType.AUTH: "AUTH", PayloadType.DELETE: "D", PayloadType.VENDOR: "V",
          PayloadType.TSi: "TSi", PayloadType.TSr: "TSr"}
# strongSwan's short names for the notifies every connect carries: a ladder
# arrow has room for about a dozen payloads
_NOTIFY_SHORT: dict[int, str] = {
    NotifyType.NAT_DETECTION_SOURCE_IP: "NATD_S_IP", NotifyType.NAT_DETECTION_DESTINATION_IP: "NATD_D_IP",
    NotifyType.IKEV2_FRAGMENTATION_SUPPORTED: "FRAG_SUP", NotifyType.SIGNATURE_HASH_ALGORITHMS: "HASH_ALG",
    NotifyType.INITIAL_CONTACT: "INIT_CONTACT", NotifyType.MOBIKE_SUPPORTED: "MOBIKE_SUP",
    NotifyType.REDIRECT_SUPPORTED: "REDIR_SUP", NotifyType.EAP_ONLY_AUTHENTICATION: "EAP_ONLY",
    NotifyType.NO_ADDITIONAL_ADDRESSES: "NO_ADD_ADDR", NotifyType.MULTIPLE_AUTH_SUPPORTED: "MULT_AUTH",
    NotifyType.IKEV2_MESSAGE_ID_SYNC_SUPPORTED: "MSG_ID_SYN_SUP", NotifyType.ESP_TFC_PADDING_NOT_SUPPORTED:
    "ESP_TFC_PAD_N", NotifyType.NON_FIRST_FRAGMENTS_ALSO: "NON_FIRST_FRAG", NotifyType.ANOTHER_AUTH_FOLLOWS:
    "AUTH_FOLLOWS", NotifyType.AUTHENTICATION_FAILED: "AUTH_FAILED", NotifyType.NO_PROPOSAL_CHOSEN: "NO_PROP",
    NotifyType.INVALID_KE_PAYLOAD: "INVAL_KE", NotifyType.INTERNAL_ADDRESS_FAILURE: "INT_ADDR_FAIL",
}
_NOTIFY_SHORT_BY_NAME = {NotifyType(k).name: v for k, v in _NOTIFY_SHORT.items()}
_EAP_CODES = {1: "REQ", 2: "RES", 3: "SUCC", 4: "FAIL"}
_EAP_TYPES = {1: "ID", 4: "MD5", 6: "GTC", 13: "TLS", 21: "TTLS", 26: "MSCHAPV2"}
_CP_TYPES = {1: "CPRQ", 2: "CPRP", 3: "CPS", 4: "CPA"}


@dataclass(frozen=True, slots=True)
class Step:
    """One message of the session, as the ladder draws it."""

    at: float  # the core's clock (monotonic seconds)
    inbound: bool  # from the client
    exchange: int
    message_id: int
    response: bool
    payloads: str  # "SA KE No N(NAT_DETECTION_SOURCE_IP) ...", interned: sessions share them
    sizes: tuple[int, ...]  # each datagram's octets (several: RFC 7383 fragments)
    ike_sa: str  # the IKE SA it belonged to (a rekey starts another)
    from_initiator: bool = True  # the I flag: sent by the IKE SA's original initiator
    port: int = 500  # our UDP port: on NAT-T's, each datagram has the 4-octet non-ESP marker too

    @property
    def encrypted(self) -> bool:
        return self.exchange != ExchangeType.IKE_SA_INIT

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "inbound": self.inbound, "exchange": _exchange(self.exchange),
                "message_id": self.message_id, "response": self.response, "payloads": self.payloads,
                "sizes": list(self.sizes), "ike_sa": self.ike_sa, "from_initiator": self.from_initiator,
                "port": self.port}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Step":
        return cls(float(d["at"]), bool(d["inbound"]), _exchange_id(str(d["exchange"])), int(d["message_id"]),
                   bool(d["response"]), str(d["payloads"]), tuple(int(n) for n in d["sizes"]), str(d["ike_sa"]),
                   bool(d.get("from_initiator", True)), int(d.get("port", 500)))


class History(list[Step]):
    """The last HISTORY steps, oldest first. A list trimmed from the front:
    a bounded deque allocates a 64-slot block (~760 bytes) per SA; this
    holds ~HISTORY pointers, and trimming 24 is as cheap."""

    __slots__ = ()

    def append(self, step: Step) -> None:
        if len(self) >= HISTORY:
            del self[0]
        super().append(step)


def new_history() -> History:
    return History()


def payload_tags(payloads: Sequence[Payload]) -> str:
    """strongSwan's notation, cheap enough to keep for every message:
    SA KE No N(...) IDi CPRQ EAP/RES/ID ..."""
    tagged = _CLASS_TAGS.get  # a tag is never empty: `or` falls through only when the class has none
    return sys.intern(" ".join([tagged(type(p)) or _payload_tag(p) for p in payloads]))


def _payload_tag(p: Payload) -> str:
    if isinstance(p, Notify):
        short = _NOTIFY_SHORT.get(p.type)
        if short is None:
            try:
                short = NotifyType(p.type).name
            except ValueError:
                short = str(p.type)
        return f"N({short})"
    if isinstance(p, EAP):
        data = p.data
        code = _EAP_CODES.get(data[0], "?") if data else "?"
        kind = "/" + _EAP_TYPES.get(data[4], str(data[4])) if len(data) > 4 and data[0] in (1, 2) else ""
        return f"EAP/{code}{kind}"
    if isinstance(p, CP):
        return _CP_TYPES.get(p.cfg_type, "CP")
    payload_type = getattr(type(p), "payload_type", None)
    tag = _SHORT.get(getattr(p, "payload_type", -1), type(p).__name__)
    if isinstance(payload_type, int) and len(_CLASS_TAGS) < 64:
        # a class whose every instance has the same tag (its payload type is
        # the class's): the next one costs one lookup, not three isinstance
        _CLASS_TAGS[type(p)] = tag
    return tag


_CLASS_TAGS: dict[type, str] = {}


# the datagram sizes of a step: most sessions' messages have the same sizes
# (same client, same exchanges), so they share one tuple, as the payload
# tags do; bounded, so a stream of odd sizes cannot grow it without end
_SIZES: dict[tuple[int, ...], tuple[int, ...]] = {}
_SIZES_KEPT = 4096


def shared_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    shared = _SIZES.get(sizes)
    if shared is not None:
        return shared
    if len(_SIZES) < _SIZES_KEPT:
        _SIZES[sizes] = sizes
    return sizes


# -- drawings ---------------------------------------------------------------------

def render_text(steps: Sequence[Step], client: str, server: str, width: int = 100) -> str:
    """The ladder in a terminal: the client on the left, ikev2d on the right,
    one arrow a message, encrypted ones drawn with = and shown as SK{...}."""
    inner = width - 12
    lines = [f"{'':9}{client:<{inner // 2}}{server:>{inner - inner // 2 + 2}}",
             f"{'':9}|{'':{inner}}|"]
    start = steps[0].at if steps else 0.0
    # an IKE SA by its initiator's SPI: IKE_SA_INIT's request knows no other yet
    last_sa = steps[0].ike_sa.split(" ")[0] if steps else ""
    for step in steps:
        if step.ike_sa.split(" ")[0] != last_sa:
            lines.append(f"{'':9}|{' new IKE SA ' + step.ike_sa + ' ':-^{inner}}|")
            last_sa = step.ike_sa.split(" ")[0]
        label = f" {label_of(step)} "
        shaft = "=" if step.encrypted else "-"
        if len(label) > inner - 4:  # too long for the arrow: on its own lines above it
            lines += [f"{'':9}|{part:^{inner}}|" for part in textwrap.wrap(label.strip(), inner - 2)]
            label = ""
        body = f"{label:{shaft}^{inner - 2}}"
        arrow = f"{shaft}{body}>" if step.inbound else f"<{body}{shaft}"
        lines.append(f"{step.at - start:8.3f} |{arrow}|")
    lines.append(f"{'':9}|{'':{inner}}|")
    lines.append(f"{'':9}- plain: IKE_SA_INIT   = encrypted and authenticated (SK), shown decrypted")
    return "\n".join(lines) + "\n"


def label_of(step: Step) -> str:
    kind = "response" if step.response else "request"
    body = f"SK{{ {step.payloads} }}" if step.encrypted else f"[ {step.payloads} ]"
    fragments = f" in {len(step.sizes)} fragments" if len(step.sizes) > 1 else ""
    return f"{_exchange(step.exchange)} {kind} {step.message_id} {body}{fragments}"


def packet_list(steps: Sequence[Step], client: str, server: str, nat_t_port: int = 4500) -> str:
    """Wireshark's packet list of the session, as the whitepaper shows one:
    a row per datagram, fragments numbered and the last one reassembled."""
    rows = ["No.\tTime\tSource\tDestination\tProtocol\tLength\tInfo"]
    start = steps[0].at if steps else 0.0
    number = 0
    for step in steps:
        source, destination = (client, server) if step.inbound else (server, client)
        role = "Initiator" if step.from_initiator else "Responder"
        kind = "Response" if step.response else "Request"
        for i, size in enumerate(step.sizes, 1):
            number += 1
            info = f"{_exchange(step.exchange)} MID={step.message_id:02d} {role} {kind}"
            if len(step.sizes) > 1:
                info += (f" (Reassembled + Message fragment {i} - last)" if i == len(step.sizes)
                         else f" (Message fragment {i})")
            # Wireshark's Length is the frame: Ethernet (14), IPv4 (20) and UDP (8) around the IKE
            # octets, and on NAT-T's port the non-ESP marker (RFC 3948 §2.2)
            frame = size + 42 + (4 if step.port == nat_t_port else 0)
            rows.append(f"{number}\t{step.at - start:.6f}\t{source}\t{destination}\tISAKMP\t{frame}\t{info}")
    return "\n".join(rows) + "\n"


def render_html(steps: Sequence[Step], client: str, server: str, title: str, nat_t_port: int = 4500) -> str:
    """A standalone page: the ladder as SVG (arrows labelled with their
    payloads, encrypted ones marked), then the packet list."""
    row, top, left, right = 46, 70, 170, 1030
    height = top + row * (len(steps) + 1) + 40
    start = steps[0].at if steps else 0.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="{height}" '
             'font-family="monospace" font-size="13">',
             '<defs><marker id="a" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
             '<path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>',
             f'<text x="{left}" y="30" text-anchor="middle" font-weight="bold">{html.escape(client)}</text>',
             f'<text x="{right}" y="30" text-anchor="middle" font-weight="bold">{html.escape(server)}</text>',
             f'<line x1="{left}" y1="40" x2="{left}" y2="{height - 20}" stroke="#999"/>',
             f'<line x1="{right}" y1="40" x2="{right}" y2="{height - 20}" stroke="#999"/>']
    for i, step in enumerate(steps):
        y = top + row * i
        x1, x2 = (left, right) if step.inbound else (right, left)
        colour = "#1f5fa8" if step.encrypted else "#333"
        dash = "" if step.encrypted else ' stroke-dasharray="6,4"'
        parts += [
            f'<text x="10" y="{y + 4}" fill="#666">{step.at - start:.3f} s</text>',
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="2"{dash} '
            'marker-end="url(#a)"/>',
            f'<text x="{(left + right) // 2}" y="{y - 8}" text-anchor="middle" fill="{colour}">'
            f'{html.escape(label_of(step))}</text>',
        ]
        if step.encrypted:
            parts.append(f'<text x="{(left + right) // 2}" y="{y + 16}" text-anchor="middle" fill="#777" '
                         'font-size="11">encrypted (SK): shown decrypted by ikev2d</text>')
    parts.append("</svg>")
    table = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line.split("\t")) + "</tr>"
                    for line in packet_list(steps, client, server, nat_t_port).splitlines())
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 10px;font-family:monospace}"
            "tr:first-child{font-weight:bold}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{''.join(parts)}"
            f"<h2>The packet list (as Wireshark shows it)</h2><table>{table}</table></body></html>\n")


def _exchange(value: int) -> str:
    try:
        return ExchangeType(value).name
    except ValueError:
        return str(value)


def _exchange_id(name: str) -> int:
    return ExchangeType[name].value if name in ExchangeType.__members__ else int(name)


def steps_of(records: Iterable[dict[str, Any]]) -> list[Step]:
    """Steps from `ikev2d debug --json` message records (a saved trace)."""
    out = []
    for r in records:
        if r.get("event") != "message":
            continue
        d = r["data"]
        tags = " ".join(_tag(p) for p in d["payloads"])
        port = int(str(r.get("local", ":500")).rsplit(":", 1)[1] or 500)
        out.append(Step(float(r["time"]), d["direction"] == "in", _exchange_id(d["exchange"]), int(d["message_id"]),
                        bool(d["response"]), tags, tuple(d.get("sizes", ())), str(r.get("sa", "")),
                        bool(d.get("initiator", True)), port))
    return out


def _tag(p: dict[str, Any]) -> str:
    if p["type"] == "N":
        return f"N({_NOTIFY_SHORT_BY_NAME.get(p['notify'], p['notify'])})"
    if p["type"] == "EAP":
        code = {"REQUEST": "REQ", "RESPONSE": "RES", "SUCCESS": "SUCC", "FAILURE": "FAIL"}.get(p.get("code", ""), "?")
        kind = {"IDENTITY": "ID", "MD5_CHALLENGE": "MD5"}.get(p.get("eap_type", ""), p.get("eap_type", ""))
        return f"EAP/{code}" + (f"/{kind}" if kind else "")
    if p["type"] == "CP":
        return {"CFG_REQUEST": "CPRQ", "CFG_REPLY": "CPRP"}.get(p["cfg_type"], "CP")
    return str(p["type"])
