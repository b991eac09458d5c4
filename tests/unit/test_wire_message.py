"""Whole messages and payload chains (RFC 7296 §2.5, §3.2, §3.14)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikev2d.iana import EncrId, ExchangeType, NotifyType, PayloadType, TransformType
from ikev2d.wire.errors import InvalidSyntax, UnsupportedCriticalPayload
from ikev2d.wire.message import Message, decode_message, decode_payloads, encode_message, encode_payloads
from ikev2d.wire.payloads import KE, SA, SK, Nonce, Notify, Proposal, Transform, Unknown, Vendor

from test_wire_strategies import payload_chains

FRAGMENTATION_VID = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")

# An IKE_SA_INIT request written out field by field from the layouts of
# RFC 7296 §3.1 (header), §3.2 (generic payload header), §3.3 (SA,
# proposal, transforms, Key Length attribute), §3.4, §3.9, §3.10, §3.12.
SA_INIT_HEX = "".join([
    # header: SPIi, SPIr, next=SA(33), 2.0, IKE_SA_INIT(34), I flag, MID 0, length 240
    "0102030405060708", "0000000000000000", "21", "20", "22", "08", "00000000", "000000f0",
    # SA: next=KE(34), not critical, length 48
    "22", "00", "0030",
    #   proposal: last, reserved, length 44, #1, IKE, SPI size 0, 4 transforms
    "00", "00", "002c", "01", "01", "00", "04",
    #   ENCR AES-CBC with Key Length 256 (TV: AF|14, 256)
    "03", "00", "000c", "01", "00", "000c", "800e", "0100",
    #   PRF HMAC-SHA2-512, INTEG HMAC-SHA2-512-256, DH 19 (last)
    "03", "00", "0008", "02", "00", "0007",
    "03", "00", "0008", "03", "00", "000e",
    "00", "00", "0008", "04", "00", "0013",
    # KE: next=Nonce(40), length 72, group 19, reserved, 64 octets
    "28", "00", "0048", "0013", "0000", "11" * 64,
    # Nonce: next=Notify(41), length 36, 32 octets
    "29", "00", "0024", "22" * 32,
    # Notify NAT_DETECTION_SOURCE_IP: next=Notify, length 28, proto 0, SPI size 0, 16388, 20 octets
    "29", "00", "001c", "00", "00", "4004", "33" * 20,
    # Notify IKEV2_FRAGMENTATION_SUPPORTED: next=Vendor(43), length 8, 16430
    "2b", "00", "0008", "00", "00", "402e",
    # Vendor ID: last payload, length 20
    "00", "00", "0014", FRAGMENTATION_VID.hex(),
])

SA_INIT = Message(
    spi_i=bytes.fromhex("0102030405060708"), spi_r=bytes(8), exchange=ExchangeType.IKE_SA_INIT,
    message_id=0, is_response=False, is_initiator=True,
    payloads=[
        SA([Proposal(1, 1, b"", [
            Transform(TransformType.ENCR, EncrId.AES_CBC, 256), Transform(TransformType.PRF, 7),
            Transform(TransformType.INTEG, 14), Transform(TransformType.DH, 19),
        ])]),
        KE(19, b"\x11" * 64),
        Nonce(b"\x22" * 32),
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=b"\x33" * 20),
        Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
        Vendor(FRAGMENTATION_VID),
    ],
)


def test_ike_sa_init_known_answer_encode() -> None:
    """RFC 7296 §3: the encoder writes exactly the hand-built octets."""
    assert encode_message(SA_INIT).hex() == SA_INIT_HEX


def test_ike_sa_init_known_answer_decode() -> None:
    assert decode_message(bytes.fromhex(SA_INIT_HEX)) == SA_INIT


def test_message_lookups() -> None:
    m = decode_message(bytes.fromhex(SA_INIT_HEX))
    assert m.get(KE) == KE(19, b"\x11" * 64)
    assert m.get(SK) is None
    assert len(m.get_all(Notify)) == len(m.notifies()) == 2
    assert m.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) == Notify(16430)
    assert m.notify(NotifyType.COOKIE) is None


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8), st.integers(0, 255),
       st.integers(0, 2**32 - 1), st.booleans(), st.booleans(), payload_chains())
def test_whole_messages_round_trip(spi_i, spi_r, exchange, mid, response, initiator, payloads) -> None:
    """RFC 7296 §3.1-§3.16: decode(encode(m)) == m for any valid message,
    including critical bits on known payloads and a trailing SK/SKF."""
    msg = Message(spi_i, spi_r, exchange, mid, response, initiator, payloads)
    assert decode_message(encode_message(msg)) == msg


def _generic(nxt: int, length: int, critical: bool = False) -> bytes:
    return struct.pack("!BBH", nxt, 0x80 if critical else 0, length)


def test_unknown_non_critical_payload_is_kept() -> None:
    """§2.5: an unrecognized payload without the critical bit is skipped,
    here kept as Unknown, and the chain goes on."""
    data = _generic(43, 7) + b"abc" + _generic(0, 6) + b"vv"
    assert decode_payloads(200, data) == [Unknown(200, b"abc"), Vendor(b"vv")]


def test_unknown_critical_payload_is_rejected_with_its_type() -> None:
    """§2.5, §3.2: the critical bit on an unknown payload rejects the
    message with UNSUPPORTED_CRITICAL_PAYLOAD naming the type."""
    with pytest.raises(UnsupportedCriticalPayload) as info:
        decode_payloads(43, _generic(200, 6) + b"vv" + _generic(0, 4, critical=True))
    assert info.value.payload_type == 200


def test_critical_bit_on_known_payload_is_accepted() -> None:
    """§3.2: the C bit only matters for payloads we do not understand."""
    [v] = decode_payloads(43, _generic(0, 6, critical=True) + b"vv")
    assert v == Vendor(b"vv", critical=True)


@pytest.mark.parametrize(("first", "data", "why"), [
    (43, _generic(0, 3), "length 3"),  # shorter than the generic header
    (43, _generic(0, 9) + b"vv", "length 9"),  # beyond the buffer
    (43, _generic(0, 6) + b"vv" + b"\x00", "after the last payload"),  # trailing octets
    (43, _generic(43, 6) + b"vv", "ends where payload type 43"),  # announced, missing
    (43, b"\x00\x00", "ends where payload type 43"),  # truncated generic header
    (0, b"\x00", "after the last payload"),  # nothing announced, something there
])
def test_chain_lengths(first: int, data: bytes, why: str) -> None:
    """§3.2: every Payload Length must cover its header and stay inside the message."""
    with pytest.raises(InvalidSyntax, match=why):
        decode_payloads(first, data)


def test_encrypted_payload_must_be_last() -> None:
    """§3.14: the SK payload, if present, MUST be the last payload."""
    data = _generic(35, 8) + b"ivct" + _generic(0, 6) + b"vv"
    with pytest.raises(InvalidSyntax, match="must be last"):
        decode_payloads(PayloadType.SK, data)


def test_encrypted_payload_ends_the_walk() -> None:
    """§3.14: the SK's Next Payload names its first inner payload."""
    [sk] = decode_payloads(PayloadType.SK, _generic(PayloadType.IDi, 8) + b"ivct")
    assert sk == SK(PayloadType.IDi, b"ivct")


def test_no_encrypted_payload_inside_an_encrypted_payload() -> None:
    with pytest.raises(InvalidSyntax, match="inside an encrypted"):
        decode_payloads(PayloadType.SK, _generic(0, 4), allow_encrypted=False)


def test_encoder_refuses_sk_before_other_payloads() -> None:
    with pytest.raises(ValueError):
        encode_payloads([SK(0, b""), Vendor(b"")])


def test_encoder_chains_next_payload_fields() -> None:
    """§3.2: each Next Payload names the following payload, 0 for the last,
    the SK's first inner payload for SK."""
    first, data = encode_payloads([Vendor(b"a"), SK(PayloadType.AUTH, b"xy")])
    assert first == PayloadType.VENDOR
    assert data == _generic(PayloadType.SK, 5) + b"a" + _generic(PayloadType.AUTH, 6) + b"xy"
