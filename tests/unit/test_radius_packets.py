"""What ikev2d puts into RADIUS packets and reads out of them, checked
against the RFC algorithms written out here independently of pyrad:
User-Password hiding (RFC 2865 §5.2), Message-Authenticator (RFC 3579 §3.2),
Response and Accounting Authenticators (RFC 2865 §3, RFC 2866 §3), MS-MPPE
key encryption (RFC 2548 §2.4.2-2.4.3)."""

from __future__ import annotations

import hashlib
import hmac
import struct
from ipaddress import IPv4Address

import pytest
from pyrad import packet as rp

from ikev2d.aaa.radius.dictionary import radius_dictionary
from ikev2d.aaa.radius.messages import (
    AccessCode,
    AccessRequest,
    AccountingRecord,
    AcctStatus,
    NasContext,
    TerminateCause,
    TrafficCounters,
)
from ikev2d.aaa.radius.packets import (
    InvalidReply,
    fill_access_request,
    fill_accounting_request,
    read_access_reply,
    split_eap,
)

SECRET = b"Lab-Radius-Secret-7"
NAS = NasContext("198.18.0.1", "198.18.0.2")
REQUEST_AUTH = bytes(range(16))


def attributes(raw: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 20
    while pos < len(raw):
        code, length = raw[pos], raw[pos + 1]
        out.append((code, raw[pos + 2:pos + length]))
        pos += length
    return out


def values(raw: bytes, code: int) -> list[bytes]:
    return [v for c, v in attributes(raw) if c == code]


def encode_request(request: AccessRequest) -> bytes:
    pkt = rp.AuthPacket(code=rp.AccessRequest, id=7, secret=SECRET, dict=radius_dictionary(),
                        authenticator=REQUEST_AUTH, message_authenticator=True)
    fill_access_request(pkt, request)
    return pkt.RequestPacket()


def message_authenticator_ok(raw: bytes, authenticator: bytes) -> bool:
    """RFC 3579 §3.2: HMAC-MD5 over the packet with the MA zeroed and, in a
    reply, the Request Authenticator in the authenticator field."""
    pos, found = 20, None
    while pos < len(raw):
        if raw[pos] == 80:
            found = pos
        pos += raw[pos + 1]
    assert found is not None, "no Message-Authenticator"
    zeroed = raw[:4] + authenticator + raw[20:found + 2] + bytes(16) + raw[found + 18:]
    return hmac.compare_digest(hmac.new(SECRET, zeroed, hashlib.md5).digest(), raw[found + 2:found + 18])


@pytest.mark.parametrize(("size", "chunks"), [(1, [1]), (253, [253]), (254, [253, 1]), (600, [253, 253, 94])])
def test_eap_split_over_consecutive_attributes(size: int, chunks: list[int]) -> None:
    """RFC 3579 §3.1: at most 253 octets per EAP-Message, in order."""
    message = bytes(i % 251 for i in range(size))
    assert [len(c) for c in split_eap(message)] == chunks
    raw = encode_request(AccessRequest("ISE", "alice", NAS, eap_message=message))
    assert b"".join(values(raw, 79)) == message
    assert message_authenticator_ok(raw, REQUEST_AUTH)


def test_eap_request_carries_nas_attributes_state_and_no_password() -> None:
    raw = encode_request(AccessRequest("ISE", "alice", NAS, eap_message=b"\x02\x01\x00\x0a\x01alice",
                                       state=b"st-1"))
    assert values(raw, 1) == [b"alice"]
    assert values(raw, 24) == [b"st-1"]
    assert values(raw, 4) == [IPv4Address("198.18.0.1").packed]  # NAS-IP-Address
    assert values(raw, 31) == [b"198.18.0.2"]  # Calling-Station-Id: the client
    assert values(raw, 61) == [struct.pack("!I", 5)]  # NAS-Port-Type Virtual
    assert values(raw, 2) == []


def hide_password(password: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2, written out."""
    padded = password + bytes(-len(password) % 16)
    out, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(SECRET + previous).digest()
        block = bytes(a ^ b for a, b in zip(padded[i:i + 16], key))
        out += block
        previous = block
    return out


@pytest.mark.parametrize("password", ["Radius-Bob-Pw-2", "x" * 16, "pässwörd-with-ümlauts-and-more-than-32"])
def test_pap_user_password_hidden_per_rfc2865(password: str) -> None:
    raw = encode_request(AccessRequest("ISE", "bob", NAS, password=password))
    assert values(raw, 2) == [hide_password(password.encode(), REQUEST_AUTH)]
    assert password.encode() not in raw
    assert values(raw, 79) == []


def test_access_request_repr_hides_password_and_state() -> None:
    text = repr(AccessRequest("ISE", "bob", NAS, password="Radius-Bob-Pw-2", state=b"secret-state"))
    assert "Radius-Bob-Pw-2" not in text and "secret-state" not in text


def test_access_request_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError):
        AccessRequest("ISE", "bob", NAS)
    with pytest.raises(ValueError):
        AccessRequest("ISE", "bob", NAS, eap_message=b"x", password="y")


# -- replies -----------------------------------------------------------------------


def mppe_key(key_type: int, key: bytes, salt: bytes) -> bytes:
    """RFC 2548 §2.4.2/2.4.3: a Microsoft VSA with an encrypted key."""
    plain = bytes([len(key)]) + key
    plain += bytes(-len(plain) % 16)
    out, previous = b"", REQUEST_AUTH + salt
    for i in range(0, len(plain), 16):
        block = bytes(a ^ b for a, b in zip(plain[i:i + 16], hashlib.md5(SECRET + previous).digest()))
        out += block
        previous = block
    vsa = bytes([key_type, 2 + len(salt) + len(out)]) + salt + out
    return struct.pack("!I", 311) + vsa


def reply(code: int, attrs: list[tuple[int, bytes]], message_authenticator: bool) -> rp.Packet:
    """An answer to the request with REQUEST_AUTH, built by hand and decoded
    the way pyrad's client does (secret and request authenticator set)."""
    body = b"".join(bytes([c, 2 + len(v)]) + v for c, v in attrs)
    if message_authenticator:
        body += bytes([80, 18]) + bytes(16)
    length = 20 + len(body)
    raw = struct.pack("!BBH", code, 7, length) + REQUEST_AUTH + body
    if message_authenticator:
        mac = hmac.new(SECRET, raw, hashlib.md5).digest()
        raw = raw[:-16] + mac
    response_auth = hashlib.md5(raw[:4] + REQUEST_AUTH + raw[20:] + SECRET).digest()
    raw = raw[:4] + response_auth + raw[20:]
    request = rp.AuthPacket(code=rp.AccessRequest, id=7, secret=SECRET, dict=radius_dictionary(),
                            authenticator=REQUEST_AUTH)
    decoded = rp.Packet(packet=raw, dict=radius_dictionary())
    decoded.secret = SECRET
    decoded.request_authenticator = REQUEST_AUTH
    assert request.VerifyReply(decoded, raw), "the hand-built reply must verify as pyrad's client checks it"
    return decoded


EAP_SUCCESS = bytes([3, 9, 0, 4])


def test_accept_gives_msk_recv_key_then_send_key() -> None:
    """strongSwan's eap-radius builds the MSK as MS-MPPE-Recv-Key |
    MS-MPPE-Send-Key (radius_socket.c decrypt_msk); ours must match, or the
    AUTH payloads computed from it differ."""
    recv, send = bytes(range(100, 132)), bytes(range(200, 232))
    answer = read_access_reply(reply(rp.AccessAccept, [
        (26, mppe_key(16, send, b"\x80\x01")),
        (26, mppe_key(17, recv, b"\x80\x02")),
        (79, EAP_SUCCESS),
        (25, b"class-1"),
    ], message_authenticator=True), server=1, host="127.0.0.1")
    assert answer.code is AccessCode.ACCEPT
    assert answer.msk == recv + send
    assert answer.eap_message == EAP_SUCCESS
    assert answer.classes == (b"class-1",)
    assert (answer.server, answer.server_host) == (1, "127.0.0.1")
    assert recv.hex() not in repr(answer)


def test_accept_without_both_keys_has_no_msk() -> None:
    answer = read_access_reply(reply(rp.AccessAccept, [(26, mppe_key(17, bytes(32), b"\x80\x02"))],
                                     message_authenticator=True), 0, "h")
    assert answer.msk is None


def test_challenge_joins_eap_message_attributes_and_keeps_state() -> None:
    request = bytes([1, 10]) + (300).to_bytes(2, "big") + bytes([26]) + bytes(295)
    answer = read_access_reply(reply(rp.AccessChallenge, [(79, request[:253]), (79, request[253:]),
                                                          (24, b"state-9"), (18, b"Enter it")],
                                     message_authenticator=True), 0, "h")
    assert answer.code is AccessCode.CHALLENGE
    assert answer.eap_message == request
    assert answer.state == b"state-9"
    assert answer.reply_message == "Enter it"
    assert answer.msk is None


def test_eap_message_without_message_authenticator_is_discarded() -> None:
    """RFC 3579 §3.2."""
    with pytest.raises(InvalidReply):
        read_access_reply(reply(rp.AccessChallenge, [(79, EAP_SUCCESS)], message_authenticator=False), 0, "h")


def test_pap_accept_without_message_authenticator_is_fine() -> None:
    """FreeRADIUS 3.2 answers PAP without one; RFC 2865 does not ask for it."""
    answer = read_access_reply(reply(rp.AccessAccept, [], message_authenticator=False), 0, "h")
    assert answer.code is AccessCode.ACCEPT and answer.eap_message is None


def test_reject_ignores_keys() -> None:
    answer = read_access_reply(reply(rp.AccessReject, [(26, mppe_key(16, bytes(32), b"\x80\x01")),
                                                       (26, mppe_key(17, bytes(32), b"\x80\x02"))],
                                     message_authenticator=True), 0, "h")
    assert answer.code is AccessCode.REJECT and answer.msk is None


# -- accounting ------------------------------------------------------------------------


def test_accounting_stop_counters_with_gigawords_and_authenticator() -> None:
    """RFC 2866 §5 attributes, RFC 2869 §5.1-5.2 Gigawords, and the Request
    Authenticator of RFC 2866 §3 (MD5 over the packet with 16 zero octets)."""
    record = AccountingRecord(group="ISE", status=AcctStatus.STOP, session_id="00006000", username="alice",
                              nas=NAS, framed_ip=IPv4Address("198.19.0.200"), session_time=309,
                              terminate_cause=TerminateCause.USER_REQUEST, child_spis=(1,), classes=(b"c1",))
    pkt = rp.AcctPacket(code=rp.AccountingRequest, id=3, secret=SECRET, dict=radius_dictionary())
    counters = TrafficCounters(octets_in=5 * 2**32 + 7, octets_out=1234, packets_in=10, packets_out=11)
    fill_accounting_request(pkt, record, counters, timestamp=1_700_000_000)
    raw = pkt.RequestPacket()
    assert raw[4:20] == hashlib.md5(raw[:4] + bytes(16) + raw[20:] + SECRET).digest()

    def number(code: int) -> int:
        (value,) = values(raw, code)
        return int.from_bytes(value, "big")

    assert number(40) == 2  # Stop
    assert values(raw, 44) == [b"00006000"]
    assert values(raw, 8) == [IPv4Address("198.19.0.200").packed]
    assert number(46) == 309
    assert number(49) == 1  # User-Request
    assert (number(42), number(52)) == (7, 5)
    assert (number(43), number(53)) == (1234, 0)
    assert (number(47), number(48)) == (10, 11)
    assert number(45) == 1  # Acct-Authentic RADIUS
    assert values(raw, 25) == [b"c1"]


def test_accounting_start_has_no_stop_attributes() -> None:
    record = AccountingRecord(group="ISE", status=AcctStatus.START, session_id="00006001", username="bob",
                              nas=NAS, authenticated_by_radius=False)
    pkt = rp.AcctPacket(code=rp.AccountingRequest, id=4, secret=SECRET, dict=radius_dictionary())
    fill_accounting_request(pkt, record, None, timestamp=1_700_000_000)
    raw = pkt.RequestPacket()
    codes = {c for c, _ in attributes(raw)}
    assert codes.isdisjoint({42, 43, 46, 47, 48, 49})
    assert values(raw, 40) == [struct.pack("!I", 1)]
    assert values(raw, 45) == [struct.pack("!I", 2)]  # authenticated locally
    assert values(raw, 8) == []  # no address, no Framed-IP-Address


def test_retired_traffic_is_kept_from_start_to_stop_only() -> None:
    """The pairs a session no longer has (rekeyed away) still count at its
    Stop; a session without a Start keeps nothing (no leak)."""
    from types import SimpleNamespace

    from ikev2d.aaa.radius.accounting import RetiredTraffic
    from ikev2d.aaa.radius.messages import TrafficCounters

    def pair(n: int) -> SimpleNamespace:
        return SimpleNamespace(bytes_in=100 * n, bytes_out=200 * n, packets_in=n, packets_out=2 * n)

    retired = RetiredTraffic()
    retired.retire("00006000", pair(1))  # no Start: not kept
    retired.start("00006000")
    retired.retire("00006000", pair(1))
    retired.retire("00006000", pair(2))
    retired.retire("00006000", None)  # a data plane that had no counters
    retired.retire("00006001", pair(5))  # another session, never started
    assert retired.stop("00006000") == TrafficCounters(octets_in=300, octets_out=600, packets_in=3, packets_out=6)
    assert retired.stop("00006000") is None and retired.stop("00006001") is None


def test_an_ipv6_ike_address_goes_in_nas_ipv6_address() -> None:
    """RFC 3162 §2.1: a client that reached our IPv6 address; the text
    attributes carry the IPv6 addresses as they are."""
    nas6 = NasContext("2001:2::1", "2001:2:0:1::2")
    raw = encode_request(AccessRequest("ISE", "alice", nas6, password="x"))
    assert values(raw, 95) == [bytes.fromhex("20010002" + "00" * 11 + "01")]
    assert values(raw, 4) == []  # no NAS-IP-Address: we have no IPv4 address in this exchange
    assert values(raw, 30) == [b"2001:2::1"] and values(raw, 31) == [b"2001:2:0:1::2"]
    assert values(encode_request(AccessRequest("ISE", "alice", NAS, password="x")), 4) == [bytes([198, 18, 0, 1])]
