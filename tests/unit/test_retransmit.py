"""Retransmitted requests (RFC 7296 §2.1, RFC 7383 §2.6.1): the very
datagram we answered gets the cached answer, a bounded number of times; a
re-fragmented retransmit must be authentic first; anything else with the
last Message ID gets nothing. The regression: any 28-octet datagram with an
SA's SPIs and the last Message ID used to be answered, before any integrity
check, with the cached (fragmented IKE_AUTH) answer, ~49x amplification,
sent to whatever source it claimed."""

from __future__ import annotations

import os
import struct


from ikev2d.effects import SendDatagram
from ikev2d.iana import ExchangeType, PayloadType
from ikev2d.protect import protect_fragments
from ikev2d.task_manager import MAX_RETRANSMIT_ANSWERS
from ikev2d.wire.payloads import Notify
from lab.initiator import Initiator

from responder_harness import GATEWAY, Harness

ELSEWHERE = ("198.18.66.6", 500)
PRIVATE_STATUS = 40000  # a status notify type from the private range: ignored, answered empty


def _connected(harness: Harness) -> tuple[Initiator, list[bytes]]:
    client = harness.client()
    sent: list[bytes] = []
    send = client.send

    def recording(datagram: bytes) -> list[bytes]:
        sent.append(datagram)
        return send(datagram)

    client.send = recording  # type: ignore[method-assign]
    assert client.connect().address is not None
    return client, sent


def _answers(harness: Harness, datagram: bytes, source: tuple[str, int]) -> list[bytes]:
    effects = harness.responder.datagram_received(datagram, GATEWAY, source, harness.now)
    return [e.data for e in effects if isinstance(e, SendDatagram)]


def test_a_forged_header_with_the_last_message_id_gets_no_answer(harness: Harness) -> None:
    client, sent = _connected(harness)
    last_id = client.message_id - 1
    forged = client.spi_i + client.spi_r + bytes([PayloadType.SK, 0x20, ExchangeType.IKE_AUTH, 0x08]) + \
        struct.pack("!II", last_id, 28)
    assert _answers(harness, forged, ELSEWHERE) == []
    assert _answers(harness, forged, client.o.local) == []
    # the genuine retransmit is still answered, with the cached bytes
    assert _answers(harness, sent[-1], client.o.local) != []


def test_a_retransmit_is_answered_a_bounded_number_of_times(harness: Harness) -> None:
    client, sent = _connected(harness)
    first = _answers(harness, sent[-1], client.o.local)
    for _ in range(MAX_RETRANSMIT_ANSWERS - 1):
        assert _answers(harness, sent[-1], client.o.local) == first
    assert _answers(harness, sent[-1], client.o.local) == []  # a replay, not a client
    # the next request resets the count
    client.exchange(ExchangeType.INFORMATIONAL, [])
    assert len(_answers(harness, sent[-1], client.o.local)) == 1


def _fragments(client: Initiator, size: int, message_id: int) -> list[bytes]:
    return protect_fragments(client.spi_i, client.spi_r, ExchangeType.INFORMATIONAL, message_id,
                             [Notify(PRIVATE_STATUS, data=b"x" * 1500)], client.sk, fragment_size=size,
                             overhead=28, is_response=False, is_initiator=True, random=os.urandom)


def test_a_fragmented_retransmit_is_answered_once_on_fragment_one_even_refragmented(harness: Harness) -> None:
    client, _ = _connected(harness)
    mid = client.message_id
    original = _fragments(client, 576, mid)
    assert len(original) >= 3
    answered = [_answers(harness, d, client.o.local) for d in original]
    assert answered[:-1] == [[]] * (len(original) - 1) and answered[-1]
    # the same fragments again: the answer once, on fragment 1
    assert [bool(_answers(harness, d, client.o.local)) for d in original] == [True] + [False] * (len(original) - 1)
    # re-fragmented smaller (PMTU, RFC 7383 §2.5.2): authentic, so answered on its fragment 1
    smaller = _fragments(client, 400, mid)
    assert len(smaller) > len(original)
    assert [bool(_answers(harness, d, client.o.local)) for d in smaller] == [True] + [False] * (len(smaller) - 1)
    # a forged fragment 1 (right header, wrong ICV) is not
    forged = bytearray(smaller[0])
    forged[-1] ^= 1
    assert _answers(harness, bytes(forged), ELSEWHERE) == []
