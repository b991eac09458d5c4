"""EAP-GTC (RFC 3748 §5.6) with the Response form strongSwan's eap-gtc client
sends: the bare password as Type-Data (eap_gtc.c, process_peer)."""

from __future__ import annotations

import struct

from ikev2d.aaa import LocalUserDatabase
from ikev2d.eap import EapOutcome, EapServer
from ikev2d.iana import EapType

USERS = LocalUserDatabase({"alice": "s3cret", "bob": "pässwörd"})
GTC_TYPE = EapType.GTC


def eap_response(identifier: int, eap_type: int, data: bytes) -> bytes:
    return struct.pack("!BBHB", 2, identifier, 5 + len(data), eap_type) + data


class GtcPeer:
    def __init__(self, identity: str, token: bytes) -> None:
        self.identity = identity.encode()
        self.token = token
        self.prompts: list[bytes] = []

    def answer(self, request: bytes) -> bytes:
        code, identifier, length, eap_type = struct.unpack_from("!BBHB", request)
        assert code == 1 and length == len(request)
        if eap_type == EapType.IDENTITY:
            return eap_response(identifier, EapType.IDENTITY, self.identity)
        assert eap_type == EapType.GTC
        self.prompts.append(request[5:])
        return eap_response(identifier, EapType.GTC, self.token)


def run(peer: GtcPeer) -> EapOutcome:
    server = EapServer([EapType.GTC], USERS)
    outcome = server.start()
    while not outcome.finished:
        outcome = server.process(peer.answer(outcome.message))
    return outcome


def test_right_password_succeeds_without_msk() -> None:
    peer = GtcPeer("alice", b"s3cret")
    outcome = run(peer)
    assert outcome.success and outcome.message[0] == 3
    assert outcome.identity == "alice" and outcome.method == EapType.GTC
    assert outcome.msk is None
    # §5.6: the Request carries a displayable message for the user.
    assert peer.prompts == [b"Password: "]


def test_utf8_password_succeeds() -> None:
    assert run(GtcPeer("bob", "pässwörd".encode())).success


def test_wrong_password_fails() -> None:
    outcome = run(GtcPeer("alice", b"s3cre"))
    assert outcome.finished and not outcome.success and outcome.message[0] == 4
    assert outcome.failure_reason == "wrong password"


def test_unknown_user_fails_like_a_wrong_password_on_the_wire() -> None:
    wrong = run(GtcPeer("alice", b"nope"))
    unknown = run(GtcPeer("mallory", b"s3cret"))
    assert unknown.failure_reason == "unknown user"
    assert len(unknown.message) == len(wrong.message) == 4


def test_empty_response_fails() -> None:
    outcome = run(GtcPeer("alice", b""))
    assert not outcome.success and outcome.failure_reason == "empty GTC response"


def test_only_the_bare_password_form_is_accepted() -> None:
    # strongSwan never sends "user\0password"; we do not guess at other forms.
    assert not run(GtcPeer("alice", b"alice\x00s3cret")).success
    assert not run(GtcPeer("alice", b"s3cret\x00")).success


def test_unknown_user_cannot_log_in_with_the_stand_in_password() -> None:
    # Unknown users are checked against a random stand-in so timing matches;
    # even if the peer could predict it, it must not let them in.
    server = EapServer([GTC_TYPE], USERS, random=lambda n: bytes(n))
    outcome = server.start()
    peer = GtcPeer("mallory", (bytes(16).hex()).encode())
    while not outcome.finished:
        outcome = server.process(peer.answer(outcome.message))
    assert not outcome.success and outcome.failure_reason == "unknown user"
