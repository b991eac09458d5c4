"""Cross-check against an independent dissector: scapy's IKEv2 layer
(scapy.contrib.ikev2) reads what we build, and we read what it builds
(RFC 7296 §3.1-§3.15, RFC 7383 §2.5).

Scapy traps met here, each worked around where the packet is built:
- a Transform with key_length needs length=12, or the attribute is dropped;
- an IP configuration attribute needs length=4, or the value is text;
- an IPv6 traffic selector defaults to length 20 (§3.13.1 says 40);
- a Delete's SPIsize defaults to the octets of all SPIs, not one SPI.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from scapy.contrib.ikev2 import (
    IKEv2,
    IKEv2_AUTH,
    IKEv2_CERTREQ,
    IKEv2_CP,
    IKEv2_Delete,
    IKEv2_Encrypted,
    IKEv2_Encrypted_Fragment,
    IKEv2_IDi,
    IKEv2_KE,
    IKEv2_Nonce,
    IKEv2_Notify,
    IKEv2_Proposal,
    IKEv2_SA,
    IKEv2_Transform,
    IKEv2_TSi,
    IKEv2_TSr,
    IKEv2_VendorID,
    ConfigurationAttribute,
    IPv4TrafficSelector,
    IPv6TrafficSelector,
)
from scapy.packet import Packet

from ikev2d.iana import ConfigAttr, ExchangeType, NotifyType, PayloadType, ProtocolId
from ikev2d.wire.message import Message, decode_message, encode_message
from ikev2d.wire.payloads import (
    AUTH, CERTREQ, CP, KE, SA, SK, SKF, ConfigAttribute, Delete, IDi, Nonce, Notify, Proposal,
    TrafficSelector, Transform, TSi, TSr, Vendor,
)

SPI_I = bytes.fromhex("8a3e1f0c5b7d2e91")
SPI_R = bytes.fromhex("1c2d3e4f5a6b7c8d")
VIDS = [bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3"), b"CISCO-DELETE-REASON", bytes(range(20))]


def _chain(first: Packet, cls: type[Packet]) -> list[Packet]:
    """Scapy chains proposals and transforms as payloads of each other."""
    out = []
    p = first
    while isinstance(p, cls):
        out.append(p)
        p = p.payload
    return out


def _layers(pkt: Packet, cls: type[Packet]) -> list[Packet]:
    out = []
    while (layer := pkt.getlayer(cls, len(out) + 1)) is not None:
        out.append(layer)
    return out


OUR_INIT = Message(
    SPI_I, SPI_R, ExchangeType.IKE_SA_INIT, 0, True, False,
    [
        SA([
            Proposal(1, ProtocolId.IKE, b"", [Transform(1, 20, 256), Transform(1, 12, 128), Transform(2, 7),
                                              Transform(3, 14), Transform(4, 19), Transform(4, 14)]),
            Proposal(2, ProtocolId.IKE, b"", [Transform(1, 12, 256), Transform(2, 5), Transform(3, 12),
                                              Transform(4, 20)]),
        ]),
        KE(19, bytes(range(64))),
        Nonce(b"\x5a" * 32),
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=b"\x01" * 20),
        Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, data=b"\x02" * 20),
        Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
        Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=b"\x00\x02\x00\x03\x00\x04"),
    ] + [Vendor(v) for v in VIDS],
)


def test_scapy_reads_our_header() -> None:
    """§3.1 as scapy sees it."""
    raw = encode_message(OUR_INIT)
    pkt = IKEv2(raw)
    assert (pkt.init_SPI, pkt.resp_SPI) == (SPI_I, SPI_R)
    assert (pkt.version, pkt.exch_type, pkt.id, pkt.length) == (0x20, 34, 0, len(raw))
    assert pkt.next_payload == PayloadType.SA
    assert pkt.flags.Response and not pkt.flags.Initiator


def test_scapy_reads_our_proposals_and_transforms() -> None:
    """§3.3: proposal numbering, protocol, transform types, IDs and the
    Key Length attribute, in order."""
    pkt = IKEv2(encode_message(OUR_INIT))
    proposals = _chain(pkt[IKEv2_SA].prop, IKEv2_Proposal)
    assert [(p.proposal, p.proto, p.SPIsize, p.trans_nb) for p in proposals] == [(1, 1, 0, 6), (2, 1, 0, 4)]
    seen = [
        [(t.transform_type, t.transform_id, t.key_length if t.length > 8 else None)
         for t in _chain(p.trans, IKEv2_Transform)]
        for p in proposals
    ]
    want = [[(t.type, t.id, t.key_length) for t in p.transforms] for p in OUR_INIT.payloads[0].proposals]
    assert seen == want


def test_scapy_reads_our_ke_nonce_notifies_and_vendor_ids() -> None:
    """§3.4, §3.9, §3.10, §3.12."""
    pkt = IKEv2(encode_message(OUR_INIT))
    assert (pkt[IKEv2_KE].group, pkt[IKEv2_KE].ke) == (19, bytes(range(64)))
    assert pkt[IKEv2_Nonce].nonce == b"\x5a" * 32
    notifies = [(n.type, n.proto, n.SPIsize, n.notify) for n in _layers(pkt, IKEv2_Notify)]
    assert notifies == [(n.type, 0, 0, n.data) for n in OUR_INIT.notifies()]
    assert [v.vendorID for v in _layers(pkt, IKEv2_VendorID)] == VIDS


def test_we_read_scapys_ike_sa_init() -> None:
    """The reverse direction: scapy builds, we decode the same values."""
    aes = IKEv2_Transform(transform_type=1, transform_id=12, length=12, key_length=256)
    prop1 = IKEv2_Proposal(proposal=1, proto=1, trans_nb=4, trans=(
        aes / IKEv2_Transform(transform_type=2, transform_id=7)
        / IKEv2_Transform(transform_type=3, transform_id=14) / IKEv2_Transform(transform_type=4, transform_id=14)))
    prop2 = IKEv2_Proposal(proposal=2, proto=1, trans_nb=3, trans=(
        IKEv2_Transform(transform_type=1, transform_id=20, length=12, key_length=128)
        / IKEv2_Transform(transform_type=2, transform_id=5) / IKEv2_Transform(transform_type=4, transform_id=31)))
    pkt = (
        IKEv2(init_SPI=SPI_I, resp_SPI=bytes(8), exch_type=34, flags="Initiator", id=0)
        / IKEv2_SA(prop=prop1 / prop2)
        / IKEv2_KE(group=14, ke=b"\x07" * 256)
        / IKEv2_Nonce(nonce=b"\x33" * 48)
        / IKEv2_Notify(type=16388, notify=b"\x44" * 20)
        / IKEv2_Notify(type=16430)
        / IKEv2_VendorID(vendorID=VIDS[0])
    )
    assert decode_message(bytes(pkt)) == Message(SPI_I, bytes(8), 34, 0, False, True, [
        SA([
            Proposal(1, 1, b"", [Transform(1, 12, 256), Transform(2, 7), Transform(3, 14), Transform(4, 14)]),
            Proposal(2, 1, b"", [Transform(1, 20, 128), Transform(2, 5), Transform(4, 31)]),
        ]),
        KE(14, b"\x07" * 256),
        Nonce(b"\x33" * 48),
        Notify(16388, data=b"\x44" * 20),
        Notify(16430),
        Vendor(VIDS[0]),
    ])


AUTH_PAYLOADS = [
    IDi(2, b"client.example"),
    CERTREQ(4, b"\x68" * 40),
    AUTH(2, b"\x61" * 32),
    CP(1, [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS), ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS, bytes([10, 1, 2, 3]))]),
    TSi([TrafficSelector(7, 0, 0, 65535, IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255"))]),
    TSr([TrafficSelector(8, 6, 443, 443, IPv6Address("2001:db8::"), IPv6Address("2001:db8::ffff"))]),
    Delete(3, [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]),
    Delete(1, []),
]


def _scapy_auth_payloads() -> Packet:
    return (
        IKEv2(init_SPI=SPI_I, resp_SPI=SPI_R, exch_type=35, flags="Initiator", id=1)
        / IKEv2_IDi(IDtype=2, ID=b"client.example")
        / IKEv2_CERTREQ(cert_encoding=4, cert_authority=b"\x68" * 40)
        / IKEv2_AUTH(auth_type=2, load=b"\x61" * 32)
        / IKEv2_CP(CFGType=1, attributes=[ConfigurationAttribute(type=1, length=0),
                                          ConfigurationAttribute(type=3, length=4, value="10.1.2.3")])
        / IKEv2_TSi(traffic_selector=[IPv4TrafficSelector(IP_protocol_ID=0, starting_address_v4="0.0.0.0",
                                                          ending_address_v4="255.255.255.255")])
        / IKEv2_TSr(traffic_selector=[IPv6TrafficSelector(length=40, IP_protocol_ID=6, start_port=443, end_port=443,
                                                          starting_address_v6="2001:db8::",
                                                          ending_address_v6="2001:db8::ffff")])
        / IKEv2_Delete(proto=3, SPIsize=4, SPInum=2, SPI=[b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"])
        / IKEv2_Delete(proto=1)
    )


def test_id_certreq_auth_cp_ts_delete_both_ways() -> None:
    """§3.5, §3.7, §3.8, §3.11, §3.13, §3.15: the same octets from scapy and from us."""
    ours = encode_message(Message(SPI_I, SPI_R, 35, 1, False, True, AUTH_PAYLOADS))
    theirs = bytes(_scapy_auth_payloads())
    assert ours == theirs
    assert decode_message(theirs).payloads == AUTH_PAYLOADS
    pkt = IKEv2(ours)
    assert pkt[IKEv2_CP].attributes[1].value == "10.1.2.3"
    assert pkt[IKEv2_TSr].traffic_selector[0].ending_address_v6 == "2001:db8::ffff"
    assert [d.SPI for d in _layers(pkt, IKEv2_Delete)] == [[b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"], []]


def test_scapy_reads_our_sk_and_skf_headers() -> None:
    """§3.14 and RFC 7383 §2.5: scapy finds the encrypted payload's length,
    Fragment Number and Total Fragments where we put them."""
    sk = encode_message(Message(SPI_I, SPI_R, 35, 1, True, False, [SK(PayloadType.IDr, b"\x00" * 48)]))
    pkt = IKEv2(sk)
    assert pkt[IKEv2_Encrypted].next_payload == PayloadType.IDr
    assert pkt[IKEv2_Encrypted].load == b"\x00" * 48
    skf = encode_message(Message(SPI_I, SPI_R, 35, 1, True, False, [SKF(PayloadType.IDr, 1, 3, b"\x11" * 40)]))
    frag = IKEv2(skf)[IKEv2_Encrypted_Fragment]
    assert (frag.next_payload, frag.frag_number, frag.frag_total, frag.load) == (PayloadType.IDr, 1, 3, b"\x11" * 40)
