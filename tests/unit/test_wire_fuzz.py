"""The decoder's one promise: for any input, only WireError subclasses
escape (RFC 7296 §2.21: a malformed message becomes INVALID_SYNTAX or a
silent drop, never a crash)."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikev2d.wire.errors import WireError
from ikev2d.wire.header import HEADER_SIZE
from ikev2d.wire.message import Message, decode_message, decode_payloads, encode_message

from test_wire_strategies import payload_chains

FUZZ = settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])


def _decodes_or_wire_error(data: bytes) -> None:
    try:
        decode_message(data)
    except WireError:
        pass


def _with_length(data: bytes) -> bytes:
    """Fix the header Length so the mutation reaches the payload parsers."""
    if len(data) < HEADER_SIZE:
        return data
    return data[:24] + struct.pack("!I", len(data)) + data[28:]


@FUZZ
@given(st.binary(max_size=200))
def test_random_datagrams(data: bytes) -> None:
    _decodes_or_wire_error(data)


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=300))
def test_random_payload_chains(first: int, data: bytes) -> None:
    try:
        decode_payloads(first, data)
    except WireError:
        pass


@st.composite
def valid_messages(draw: st.DrawFn) -> bytes:
    msg = Message(draw(st.binary(min_size=8, max_size=8)), bytes(8), 34, 0, False, True, draw(payload_chains()))
    return encode_message(msg)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid message with octets flipped, cut, inserted or a length field
    rewritten; the header Length usually fixed up to get past it."""
    data = bytearray(draw(valid_messages()))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "set16"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "set16" and at + 2 <= len(data):
            # payload and substructure length fields are 16-bit
            data[at:at + 2] = struct.pack("!H", draw(st.sampled_from([0, 1, 3, 4, 7, 8, 0xFFFF]) | st.integers(0, 0xFFFF)))
    out = bytes(data)
    return _with_length(out) if draw(st.booleans()) or len(out) < HEADER_SIZE else out


@FUZZ
@given(mutations())
def test_mutated_valid_messages(data: bytes) -> None:
    _decodes_or_wire_error(data)
