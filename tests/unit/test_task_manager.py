"""The task manager (strongSwan's task_manager_v2) against a peer in
process: Message IDs in both directions, the response cache, the queue of
our requests with a window of one (RFC 7296 §2.3), retransmission and
giving up (§2.4), fragmentation (RFC 7383). And the rule the rebuild rests
on: no other module writes a Message ID."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from ikev2d.effects import Effect
from ikev2d.iana import ExchangeType, NotifyType
from ikev2d.protect import SkKeys, protect_message, unprotect_message
from ikev2d.protect.sk import SK_TYPE, Route, seal
from ikev2d.task_manager import (RETRANSMIT_TRIES, GaveUp, Ignored, Received, Refused, TaskManager, Waiting)
from ikev2d.wire.header import Header
from ikev2d.wire.message import Message
from ikev2d.wire.payloads import CERT, SKF, Delete, Notify

import pytest

from responder_harness import Harness
from test_protect_sk import CBC, SPI_I, SPI_R, key_pair

ROOT = Path(__file__).resolve().parents[2]
LOCAL_4500 = ("198.18.0.1", 4500)
INFO = ExchangeType.INFORMATIONAL


def _pair(fragment_size: int = 0) -> tuple[TaskManager, SkKeys]:
    client, gateway = key_pair(CBC)
    return TaskManager(gateway, SPI_I, SPI_R, fragment_size, os.urandom), client


def _request(client: SkKeys, message_id: int, payloads: list | None = None) -> bytes:
    return protect_message(SPI_I, SPI_R, INFO, message_id, payloads or [], client, is_response=False,
                           is_initiator=True)


def _answer_to(datagram: bytes, client: SkKeys, payloads: list | None = None) -> bytes:
    header = Header.parse(datagram)
    return protect_message(SPI_I, SPI_R, header.exchange, header.message_id, payloads or [], client,
                           is_response=True, is_initiator=True)


def _corrupt_inside(datagram: bytes, client: SkKeys) -> bytes:
    """The same request sealed around a plaintext whose payload length lies."""
    header = Header.parse(datagram)
    route = Route(SPI_I, SPI_R, header.exchange, header.message_id, False, True)
    return seal(route, SK_TYPE, 41, b"", b"\x00\x00\x00\x40garbage", client, os.urandom)


def test_requests_are_taken_in_order_and_answers_cached() -> None:
    tm, client = _pair()
    first = _request(client, 1)
    assert isinstance(tm.open_request(first, Header.parse(first), 0.0), Received)
    answer = tm.respond(INFO, 1, [], LOCAL_4500)
    assert unprotect_message(answer[0], client).is_response
    # the same datagram again: a retransmit, answered from the cache
    assert tm.is_retransmit_id(Header.parse(first))
    assert tm.retransmit(first, Header.parse(first)) == (answer, None)
    # out of the window (§2.3): neither answered nor taken
    skipped = _request(client, 3)
    assert tm.open_request(skipped, Header.parse(skipped), 0.0) == Ignored("unexpected message ID 3")
    second = _request(client, 2)
    assert isinstance(tm.open_request(second, Header.parse(second), 0.0), Received)


def test_a_forged_request_is_ignored_and_a_malformed_authentic_one_refused() -> None:
    tm, client = _pair()
    forged = bytearray(_request(client, 1))
    forged[-1] ^= 1
    assert tm.open_request(bytes(forged), Header.parse(bytes(forged)), 0.0) == Ignored("integrity check failed")
    assert tm.next_request_id == 1  # nothing moved
    # authentic, but the payloads inside do not parse: INVALID_SYNTAX (RFC 7296 §2.21.4)
    bad = protect_message(SPI_I, SPI_R, INFO, 1, [Notify(16384)], client, is_response=False, is_initiator=True)
    refused = tm.open_request(_corrupt_inside(bad, client), Header.parse(bad), 0.0)
    assert isinstance(refused, Refused) and refused.notify.type == NotifyType.INVALID_SYNTAX


def test_a_request_waiting_for_its_job_swallows_retransmits_until_answered() -> None:
    tm, client = _pair()
    request = _request(client, 1)
    assert isinstance(tm.open_request(request, Header.parse(request), 0.0), Received)
    tm.wait(Waiting(INFO, 1, LOCAL_4500, ("198.18.0.2", 4500), lambda result, now, effects: []))
    assert tm.open_request(request, Header.parse(request), 0.1) == Ignored()
    assert tm.resume(2) is None  # a stale job's result
    waiting = tm.resume(1)
    assert waiting is not None and tm.waiting is None


def test_our_requests_go_one_at_a_time_in_message_id_order() -> None:
    """§2.3: a window of one; the second request waits for the first answer."""
    tm, client = _pair()
    answered: list[int] = []

    def note(message: Message, now: float, effects: list[Effect]) -> None:
        answered.append(message.message_id)

    dpd = tm.initiate(INFO, [], note, 0.0, LOCAL_4500)
    assert len(dpd) == 1 and Header.parse(dpd[0]).message_id == 0
    assert tm.initiate(INFO, [Delete(3, [b"\x00\x00\x10\x00"])], note, 0.0, LOCAL_4500) == []
    result = tm.response(_answer_to(dpd[0], client), Header.parse(dpd[0]))
    assert not isinstance(result, str)
    message, on_answer = result
    on_answer(message, 0.5, [])
    delete = tm.send_next(0.5, LOCAL_4500)
    assert Header.parse(delete[0]).message_id == 1
    assert unprotect_message(delete[0], client).get(Delete) is not None
    # an answer to nothing we asked
    assert tm.response(_answer_to(dpd[0], client), Header.parse(dpd[0])) == "response 0 to no request of ours"
    assert answered == [0]


def test_retransmission_backs_off_then_gives_up_and_forgets_the_queue() -> None:
    """§2.4: retransmit with back-off; after the last try the peer is gone."""
    tm, _ = _pair()
    sent = tm.initiate(INFO, [], lambda m, n, e: None, 0.0, LOCAL_4500)
    tm.initiate(INFO, [], lambda m, n, e: None, 0.0, LOCAL_4500)
    times = []
    now = 0.0
    while True:
        deadline = tm.deadline()
        assert deadline is not None
        assert tm.due(deadline - 0.01) == []
        now = deadline
        due = tm.due(now)
        if isinstance(due, GaveUp):
            break
        assert due == sent  # the same datagrams, byte for byte
        times.append(now)
    assert times == [2.0, 6.0, 14.0][:RETRANSMIT_TRIES - 1]
    assert tm.idle() and tm.deadline() is None


def test_big_answers_leave_in_fragments_when_the_peer_takes_them() -> None:
    tm, client = _pair(fragment_size=576)
    request = _request(client, 1)
    tm.open_request(request, Header.parse(request), 0.0)
    answer = tm.respond(ExchangeType.IKE_AUTH, 1, [CERT(4, b"\xc3" * 1500)], LOCAL_4500)
    assert len(answer) >= 3 and all(len(d) + 28 + 4 <= 576 for d in answer)
    unfragmented, _ = _pair(fragment_size=0)
    unfragmented.open_request(request, Header.parse(request), 0.0)
    assert len(unfragmented.respond(ExchangeType.IKE_AUTH, 1, [CERT(4, b"\xc3" * 1500)], LOCAL_4500)) == 1


MESSAGE_ID_FIELDS = {"next_request_id", "last_response_id", "next_own_id", "last_response", "in_flight"}


def test_no_module_but_the_task_manager_writes_a_message_id() -> None:
    """The rebuild's rule (strongSwan: only task_manager_v2.c sets them)."""
    writers = []
    for path in (ROOT / "ikev2d").rglob("*.py"):
        if path.name == "task_manager.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            elif isinstance(node, ast.keyword) and node.arg in MESSAGE_ID_FIELDS:
                writers.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {node.arg}=")
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in MESSAGE_ID_FIELDS:
                    writers.append(f"{path.relative_to(ROOT)}:{target.lineno} .{target.attr}")
    assert writers == []


@pytest.mark.parametrize("fragment_size", [0, 200], ids=["whole", "fragmented"])
def test_each_datagram_header_is_parsed_once(harness: Harness, fragment_size: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The review of the first version found the IKE header parsed three
    times per datagram: it is parsed where the datagram arrives and handed on."""
    client = harness.client(fragment_size=fragment_size) if fragment_size else harness.client()
    responder, parsed, received, fragments = harness.responder, [0], [0], [0]
    original_parse, original_receive = Header.parse, responder.datagram_received

    def counting_parse(data: bytes) -> Header:
        parsed[0] += 1
        return original_parse(data)

    def receive(data: bytes, *args, **kwargs):
        received[0] += 1
        fragments[0] += data[16] == SKF.payload_type  # the header's Next Payload
        monkeypatch.setattr(Header, "parse", staticmethod(counting_parse))
        try:
            return original_receive(data, *args, **kwargs)
        finally:
            monkeypatch.setattr(Header, "parse", staticmethod(original_parse))

    monkeypatch.setattr(responder, "datagram_received", receive)
    client.connect()
    assert received[0] >= 4 and parsed[0] == received[0]
    assert (fragments[0] > 1) == bool(fragment_size)  # the fragmented path was taken, or not
