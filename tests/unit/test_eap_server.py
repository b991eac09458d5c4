"""The EAP authenticator state machine: Identity, method choice and legacy Nak
(RFC 3748 §2.1, §5.1, §5.3.1), Identifier handling (§4.1, §4.2) and the
promise that no input makes `process` raise."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikev2d.aaa import LocalUserDatabase
from ikev2d.eap import EapOutcome, EapPacket, EapServer
from ikev2d.eap.server import MAX_DISCARDS
from ikev2d.iana import EapCode, EapType

USERS = LocalUserDatabase({"alice": "s3cret"})
MD5, GTC, MSCHAPV2 = EapType.MD5_CHALLENGE, EapType.GTC, EapType.MSCHAPV2


def response(identifier: int, eap_type: int, data: bytes = b"") -> bytes:
    return struct.pack("!BBHB", 2, identifier, 5 + len(data), eap_type) + data


def nak(identifier: int, *types: int) -> bytes:
    return response(identifier, EapType.NAK, bytes(types))


def after_identity(methods: list[int], identity: bytes = b"alice") -> tuple[EapServer, EapOutcome]:
    server = EapServer(methods, USERS)
    outcome = server.process(response(server.start().message[1], EapType.IDENTITY, identity))
    return server, outcome


def request_type(outcome: EapOutcome) -> int:
    packet = EapPacket.parse(outcome.message)
    assert packet.code == EapCode.REQUEST and packet.type is not None
    return packet.type


# --- Identity and method choice ---------------------------------------------


def test_start_asks_for_the_identity() -> None:
    outcome = EapServer([MSCHAPV2], USERS).start()
    packet = EapPacket.parse(outcome.message)
    assert (packet.code, packet.type) == (EapCode.REQUEST, EapType.IDENTITY)
    assert not outcome.finished and outcome.method is None and outcome.identity is None


def test_start_twice_repeats_the_same_request() -> None:
    server = EapServer([MSCHAPV2], USERS)
    assert server.start() == server.start()


def test_first_method_in_the_list_is_proposed_after_identity() -> None:
    _, outcome = after_identity([GTC, MD5])
    assert request_type(outcome) == GTC
    assert outcome.identity == "alice" and outcome.method == GTC


def test_nak_switches_to_another_allowed_method() -> None:
    # §5.3.1: the peer Naks MSCHAPv2 and asks for MD5, which we also allow.
    server, outcome = after_identity([MSCHAPV2, MD5])
    outcome = server.process(nak(outcome.message[1], MD5))
    assert request_type(outcome) == MD5 and outcome.method == MD5
    assert not outcome.finished


def test_nak_uses_our_preference_among_acceptable_types() -> None:
    server, outcome = after_identity([MSCHAPV2, GTC, MD5])
    outcome = server.process(nak(outcome.message[1], MD5, GTC))
    assert request_type(outcome) == GTC


def test_nak_with_nothing_acceptable_fails() -> None:
    server, outcome = after_identity([MSCHAPV2])
    last = outcome.message[1]
    outcome = server.process(nak(last, MD5, 13))
    assert outcome.finished and not outcome.success
    assert outcome.message == bytes((4, last, 0, 4))
    assert outcome.failure_reason == "peer sent Nak with no acceptable method"


def test_nak_with_type_zero_means_no_alternative() -> None:
    server, outcome = after_identity([MSCHAPV2, MD5])
    outcome = server.process(nak(outcome.message[1], 0))
    assert outcome.finished and not outcome.success


def test_nak_cannot_bring_back_a_refused_method() -> None:
    server, outcome = after_identity([MSCHAPV2, MD5])
    outcome = server.process(nak(outcome.message[1], MD5))
    outcome = server.process(nak(outcome.message[1], MSCHAPV2))
    assert outcome.finished and not outcome.success


def test_nak_in_the_middle_of_mschapv2_fails() -> None:
    server, outcome = after_identity([MSCHAPV2])
    # A well-formed Response that verifies nothing still counts as an answer.
    challenge = EapPacket.parse(outcome.message)
    body = bytes([49]) + bytes(49) + b"alice"
    data = struct.pack("!BBH", 2, challenge.data[1], 4 + len(body)) + body
    outcome = server.process(response(challenge.identifier, MSCHAPV2, data))
    assert not outcome.finished  # Failure Request
    outcome = server.process(nak(outcome.message[1], MD5))
    assert outcome.finished and not outcome.success
    assert outcome.failure_reason == "peer sent Nak after the method had started"


def test_nak_to_the_identity_request_still_picks_a_method() -> None:
    # strongSwan without its eap-identity plugin Naks the Identity Request,
    # listing the methods it has; the method must then find the user itself.
    server = EapServer([MSCHAPV2, MD5], USERS)
    outcome = server.process(nak(server.start().message[1], MD5, MSCHAPV2))
    assert request_type(outcome) == MSCHAPV2 and outcome.identity is None


def test_identity_that_is_not_utf8_fails() -> None:
    _, outcome = after_identity([MD5], identity=b"\xff\xfe")
    assert outcome.finished and not outcome.success


# --- Identifiers and discarded input ---------------------------------------------


def test_mismatched_identifier_is_ignored_and_the_request_repeated() -> None:
    server, outcome = after_identity([MD5])
    pending = outcome.message
    again = server.process(response((pending[1] + 1) & 0xFF, MD5, bytes([16]) + bytes(16)))
    assert again.message == pending and not again.finished
    assert again.discarded is not None and "Identifier" in again.discarded
    # The real answer still works afterwards.
    assert server.process(response(pending[1], MD5, bytes([16]) + bytes(16))).finished


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x02\x00\x00\x09\x04", id="length-lies"),
        pytest.param(b"\x01{id}\x00\x05\x04", id="request-not-response"),
        pytest.param(b"\x03{id}\x00\x04", id="success-from-peer"),
        pytest.param(b"\x02{id}\x00\x05\x06", id="other-type"),
    ],
)
def test_stray_input_is_discarded(bad: bytes) -> None:
    server, outcome = after_identity([MD5])
    bad = bad.replace(b"{id}", bytes([outcome.message[1]]))
    again = server.process(bad)
    assert again.message == outcome.message and not again.finished and again.discarded


def test_too_many_discards_end_in_failure() -> None:
    server, outcome = after_identity([MD5])
    for _ in range(MAX_DISCARDS):
        assert not server.process(b"junk").finished
    final = server.process(b"junk")
    assert final.finished and not final.success
    assert final.failure_reason == "too many invalid EAP responses"


def test_finished_conversation_repeats_its_last_answer() -> None:
    server, outcome = after_identity([MD5])
    final = server.process(nak(outcome.message[1], 0))
    assert server.process(b"anything") == final
    assert server.process(response(final.message[1], MD5)) == final


def test_process_before_start_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        EapServer([MD5], USERS).process(response(0, EapType.IDENTITY, b"alice"))


@pytest.mark.parametrize("methods", [[], [EapType.TLS], [MD5, 99]])
def test_unsupported_method_configuration_is_rejected(methods: list[int]) -> None:
    with pytest.raises(ValueError):
        EapServer(methods, USERS)


# --- nothing raises ----------------------------------------------------------------

PHASES = ["identity", "md5", "gtc", "mschapv2", "mschapv2-failure"]


def server_in(phase: str) -> tuple[EapServer, EapOutcome]:
    if phase == "identity":
        server = EapServer([MSCHAPV2, MD5, GTC], USERS)
        return server, server.start()
    if phase in ("md5", "gtc"):
        return after_identity([MD5 if phase == "md5" else GTC])
    server, outcome = after_identity([MSCHAPV2])
    if phase == "mschapv2-failure":
        challenge = EapPacket.parse(outcome.message)
        body = bytes([49]) + bytes(49) + b"alice"
        data = struct.pack("!BBH", 2, challenge.data[1], 4 + len(body)) + body
        outcome = server.process(response(challenge.identifier, MSCHAPV2, data))
    return server, outcome


def check_outcome(outcome: EapOutcome) -> None:
    packet = EapPacket.parse(outcome.message)  # always a well-formed EAP packet
    assert outcome.finished == (packet.code in (EapCode.SUCCESS, EapCode.FAILURE))
    assert not (outcome.success and not outcome.finished)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(phase=st.sampled_from(PHASES), junk=st.lists(st.binary(max_size=120), min_size=1, max_size=4))
def test_arbitrary_bytes_never_raise(phase: str, junk: list[bytes]) -> None:
    server, _ = server_in(phase)
    for raw in junk:
        check_outcome(server.process(raw))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    phase=st.sampled_from(PHASES),
    eap_type=st.sampled_from([EapType.IDENTITY, EapType.NAK, MD5, GTC, MSCHAPV2, 0, 254, 255]),
    data=st.binary(max_size=120),
)
def test_well_framed_responses_with_arbitrary_type_data_never_raise(phase: str, eap_type: int, data: bytes) -> None:
    # Right Identifier, so the bytes reach the method parsers.
    server, outcome = server_in(phase)
    check_outcome(server.process(response(outcome.message[1], eap_type, data)))
