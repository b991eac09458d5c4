"""EAP-MSCHAPv2 end to end: a peer written here from RFC 2759 / RFC 3079 and
from what strongSwan 5.9.8's eap_mschapv2.c peer does on the wire, exchanging
bytes with EapServer. Its crypto is re-derived from the RFC text on purpose
(bit-string DES key expansion, hashlib), not imported from ikev2d."""

from __future__ import annotations

import hashlib
import random
import re
import struct
from collections.abc import Callable

import pytest
from Crypto.Cipher import DES
from Crypto.Hash import MD4

from ikev2d.aaa import LocalUserDatabase
from ikev2d.eap import EapOutcome, EapServer
from ikev2d.iana import EapType

MSCHAPV2 = EapType.MSCHAPV2
USERS = LocalUserDatabase({"alice": "s3cret", "User": "clientPass", "CORP\\carol": "pässwörd"})
FAILURE_TEXT = re.compile(rb"^E=691 R=0 C=[0-9A-F]{32} V=3 M=.+$")

# --- the peer's crypto, from the RFC text ------------------------------------


def nt_hash(password: str) -> bytes:
    return MD4.new(password.encode("utf-16-le")).digest()  # RFC 2759 §8.3


def odd_parity_key(seven: bytes) -> bytes:
    # RFC 2759 §8.6 / §9.3: 7 key bits per octet, lowest bit is parity.
    bits = "".join(f"{octet:08b}" for octet in seven)
    out = bytearray()
    for i in range(0, 56, 7):
        value = int(bits[i : i + 7], 2) << 1
        out.append(value | (0 if bin(value).count("1") % 2 else 1))
    return bytes(out)


def nt_response(auth_challenge: bytes, peer_challenge: bytes, name: bytes, password: str) -> bytes:
    user = name.split(b"\\", 1)[-1]  # §8.2: hash the name without its domain
    challenge = hashlib.sha1(peer_challenge + auth_challenge + user).digest()[:8]
    z = nt_hash(password) + bytes(5)
    return b"".join(DES.new(odd_parity_key(z[i : i + 7]), DES.MODE_ECB).encrypt(challenge) for i in (0, 7, 14))


def authenticator_response(password: str, nt: bytes, peer_challenge: bytes, auth_challenge: bytes, name: bytes) -> bytes:
    user = name.split(b"\\", 1)[-1]
    hash_hash = MD4.new(nt_hash(password)).digest()
    digest = hashlib.sha1(hash_hash + nt + b"Magic server to client signing constant").digest()
    challenge = hashlib.sha1(peer_challenge + auth_challenge + user).digest()[:8]
    return hashlib.sha1(digest + challenge + b"Pad to make it do more than one iteration").digest()


def client_msk(password: str, nt: bytes) -> bytes:
    # RFC 3079 §3.4 from the client's side, laid out as strongSwan's
    # GenerateMSK: client send key (Magic2) | client receive key (Magic3) | 0*32.
    master = hashlib.sha1(MD4.new(nt_hash(password)).digest() + nt + b"This is the MPPE Master Key").digest()[:16]
    send_magic = b"On the client side, this is the send key; on the server side, it is the receive key."
    recv_magic = b"On the client side, this is the receive key; on the server side, it is the send key."

    def start_key(magic: bytes) -> bytes:
        return hashlib.sha1(master + bytes(40) + magic + b"\xf2" * 40).digest()[:16]

    return start_key(send_magic) + start_key(recv_magic) + bytes(32)


# --- the peer's wire behaviour -------------------------------------------------


def eap_response(identifier: int, eap_type: int, data: bytes) -> bytes:
    return struct.pack("!BBHB", 2, identifier, 5 + len(data), eap_type) + data


class MsChapV2Peer:
    def __init__(
        self,
        name: str,
        password: str,
        peer_challenge: bytes | None = None,
        *,
        answer_failure: bool = True,
        trust_server: bool = True,
    ) -> None:
        self.name = name.encode()
        self.password = password
        self.peer_challenge = peer_challenge or random.Random(name).randbytes(16)
        self.answer_failure = answer_failure  # strongSwan does not (it aborts)
        self.trust_server = trust_server
        self.verified_server = False
        self.failure_message = b""
        self.msk: bytes | None = None
        self.requests: list[bytes] = []

    def answer(self, request: bytes) -> bytes | None:
        self.requests.append(request)
        code, identifier, length, eap_type = struct.unpack_from("!BBHB", request)
        assert code == 1 and length == len(request)
        if eap_type == EapType.IDENTITY:
            return eap_response(identifier, EapType.IDENTITY, self.name)
        assert eap_type == MSCHAPV2
        opcode, ms_id, ms_length = struct.unpack_from("!BBH", request, 5)
        assert ms_length == length - 5  # draft-kamath §2: MS-Length = Length - 5
        if opcode == 1:
            return self._on_challenge(identifier, ms_id, request)
        if opcode == 3:
            return self._on_success(identifier, request[9:])
        assert opcode == 4
        self.failure_message = request[9:]
        return eap_response(identifier, MSCHAPV2, b"\x04") if self.answer_failure else None

    def _on_challenge(self, identifier: int, ms_id: int, request: bytes) -> bytes:
        # strongSwan's peer: Value-Size must be 16 and the Name at least 1 octet.
        assert request[9] == 16 and len(request) >= 9 + 1 + 16 + 1
        self.auth_challenge = request[10:26]
        self.nt = nt_response(self.auth_challenge, self.peer_challenge, self.name, self.password)
        value = self.peer_challenge + bytes(8) + self.nt + b"\x00"
        body = bytes([49]) + value + self.name
        return eap_response(identifier, MSCHAPV2, struct.pack("!BBH", 2, ms_id, 4 + len(body)) + body)

    def _on_success(self, identifier: int, message: bytes) -> bytes:
        # strongSwan: space-separated tokens, "S=" followed by exactly 40 hex digits.
        tokens = dict(t.split(b"=", 1) for t in message.split(b" ") if b"=" in t)
        assert len(tokens[b"S"]) == 40
        expected = authenticator_response(self.password, self.nt, self.peer_challenge, self.auth_challenge, self.name)
        self.verified_server = bytes.fromhex(tokens[b"S"].decode()) == expected
        if not (self.verified_server and self.trust_server):
            return eap_response(identifier, MSCHAPV2, b"\x04")
        self.msk = client_msk(self.password, self.nt)
        return eap_response(identifier, MSCHAPV2, b"\x03")  # Success Response: OpCode only


def must(reply: bytes | None) -> bytes:
    assert reply is not None, "the peer gave up"
    return reply


def run(server: EapServer, peer: MsChapV2Peer) -> EapOutcome:
    outcome = server.start()
    while not outcome.finished:
        reply = peer.answer(outcome.message)
        if reply is None:
            return outcome
        outcome = server.process(reply)
    peer.requests.append(outcome.message)
    return outcome


def scripted(*chunks: bytes) -> Callable[[int], bytes]:
    """os.urandom stand-in: hands out `chunks` when their size is asked for."""
    queue = list(chunks)
    fallback = random.Random(0)

    def draw(n: int) -> bytes:
        if queue and len(queue[0]) == n:
            return queue.pop(0)
        return fallback.randbytes(n)

    return draw


# --- tests ------------------------------------------------------------------------


def test_right_password_succeeds_and_both_sides_hold_the_same_msk() -> None:
    peer = MsChapV2Peer("alice", "s3cret")
    outcome = run(EapServer([MSCHAPV2], USERS), peer)
    assert outcome.finished and outcome.success and outcome.message[0] == 3
    assert peer.verified_server  # mutual: the client checked "S=" (RFC 2759 §5)
    assert outcome.identity == "alice" and outcome.method == MSCHAPV2
    assert outcome.msk is not None and len(outcome.msk) == 64
    assert outcome.msk == peer.msk


def test_rfc2759_9_2_values_end_to_end() -> None:
    # The server's challenge and the peer's are the RFC example's, so the
    # Success Request must carry its AuthenticatorResponse, and the MSK the
    # RFC 3079 §3.5.3 SendStartKey128 as the server's send key.
    auth_challenge = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
    peer = MsChapV2Peer("User", "clientPass", bytes.fromhex("21402324255E262A28295F2B3A337C7E"))
    outcome = run(EapServer([MSCHAPV2], USERS, random=scripted(b"\x10", auth_challenge)), peer)
    assert outcome.success
    assert peer.nt == bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
    success_request = peer.requests[2]
    assert success_request[9:].startswith(b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=")
    assert outcome.msk is not None
    assert outcome.msk[16:32] == bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")


def test_message_flow_and_identifiers() -> None:
    peer = MsChapV2Peer("alice", "s3cret")
    run(EapServer([MSCHAPV2], USERS, random=scripted(b"\xfe")), peer)
    identity, challenge, success, eap_success = peer.requests
    assert (identity[0], identity[4]) == (1, EapType.IDENTITY)
    assert (challenge[0], challenge[4], challenge[5]) == (1, MSCHAPV2, 1)
    assert (success[0], success[4], success[5]) == (1, MSCHAPV2, 3)
    # RFC 3748 §4.1: a new Identifier per Request (254, 255, then wrap to 0);
    # §4.2: Success echoes the last Response's Identifier.
    assert [identity[1], challenge[1], success[1], eap_success[1]] == [0xFE, 0xFF, 0x00, 0x00]
    # draft-kamath §2: MS-CHAPv2-ID is kept for the whole exchange.
    assert challenge[6] == success[6] == 0xFF


def test_challenge_request_layout() -> None:
    server = EapServer([MSCHAPV2], USERS)
    start = server.start().message
    request = server.process(eap_response(start[1], EapType.IDENTITY, b"alice")).message
    length = struct.unpack_from("!H", request, 2)[0]
    assert length == len(request)
    assert struct.unpack_from("!H", request, 7)[0] == length - 5  # MS-Length
    assert request[9] == 16  # Value-Size
    assert len(request[26:]) >= 1  # Name: strongSwan rejects an empty one


def test_domain_user_hashes_only_the_user_part() -> None:
    peer = MsChapV2Peer("CORP\\carol", "pässwörd")
    outcome = run(EapServer([MSCHAPV2], USERS), peer)
    assert outcome.success and outcome.identity == "CORP\\carol"
    assert outcome.msk == peer.msk


def test_wrong_password_gets_failure_request_then_eap_failure() -> None:
    peer = MsChapV2Peer("alice", "guess")
    server = EapServer([MSCHAPV2], USERS)
    outcome = server.start()
    outcome = server.process(must(peer.answer(outcome.message)))  # identity -> challenge
    outcome = server.process(must(peer.answer(outcome.message)))  # response -> Failure Request
    assert not outcome.finished and outcome.message[0] == 1 and outcome.message[5] == 4
    # RFC 2759 §6 with R=0: not retryable, a fresh 16-octet challenge in C=.
    assert FAILURE_TEXT.match(outcome.message[9:])
    assert outcome.failure_reason == "wrong password"  # known before the peer answers
    final = server.process(must(peer.answer(outcome.message)))  # Response/Failure
    assert final.finished and not final.success and final.msk is None
    assert final.message == bytes((4, outcome.message[1], 0, 4))
    assert final.failure_reason == "wrong password"


def test_unknown_user_looks_like_a_wrong_password_on_the_wire() -> None:
    wrong, unknown = MsChapV2Peer("alice", "guess"), MsChapV2Peer("mallory", "s3cret")
    wrong_outcome = run(EapServer([MSCHAPV2], USERS), wrong)
    unknown_outcome = run(EapServer([MSCHAPV2], USERS), unknown)
    assert unknown_outcome.failure_reason == "unknown user"
    assert wrong_outcome.failure_reason == "wrong password"
    assert FAILURE_TEXT.match(unknown.failure_message)
    assert len(unknown.failure_message) == len(wrong.failure_message)
    assert [len(r) for r in unknown.requests[2:]] == [len(r) for r in wrong.requests[2:]]


def test_strongswan_style_peer_aborts_after_failure_request() -> None:
    # strongSwan's peer returns FAILED on a Failure Request without replying
    # (process_peer_failure), so the reason must already be in that outcome.
    peer = MsChapV2Peer("alice", "guess", answer_failure=False)
    outcome = run(EapServer([MSCHAPV2], USERS), peer)
    assert not outcome.finished and outcome.failure_reason == "wrong password"


def test_peer_that_rejects_our_authenticator_response_fails() -> None:
    outcome = run(EapServer([MSCHAPV2], USERS), MsChapV2Peer("alice", "s3cret", trust_server=False))
    assert outcome.finished and not outcome.success and outcome.msk is None
    assert outcome.failure_reason == "peer rejected our authenticator response"


def _response_after_challenge(mutate: Callable[[bytearray], None]) -> EapOutcome:
    server = EapServer([MSCHAPV2], USERS)
    peer = MsChapV2Peer("alice", "s3cret")
    outcome = server.start()
    outcome = server.process(must(peer.answer(outcome.message)))
    reply = bytearray(must(peer.answer(outcome.message)))
    mutate(reply)
    struct.pack_into("!H", reply, 2, len(reply))  # keep the EAP Length right
    return server.process(bytes(reply))


def _append_bad_utf8_to_name(reply: bytearray) -> None:
    reply.extend(b"\xff")
    struct.pack_into("!H", reply, 7, len(reply) - 5)  # keep MS-Length right


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.__setitem__(9, 48), id="value-size"),
        pytest.param(lambda r: struct.pack_into("!H", r, 7, 1000), id="ms-length"),
        pytest.param(lambda r: r.__setitem__(6, r[6] ^ 1), id="ms-chapv2-id"),
        pytest.param(lambda r: r.__delitem__(slice(40, None)), id="truncated"),
        pytest.param(_append_bad_utf8_to_name, id="name-not-utf8"),
    ],
)
def test_malformed_response_fails(mutate: Callable[[bytearray], None]) -> None:
    outcome = _response_after_challenge(mutate)
    assert outcome.finished and not outcome.success
    assert outcome.failure_reason == "malformed MS-CHAPv2 response"


def test_password_change_is_refused() -> None:
    def change_password(reply: bytearray) -> None:
        reply[5] = 7

    outcome = _response_after_challenge(change_password)
    assert outcome.finished and not outcome.success
    assert "password change" in (outcome.failure_reason or "")


def test_msk_never_appears_in_repr() -> None:
    outcome = run(EapServer([MSCHAPV2], USERS), MsChapV2Peer("alice", "s3cret"))
    assert outcome.msk is not None
    text = repr(outcome)
    assert outcome.msk.hex() not in text and repr(outcome.msk) not in text


def test_unknown_user_cannot_log_in_with_the_stand_in_password() -> None:
    # The random stand-in secret for unknown users must never verify.
    server = EapServer([MSCHAPV2], USERS, random=lambda n: bytes(n))
    outcome = run(server, MsChapV2Peer("mallory", bytes(16).hex()))
    assert not outcome.success and outcome.failure_reason == "unknown user"
