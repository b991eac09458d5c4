"""Our rekey of the IKE SA before its IKEv2 policy lifetime ends (RFC 7296
§1.3.2, §2.8, §2.18), as an ASA renegotiates its own, against the
in-process initiator answering it: we become the new SA's original
initiator (our SPI is SPIi, we send with the I flag and SK_ei), the
session moves to it and we delete the old one; a refused rekey is retried
and the lifetime's end deletes the SA; a simultaneous rekey by the client
(§2.8.2) leaves exactly one new IKE SA, the redundant one closed by its
initiator."""

from __future__ import annotations

import os
from pathlib import Path

from ikev2d.core import Responder, settle
from ikev2d.effects import Emit, SendDatagram
from ikev2d.events import IkeSaDeleted, IkeSaRekeyed, NegotiationAborted
from ikev2d.iana import ExchangeType, NotifyType, ProtocolId
from ikev2d.protect import unprotect_message
from ikev2d.sa import IKE_LIFETIME_EXPIRED, IkeSa
from ikev2d.sa_types import State
from ikev2d.settings import build_settings
from ikev2d.tasks.ike_rekey import REKEY_AT
from ikev2d.wire.header import Header
from ikev2d.wire.payloads import Delete, Notify
from lab.initiator import Initiator

from responder_harness import Harness, make_config

LIFETIME = 300


def _requests(effects: list) -> list[bytes]:
    return [e.data for e in effects if isinstance(e, SendDatagram) and not Header.parse(e.data).is_response]


def _events(effects: list, kind: type) -> list:
    return [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, kind)]


class Peer:
    """One connected client; delivers our requests to it and its answers to us."""

    def __init__(self, tmp_path: Path, pki_dir: Path, dh_groups: str = "[15]") -> None:
        config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                          "lifetime_seconds: 86400": f"lifetime_seconds: {LIFETIME}",
                                          "dh_groups: [15]": f"dh_groups: {dh_groups}"})
        self.h = Harness(Responder(build_settings(config)))
        self.h.responder.settings.dpd_interval = 0
        self.client: Initiator = self.h.client()
        self.client.connect()
        [self.old] = self.h.responder.sas.values()
        self.effects: list = []

    def settle(self, effects: list) -> list:
        out = settle(self.h.responder, effects, self.h.worker, self.h.now)
        self.effects += out
        return out

    def at(self, when: float) -> list[bytes]:
        """Time passes to `when`; our requests due by then."""
        self.h.now = when
        return _requests(self.settle(self.h.responder.handle_timer(when)))

    def deliver(self, request: bytes) -> list[bytes]:
        """The client answers `request`; our requests that follow."""
        [answer] = self.client.answer(request)
        return _requests(self.settle(self.h.responder.datagram_received(answer, self.old.local, self.old.remote,
                                                                        self.h.now)))

    def live(self) -> list[IkeSa]:
        return [sa for sa in self.h.responder.sas.values() if sa.state is State.ESTABLISHED and not sa.rekeyed]


def _exchange(raw: bytes) -> int:
    return Header.parse(raw).exchange


def test_we_rekey_the_ike_sa_and_become_the_new_sas_original_initiator(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    old = p.old
    session = (old.unique_id, old.lease, [c.spec for c in old.children])
    assert p.at(old.created + REKEY_AT * LIFETIME - 1) == []
    [rekey] = p.at(old.created + REKEY_AT * LIFETIME)
    header = Header.parse(rekey)
    assert (header.exchange, header.spi_r, header.is_initiator) == (ExchangeType.CREATE_CHILD_SA, old.spi_r, False)
    [delete] = p.deliver(rekey)
    # the session moved to the new SA, of which we are the original initiator
    [new] = p.live()
    assert new is not old and new.original_initiator and new.predecessor is old
    assert (new.unique_id, new.lease, [c.spec for c in new.children]) == session
    assert new.spi == new.spi_i and new.peer_spi == p.client.rekeyed_sa[1]  # type: ignore[index]
    assert _events(p.effects, IkeSaRekeyed) and not _events(p.effects, IkeSaDeleted)
    # and we delete the old one (§2.8): no 113019, the session lives on
    assert old.state is State.DELETING and Header.parse(delete).spi_r == old.spi_r
    assert p.deliver(delete) == []
    assert old.state is State.DELETED and p.client.original_initiator is False
    # the client talks to the new SA: it answers with the I flag clear and our SPI first
    answer = p.client.exchange(ExchangeType.INFORMATIONAL, [])
    assert answer.is_response and p.h.responder.sas[new.spi] is new
    # a Child rekey by the client on the new SA works as ever
    before = [c.spec.spi_in for c in new.children]
    p.client.rekey_child()
    assert new.children and [c.spec.spi_in for c in new.children] != before
    # and the new SA's lifetime starts anew
    assert new.rekey_deadline == new.created + REKEY_AT * LIFETIME


def test_our_requests_on_the_new_sa_carry_the_i_flag(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    p.deliver(p.deliver(rekey)[0])
    [new] = p.live()
    [dpd_delete] = _requests(p.settle(p.h.responder.delete_ike_sa(new, "Administrator Reset", p.h.now)))
    header = Header.parse(dpd_delete)
    assert header.is_initiator and (header.spi_i, header.spi_r) == (new.spi_i, new.spi_r)
    message = unprotect_message(dpd_delete, p.client.sk)  # the client's keys for the new SA open it
    assert [d.protocol for d in message.get_all(Delete)] == [ProtocolId.IKE]


def test_a_refused_rekey_is_retried_and_the_lifetime_ends_the_sa(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    p.client.ike_rekey_refusals = [Notify(NotifyType.NO_PROPOSAL_CHOSEN)] * 10
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    assert p.deliver(rekey) == []
    assert [e.reason for e in _events(p.effects, NegotiationAborted)] == [
        "IKE SA rekey failed: refused with NO_PROPOSAL_CHOSEN"]
    retry = p.old.rekey_deadline
    assert retry is not None and p.h.now + 10 <= retry <= p.h.now + 20
    [again] = p.at(retry)
    assert _exchange(again) == ExchangeType.CREATE_CHILD_SA
    p.deliver(again)
    [delete] = p.at(p.old.created + LIFETIME)
    assert [e.reason for e in _events(p.effects, IkeSaDeleted)] == [IKE_LIFETIME_EXPIRED]
    assert _exchange(delete) == ExchangeType.INFORMATIONAL and p.old.state is State.DELETING


def test_invalid_ke_is_retried_once_in_the_group_the_client_names(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir, dh_groups="[15, 20]")
    p.client.o.dh_groups = [20]  # the client now wants ECP-384 for the new SA
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    [retried] = p.deliver(rekey)
    assert _exchange(retried) == ExchangeType.CREATE_CHILD_SA
    p.deliver(p.deliver(retried)[0])
    [new] = p.live()
    assert new.suite.dh_id == 20 and new.original_initiator


def test_invalid_ke_naming_a_group_we_do_not_allow_is_not_retried(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    p.client.ike_rekey_refusals = [Notify(NotifyType.INVALID_KE_PAYLOAD, data=(31).to_bytes(2, "big"))]
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    assert p.deliver(rekey) == []
    assert "INVALID_KE_PAYLOAD" in _events(p.effects, NegotiationAborted)[0].reason


def test_a_client_that_deletes_the_old_sa_meanwhile_leaves_nothing_behind(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    p.client.delete()  # §2.25.2: the client closes the SA; our rekey is forgotten
    assert p.h.responder.sas == {} or all(sa.state is State.DELETED for sa in p.h.responder.sas.values())
    assert [e.reason for e in _events(p.h.effects, IkeSaDeleted)] != []


def _collide(p: Peer, our_exchange_lowest: bool) -> tuple[list[bytes], IkeSa]:
    """Our rekey is out when the client's own arrives (§2.8.2); the client
    answers ours after we answered its. Nonces decide which new SA is
    redundant: all-zero Nr in our exchange, or all-zero Ni in theirs."""
    [ours] = p.at(p.old.created + REKEY_AT * LIFETIME)
    if our_exchange_lowest:
        p.client.answer_nonce = bytes(32)
    else:
        real = p.client.random
        p.client.random = lambda n: bytes(n) if n == 32 else real(n)
    p.client.rekey_ike(delete_old=False)  # theirs, answered by us at once
    p.client.random = os.urandom
    [theirs] = [sa for sa in p.h.responder.sas.values() if sa.predecessor is p.old and not sa.original_initiator]
    # the client saved its new SA; our request is answered on the old one
    saved = (p.client.spi_i, p.client.spi_r, p.client.keys, p.client.sk, p.client.message_id)
    p.client.spi_i, p.client.spi_r, p.client.keys, p.client.sk = p.old.spi_i, p.old.spi_r, p.old.keys, \
        _client_sk(p.old)
    followups = p.deliver(ours)
    p.client.spi_i, p.client.spi_r, p.client.keys, p.client.sk, p.client.message_id = saved
    return followups, theirs


def _client_sk(sa: IkeSa):
    from ikev2d.protect import SkKeys
    return SkKeys(encr=sa.encr, integ=sa.integ, sk_e_in=sa.keys.sk_er, sk_a_in=sa.keys.sk_ar,
                  sk_e_out=sa.keys.sk_ei, sk_a_out=sa.keys.sk_ai)


def test_simultaneous_rekey_ours_redundant(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    followups, theirs = _collide(p, our_exchange_lowest=True)
    # we close the SA our exchange made; theirs keeps the session; the old SA
    # is theirs to delete
    [delete] = followups
    ours = p.h.responder.sas[Header.parse(delete).spi_i]
    assert ours.original_initiator and ours.state is State.DELETING and ours.successor is theirs
    assert p.live() == [theirs] and theirs.children and theirs.lease is not None
    assert p.old.state is State.ESTABLISHED and p.old.rekeyed  # waiting for the client's Delete
    assert not _events(p.effects, IkeSaDeleted)


def test_simultaneous_rekey_theirs_redundant(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    followups, theirs = _collide(p, our_exchange_lowest=False)
    # the session moves on from their SA to ours; they close theirs; we
    # delete the old SA
    [new] = p.live()
    assert new.original_initiator and new.predecessor is theirs and theirs.successor is new
    assert new.children and new.lease is not None and theirs.children == []
    [delete] = followups
    assert Header.parse(delete).spi_r == p.old.spi_r and p.old.state is State.DELETING
    assert not _events(p.effects, IkeSaDeleted)
