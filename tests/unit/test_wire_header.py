"""The fixed IKE header (RFC 7296 §3.1)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikev2d.wire.errors import InvalidMajorVersion, InvalidSyntax
from ikev2d.wire.header import HEADER_SIZE, Header

SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("a1a2a3a4a5a6a7a8")


def _raw(version: int = 0x20, flags: int = 0x08, length: int = HEADER_SIZE, extra: bytes = b"") -> bytes:
    return SPI_I + SPI_R + struct.pack("!BBBBII", 33, version, 35, flags, 7, length) + extra


def test_known_answer_layout() -> None:
    """§3.1: SPIi, SPIr, Next Payload, MjVer|MnVer, Exchange, Flags, Message ID, Length."""
    h = Header(SPI_I, SPI_R, 33, 35, 0x08, 7, HEADER_SIZE)
    assert h.pack() == _raw()
    assert Header.parse(_raw()) == h
    assert HEADER_SIZE == 28


@pytest.mark.parametrize(("flags", "response", "initiator"), [(0x08, False, True), (0x20, True, False), (0x28, True, True), (0x00, False, False)])
def test_flag_bits(flags: int, response: bool, initiator: bool) -> None:
    """§3.1: R is 0x20, I is 0x08."""
    h = Header.parse(_raw(flags=flags))
    assert (h.is_response, h.is_initiator) == (response, initiator)


def test_reserved_flags_and_minor_version_are_kept_not_judged() -> None:
    """§3.1: X bits and the Version bit MUST be ignored on receipt; a higher
    minor version is accepted."""
    h = Header.parse(_raw(version=0x27, flags=0x08 | 0x10 | 0x80 | 0x01))
    assert (h.major, h.minor, h.is_initiator, h.is_response) == (2, 7, True, False)


def test_shorter_than_header_is_invalid() -> None:
    with pytest.raises(InvalidSyntax, match="shorter than the IKE header"):
        Header.parse(_raw()[:27])


@pytest.mark.parametrize("length", [HEADER_SIZE - 1, HEADER_SIZE + 1, 0, 0xFFFFFFFF])
def test_length_field_must_match_the_datagram(length: int) -> None:
    """§3.1: Length is the total length of the message."""
    with pytest.raises(InvalidSyntax, match="Length"):
        Header.parse(_raw(length=length))


@pytest.mark.parametrize("version", [0x10, 0x30, 0xF0])
def test_other_major_versions(version: int) -> None:
    """§2.5: a major version other than 2 -> INVALID_MAJOR_VERSION; the
    error carries what the notify reply needs."""
    with pytest.raises(InvalidMajorVersion) as info:
        Header.parse(_raw(version=version, length=HEADER_SIZE + 5, extra=b"x"))
    err = info.value
    assert (err.major, err.spi_i, err.spi_r, err.exchange, err.message_id) == (version >> 4, SPI_I, SPI_R, 35, 7)


def test_pack_refuses_short_spis() -> None:
    with pytest.raises(ValueError):
        Header(SPI_I[:7], SPI_R, 0, 34, 0, 0, HEADER_SIZE).pack()


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8), st.integers(0, 255),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**32 - 1), st.integers(0, 15))
def test_round_trip(spi_i: bytes, spi_r: bytes, nxt: int, exchange: int, flags: int, mid: int, minor: int) -> None:
    h = Header(spi_i, spi_r, nxt, exchange, flags, mid, HEADER_SIZE, 2, minor)
    assert Header.parse(h.pack()) == h
