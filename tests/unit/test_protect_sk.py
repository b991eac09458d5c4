"""SK protection: RFC 7296 §3.14 (encrypt, then integrity over the whole
message; padding) and RFC 5282 §5 (AEAD, with the IKE header and the SK
payload header as associated data). Checked both through our own
unprotect and against an independent AES/HMAC built here from
`cryptography` primitives directly."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikev2d.crypto.errors import IntegrityError
from ikev2d.crypto.transforms import get_encr, get_integ
from ikev2d.iana import EncrId, IntegId, PayloadType
from ikev2d.protect import SkKeys, protect_message, unprotect_message
from ikev2d.wire.errors import InvalidSyntax, UnsupportedCriticalPayload, WireError
from ikev2d.wire.message import Message, encode_message, encode_payloads
from ikev2d.wire.payloads import AUTH, SK, CP, ConfigAttribute, IDi, Notify, Vendor

from test_wire_strategies import plain_payloads

SPI_I = bytes.fromhex("0011223344556677")
SPI_R = bytes.fromhex("8899aabbccddeeff")
CBC = "AES-CBC-256 + HMAC-SHA2-512-256"
GCM = "AES-GCM-16-256"
SUITES = [CBC, GCM]


def key_pair(suite: str, seed: int = 1) -> tuple[SkKeys, SkKeys]:
    """(initiator's keys, responder's keys): each one's _out is the other's _in."""
    rnd = random.Random(seed)
    if suite == CBC:
        encr, integ = get_encr(EncrId.AES_CBC, 256), get_integ(IntegId.HMAC_SHA2_512_256)
    else:
        encr, integ = get_encr(EncrId.AES_GCM_16, 256), None
    a_size = integ.key_size if integ else 0
    ei, er = rnd.randbytes(encr.key_size), rnd.randbytes(encr.key_size)
    ai, ar = rnd.randbytes(a_size), rnd.randbytes(a_size)
    return SkKeys(encr, integ, er, ar, ei, ai), SkKeys(encr, integ, ei, ai, er, ar)


PAYLOADS = [IDi(2, b"client.example"), AUTH(2, b"\xaa" * 32), CP(1, [ConfigAttribute(1)]), Notify(16384)]


def _request(payloads: list, keys: SkKeys, **kw) -> bytes:
    return protect_message(SPI_I, SPI_R, 35, 1, payloads, keys, is_response=False, is_initiator=True, **kw)


@pytest.mark.parametrize("suite", SUITES)
def test_round_trip(suite: str) -> None:
    """§3.14: what one side protects, the other opens to the same message."""
    initiator, responder = key_pair(suite)
    msg = unprotect_message(_request(PAYLOADS, initiator), responder)
    assert msg == Message(SPI_I, SPI_R, 35, 1, False, True, PAYLOADS)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUITES), st.lists(plain_payloads, max_size=5), st.booleans(), st.integers(0, 2**32 - 1))
def test_round_trip_any_payloads(suite: str, payloads: list, response: bool, mid: int) -> None:
    initiator, responder = key_pair(suite)
    sender, receiver = (responder, initiator) if response else (initiator, responder)
    raw = protect_message(SPI_I, SPI_R, 37, mid, payloads, sender, is_response=response, is_initiator=not response)
    assert unprotect_message(raw, receiver) == Message(SPI_I, SPI_R, 37, mid, response, not response, payloads)


def test_cbc_layout_against_independent_aes_and_hmac() -> None:
    """§3.14: IV | AES-CBC(payloads | padding | Pad Length) | ICV, the ICV
    an HMAC-SHA-512 truncated to 256 bits over everything before it
    (RFC 4868 §2.1); the padding is the minimum that aligns."""
    initiator, _ = key_pair(CBC)
    iv = bytes(range(16))
    raw = _request(PAYLOADS, initiator, random=lambda n: iv[:n])
    first, plaintext = encode_payloads(PAYLOADS)
    assert raw[16] == PayloadType.SK and raw[28] == first
    icv = hmac.new(initiator.sk_a_out, raw[:-32], hashlib.sha512).digest()[:32]
    assert raw[-32:] == icv
    assert raw[32:48] == iv
    dec = Cipher(algorithms.AES(initiator.sk_e_out), modes.CBC(iv)).decryptor()
    padded = dec.update(raw[48:-32]) + dec.finalize()
    pad = padded[-1]
    assert padded[: len(padded) - pad - 1] == plaintext
    assert len(padded) % 16 == 0 and pad < 16
    assert struct.unpack("!I", raw[24:28])[0] == len(raw)
    assert struct.unpack("!H", raw[30:32])[0] == len(raw) - 28


def test_gcm_layout_against_independent_aead() -> None:
    """RFC 5282 §3, §5.1: 8-octet explicit IV, nonce = 4-octet salt (the
    key's tail) | IV, AAD = IKE header through the SK payload header."""
    initiator, _ = key_pair(GCM)
    iv = bytes(range(8))
    raw = _request(PAYLOADS, initiator, random=lambda n: iv[:n])
    key, salt = initiator.sk_e_out[:-4], initiator.sk_e_out[-4:]
    padded = AESGCM(key).decrypt(salt + iv, raw[40:], raw[:32])
    assert raw[32:40] == iv
    assert padded[:-1] == encode_payloads(PAYLOADS)[1] and padded[-1] == 0  # GCM needs no padding


def _independent_cbc(keys: SkKeys, leading: bytes, first: int, inner_first: int, padded: bytes) -> bytes:
    """An SK message built without ikev2d.protect, as a peer would, with
    `leading` unencrypted payload octets chained before the SK payload."""
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(keys.sk_e_out), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    sk_len = 4 + 16 + len(ct) + 32
    total = 28 + len(leading) + sk_len
    head = SPI_I + SPI_R + struct.pack("!BBBBII", first, 0x20, 35, 0x08, 1, total)
    signed = head + leading + struct.pack("!BBH", inner_first, 0, sk_len) + iv + ct
    return signed + hmac.new(keys.sk_a_out, signed, hashlib.sha512).digest()[:32]


def test_receiver_accepts_any_pad_content_and_length() -> None:
    """§3.14: receivers MUST accept any padding that aligns, whatever its octets."""
    initiator, responder = key_pair(CBC)
    first, plaintext = encode_payloads(PAYLOADS)
    extra = 16 * 2 - (len(plaintext) + 1) % 16
    padded = plaintext + os.urandom(extra) + bytes((extra,))
    msg = unprotect_message(_independent_cbc(initiator, b"", PayloadType.SK, first, padded), responder)
    assert msg.payloads == PAYLOADS


def test_leading_unencrypted_payloads_are_returned_first() -> None:
    """§3.14: SK must be last, not only; payloads before it are integrity
    protected and come back ahead of the decrypted ones."""
    initiator, responder = key_pair(CBC)
    first, plaintext = encode_payloads([Notify(16384)])
    vendor = struct.pack("!BBH", PayloadType.SK, 0, 6) + b"vv"
    pad = 15 - len(plaintext) % 16
    raw = _independent_cbc(initiator, vendor, PayloadType.VENDOR, first, plaintext + bytes(pad) + bytes((pad,)))
    assert unprotect_message(raw, responder).payloads == [Vendor(b"vv"), Notify(16384)]


def test_authentic_but_impossible_pad_length_is_invalid_syntax() -> None:
    initiator, responder = key_pair(CBC)
    with pytest.raises(InvalidSyntax, match="Pad Length"):
        unprotect_message(_independent_cbc(initiator, b"", PayloadType.SK, 41, bytes(15) + b"\x10"), responder)


def test_inner_sk_payload_is_invalid_syntax() -> None:
    initiator, responder = key_pair(GCM)
    with pytest.raises(InvalidSyntax, match="inside an encrypted"):
        unprotect_message(_request([SK(0, b"")], initiator), responder)


def test_inner_unknown_critical_payload() -> None:
    """§2.5 applies inside SK too."""
    initiator, responder = key_pair(CBC)
    inner = struct.pack("!BBH", 0, 0x80, 4)
    pad = 15 - len(inner) % 16
    raw = _independent_cbc(initiator, b"", PayloadType.SK, 200, inner + bytes(pad) + bytes((pad,)))
    with pytest.raises(UnsupportedCriticalPayload):
        unprotect_message(raw, responder)


@pytest.mark.parametrize("suite", SUITES)
@settings(max_examples=50)
@given(data=st.data())
def test_any_tampered_octet_fails_integrity(suite: str, data: st.DataObject) -> None:
    """§3.14 and RFC 5282 §5: the ICV/tag covers every octet of the message,
    so any change is an IntegrityError (a silent drop), never a parse."""
    initiator, responder = key_pair(suite)
    raw = bytearray(_request(PAYLOADS, initiator))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IntegrityError):
        unprotect_message(bytes(raw), responder)


@pytest.mark.parametrize("suite", SUITES)
def test_our_own_direction_does_not_open(suite: str) -> None:
    """§2.14: each direction has its own keys; a reflected message fails."""
    initiator, _ = key_pair(suite)
    with pytest.raises(IntegrityError):
        unprotect_message(_request(PAYLOADS, initiator), initiator)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("cut", [1, 16, 40])
def test_truncated_message_fails_integrity(suite: str, cut: int) -> None:
    """Shortened, with the header and SK lengths made consistent again."""
    initiator, responder = key_pair(suite)
    short = _request(PAYLOADS, initiator)[:-cut]
    short = short[:24] + struct.pack("!I", len(short)) + short[28:30] + struct.pack("!H", len(short) - 28) + short[32:]
    with pytest.raises(IntegrityError):
        unprotect_message(short, responder)


def test_message_without_encrypted_payload_fails_integrity() -> None:
    _, responder = key_pair(CBC)
    with pytest.raises(IntegrityError):
        unprotect_message(encode_message(Message(SPI_I, SPI_R, 35, 1, False, True, [Notify(16384)])), responder)


def test_keys_refuse_integrity_with_aead() -> None:
    """RFC 5282 §8: AEAD proposals carry no integrity transform."""
    with pytest.raises(ValueError):
        SkKeys(get_encr(EncrId.AES_GCM_16, 256), get_integ(IntegId.HMAC_SHA2_256_128), b"", b"", b"", b"")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUITES), st.data())
def test_mutations_raise_only_integrity_or_wire_errors(suite: str, data: st.DataObject) -> None:
    """Whatever arrives, the caller sees IntegrityError (drop) or a WireError."""
    initiator, responder = key_pair(suite)
    raw = bytearray(_request(PAYLOADS, initiator))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        if data.draw(st.booleans()):
            del raw[at:at + data.draw(st.integers(1, 20))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=20))
    if data.draw(st.booleans()) and len(raw) >= 28:
        raw[24:28] = struct.pack("!I", len(raw))
    try:
        unprotect_message(bytes(raw), responder)
    except (IntegrityError, WireError):
        pass
