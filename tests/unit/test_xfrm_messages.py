"""XFRM messages byte for byte: a known ESP state and policy encoded by our
classes equal the same message packed by hand after the C structs of
include/uapi/linux/xfrm.h; kernel answers (GETSA, EXPIRE) decode into the
values they carry. No kernel needed."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from pyroute2.netlink import nlmsg

from esp.spec import ChildSaSpec, EspAlgorithms
from esp.kernel import default_lifetime
from esp.xfrm import consts as c
from esp.xfrm.algorithms import UnsupportedAlgorithm, kernel_algs
from esp.xfrm.events import parse_event
from esp.xfrm.messages import RESPONSE_CLASSES, xfrm_user_expire, xfrm_usersa_info
from esp.xfrm.model import Encap, ExpireEvent, Lifetime, MappingEvent, PolicyParams, SaParams, Selector, Template
from esp.xfrm.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, encode_request
from esp.xfrm.policy import newpolicy_message, parse_policy
from esp.xfrm.sa import newsa_message, parse_sa

ENC_KEY = bytes(range(32))
AUTH_KEY = bytes(range(100, 164))
INF = c.XFRM_INF


def addr(text: str) -> bytes:
    return socket.inet_aton(text) + bytes(12)


def nla(kind: int, payload: bytes) -> bytes:
    """struct nlattr + payload, padded to 4 (nla_len excludes the padding)."""
    return struct.pack("=HH", 4 + len(payload), kind) + payload + bytes(-len(payload) % 4)


def hand_packed_newsa() -> bytes:
    """NEWSA for 198.18.0.2 -> 198.18.0.1, SPI 0xc0ffee01, reqid 7, tunnel,
    AES-256-CBC + HMAC-SHA-512/256, ESP in UDP 4500->4501, soft/hard limits."""
    selector = bytes(56)  # tunnel mode: the state selects nothing (XFRM_STATE_AF_UNSPEC)
    xfrm_id = addr("198.18.0.1") + struct.pack(">I", 0xC0FFEE01) + struct.pack("=B3x", 50)
    lft = struct.pack("=8Q", 900, 1000, INF, INF, 90, 100, 0, 0)
    info = (selector + xfrm_id + addr("198.18.0.2") + lft + bytes(32) + bytes(12)
            + struct.pack("=IIHBBB7x", 0, 7, socket.AF_INET, 1, 32, 32))
    assert len(info) == 224
    crypt = nla(2, b"cbc(aes)".ljust(64, b"\0") + struct.pack("=I", 256) + ENC_KEY)
    auth = nla(20, b"hmac(sha512)".ljust(64, b"\0") + struct.pack("=II", 512, 256) + AUTH_KEY)
    encap = nla(4, struct.pack("=H", 2) + struct.pack(">HH", 4500, 4501) + bytes(2) + bytes(16))
    body = info + crypt + auth + encap
    flags = 0x01 | 0x04 | 0x400 | 0x200  # REQUEST ACK CREATE EXCL
    return struct.pack("=IHHII", 16 + len(body), 0x10, flags, 42, 0) + body


def known_sa() -> SaParams:
    return SaParams(
        src="198.18.0.2", dst="198.18.0.1", spi=0xC0FFEE01, reqid=7,
        algs=tuple(kernel_algs(12, 14, ENC_KEY, AUTH_KEY)), encap=Encap(4500, 4501),
        lifetime=Lifetime(soft_bytes=900, hard_bytes=1000, soft_add_seconds=90, hard_add_seconds=100),
    )


def test_newsa_is_byte_exact() -> None:
    ours = encode_request(newsa_message(known_sa()), c.XFRM_MSG_NEWSA, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 42)
    expected = hand_packed_newsa()
    assert len(ours) == len(expected) == 16 + 224 + 104 + 140 + 28
    assert ours == expected


def test_auth_truncation_is_sent_explicitly() -> None:
    """hmac(sha512) is 256 bits on the wire (RFC 4868), whatever the kernel's default."""
    crypt, auth = kernel_algs(12, 14, ENC_KEY, AUTH_KEY)
    assert (crypt.attr, crypt.name) == ("XFRMA_ALG_CRYPT", "cbc(aes)")
    assert (auth.attr, auth.name, auth.icv_bits) == ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha512)", 256)
    assert auth.nla()[1]["alg_trunc_len"] == 256


def test_gcm_is_one_aead_attribute_with_salt_in_the_key() -> None:
    key = bytes(36)  # AES-256 key + 4-byte salt (RFC 4106 §8.1)
    (aead,) = kernel_algs(20, 0, key, b"")
    attr, value = aead.nla()
    assert attr == "XFRMA_ALG_AEAD"
    assert value["alg_name"] == "rfc4106(gcm(aes))" and value["alg_key_len"] == 288 and value["alg_icv_len"] == 128
    msg = newsa_message(SaParams("198.18.0.2", "198.18.0.1", 0x100, 1, (aead,)))
    data = encode_request(msg, c.XFRM_MSG_NEWSA, 0, 1)
    attr_bytes = data[16 + 224:]
    assert struct.unpack_from("=HH", attr_bytes) == (4 + 64 + 8 + 36, 18)
    assert attr_bytes[4:4 + 64] == b"rfc4106(gcm(aes))".ljust(64, b"\0")
    assert struct.unpack_from("=II", attr_bytes, 68) == (288, 128)


# The kernel's names for every ESP transform the FTD's IPsec proposal offers
# (crypto/ names: cbc(des3_ede), cbc(des), ecb(cipher_null); RFC 4543's
# rfc4543(gcm(aes)) template), with the RFC truncation lengths.
@pytest.mark.parametrize(
    ("encr", "integ", "key_bytes", "expected"),
    [
        (3, 1, 24, [("XFRMA_ALG_CRYPT", "cbc(des3_ede)", 192, 0), ("XFRMA_ALG_AUTH_TRUNC", "hmac(md5)", 128, 96)]),
        (2, 2, 8, [("XFRMA_ALG_CRYPT", "cbc(des)", 64, 0), ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha1)", 160, 96)]),
        (11, 12, 0, [("XFRMA_ALG_CRYPT", "ecb(cipher_null)", 0, 0),
                     ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha256)", 256, 128)]),
        (12, 13, 32, [("XFRMA_ALG_CRYPT", "cbc(aes)", 256, 0), ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha384)", 384, 192)]),
        (21, 0, 36, [("XFRMA_ALG_AEAD", "rfc4543(gcm(aes))", 288, 128)]),
        (20, 0, 20, [("XFRMA_ALG_AEAD", "rfc4106(gcm(aes))", 160, 128)]),
    ],
)
def test_ftd_transforms_have_kernel_names(encr: int, integ: int, key_bytes: int,
                                          expected: list[tuple[str, str, int, int]]) -> None:
    integ_key = bytes({0: 0, 1: 16, 2: 20, 12: 32, 13: 48}[integ])
    algs = kernel_algs(encr, integ, bytes(key_bytes), integ_key)
    got = []
    for alg in algs:
        attr, value = alg.nla()
        trunc = value.get("alg_trunc_len", value.get("alg_icv_len", 0))
        key_bits = value["alg_key_len"] if attr != "XFRMA_ALG_AUTH_TRUNC" else len(alg.key) * 8
        got.append((attr, value["alg_name"], key_bits, trunc))
    assert got == expected


@pytest.mark.parametrize("encr, integ", [(12, 99), (99, 14), (23, 0)])
def test_unknown_transforms_are_refused(encr: int, integ: int) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        kernel_algs(encr, integ, bytes(32), bytes(32))


def test_keys_stay_out_of_reprs_and_decoded_messages() -> None:
    params = known_sa()
    assert ENC_KEY.hex() not in repr(params) and repr(ENC_KEY) not in repr(params)
    msg = xfrm_usersa_info(hand_packed_newsa()[:])
    msg.decode()
    crypt = msg.get_attr("XFRMA_ALG_CRYPT")
    assert crypt == {"alg_name": "cbc(aes)", "alg_key_len": 256}  # decoded without the key


def test_big_replay_window_goes_into_the_esn_attribute() -> None:
    """The legacy field holds 32 at most; 64 goes into XFRMA_REPLAY_ESN_VAL
    (2 bitmap words) and the legacy field must then be zero."""
    msg = newsa_message(SaParams("198.18.0.2", "198.18.0.1", 0x100, 1,
                                 tuple(kernel_algs(12, 14, ENC_KEY, AUTH_KEY)), replay_window=64))
    data = encode_request(msg, c.XFRM_MSG_NEWSA, 0, 1)
    assert data[16 + 215] == 0  # xfrm_usersa_info.replay_window
    assert data[16 + 216] == c.XFRM_STATE_AF_UNSPEC  # no ESN flag: only the bigger window
    esn = data[16 + 224 + 104 + 140:]
    assert struct.unpack_from("=HH", esn) == (4 + 24 + 8, 23)
    assert struct.unpack_from("=6I", esn, 4) == (2, 0, 0, 0, 0, 64)


def test_policy_with_tunnel_template_is_byte_exact() -> None:
    sel = Selector(ipaddress.ip_network("198.19.0.0/24"), ipaddress.ip_network("198.19.0.200/32"))
    msg = newpolicy_message(PolicyParams(sel, c.XFRM_POLICY_OUT,
                                         (Template("198.18.0.1", "198.18.0.2", reqid=7),), priority=0x100000))
    data = encode_request(msg, c.XFRM_MSG_NEWPOLICY, NLM_F_ACK, 3)
    selector = (addr("198.19.0.200") + addr("198.19.0.0") + struct.pack(">HHHH", 0, 0, 0, 0)
                + struct.pack("=HBBB3xiI", socket.AF_INET, 32, 24, 0, 0, 0))
    info = (selector + struct.pack("=8Q", INF, INF, INF, INF, 0, 0, 0, 0) + bytes(32)
            + struct.pack("=IIBBBB4x", 0x100000, 0, 1, 0, 0, 0))
    tmpl = (addr("198.18.0.2") + struct.pack(">I", 0) + struct.pack("=B3x", 50) + struct.pack("=H2x", socket.AF_INET)
            + addr("198.18.0.1") + struct.pack("=IBBBxIII", 7, 1, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
    body = info + nla(5, tmpl)
    assert data == struct.pack("=IHHII", 16 + len(body), 0x13, 0x05, 3, 0) + body
    # and it reads back as what was asked
    back = type(msg)(data)
    back.decode()
    state = parse_policy(back)
    assert state.selector == sel and state.direction == c.XFRM_POLICY_OUT and state.priority == 0x100000
    assert state.templates == (Template("198.18.0.1", "198.18.0.2", reqid=7),)


def _getsa_answer(packets: int, bytes_: int) -> bytes:
    """A kernel answer to GETSA: the state with its counters and replay state."""
    info = bytearray(hand_packed_newsa()[16:16 + 224])
    struct.pack_into("=4Q", info, 160, bytes_, packets, 1_700_000_000, 1_700_000_005)
    struct.pack_into("=III", info, 192, 32, 2, 1)  # replay window, replay drops, integrity failures
    replay = nla(10, struct.pack("=III", 17, 15, 0xFFFF))
    body = bytes(info) + replay
    return struct.pack("=IHHII", 16 + len(body), 0x10, 0, 9, 0) + body


def test_getsa_answer_decodes_counters() -> None:
    msg = xfrm_usersa_info(_getsa_answer(packets=15, bytes_=3000))
    msg.decode()
    state = parse_sa(msg)
    assert (state.src, state.dst, state.spi, state.reqid) == ("198.18.0.2", "198.18.0.1", 0xC0FFEE01, 7)
    cur = state.current
    assert (cur.packets, cur.bytes, cur.replay, cur.integrity_failed, cur.oseq, cur.seq) == (15, 3000, 2, 1, 17, 15)
    assert state.lifetime.soft_bytes == 900 and state.lifetime.hard_add_seconds == 100
    assert state.encap is None  # this answer carries no XFRMA_ENCAP


@pytest.mark.parametrize("hard, packets, bytes_, reason", [
    (False, 3, 100, "packets"),
    (False, 1, 950, "bytes"),
    (True, 1, 1000, "bytes"),
    (False, 1, 10, "time"),
])
def test_expire_event_says_which_limit(hard: bool, packets: int, bytes_: int, reason: str) -> None:
    state = bytearray(hand_packed_newsa()[16:16 + 224])
    struct.pack_into("=Q", state, 96 + 16, 3)  # soft packet limit 3
    struct.pack_into("=Q", state, 96 + 24, 5)  # hard packet limit 5
    struct.pack_into("=2Q", state, 160, bytes_, packets)
    body = bytes(state) + struct.pack("=B7x", int(hard))
    msg = xfrm_user_expire(struct.pack("=IHHII", 16 + len(body), 0x18, 0, 0, 0) + body)
    msg.decode()
    event = ExpireEvent(parse_sa(msg, prefix="state_"), hard=bool(msg["hard"]))
    assert event.hard is hard and event.state.spi == 0xC0FFEE01
    assert event.reason == reason


def hand_packed_mapping(old_port: int, new_port: int, new_addr: str = "198.18.0.2") -> bytes:
    """XFRM_MSG_MAPPING as xfrm_user.c's build_mapping() writes it: the
    inbound SA 0xc0ffee01 to 198.18.0.1 (reqid 7), its peer as installed
    (198.18.0.2:old_port) and where the ESP came from."""
    body = (addr("198.18.0.1") + struct.pack(">I", 0xC0FFEE01) + struct.pack("=HBx", socket.AF_INET, 50)
            + struct.pack("=I", 7) + addr("198.18.0.2") + addr(new_addr) + struct.pack(">HH", old_port, new_port))
    assert len(body) == 64  # sizeof(struct xfrm_user_mapping)
    return struct.pack("=IHHII", 16 + len(body), c.XFRM_MSG_MAPPING, 0, 0, 0) + body


def _decoded(data: bytes) -> nlmsg:
    (kind,) = struct.unpack_from("=H", data, 4)
    msg = RESPONSE_CLASSES[kind](data)
    msg.decode()
    return msg


def test_mapping_message_says_which_sa_and_both_sources() -> None:
    event = parse_event(_decoded(hand_packed_mapping(44500, 45500)))
    assert event == MappingEvent(dst="198.18.0.1", spi=0xC0FFEE01, reqid=7, old=("198.18.0.2", 44500),
                                 new=("198.18.0.2", 45500))


def test_mapping_message_with_a_new_address() -> None:
    event = parse_event(_decoded(hand_packed_mapping(4500, 4500, new_addr="198.19.7.9")))
    assert isinstance(event, MappingEvent)
    assert (event.old, event.new) == (("198.18.0.2", 4500), ("198.19.7.9", 4500))


def test_parse_event_takes_expire_and_mapping_only() -> None:
    state = hand_packed_newsa()[16:16 + 224]
    body = state + struct.pack("=B7x", 1)
    expire = _decoded(struct.pack("=IHHII", 16 + len(body), c.XFRM_MSG_EXPIRE, 0, 0, 0) + body)
    event = parse_event(expire)
    assert isinstance(event, ExpireEvent) and event.hard and event.state.spi == 0xC0FFEE01
    newsa = _decoded(hand_packed_newsa())  # what a dump answers: no event
    assert parse_event(newsa) is None


def _spec(seconds: int, kilobytes: int) -> ChildSaSpec:
    algs = EspAlgorithms(12, 256, 14, 32, 64, 16)
    return ChildSaSpec("x", 1, 2, algs, bytes(32), bytes(64), bytes(32), bytes(64), "198.18.0.1", "198.18.0.2",
                       None, None, (), (), seconds, kilobytes)


def test_default_lifetime_follows_the_negotiated_one() -> None:
    """FTD defaults 28800 s / 4608000 KB: hard as negotiated, soft at 90 %."""
    lft = default_lifetime(_spec(28800, 4608000))
    assert (lft.hard_add_seconds, lft.soft_add_seconds) == (28800, 25920)
    assert (lft.hard_bytes, lft.soft_bytes) == (4608000 * 1024, 4608000 * 1024 * 9 // 10)
    assert lft.hard_packets == lft.soft_packets == c.XFRM_INF
    unlimited = default_lifetime(_spec(0, 0))
    assert (unlimited.hard_add_seconds, unlimited.hard_bytes) == (0, c.XFRM_INF)
