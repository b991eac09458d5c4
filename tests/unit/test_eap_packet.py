"""EAP packet format (RFC 3748 §4) and the IKEv2 rule that Length equals the
payload (RFC 7296 §3.16, enforced the same way by strongSwan's eap_payload.c)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.eap import EAP, EAP_MD5

from ikev2d.eap import EapPacket, EapSyntaxError
from ikev2d.iana import EapCode, EapType


@given(
    code=st.sampled_from([EapCode.REQUEST, EapCode.RESPONSE]),
    identifier=st.integers(0, 255),
    eap_type=st.integers(0, 255),
    data=st.binary(max_size=300),
)
def test_request_response_round_trip(code: int, identifier: int, eap_type: int, data: bytes) -> None:
    raw = EapPacket(code, identifier, eap_type, data).pack()
    # §4: Code, Identifier, Length (whole packet), then Type and Type-Data
    assert raw[:4] == struct.pack("!BBH", code, identifier, 5 + len(data))
    assert raw[4] == eap_type
    assert EapPacket.parse(raw) == EapPacket(code, identifier, eap_type, data)


@pytest.mark.parametrize("code", [EapCode.SUCCESS, EapCode.FAILURE])
def test_success_and_failure_are_four_octets(code: int) -> None:
    # §4.2: Success/Failure have no Type; Length is 4.
    raw = EapPacket(code, 7, None).pack()
    assert raw == bytes((code, 7, 0, 4))
    assert EapPacket.parse(raw) == EapPacket(code, 7, None, b"")


@pytest.mark.parametrize(
    "raw, why",
    [
        (b"", "too short"),
        (b"\x02\x01\x00", "too short"),
        (b"\x02\x01\x00\x09\x01abc", "Length larger than received"),
        (b"\x02\x01\x00\x05\x01abc", "Length smaller than received"),
        (b"\x02\x01\x00\x04", "Response without Type"),
        (b"\x03\x01\x00\x05\x01", "Success with data"),
        (b"\x05\x01\x00\x04", "unknown code"),
    ],
)
def test_malformed_packets_raise_eap_syntax_error(raw: bytes, why: str) -> None:
    with pytest.raises(EapSyntaxError):
        EapPacket.parse(raw)


def test_eap_syntax_error_is_a_value_error() -> None:
    assert issubclass(EapSyntaxError, ValueError)


@given(st.binary(max_size=80))
def test_parse_never_raises_anything_but_eap_syntax_error(raw: bytes) -> None:
    try:
        packet = EapPacket.parse(raw)
    except EapSyntaxError:
        return
    assert packet.pack() == raw


def test_constructor_rejects_impossible_packets() -> None:
    with pytest.raises(ValueError):
        EapPacket(EapCode.REQUEST, 1, None)
    with pytest.raises(ValueError):
        EapPacket(EapCode.SUCCESS, 1, EapType.IDENTITY)
    with pytest.raises(ValueError):
        EapPacket(EapCode.RESPONSE, 256, EapType.IDENTITY)
    with pytest.raises(ValueError):
        EapPacket(EapCode.RESPONSE, 1, EapType.GTC, bytes(0xFFFF))


def test_repr_hides_type_data() -> None:
    # A GTC Response carries the password in clear as Type-Data.
    packet = EapPacket(EapCode.RESPONSE, 1, EapType.GTC, b"hunter2")
    assert b"hunter2".decode() not in repr(packet)
    assert "7 octets" in repr(packet)


def test_independent_dissector_agrees() -> None:
    # scapy's EAP layer is written independently of ours.
    raw = EapPacket(EapCode.REQUEST, 0x42, EapType.MD5_CHALLENGE, bytes([16]) + bytes(range(16))).pack()
    parsed = EAP(raw)
    assert isinstance(parsed, EAP_MD5)
    assert (parsed.code, parsed.id, parsed.len, parsed.type) == (1, 0x42, 22, 4)
    assert parsed.value_size == 16 and bytes(parsed.value) == bytes(range(16))
