"""Trace records as text, in the shape of the FTD's `debug crypto ikev2`
output (Cisco TAC, "ASA IKEv2 Debugs for Remote Access VPN Troubleshooting"):
`IKEv2-PROTO-N:` / `IKEv2-PLAT-N:` lines, a received or sent packet's
addresses, SPIs and exchange, then its payloads. The layout is modelled on
those examples; the exact wording of each line is ours."""

from __future__ import annotations

from typing import Any

from .record import PAYLOADS, PLATFORM


def render(record: dict[str, Any], level: int) -> list[str]:
    """The lines of one JSON record for a listener at `level` (of the
    record's facility): payload contents from level 4 up."""
    facility = "PLAT" if record["facility"] == PLATFORM else "PROTO"
    sa_id = f"({record['sa_id']}): " if record.get("sa_id") else ""
    head = f"IKEv2-{facility}-{record['level']}: {sa_id}"
    if record["event"] != "message":
        return [head + record["text"]]
    data = record["data"]
    inbound = data["direction"] == "in"
    peer, local = record["peer"], record["local"]
    where = f"[From {peer}/To {local}/VRF i0:f0]" if inbound else f"[To {peer}/From {local}/VRF i0:f0]"
    octets = f", length: {data['octets']}" if data.get("octets") else ""
    lines = [
        head + ("Received Packet " if inbound else "Sending Packet ") + where,
        f"Initiator SPI : {data['ispi'].upper()} - Responder SPI : {data['rspi'].upper()} "
        f"Message id: {data['message_id']}",
        f"IKEv2 {data['exchange']} Exchange {'RESPONSE' if data['response'] else 'REQUEST'}{octets}",
        head + record["text"],
    ]
    if level >= PAYLOADS:
        lines.append("Payload contents:" + ("" if data["payloads"] else " none"))
        lines += [" " + payload_line(p) for p in data["payloads"]]
    return lines


def payload_line(p: dict[str, Any]) -> str:
    fields = []
    for key, value in p.items():
        if key == "type":
            continue
        if key == "proposals":
            fields += [f"proposal {q['number']} {q['protocol']}" + (f" SPI {q['spi']}" if q["spi"] else "")
                       + ": " + " ".join(q["transforms"]) for q in value]
        elif key == "attributes":
            fields += [a["attr"] + (f"={a['value']}" if "value" in a else
                                    f" ({a['length']} octets)" if "length" in a else "") for a in value]
        elif isinstance(value, list):
            fields.append(f"{key} " + " ".join(str(v) for v in value))
        else:
            fields.append(f"{key} {value}")
    return f"{p['type']:<8} " + ", ".join(fields)
