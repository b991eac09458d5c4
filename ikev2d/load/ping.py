"""An ICMP echo through one emulated client's Child SA: the client's side
of the ESP tunnel (RFC 4303 tunnel mode, carried in UDP, RFC 3948) and
the IPv4/ICMP packets (RFC 791, RFC 792) built and read by hand.

The ESP itself is the userspace data plane's (esp.userspace.sa and
suites): sequence numbers, padding, the seal and the open with its ICV
check and replay window, so what the load generator sends is what
ikev2d's own data plane sends.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from esp.userspace.lifetime import Limits, Lifetime
from esp.userspace.sa import InboundSa, OutboundSa
from esp.userspace.suites import make_opener, make_sealer
from ikev2d.load.session import ChildSaKeys

REPLAY_WINDOW = 32  # replies come one at a time: a sanity check only
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
PROTO_ICMP = 1
PAYLOAD = bytes(range(32))  # what every echo request carries, checked in the reply
_IP = struct.Struct(">BBHHHBBH4s4s")
_ICMP = struct.Struct(">BBHHH")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(source: IPv4Address, target: IPv4Address, ident: int, seq: int) -> bytes:
    """An IPv4 packet with an ICMP echo request."""
    icmp = _ICMP.pack(ICMP_ECHO_REQUEST, 0, 0, ident, seq) + PAYLOAD
    icmp = icmp[:2] + checksum(icmp).to_bytes(2, "big") + icmp[4:]
    header = _IP.pack(0x45, 0, 20 + len(icmp), seq, 0x4000, 64, PROTO_ICMP, 0, source.packed, target.packed)
    header = header[:10] + checksum(header).to_bytes(2, "big") + header[12:]
    return header + icmp


def echo_reply_seq(packet: bytes, source: IPv4Address, target: IPv4Address, ident: int) -> int | None:
    """The sequence number of the echo reply from `target` to `source` with
    our identifier and payload in this IPv4 packet, or None if it is not one."""
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 15) * 4
    if ihl < 20 or len(packet) < ihl + 8 or packet[9] != PROTO_ICMP:
        return None
    if packet[12:16] != target.packed or packet[16:20] != source.packed:
        return None
    icmp = packet[ihl:]
    kind, code, _, reply_ident, seq = _ICMP.unpack_from(icmp)
    if kind != ICMP_ECHO_REPLY or code or reply_ident != ident or checksum(icmp) or icmp[8:] != PAYLOAD:
        return None
    return int(seq)


class Pinger:
    """Echo requests from the client's inner address to `target`, sealed
    for the responder; its ESP packets opened (ICV, replay, padding
    checked) and read as echo replies. Drops are counted in `dropped`."""

    def __init__(self, keys: ChildSaKeys, source: IPv4Address, target: IPv4Address, ident: int) -> None:
        self.source, self.target, self.ident = source, target, ident & 0xFFFF
        alg = keys.algorithms
        lifetime = Lifetime(keys.spi_in, Limits(), 0.0, lambda expiry: None)
        self.outbound = OutboundSa(keys.spi_out, make_sealer(alg, keys.encr_key_out, keys.integ_key_out), alg.esn,
                                   lifetime, None)
        self.inbound = InboundSa(keys.spi_in, make_opener(alg, keys.encr_key_in, keys.integ_key_in), alg.esn,
                                 REPLAY_WINDOW, lifetime, None)
        self.spi_in = keys.spi_in.to_bytes(4, "big")
        self.dropped = 0  # ESP for us that did not open, or held no echo reply of ours

    def request(self, seq: int) -> bytes:
        """The ESP packet (the UDP payload, RFC 3948) of echo request `seq`."""
        esp = self.outbound.seal(echo_request(self.source, self.target, self.ident, seq & 0xFFFF))
        assert esp is not None  # no selectors, no lifetime: sealing cannot refuse
        return esp

    def reply(self, esp: bytes) -> int | None:
        """The sequence number of the echo reply this ESP packet carries, or None (dropped)."""
        inner = self.inbound.open(esp) if esp[:4] == self.spi_in else None
        seq = echo_reply_seq(inner, self.source, self.target, self.ident) if inner is not None else None
        if seq is None:
            self.dropped += 1
        return seq
