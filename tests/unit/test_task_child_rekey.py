"""Our rekey of a Child SA on its soft lifetime (RFC 7296 §1.3.3, §2.8),
against the in-process initiator answering it: the new pair installed
with the keys of an exchange we initiated (§2.17), the old one deleted
by us; PFS with `set pfs`; INVALID_KE_PAYLOAD retried once in an allowed
group; TEMPORARY_FAILURE retried later (§2.25); collisions (§2.8.1) and a
client deleting the pair meanwhile; a client that never answers."""

from __future__ import annotations

from pathlib import Path

from ikev2d.core import Responder, settle
from ikev2d.crypto.keymat import derive_child_keys
from ikev2d.effects import Emit, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.events import ChildSaRekeyed, IkeSaDeleted, NegotiationAborted
from ikev2d.iana import DhId, ExchangeType, NotifyType, ProtocolId
from ikev2d.protect import unprotect_message
from ikev2d.sa import IkeSa
from ikev2d.settings import build_settings
from ikev2d.wire.header import Header
from ikev2d.wire.message import Message
from ikev2d.wire.payloads import KE, Delete, Notify
from lab.initiator import IkeFailure, Initiator

from responder_harness import Harness, make_config

PROPOSALS_LINE = "ipsec_proposals: [NSA]"


def _requests(effects: list) -> list[bytes]:
    return [e.data for e in effects if isinstance(e, SendDatagram) and not Header.parse(e.data).is_response]


def _events(effects: list, kind: type) -> list:
    return [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, kind)]


class Peer:
    """One connected client and its SA; delivers our requests to it."""

    def __init__(self, harness: Harness, **options) -> None:
        self.h = harness
        self.client: Initiator = harness.client(**options)
        self.client.connect()
        [self.sa] = harness.responder.sas.values()
        self.effects: list = []

    def settle(self, effects: list) -> list:
        out = settle(self.h.responder, effects, self.h.worker, self.h.now)
        self.effects += out
        return out

    def soft_expiry(self) -> list[bytes]:
        [child] = self.sa.children
        return _requests(self.settle(self.h.responder.child_sa_expired(child.spec.spi_in, False, self.h.now)))

    def deliver(self, request: bytes) -> list[bytes]:
        """The client answers `request`; what we send next (our requests)."""
        [answer] = self.client.answer(request)
        return _requests(self.settle(self.h.responder.datagram_received(answer, self.sa.local, self.sa.remote,
                                                                         self.h.now)))

    def message(self, request: bytes) -> Message:
        return unprotect_message(request, self.client.sk)


def _pfs_harness(tmp_path: Path, pki_dir: Path) -> Harness:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      PROPOSALS_LINE: f"{PROPOSALS_LINE}\n  pfs_group: 15"})
    return Harness(Responder(build_settings(config)))


def test_a_soft_expiry_rekeys_the_child_and_we_delete_the_old_one(harness: Harness) -> None:
    peer = Peer(harness)
    [old] = peer.sa.children
    [request] = peer.soft_expiry()
    message = peer.message(request)
    assert message.exchange == ExchangeType.CREATE_CHILD_SA and not Header.parse(request).is_response
    rekey = message.notify(NotifyType.REKEY_SA)
    assert rekey is not None and rekey.protocol == ProtocolId.ESP
    assert int.from_bytes(rekey.spi, "big") == old.spec.spi_in  # the SPI we receive on (§1.3.3)
    assert message.get(KE) is None  # no `set pfs`
    [delete] = peer.deliver(request)
    [new] = peer.sa.children
    assert new.spec.spi_in == peer.client.result.esp_spi_out and new.spec.spi_out == peer.client.esp_spi
    # §2.17: we initiated the exchange, so the first keys are ours to send with
    keys = peer.client.child_keys
    assert keys is not None
    assert (new.spec.encr_key_out, new.spec.integ_key_out) == (keys.encr_i, keys.integ_i)
    assert (new.spec.encr_key_in, new.spec.integ_key_in) == (keys.encr_r, keys.integ_r)
    assert peer.message(delete).get(Delete) == Delete(ProtocolId.ESP, [old.spec.spi_in.to_bytes(4, "big")])
    assert [e.spec.spi_in for e in peer.effects if isinstance(e, RemoveChildSa)] == [old.spec.spi_in]
    [rekeyed] = _events(peer.effects, ChildSaRekeyed)
    assert (rekeyed.old_spi_in, rekeyed.spi_in) == (old.spec.spi_in, new.spec.spi_in)
    peer.client.answer(delete)
    assert peer.client.peer_deleted_esp == [old.spec.spi_in]


def test_one_soft_expiry_one_rekey(harness: Harness) -> None:
    peer = Peer(harness)
    [child] = peer.sa.children
    assert len(peer.soft_expiry()) == 1
    # the kernel reports bytes and time alike: a second report finds the rekey under way
    assert peer.h.responder.child_sa_expired(child.spec.spi_in, False, peer.h.now) == []


def test_with_set_pfs_the_request_carries_a_ke_and_the_keys_use_it(tmp_path: Path, pki_dir: Path) -> None:
    peer = Peer(_pfs_harness(tmp_path, pki_dir))
    [request] = peer.soft_expiry()
    ke = peer.message(request).get(KE)
    assert ke is not None and ke.group == DhId.MODP_3072
    peer.deliver(request)
    [new] = peer.sa.children
    assert peer.client.child_shared_secret is not None and peer.client.child_nonces is not None
    nonce_i, nonce_r = peer.client.child_nonces
    with_pfs = derive_child_keys(peer.sa.prf, peer.sa.keys.sk_d, nonce_i, nonce_r, 32, 64,
                                 peer.client.child_shared_secret)
    assert new.spec.encr_key_out == with_pfs.encr_i and new.spec.encr_key_in == with_pfs.encr_r


def test_invalid_ke_is_retried_once_in_a_group_we_allow(harness: Harness) -> None:
    """Without `set pfs` we send no KE; a client that insists on PFS names
    its group, one our IKEv2 policy allows: we retry with it (§1.3)."""
    peer = Peer(harness)
    peer.client.answer_pfs_group = DhId.MODP_3072
    [request] = peer.soft_expiry()
    [retry] = peer.deliver(request)
    ke = peer.message(retry).get(KE)
    assert ke is not None and ke.group == DhId.MODP_3072
    peer.deliver(retry)
    assert len(peer.sa.children) == 1 and peer.sa.children[0].spec.spi_in == peer.client.result.esp_spi_out
    assert peer.client.child_shared_secret is not None


def test_invalid_ke_naming_a_group_set_pfs_does_not_allow_ends_the_attempt(tmp_path: Path, pki_dir: Path) -> None:
    peer = Peer(_pfs_harness(tmp_path, pki_dir))
    [old] = peer.sa.children
    peer.client.answer_pfs_group = DhId.MODP_2048
    [request] = peer.soft_expiry()
    assert peer.deliver(request) == []
    assert peer.sa.children == [old] and peer.sa.child_rekeys == {}
    [aborted] = _events(peer.effects, NegotiationAborted)
    assert "INVALID_KE_PAYLOAD" in aborted.reason
    # the hard lifetime still ends the pair
    effects = peer.h.responder.child_sa_expired(old.spec.spi_in, True, peer.h.now)
    assert peer.sa.children == [] and any(isinstance(e, RemoveChildSa) for e in effects)


def test_no_proposal_chosen_leaves_the_pair_to_its_hard_lifetime(harness: Harness) -> None:
    peer = Peer(harness)
    [old] = peer.sa.children
    peer.client.child_rekey_refusals = [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    [request] = peer.soft_expiry()
    assert peer.deliver(request) == []
    assert peer.sa.children == [old]
    [delete] = _requests(peer.h.responder.child_sa_expired(old.spec.spi_in, True, peer.h.now))
    assert peer.message(delete).get(Delete) == Delete(ProtocolId.ESP, [old.spec.spi_in.to_bytes(4, "big")])


def test_temporary_failure_is_retried_later(harness: Harness) -> None:
    peer = Peer(harness)
    peer.client.child_rekey_refusals = [Notify(NotifyType.TEMPORARY_FAILURE)]
    [request] = peer.soft_expiry()
    assert peer.deliver(request) == []
    start, retries = peer.h.now, []
    while not retries:  # the timer fires when the retry is due (and maybe earlier, finding nothing)
        when = peer.h.responder.get_timer()
        assert when is not None and when <= start + 10
        peer.h.now = when
        retries = _requests(peer.settle(peer.h.responder.handle_timer(when)))
    assert peer.h.now >= start + 5
    [retry] = retries
    assert peer.message(retry).notify(NotifyType.REKEY_SA) is not None
    assert len(peer.deliver(retry)) == 1  # our Delete of the old pair
    assert len(peer.sa.children) == 1 and peer.sa.children[0].spec.spi_in == peer.client.result.esp_spi_out


def test_child_sa_not_found_stops(harness: Harness) -> None:
    peer = Peer(harness)
    [old] = peer.sa.children
    peer.client.child_rekey_refusals = [Notify(NotifyType.CHILD_SA_NOT_FOUND)]
    [request] = peer.soft_expiry()
    assert peer.deliver(request) == []
    assert peer.sa.rekey_retries == {} and peer.sa.child_rekeys == {} and peer.sa.children == [old]


def _collide(peer: Peer, client_nonce: bytes, answer_nonce: bytes) -> tuple[int, list[bytes]]:
    """Both ends rekey the pair at once: our request crosses the client's."""
    [old] = peer.sa.children
    [ours] = peer.soft_expiry()
    client_spi, _ = peer.client.rekey_child(delete_old=False, nonce=client_nonce)  # we answer it: pair B
    peer.client.answer_nonce = answer_nonce
    return old.spec.spi_in, peer.deliver(ours)  # the client answers ours: pair A


def test_a_collision_we_lose_closes_our_redundant_pair(harness: Harness) -> None:
    """§2.8.1: the lowest of the four nonces is in our exchange (the
    client's answer to it): our new pair is redundant, we delete it, and
    leave the old one to the client, whose rekey survives."""
    peer = Peer(harness)
    old_spi, [delete] = _collide(peer, client_nonce=b"\xff" * 32, answer_nonce=b"\x00" * 32)
    ours = next(e.spec for e in reversed(peer.effects) if isinstance(e, InstallChildSa))
    assert peer.message(delete).get(Delete) == Delete(ProtocolId.ESP, [ours.spi_in.to_bytes(4, "big")])
    assert {c.spec.spi_in for c in peer.sa.children} == {old_spi, peer.sa.children[-1].spec.spi_in}
    assert ours.spi_in not in {c.spec.spi_in for c in peer.sa.children}
    assert _events(peer.effects, ChildSaRekeyed) == []


def test_a_collision_we_win_deletes_the_old_pair(harness: Harness) -> None:
    """§2.8.1: the lowest nonce is the client's own request's: its pair is
    redundant (the client closes it); ours survives and we delete the old."""
    peer = Peer(harness)
    old_spi, [delete] = _collide(peer, client_nonce=b"\x00" * 32, answer_nonce=b"\xff" * 32)
    assert peer.message(delete).get(Delete) == Delete(ProtocolId.ESP, [old_spi.to_bytes(4, "big")])
    assert old_spi not in {c.spec.spi_in for c in peer.sa.children}
    assert len(peer.sa.children) == 2  # ours, and the client's until it deletes it
    [rekeyed] = _events(peer.effects, ChildSaRekeyed)
    assert rekeyed.old_spi_in == old_spi


def test_a_rekey_the_client_finished_first_is_not_sent(tmp_path: Path, pki_dir: Path) -> None:
    """With `set pfs` our request waits for its KE; if the client rekeyed
    the pair meanwhile, there is nothing left for us to rekey."""
    h = _pfs_harness(tmp_path, pki_dir)
    peer = Peer(h)
    [old] = peer.sa.children
    keygen = h.responder.child_sa_expired(old.spec.spi_in, False, h.now)
    assert _requests(keygen) == []  # the KE job first
    peer.client.rekey_child(pfs_groups=(DhId.MODP_3072,))  # rekeys and deletes the old pair
    assert _requests(peer.settle(keygen)) == []
    assert peer.sa.child_rekeys == {}


def test_a_pair_the_client_deleted_meanwhile_takes_the_new_one_with_it(harness: Harness) -> None:
    peer = Peer(harness)
    [old] = peer.sa.children
    [request] = peer.soft_expiry()
    peer.client.exchange(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.ESP, [peer.client.esp_spi.to_bytes(4, "big")])])
    assert peer.sa.children == []
    [delete] = peer.deliver(request)
    new_spi = peer.client.result.esp_spi_out
    assert peer.message(delete).get(Delete) == Delete(ProtocolId.ESP, [new_spi.to_bytes(4, "big")])
    assert peer.sa.children == [] and not any(isinstance(e, InstallChildSa) and e.spec.spi_in == new_spi
                                             for e in peer.effects)
    assert old.spec.spi_in != new_spi


def test_a_client_that_never_answers_loses_its_ike_sa(harness: Harness) -> None:
    """§2.4: our request retransmitted, then given up on with the SA."""
    peer = Peer(harness)
    [request] = peer.soft_expiry()
    sa: IkeSa = peer.sa
    sent = [request]
    effects: list = []
    while harness.responder.sas:
        when = harness.responder.get_timer()
        assert when is not None and when < harness.now + 120
        effects = harness.responder.handle_timer(when)
        sent += _requests(effects)
    assert sent.count(request) == 4  # the first and three retransmits
    assert [e.reason for e in _events(effects, IkeSaDeleted)] == ["Peer not responding (DPD)"]
    assert sa.children == []


def test_a_client_ike_rekey_while_ours_of_a_child_is_in_flight_waits_for_it(harness: Harness) -> None:
    """§2.25: the client's IKE SA rekey crosses our Child rekey: it gets
    TEMPORARY_FAILURE and the SA stays; our rekey completes on it; the
    client's next try moves the session, with the new pair, to the new SA."""
    peer = Peer(harness)
    [old] = peer.sa.children
    [ours] = peer.soft_expiry()
    try:
        peer.client.rekey_ike()
        raise AssertionError("the IKE rekey went through while our Child rekey was in flight")
    except IkeFailure as refused:
        assert refused.notify == NotifyType.TEMPORARY_FAILURE
    assert list(harness.responder.sas.values()) == [peer.sa] and not peer.sa.rekeyed
    [delete] = peer.deliver(ours)  # the client answers our rekey: the new pair, then the old one's Delete
    peer.client.answer(delete)
    [new] = peer.sa.children
    assert new.spec.spi_in != old.spec.spi_in and peer.sa.child_rekeys == {}
    peer.client.rekey_ike()  # the retry, now that ours is done
    successor = next(sa for sa in harness.responder.sas.values() if sa is not peer.sa)
    assert [c.spec.spi_in for c in successor.children] == [new.spec.spi_in]
