"""The IKE_SA_INIT task on its own, against the lab initiator's requests
(RFC 7296 §1.2, §1.3, §2.10; RFC 7383 §2.3; RFC 7427 §4): what it refuses
without state, the job it asks for, and the answer it builds."""

from __future__ import annotations

import os

import pytest

from ikev2d.crypto.jobs import CryptoWorker, DhJob, JobFailed
from ikev2d.iana import DhId, ExchangeType, NotifyType
from ikev2d.settings import ResponderSettings
from ikev2d.tasks.ike_init import Accepted, Dropped, IkeInit, Refusal, error_response
from ikev2d.wire.header import Header
from ikev2d.wire.message import decode_message
from ikev2d.wire.payloads import CERTREQ, KE, SA, Nonce
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

from responder_harness import GATEWAY, Harness

CLIENT = ("198.18.0.2", 500)


def _request(**options) -> bytes:
    sent: list[bytes] = []
    client = Initiator(InitiatorOptions(local=CLIENT, remote=GATEWAY, **options), lambda d: sent.append(d) or [])
    with pytest.raises(IkeFailure):
        client.ike_sa_init()
    return sent[0]


def _task(settings: ResponderSettings, data: bytes) -> IkeInit:
    return IkeInit(settings, data, Header.parse(data), decode_message(data), GATEWAY, CLIENT)


def test_the_nsa_suite_is_chosen_and_answered_with_keys_and_the_cisco_payload_order(harness: Harness) -> None:
    task = _task(harness.responder.settings, _request())
    job = task.process("auto")
    assert isinstance(job, DhJob) and job.group_id == DhId.MODP_3072
    outcome = task.finish(CryptoWorker({}).run(job), b"r" * 8, os.urandom)
    assert isinstance(outcome, Accepted)
    answer = decode_message(outcome.response)
    assert answer.exchange == ExchangeType.IKE_SA_INIT and answer.spi_r == b"r" * 8 and answer.is_response
    kinds = [type(p) for p in answer.payloads[:3]]
    assert kinds == [SA, KE, Nonce] and answer.get(CERTREQ) is not None
    assert answer.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None  # the client offered it
    assert answer.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None
    assert outcome.suite.describe() == "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"
    assert len(outcome.nonce_r) >= 32 and outcome.peer_fragmentation


def test_the_wrong_ke_group_is_refused_naming_the_one_wanted(harness: Harness) -> None:
    task = _task(harness.responder.settings, _request(dh_groups=(DhId.MODP_2048, DhId.MODP_3072)))
    refusal = task.process("auto")
    assert refusal == Refusal(NotifyType.INVALID_KE_PAYLOAD, DhId.MODP_3072.to_bytes(2, "big"),
                              "KE for group 14, policy NSA wants 15")


def test_no_matching_policy_is_no_proposal_chosen(harness: Harness) -> None:
    task = _task(harness.responder.settings, _request(dh_groups=(DhId.MODP_2048,)))
    refusal = task.process("auto")
    assert isinstance(refusal, Refusal) and refusal.notify == NotifyType.NO_PROPOSAL_CHOSEN
    # why, in one line: what the client offered beside what is configured
    assert "offered IKE:AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_2048" in refusal.detail
    assert "configured NSA: AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072" in refusal.detail


def test_a_peer_ke_that_fails_is_invalid_syntax_and_our_failure_no_answer(harness: Harness) -> None:
    task = _task(harness.responder.settings, _request())
    assert isinstance(task.process("auto"), DhJob)
    assert task.finish(JobFailed("public value out of range"), b"r" * 8, os.urandom) == Refusal(
        NotifyType.INVALID_SYNTAX, b"", "KE payload: public value out of range")
    assert task.finish(JobFailed("worker died", local=True), b"r" * 8, os.urandom) == Dropped(
        "IKE_SA_INIT: worker died")


def test_an_error_answer_has_a_zero_spir_and_only_the_notify() -> None:
    header = Header.parse(_request())
    answer = decode_message(error_response(header, NotifyType.COOKIE, b"c" * 36))
    assert answer.spi_r == bytes(8) and [n.type for n in answer.notifies()] == [NotifyType.COOKIE]
