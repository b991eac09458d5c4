"""Payload bodies: round trips for every payload type and the strictness
rules of RFC 7296 §3.3-§3.16 and RFC 7383 §2.5, one rule per test."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikev2d.iana import ConfigAttr, IdType, ProtocolId
from ikev2d.wire.errors import InvalidSyntax
from ikev2d.wire.payloads import (
    AUTH, CERT, CERTREQ, CP, EAP, KE, SA, SK, SKF, ConfigAttribute, Delete, IDi, IDr, Nonce,
    Notify, Proposal, TrafficSelector, Transform, TSi, TSr, Unknown, Vendor,
)

from test_wire_strategies import encrypted_payloads, plain_payloads


@given(plain_payloads | encrypted_payloads)
def test_every_payload_body_round_trips(p) -> None:
    """RFC 7296 §3.2-§3.16, RFC 7383 §2.5: parse_body(body()) is the identity."""
    if isinstance(p, Unknown):
        return  # no body codec: the chain keeps it verbatim (test_wire_message)
    kwargs = {"next_payload": p.inner_next_payload} if isinstance(p, (SK, SKF)) else {}
    assert type(p).parse_body(p.body(), critical=p.critical, **kwargs) == p


# -- SA, Proposal, Transform (§3.3) --------------------------------------------

def _transform(last: int, ttype: int, tid: int, attrs: bytes = b"") -> bytes:
    return struct.pack("!BBHBBH", last, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def _proposal(last: int, number: int, protocol: int, spi: bytes, transforms: list[bytes],
              count: int | None = None) -> bytes:
    body = b"".join(transforms)
    n = len(transforms) if count is None else count
    return struct.pack("!BBHBBBB", last, 0, 8 + len(spi) + len(body), number, protocol, len(spi), n) + spi + body


ENCR_AES256 = _transform(3, 1, 12, struct.pack("!HH", 0x800E, 256))
PRF_SHA256 = _transform(0, 2, 5)


def test_sa_known_answer_with_key_length_attribute() -> None:
    """§3.3.1, §3.3.2, §3.3.5: Last Substruc 2/3/0, counts, Key Length as TV."""
    sa = SA([Proposal(1, ProtocolId.IKE, b"", [Transform(1, 12, 256), Transform(2, 5)])])
    want = _proposal(0, 1, 1, b"", [ENCR_AES256, PRF_SHA256])
    assert sa.body() == want
    assert SA.parse_body(want) == sa


def test_sa_without_proposals_is_invalid() -> None:
    """§3.3: an SA payload holds one or more proposals."""
    with pytest.raises(InvalidSyntax, match="without proposals"):
        SA.parse_body(b"")


def test_proposal_length_beyond_the_payload() -> None:
    """§3.3.1 Proposal Length must fit the SA payload."""
    body = bytearray(_proposal(0, 1, 1, b"", [PRF_SHA256]))
    body[2:4] = struct.pack("!H", len(body) + 1)
    with pytest.raises(InvalidSyntax, match="proposal length"):
        SA.parse_body(bytes(body))


def test_proposal_last_substruc_must_be_0_or_2() -> None:
    """§3.3.1: Last Substruc is 0 (last) or 2 (more)."""
    with pytest.raises(InvalidSyntax, match="Last Substruc is 3"):
        SA.parse_body(_proposal(3, 1, 1, b"", [PRF_SHA256]))


def test_proposal_marked_more_but_payload_ends() -> None:
    with pytest.raises(InvalidSyntax, match="further proposal"):
        SA.parse_body(_proposal(2, 1, 1, b"", [PRF_SHA256]))


def test_octets_after_last_proposal() -> None:
    with pytest.raises(InvalidSyntax, match="after the proposal marked last"):
        SA.parse_body(_proposal(0, 1, 1, b"", [PRF_SHA256]) + _proposal(0, 2, 1, b"", [PRF_SHA256]))


@pytest.mark.parametrize("numbers", [(1, 3), (2, 3), (0,)])
def test_proposal_numbering(numbers: tuple[int, ...]) -> None:
    """§3.3.1: the first proposal is 1 and each next one is one more."""
    props = [_proposal(0 if i == len(numbers) - 1 else 2, n, 1, b"", [PRF_SHA256]) for i, n in enumerate(numbers)]
    with pytest.raises(InvalidSyntax, match="proposal number|not number 1"):
        SA.parse_body(b"".join(props))


def test_single_proposal_keeps_the_accepted_number() -> None:
    """§3.3.1: a response carries the accepted proposal with its number."""
    assert SA.parse_body(_proposal(0, 5, 3, b"\x01\x02\x03\x04", [PRF_SHA256])).proposals[0].number == 5


@pytest.mark.parametrize(("protocol", "spi"), [(1, b"\x00" * 4), (3, b""), (2, b"\x00" * 8)])
def test_spi_size_by_protocol(protocol: int, spi: bytes) -> None:
    """§3.3.1: SPI size 0 or 8 for IKE, 4 for AH and ESP."""
    with pytest.raises(InvalidSyntax, match="SPI size"):
        SA.parse_body(_proposal(0, 1, protocol, spi, [PRF_SHA256]))


def test_transform_count_must_match() -> None:
    """§3.3.1: Num Transforms equals the transforms present."""
    with pytest.raises(InvalidSyntax, match="announces 3 transforms but holds 2"):
        SA.parse_body(_proposal(0, 1, 1, b"", [ENCR_AES256, PRF_SHA256], count=3))


def test_transform_last_substruc_must_be_0_or_3() -> None:
    """§3.3.2: Last Substruc is 0 (last) or 3 (more)."""
    with pytest.raises(InvalidSyntax, match="Last Substruc is 2"):
        SA.parse_body(_proposal(0, 1, 1, b"", [_transform(2, 2, 5)]))


def test_final_transform_not_marked_last() -> None:
    with pytest.raises(InvalidSyntax, match="not marked last"):
        SA.parse_body(_proposal(0, 1, 1, b"", [ENCR_AES256]))


def test_transform_marked_last_before_the_end() -> None:
    with pytest.raises(InvalidSyntax, match="after the transform marked last"):
        SA.parse_body(_proposal(0, 1, 1, b"", [PRF_SHA256, PRF_SHA256]))


def test_transform_length_too_small() -> None:
    """§3.3.2: Transform Length covers at least the 8-octet header."""
    bad = struct.pack("!BBHBBH", 0, 0, 7, 2, 0, 5)
    with pytest.raises(InvalidSyntax, match="transform length 7"):
        SA.parse_body(_proposal(0, 1, 1, b"", [bad]))


def test_key_length_in_tlv_format_is_invalid() -> None:
    """§3.3.5: Key Length is only ever sent in TV format (AF=1)."""
    tlv = _transform(0, 1, 12, struct.pack("!HH", 0x000E, 2) + b"\x01\x00")
    with pytest.raises(InvalidSyntax, match="TLV"):
        SA.parse_body(_proposal(0, 1, 1, b"", [tlv]))


def test_key_length_repeated_is_invalid() -> None:
    twice = _transform(0, 1, 12, struct.pack("!HHHH", 0x800E, 128, 0x800E, 256))
    with pytest.raises(InvalidSyntax, match="repeated"):
        SA.parse_body(_proposal(0, 1, 1, b"", [twice]))


def test_attribute_running_past_its_transform() -> None:
    """§3.3.5: a TLV attribute's length must fit its transform."""
    tlv = _transform(0, 1, 12, struct.pack("!HH", 0x0011, 9) + b"\x00" * 4)
    with pytest.raises(InvalidSyntax, match="runs past"):
        SA.parse_body(_proposal(0, 1, 1, b"", [tlv]))


def test_unknown_attribute_is_kept_for_the_negotiator() -> None:
    """§3.3.6: an unknown attribute makes the transform unacceptable, not
    the message malformed: it is kept verbatim in other_attributes."""
    attr = struct.pack("!HH", 0x8011, 7)
    t = SA.parse_body(_proposal(0, 1, 1, b"", [_transform(0, 1, 12, attr)])).proposals[0].transforms[0]
    assert t == Transform(1, 12, None, attr)


# -- the simple payloads -------------------------------------------------------

def test_ke_layout() -> None:
    """§3.4: DH Group Num, 2 reserved octets, key exchange data."""
    assert KE(19, b"\xaa\xbb").body() == b"\x00\x13\x00\x00\xaa\xbb"
    with pytest.raises(InvalidSyntax):
        KE.parse_body(b"\x00\x13\x00\x00")


def test_id_body_is_what_auth_signs() -> None:
    """§3.5 and §2.15: the ID body is type | 3 reserved octets | data."""
    assert IDi(IdType.ID_FQDN, b"vpn.example").body() == b"\x02\x00\x00\x00vpn.example"
    assert IDr.parse_body(b"\x01\x00\x00\x00\xc0\x00\x02\x01") == IDr(1, b"\xc0\x00\x02\x01")


@pytest.mark.parametrize("body", [
    b"\x01\x00\x00\x00\x01\x02\x03",  # IPv4 needs 4 octets
    b"\x05\x00\x00\x00" + b"\x00" * 15,  # IPv6 needs 16
    b"\x02\x00\x00\x00",  # FQDN needs content
    b"\x07\x00\x00\x00abc",  # 7 is no ID type
    b"\x02\x00",  # shorter than its header
])
def test_id_type_and_length_rules(body: bytes) -> None:
    """§3.5: ID types and their data sizes."""
    with pytest.raises(InvalidSyntax):
        IDi.parse_body(body)


def test_cert_and_certreq_layout() -> None:
    """§3.6, §3.7: one Cert Encoding octet, then data."""
    assert CERT(4, b"der").body() == b"\x04der"
    assert CERTREQ.parse_body(b"\x04" + b"\x11" * 40) == CERTREQ(4, b"\x11" * 40)
    assert CERTREQ.parse_body(b"\x04") == CERTREQ(4, b"")
    with pytest.raises(InvalidSyntax, match="SHA-1"):
        CERTREQ.parse_body(b"\x04" + b"\x11" * 21)
    with pytest.raises(InvalidSyntax):
        CERT.parse_body(b"\x04")


def test_auth_layout() -> None:
    """§3.8: Auth Method, 3 reserved octets, data."""
    assert AUTH(2, b"mic").body() == b"\x02\x00\x00\x00mic"
    with pytest.raises(InvalidSyntax):
        AUTH.parse_body(b"\x02\x00\x00\x00")


@pytest.mark.parametrize("size", [0, 15, 257, 300])
def test_nonce_size_bounds(size: int) -> None:
    """§3.9: a nonce is 16 to 256 octets."""
    with pytest.raises(InvalidSyntax, match="nonce"):
        Nonce.parse_body(b"\x00" * size)


@pytest.mark.parametrize("size", [16, 256])
def test_nonce_size_limits_are_inclusive(size: int) -> None:
    assert Nonce.parse_body(b"\x01" * size).data == b"\x01" * size


def test_notify_layout_and_spi_bounds() -> None:
    """§3.10: Protocol ID, SPI Size, type, SPI, data; the SPI must fit."""
    n = Notify(16393, 3, b"\x01\x02\x03\x04", b"xy")
    assert n.body() == b"\x03\x04\x40\x09\x01\x02\x03\x04xy"
    with pytest.raises(InvalidSyntax, match="SPI size 5"):
        Notify.parse_body(b"\x03\x05\x40\x09\x01\x02\x03\x04")


@pytest.mark.parametrize("body, ok", [
    (b"\x03\x05\x40\x09" + b"\x01" + bytes(4), False),  # a 5-octet ESP SPI (the fuzzing finding)
    (b"\x03\x08\x40\x09" + bytes(8), False),  # 00000000||spi is no ESP SPI
    (b"\x02\x02\x40\x09" + bytes(2), False),  # AH SPIs are 4 octets too
    (b"\x01\x04\x40\x09" + bytes(4), False),  # IKE: no SPI, or the 8-octet one older peers send
    (b"\x03\x04\x40\x09" + bytes(4), True),
    (b"\x03\x00\x40\x09", True),  # no SPI: the protocol is ignored
    (b"\x01\x08\x40\x09" + bytes(8), True),
    (b"\x00\x00\x40\x0c", True),
])
def test_notify_spi_size_follows_the_protocol(body: bytes, ok: bool) -> None:
    """§3.10: the SPI Size is the protocol's SPI size (4 for AH and ESP) or
    zero; anything else is INVALID_SYNTAX, never a value that overflows."""
    if ok:
        assert Notify.parse_body(body).body() == body
    else:
        with pytest.raises(InvalidSyntax, match="SPI size"):
            Notify.parse_body(body)


def test_delete_layouts() -> None:
    """§3.11: IKE delete has SPI size 0 and no SPIs; ESP lists 4-octet SPIs."""
    assert Delete(ProtocolId.IKE, []).body() == b"\x01\x00\x00\x00"
    assert Delete.parse_body(b"\x03\x04\x00\x02" + b"\xaa" * 4 + b"\xbb" * 4) == Delete(3, [b"\xaa" * 4, b"\xbb" * 4])


@pytest.mark.parametrize("body", [
    b"\x01\x08\x00\x00",  # IKE with an SPI size
    b"\x01\x00\x00\x01",  # IKE listing SPIs
    b"\x03\x04\x00\x02" + b"\x00" * 4,  # count says 2, holds 1
    b"\x03\x08\x00\x01" + b"\x00" * 8,  # ESP SPIs are 4 octets
    b"\x07\x00\x00\x00",  # no such protocol
])
def test_delete_rules(body: bytes) -> None:
    with pytest.raises(InvalidSyntax):
        Delete.parse_body(body)


def test_vendor_and_eap_keep_their_octets() -> None:
    """§3.12, §3.16: opaque bodies; an EAP payload holds at least an EAP header."""
    assert Vendor.parse_body(b"\x40\x48") == Vendor(b"\x40\x48")
    assert EAP.parse_body(b"\x01\x02\x00\x04") == EAP(b"\x01\x02\x00\x04")
    with pytest.raises(InvalidSyntax):
        EAP.parse_body(b"\x01\x02\x00")


# -- TS (§3.13) ----------------------------------------------------------------

def test_ts_known_answer() -> None:
    """§3.13.1: IPv4 selector is 16 octets, IPv6 is 40."""
    ts = TSi([TrafficSelector(7, 0, 0, 65535, IPv4Address("10.0.0.0"), IPv4Address("10.0.0.255"))])
    want = bytes.fromhex("01000000" "0700001000 00ffff 0a000000 0a0000ff".replace(" ", ""))
    assert ts.body() == want
    assert TSi.parse_body(want) == ts


@pytest.mark.parametrize("body", [
    bytes.fromhex("00000000"),  # no selectors
    bytes.fromhex("02000000" "070000100000ffff0a0000000a0000ff"),  # count 2, holds 1
    bytes.fromhex("01000000" "070000140000ffff0a0000000a0000ff00000000"),  # IPv4 length 20
    bytes.fromhex("01000000" "080000100000ffff0a0000000a0000ff"),  # IPv6 length 16
    bytes.fromhex("01000000" "090000100000ffff0a0000000a0000ff"),  # unsupported type
    bytes.fromhex("01000000" "070000100000ffff0a000000"),  # truncated
])
def test_ts_rules(body: bytes) -> None:
    with pytest.raises(InvalidSyntax):
        TSr.parse_body(body)


def test_ts_encoder_refuses_mismatched_families() -> None:
    with pytest.raises(ValueError):
        TrafficSelector(7, 0, 0, 65535, IPv6Address("::"), IPv6Address("::1")).encode()


# -- CP (§3.15) ----------------------------------------------------------------

def test_cp_known_answer_and_request_form() -> None:
    """§3.15.1: attributes are R|type, length, value; a request sends empty values."""
    cp = CP(1, [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS), ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS)])
    assert cp.body() == bytes.fromhex("01000000" "00010000" "00030000")
    reply = CP(2, [ConfigAttribute(1, bytes([10, 0, 0, 5]))])
    assert CP.parse_body(reply.body()) == reply


def test_cp_reserved_bit_is_ignored() -> None:
    """§3.15.1: the R bit MUST be ignored on receipt."""
    assert CP.parse_body(bytes.fromhex("02000000" "80010004 0a000005".replace(" ", ""))).attributes[0].type == 1


@pytest.mark.parametrize("attr", [
    "00010003 0a0000",  # IPv4 address of 3 octets
    "00080010" + "00" * 16,  # IPv6 address needs 17 (address + prefix)
    "000d0004 0a000000",  # IPv4 subnet needs 8
    "000e0003 000100",  # SUPPORTED_ATTRIBUTES is a list of 2-octet types
    "00010008 0a000005",  # runs past the payload
])
def test_cp_attribute_lengths(attr: str) -> None:
    with pytest.raises(InvalidSyntax):
        CP.parse_body(bytes.fromhex("02000000" + attr.replace(" ", "")))


# -- SK and SKF ----------------------------------------------------------------

@pytest.mark.parametrize(("number", "total", "nxt"), [(0, 1, 0), (2, 1, 0), (1, 0, 35), (1, 2, 0), (2, 2, 35)])
def test_skf_numbering(number: int, total: int, nxt: int) -> None:
    """RFC 7383 §2.5: 1 <= Fragment Number <= Total Fragments; only
    fragment 1 names the first inner payload."""
    with pytest.raises(InvalidSyntax, match="fragment"):
        SKF.parse_body(struct.pack("!HH", number, total) + b"data", next_payload=nxt)


@given(st.binary(max_size=64))
def test_body_parsers_raise_only_invalid_syntax(body: bytes) -> None:
    """RFC 7296 §2.21: malformed input becomes INVALID_SYNTAX, nothing else."""
    for cls in (SA, KE, IDi, CERT, CERTREQ, AUTH, Nonce, Notify, Delete, Vendor, TSi, CP, EAP, SK, SKF):
        try:
            cls.parse_body(body)
        except InvalidSyntax:
            pass
