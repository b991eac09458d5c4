"""EAP-MD5-Challenge (RFC 3748 §5.4 with CHAP's hash, RFC 1994 §4.1): a peer
written from the RFC text talks to EapServer through bytes only."""

from __future__ import annotations

import hashlib
import struct

from ikev2d.aaa import LocalUserDatabase
from ikev2d.eap import EapOutcome, EapServer
from ikev2d.iana import EapType

USERS = LocalUserDatabase({"alice": "s3cret", "bob": "pässwörd"})


def eap_response(identifier: int, eap_type: int, data: bytes) -> bytes:
    return struct.pack("!BBHB", 2, identifier, 5 + len(data), eap_type) + data


class Md5Peer:
    """RFC 1994 §4.1: Response Value = MD5(Identifier | secret | Challenge)."""

    def __init__(self, identity: str, password: str, name: bytes = b"") -> None:
        self.identity = identity.encode()
        self.password = password.encode()
        self.name = name
        self.challenges: list[bytes] = []

    def answer(self, request: bytes) -> bytes:
        code, identifier, length, eap_type = struct.unpack_from("!BBHB", request)
        assert code == 1 and length == len(request)
        if eap_type == EapType.IDENTITY:
            return eap_response(identifier, EapType.IDENTITY, self.identity)
        assert eap_type == EapType.MD5_CHALLENGE
        size = request[5]
        challenge = request[6 : 6 + size]
        self.challenges.append(challenge)
        value = hashlib.md5(bytes([identifier]) + self.password + challenge).digest()
        return eap_response(identifier, EapType.MD5_CHALLENGE, bytes([16]) + value + self.name)


def run(server: EapServer, peer: Md5Peer) -> tuple[EapOutcome, list[bytes]]:
    outcome = server.start()
    sent = [outcome.message]
    while not outcome.finished:
        outcome = server.process(peer.answer(outcome.message))
        sent.append(outcome.message)
    return outcome, sent


def test_right_password_succeeds_without_msk() -> None:
    outcome, sent = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("alice", "s3cret"))
    assert outcome.success and outcome.finished
    assert outcome.identity == "alice"
    assert outcome.method == EapType.MD5_CHALLENGE
    assert outcome.msk is None  # MD5 derives no key (RFC 3748 §5.4)
    assert outcome.failure_reason is None
    # §4.2: Success has the Identifier of the Response it answers.
    assert outcome.message == bytes((3, sent[-2][1], 0, 4))


def test_challenge_is_16_random_octets_per_conversation() -> None:
    peer = Md5Peer("alice", "s3cret")
    run(EapServer([EapType.MD5_CHALLENGE], USERS), peer)
    run(EapServer([EapType.MD5_CHALLENGE], USERS), peer)
    first, second = peer.challenges
    assert len(first) == len(second) == 16
    assert first != second


def test_non_ascii_password_is_hashed_as_utf8() -> None:
    outcome, _ = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("bob", "pässwörd"))
    assert outcome.success


def test_wrong_password_fails() -> None:
    outcome, sent = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("alice", "guess"))
    assert outcome.finished and not outcome.success
    assert outcome.message == bytes((4, sent[-2][1], 0, 4))
    assert outcome.failure_reason == "wrong password"


def test_unknown_user_fails_with_the_same_wire_answer() -> None:
    wrong, wrong_sent = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("alice", "guess"))
    unknown, unknown_sent = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("mallory", "s3cret"))
    assert not unknown.success
    assert unknown.failure_reason == "unknown user"
    # The peer cannot tell the two apart: both get a bare EAP-Failure.
    assert unknown.message[0] == wrong.message[0] == 4
    assert len(unknown.message) == len(wrong.message) == 4
    assert len(unknown_sent) == len(wrong_sent)


def test_chap_name_after_the_value_is_ignored() -> None:
    outcome, _ = run(EapServer([EapType.MD5_CHALLENGE], USERS), Md5Peer("alice", "s3cret", name=b"laptop"))
    assert outcome.success


def test_hash_covers_the_identifier() -> None:
    # A Response computed over another Identifier must not verify (RFC 1994 §4.1).
    server = EapServer([EapType.MD5_CHALLENGE], USERS)
    request = server.process(eap_response(server.start().message[1], 1, b"alice")).message
    identifier, challenge = request[1], request[6:22]
    value = hashlib.md5(bytes([(identifier + 1) & 0xFF]) + b"s3cret" + challenge).digest()
    outcome = server.process(eap_response(identifier, EapType.MD5_CHALLENGE, bytes([16]) + value))
    assert outcome.finished and not outcome.success


def test_value_size_other_than_16_fails() -> None:
    server = EapServer([EapType.MD5_CHALLENGE], USERS)
    request = server.process(eap_response(server.start().message[1], 1, b"alice")).message
    outcome = server.process(eap_response(request[1], EapType.MD5_CHALLENGE, bytes([15]) + bytes(15)))
    assert outcome.finished and not outcome.success
    assert outcome.failure_reason == "malformed MD5-Challenge response"


def test_unknown_user_cannot_log_in_with_the_stand_in_password() -> None:
    # The random stand-in secret for unknown users must never verify.
    server = EapServer([EapType.MD5_CHALLENGE], USERS, random=lambda n: bytes(n))
    outcome, _ = run(server, Md5Peer("mallory", bytes(16).hex()))
    assert not outcome.success and outcome.failure_reason == "unknown user"
