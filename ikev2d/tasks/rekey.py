"""CREATE_CHILD_SA as a responder (RFC 7296 §1.3, §2.8): rekeying the Child
SA and rekeying the IKE SA itself.

A remote-access client keeps one Child SA; a request for an additional one
is refused with NO_ADDITIONAL_SAS. A Child rekey may carry PFS (§1.3.1): a
KE in the group both sides' proposals name, required when the crypto map
sets one (`set pfs`), accepted otherwise in any group our IKEv2 policies
allow; a KE in another group gets INVALID_KE_PAYLOAD naming ours.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from ..crypto.jobs import DhJob, DhResult, JobFailed
from ..crypto.keymat import derive_rekeyed_ike_keys
from ..crypto.transforms import get_encr, get_integ, get_prf
from ..effects import Effect, Emit
from ..events import ChildSaRekeyed, IkeSaRekeyed
from ..iana import NotifyType, ProtocolId
from ..sa_types import ChildSa, Deferred, State
from ..wire.message import Message
from ..wire.payloads import KE, SA, Nonce, Notify, Payload, Proposal, TSi, TSr
from .proposals import Pfs, select_esp, select_ike

if TYPE_CHECKING:
    from ..sa import IkeSa

NONCE_SIZE = 32
CHILD_SPI_SIZE = 4  # AH and ESP (RFC 7296 §3.3.1, §3.10)
IKE_SPI_SIZE = 8
# A remote-access client keeps one Child SA, two while a rekey waits for the
# client to delete the old one (§2.8); the rules in _rekey_child keep it
# there. This cap backs them up with some headroom: past it a client would
# only grow our state and the data plane's, so a rekey gets NO_ADDITIONAL_SAS
# (§3.10.1).
MAX_CHILD_SAS = 4


def create_child_sa(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
    if sa.state is not State.ESTABLISHED:
        return [Notify(NotifyType.TEMPORARY_FAILURE)]  # §2.25: e.g. while we delete it
    offer, nonce = message.get(SA), message.get(Nonce)
    if offer is None or nonce is None or not offer.proposals:
        return [Notify(NotifyType.INVALID_SYNTAX)]
    if len(nonce.data) < max(16, sa.prf.key_size // 2):
        return [Notify(NotifyType.INVALID_SYNTAX)]
    if offer.proposals[0].protocol == ProtocolId.IKE:
        return _rekey_ike(sa, message, offer, nonce.data, now, effects)
    rekey = message.notify(NotifyType.REKEY_SA)
    if rekey is None:
        return [Notify(NotifyType.NO_ADDITIONAL_SAS)]
    if rekey.protocol not in (ProtocolId.AH, ProtocolId.ESP) or len(rekey.spi) != CHILD_SPI_SIZE:
        # §3.10: REKEY_SA names the Child SA by its protocol and 4-octet SPI
        return [Notify(NotifyType.INVALID_SYNTAX)]
    return _rekey_child(sa, message, offer, nonce.data, rekey, now, effects)


def _rekey_child(sa: "IkeSa", message: Message, offer: SA, nonce_i: bytes, rekey: Notify, now: float,
                 effects: list[Effect]) -> list[Payload] | Deferred:
    old_spi_out = int.from_bytes(rekey.spi, "big")
    old = next((c for c in sa.children if c.spec.spi_out == old_spi_out), None)
    if old is None or rekey.protocol != ProtocolId.ESP or sa.lease is None:
        return [Notify(NotifyType.CHILD_SA_NOT_FOUND, protocol=rekey.protocol, spi=rekey.spi)]
    if old.replaced_by is not None:
        # §2.8: the initiator deletes the old SA once the new one is up. It
        # did not, and asks again: we close it ourselves and answer as §2.25
        # asks for a rekey of an SA being closed. No second replacement.
        effects += sa.delete_child(old.spec.spi_in, now)
        return [Notify(NotifyType.TEMPORARY_FAILURE)]
    for stale in [c for c in sa.children if c.replaced_by == old.spec.spi_in]:
        # rekeyed twice over and still not deleted by the initiator (§2.8)
        effects += sa.delete_child(stale.spec.spi_in, now)
    if len(sa.children) >= MAX_CHILD_SAS:
        return [Notify(NotifyType.NO_ADDITIONAL_SAS)]
    tsi, tsr = message.get(TSi), message.get(TSr)
    if tsi is None or tsr is None:
        return [Notify(NotifyType.INVALID_SYNTAX)]
    address, pfs = sa.lease[1], sa.settings.pfs
    chosen = select_esp(offer.proposals, sa.settings.ipsec_proposals, pfs)
    if chosen is None:
        return [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    group = chosen[1].dh_id
    ke = message.get(KE)
    if not group:
        if ke is not None:  # §1.3.1: a KE without a DH transform agreed is a mistake
            return [Notify(NotifyType.INVALID_SYNTAX)]
        return _new_child(sa, offer, tsi, tsr, address, nonce_i, old, now, effects, pfs)
    if ke is None or ke.group != group:
        # §1.3 / §3.10.1: name the group we want, the client tries again
        return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=group.to_bytes(2, "big"))]

    def finish(result: object, now: float, effects: list[Effect]) -> list[Payload]:
        if not isinstance(result, DhResult):
            reason = result.reason if isinstance(result, JobFailed) else "unexpected job result"
            effects.append(sa.dropped(f"Child rekey KE: {reason}"))
            local = isinstance(result, JobFailed) and result.local
            return [Notify(NotifyType.TEMPORARY_FAILURE if local else NotifyType.INVALID_SYNTAX)]
        payloads = _new_child(sa, offer, tsi, tsr, address, nonce_i, old, now, effects, pfs, result.shared)
        if isinstance(payloads[0], Notify):
            return payloads  # refused: no KE of ours goes with it
        return payloads + [KE(group, result.public)]

    return Deferred(DhJob(group, ke.data), finish)


def _new_child(sa: "IkeSa", offer: SA, tsi: TSi, tsr: TSr, address: IPv4Address, nonce_i: bytes, old: ChildSa,
               now: float, effects: list[Effect], pfs: Pfs, shared: bytes | None = None) -> list[Payload]:
    nonce_r = sa.random(NONCE_SIZE)
    negotiated = sa.negotiate_child_sa(offer, tsi, tsr, address, nonce_i, nonce_r, now, effects, pfs, shared)
    if isinstance(negotiated, Notify):
        return [negotiated]
    reply, tsi_out, tsr_out, child = negotiated
    child.lowest_nonce = min(nonce_i, nonce_r)  # for a collision with a rekey of ours (§2.8.1)
    # the old pair stays until the initiator deletes it (§2.8)
    old.replaced_by = child.spec.spi_in
    effects.append(Emit(ChildSaRekeyed(sa.name, sa.local, sa.remote, sa.username, old.spec.spi_in,
                                       child.spec.spi_in, child.spec.spi_out)))
    return [reply, Nonce(nonce_r), tsi_out, tsr_out]


def _rekey_ike(sa: "IkeSa", message: Message, offer: SA, nonce_i: bytes, now: float,
               effects: list[Effect]) -> list[Payload] | Deferred:
    if sa.rekeyed:
        # §2.8: the initiator deletes the old IKE SA once the new one is up. A
        # second rekey of it means it did not: we close it ourselves (its
        # session lives on in the successor) and refuse as §2.25 asks for a
        # rekey of an SA being closed.
        effects += sa.initiate_delete(now, "IKE SA rekeyed twice")
        return [Notify(NotifyType.TEMPORARY_FAILURE)]
    if any(p.protocol == ProtocolId.IKE and (len(p.spi) != IKE_SPI_SIZE or not any(p.spi))
           for p in offer.proposals):
        # §3.3.1: a rekey proposal carries the initiator's new 8-octet IKE
        # SPI, which is never zero (§3.1)
        return [Notify(NotifyType.INVALID_SYNTAX)]
    chosen = select_ike(offer.proposals, sa.settings.ike_policies, spi_size=IKE_SPI_SIZE)
    if chosen is None:
        return [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    proposal, suite, _policy = chosen
    ke = message.get(KE)
    if ke is None or ke.group != suite.dh_id:
        return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=int(suite.dh_id).to_bytes(2, "big"))]
    spi_i_new = proposal.spi

    def finish(result: object, now: float, effects: list[Effect]) -> list[Payload]:
        if not isinstance(result, DhResult):
            reason = result.reason if isinstance(result, JobFailed) else "unexpected job result"
            effects.append(sa.dropped(f"IKE rekey KE: {reason}"))
            return [Notify(NotifyType.INVALID_SYNTAX)]
        prf = get_prf(suite.prf_id)
        encr = get_encr(suite.encr_id, suite.encr_bits)
        integ = None if suite.is_aead else get_integ(suite.integ_id)
        nonce_r = sa.random(max(NONCE_SIZE, prf.key_size // 2))
        spi_r_new = sa.new_ike_spi()
        keys = derive_rekeyed_ike_keys(sa.prf, sa.keys.sk_d, prf, encr, integ, nonce_i, nonce_r, result.shared,
                                       spi_i_new, spi_r_new)
        successor = sa.rekeyed_into(spi_i=spi_i_new, spi_r=spi_r_new, suite=suite, keys=keys, prf=prf,
                                    encr=encr, integ=integ, nonce_i=nonce_i, nonce_r=nonce_r, now=now)
        sa.hand_over_to(successor)
        # the IKE SA this one replaced, if the initiator never deleted it (§2.8)
        stale, sa.predecessor = sa.predecessor, None
        if stale is not None:
            effects.extend(stale.initiate_delete(now, "IKE SA rekeyed again"))
        effects.append(Emit(IkeSaRekeyed(sa.name, sa.local, sa.remote, sa.username, successor.name,
                                         suite.describe())))
        reply = Proposal(proposal.number, ProtocolId.IKE, spi_r_new, suite.transforms())
        return [SA([reply]), Nonce(nonce_r), KE(suite.dh_id, result.public)]

    return Deferred(DhJob(suite.dh_id, ke.data), finish)
