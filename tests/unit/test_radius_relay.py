"""EapRelay: ikev2d's own EAP-Identity, then RFC 3579 pass-through (or
EAP-GTC checked as PAP), with the RADIUS answers played by the test."""

from __future__ import annotations

import pytest

from ikev2d.aaa.radius.messages import AccessAnswer, AccessCode, AccessRequest, NasContext, RadiusUnreachable
from ikev2d.eap.packet import EapPacket
from ikev2d.eap.relay import EapRelay
from ikev2d.eap.server import MAX_DISCARDS, EapOutcome
from ikev2d.iana import EapCode, EapType

NAS = NasContext("198.18.0.1", "198.18.0.2")
FIRST_ID = 0x41
MSK = bytes(range(64))


def relay(mode: str = "eap") -> EapRelay:
    return EapRelay("ISE", mode, NAS, random=lambda n: bytes([FIRST_ID]) * n)  # type: ignore[arg-type]


def response(identifier: int, eap_type: int, data: bytes) -> bytes:
    return EapPacket(EapCode.RESPONSE, identifier, eap_type, data).pack()


def request(identifier: int, eap_type: int, data: bytes = b"") -> bytes:
    return EapPacket(EapCode.REQUEST, identifier, eap_type, data).pack()


def answer(code: AccessCode, eap: bytes | None = None, state: bytes | None = None, server: int = 1,
           msk: bytes | None = None) -> AccessAnswer:
    return AccessAnswer(code=code, server=server, server_host=f"10.0.0.{server}", eap_message=eap, state=state,
                        msk=msk)


def identity(r: EapRelay, name: bytes = b"alice") -> EapOutcome | AccessRequest:
    first = EapPacket.parse(r.start().message)
    assert (first.code, first.type, first.identifier) == (EapCode.REQUEST, EapType.IDENTITY, FIRST_ID)
    return r.process(response(FIRST_ID, EapType.IDENTITY, name))


def test_full_relay_identity_challenge_accept() -> None:
    """RFC 3579 §2.6: the Identity Response is the first EAP-Message; the
    State of a Challenge goes back with the next Response, to the server
    that set it; Access-Accept gives EAP-Success and the MSK."""
    r = relay()
    identity_response = response(FIRST_ID, EapType.IDENTITY, b"alice")
    first = identity(r)
    assert isinstance(first, AccessRequest)
    assert (first.group, first.username, first.eap_message, first.state, first.server) == (
        "ISE", "alice", identity_response, None, None)
    assert first.password is None and first.nas == NAS

    challenge = request(FIRST_ID + 1, EapType.MSCHAPV2, b"\x01\x42\x00\x20challenge")
    outcome = r.answer(answer(AccessCode.CHALLENGE, challenge, state=b"S1", server=1))
    assert outcome.message == challenge and not outcome.finished
    assert outcome.method == EapType.MSCHAPV2 and outcome.identity == "alice"

    reply = response(FIRST_ID + 1, EapType.MSCHAPV2, b"\x02\x42\x00\x40answer")
    second = r.process(reply)
    assert isinstance(second, AccessRequest)
    assert (second.eap_message, second.state, second.server) == (reply, b"S1", 1)

    success = EapPacket(EapCode.SUCCESS, FIRST_ID + 1, None).pack()
    done = r.answer(answer(AccessCode.ACCEPT, success, msk=MSK))
    assert done.finished and done.success and done.msk == MSK and done.message == success
    assert r.server_host == "10.0.0.1" and not r.rejected
    assert r.process(reply) == done, "after the end, the last outcome repeats"


def test_reject_gives_eap_failure_with_the_reason() -> None:
    r = relay()
    identity(r)
    failure = EapPacket(EapCode.FAILURE, FIRST_ID, None).pack()
    outcome = r.answer(AccessAnswer(AccessCode.REJECT, 0, "10.0.0.9", failure, reply_message="bad password"))
    assert outcome.finished and not outcome.success and outcome.message == failure and outcome.msk is None
    assert outcome.failure_reason == "RADIUS Access-Reject from 10.0.0.9: bad password"
    assert r.rejected


def test_reject_without_eap_message_gets_our_failure_for_the_response() -> None:
    r = relay()
    identity(r)
    outcome = r.answer(answer(AccessCode.REJECT))
    packet = EapPacket.parse(outcome.message)
    assert (packet.code, packet.identifier) == (EapCode.FAILURE, FIRST_ID)


def test_unreachable_group_fails_but_is_not_a_rejection() -> None:
    r = relay()
    identity(r)
    outcome = r.answer(RadiusUnreachable("ISE", "10.0.0.1:1812: no answer after 4 transmissions"))
    assert outcome.finished and not outcome.success
    assert EapPacket.parse(outcome.message).code == EapCode.FAILURE
    assert "no RADIUS server of group ISE answered" in (outcome.failure_reason or "")
    assert not r.rejected


def test_mschapv2_failure_request_from_the_server_ends_the_conversation() -> None:
    """FreeRADIUS with send_error: an MSCHAPv2 Failure Request (OpCode 4)
    in a Challenge. strongSwan would not answer it, so the outcome carries
    a failure reason and the SA ends with EAP-Failure."""
    r = relay()
    identity(r)
    failure_request = request(FIRST_ID + 1, EapType.MSCHAPV2, b"\x04\x42\x00\x10E=691 R=1")
    outcome = r.answer(answer(AccessCode.CHALLENGE, failure_request, state=b"S"))
    assert not outcome.finished and outcome.failure_reason and r.rejected


def test_response_with_a_wrong_identifier_is_discarded_not_relayed() -> None:
    """RFC 3748 §2.3: a pass-through authenticator checks the Identifier."""
    r = relay()
    identity(r)
    challenge = request(FIRST_ID + 1, EapType.MD5_CHALLENGE, b"\x10" + bytes(16))
    r.answer(answer(AccessCode.CHALLENGE, challenge, state=b"S"))
    stale = r.process(response(FIRST_ID, EapType.MD5_CHALLENGE, b"\x10" + bytes(16)))
    assert isinstance(stale, EapOutcome) and stale.discarded and stale.message == challenge
    assert isinstance(r.process(response(FIRST_ID + 1, EapType.MD5_CHALLENGE, b"\x10" + bytes(16))),
                      AccessRequest)


@pytest.mark.parametrize("garbage", [b"", b"\x02", b"\x01\x41\x00\x05\x01", b"\x02\x41\x00\x09\x01ab"])
def test_garbage_is_discarded_and_too_much_of_it_fails(garbage: bytes) -> None:
    r = relay()
    r.start()
    for _ in range(MAX_DISCARDS):
        outcome = r.process(garbage)
        assert isinstance(outcome, EapOutcome) and outcome.discarded and not outcome.finished
    last = r.process(garbage)
    assert isinstance(last, EapOutcome) and last.finished and not last.success


def test_challenge_must_carry_an_eap_request() -> None:
    r = relay()
    identity(r)
    outcome = r.answer(answer(AccessCode.CHALLENGE, EapPacket(EapCode.SUCCESS, 1, None).pack(), state=b"S"))
    assert outcome.finished and not outcome.success


def test_nak_to_identity_fails() -> None:
    r = relay()
    r.start()
    outcome = r.process(response(FIRST_ID, EapType.NAK, bytes([EapType.MD5_CHALLENGE])))
    assert isinstance(outcome, EapOutcome) and outcome.finished and not outcome.success


# -- username/password: EAP-GTC with the client, PAP to RADIUS ----------------------


def test_pap_mode_runs_gtc_and_sends_the_password_as_pap() -> None:
    r = relay("pap")
    gtc = identity(r, b"bob")
    assert isinstance(gtc, EapOutcome) and not gtc.finished
    prompt = EapPacket.parse(gtc.message)
    assert (prompt.type, prompt.identifier) == (EapType.GTC, FIRST_ID + 1)

    ask = r.process(response(FIRST_ID + 1, EapType.GTC, "Radius-Bob-Pw-2".encode()))
    assert isinstance(ask, AccessRequest)
    assert (ask.username, ask.password, ask.eap_message) == ("bob", "Radius-Bob-Pw-2", None)

    # the server's MPPE keys mean nothing to GTC: both sides sign with SK_p
    done = r.answer(answer(AccessCode.ACCEPT, msk=MSK))
    assert done.finished and done.success and done.msk is None
    packet = EapPacket.parse(done.message)
    assert (packet.code, packet.identifier) == (EapCode.SUCCESS, FIRST_ID + 1)
    assert done.method == EapType.GTC


def test_pap_mode_reject() -> None:
    r = relay("pap")
    identity(r, b"bob")
    r.process(response(FIRST_ID + 1, EapType.GTC, b"wrong"))
    done = r.answer(answer(AccessCode.REJECT))
    assert done.finished and not done.success and r.rejected
    assert EapPacket.parse(done.message).code == EapCode.FAILURE


def test_pap_mode_refuses_a_nak_and_a_challenge() -> None:
    r = relay("pap")
    identity(r)
    nak = r.process(response(FIRST_ID + 1, EapType.NAK, bytes([EapType.MSCHAPV2])))
    assert isinstance(nak, EapOutcome) and nak.finished and not nak.success

    r = relay("pap")
    identity(r)
    r.process(response(FIRST_ID + 1, EapType.GTC, b"pw"))
    challenged = r.answer(answer(AccessCode.CHALLENGE, state=b"S"))
    assert challenged.finished and not challenged.success
