"""CREATE_CHILD_SA as a responder (RFC 7296 §1.3, §2.8): rekeying the Child
SA and rekeying the IKE SA itself.

A remote-access client keeps one Child SA; a request for an additional one
is refused with NO_ADDITIONAL_SAS. A Child rekey may carry PFS (§1.3.1): a
KE in the group both sides' proposals name, required when the crypto map
sets one (`set pfs`), accepted otherwise in any group our IKEv2 policies
allow; a KE in another group gets INVALID_KE_PAYLOAD naming ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..crypto.jobs import DhJob, DhResult, JobFailed
from ..crypto.keymat import derive_rekeyed_ike_keys
from ..crypto.transforms import get_encr, get_integ, get_prf
from ..effects import Effect, Emit
from ..events import ChildSaRekeyed, IkeSaRekeyed, NegotiationAborted
from ..iana import NotifyType, ProtocolId
from ..sa_types import Deferred, State
from ..wire.message import Message
from ..wire.payloads import KE, SA, Nonce, Notify, Payload, Proposal, TSi, TSr
from .child_sa import NO_MATCHING_POLICY
from .proposals import describe_ipsec_proposals, describe_offer, describe_policies, select_esp, select_ike

if TYPE_CHECKING:
    from ..sa import IkeSa

NONCE_SIZE = 32
CHILD_SPI_SIZE = 4  # AH and ESP (RFC 7296 §3.3.1, §3.10)
IKE_SPI_SIZE = 8
# A remote-access client keeps one Child SA, two while a rekey waits for the
# client to delete the old one (§2.8); the rules of ClientChildRekey keep it
# there. This cap backs them up with some headroom: past it a client would
# only grow our state and the data plane's, so a rekey gets NO_ADDITIONAL_SAS
# (§3.10.1).
MAX_CHILD_SAS = 4


def create_child_sa(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
    """The client's CREATE_CHILD_SA request, to the task that answers it."""
    if sa.state is not State.ESTABLISHED:
        return [Notify(NotifyType.TEMPORARY_FAILURE)]  # §2.25: e.g. while we delete it
    offer, nonce = message.get(SA), message.get(Nonce)
    if offer is None or nonce is None or not offer.proposals:
        return [Notify(NotifyType.INVALID_SYNTAX)]
    if len(nonce.data) < max(16, sa.prf.key_size // 2):
        return [Notify(NotifyType.INVALID_SYNTAX)]
    if offer.proposals[0].protocol == ProtocolId.IKE:
        return ClientIkeRekey(sa, message, offer, nonce.data).process(now, effects)
    rekey = message.notify(NotifyType.REKEY_SA)
    if rekey is None:
        return [Notify(NotifyType.NO_ADDITIONAL_SAS)]
    if rekey.protocol not in (ProtocolId.AH, ProtocolId.ESP) or len(rekey.spi) != CHILD_SPI_SIZE:
        # §3.10: REKEY_SA names the Child SA by its protocol and 4-octet SPI
        return [Notify(NotifyType.INVALID_SYNTAX)]
    return ClientChildRekey(sa, message, offer, nonce.data, rekey).process(now, effects)


def _no_match(sa: "IkeSa", what: str, offered: str, configured: str) -> Effect:
    """The one line, at the default verbosity, that says why nothing matched."""
    return Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username, NO_MATCHING_POLICY,
                                   f"{what}: no proposal matches: offered {offered}; configured {configured}"))


def _job_failure(result: object) -> str:
    return result.reason if isinstance(result, JobFailed) else "unexpected job result"


class ClientChildRekey:
    """The client rekeys a Child SA (§1.3.3, §2.8): the old pair, named by
    REKEY_SA, stays until the client deletes it; PFS as `set pfs` says."""

    def __init__(self, sa: "IkeSa", message: Message, offer: SA, nonce_i: bytes, rekey: Notify) -> None:
        self.sa, self.message, self.offer, self.nonce_i, self.rekey = sa, message, offer, nonce_i, rekey
        self.pfs = sa.settings.pfs
        self.group = 0  # the PFS group agreed, 0 for none

    def process(self, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        sa, rekey = self.sa, self.rekey
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
        tsi, tsr = self.message.get(TSi), self.message.get(TSr)
        if tsi is None or tsr is None:
            return [Notify(NotifyType.INVALID_SYNTAX)]
        self.old, self.tsi, self.tsr, self.address = old, tsi, tsr, sa.lease[1]
        chosen = select_esp(self.offer.proposals, sa.settings.ipsec_proposals, self.pfs)
        if chosen is None:
            effects.append(_no_match(sa, "Child SA rekey", describe_offer(self.offer.proposals),
                                     describe_ipsec_proposals(sa.settings.ipsec_proposals, self.pfs)))
            return [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
        self.group = chosen[1].dh_id
        ke = self.message.get(KE)
        if not self.group:
            if ke is not None:  # §1.3.1: a KE without a DH transform agreed is a mistake
                return [Notify(NotifyType.INVALID_SYNTAX)]
            return self._new_child(now, effects)
        if ke is None or ke.group != self.group:
            # §1.3 / §3.10.1: name the group we want, the client tries again
            return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=self.group.to_bytes(2, "big"))]
        return Deferred(DhJob(self.group, ke.data), self.finish)

    def finish(self, result: object, now: float, effects: list[Effect]) -> list[Payload]:
        """The PFS DH job came back."""
        if not isinstance(result, DhResult):
            effects.append(self.sa.dropped(f"Child rekey KE: {_job_failure(result)}"))
            local = isinstance(result, JobFailed) and result.local
            return [Notify(NotifyType.TEMPORARY_FAILURE if local else NotifyType.INVALID_SYNTAX)]
        payloads = self._new_child(now, effects, result.shared)
        if isinstance(payloads[0], Notify):
            return payloads  # refused: no KE of ours goes with it
        return payloads + [KE(self.group, result.public)]

    def _new_child(self, now: float, effects: list[Effect], shared: bytes | None = None) -> list[Payload]:
        sa, old = self.sa, self.old
        nonce_r = sa.random(NONCE_SIZE)
        negotiated = sa.negotiate_child_sa(self.offer, self.tsi, self.tsr, self.address, self.nonce_i, nonce_r, now,
                                           effects, self.pfs, shared, old.spec.spi_in)
        if isinstance(negotiated, Notify):
            return [negotiated]
        reply, tsi_out, tsr_out, child = negotiated
        child.lowest_nonce = min(self.nonce_i, nonce_r)  # for a collision with a rekey of ours (§2.8.1)
        # the old pair stays until the initiator deletes it (§2.8)
        old.replaced_by = child.spec.spi_in
        effects.append(Emit(ChildSaRekeyed(sa.name, sa.local, sa.remote, sa.username, old.spec.spi_in,
                                           child.spec.spi_in, child.spec.spi_out)))
        return [reply, Nonce(nonce_r), tsi_out, tsr_out]


class ClientIkeRekey:
    """The client rekeys the IKE SA (§1.3.2, §2.8): the session moves to the
    new SA, of which the client is the original initiator; the old one
    waits for the client's Delete."""

    def __init__(self, sa: "IkeSa", message: Message, offer: SA, nonce_i: bytes) -> None:
        self.sa, self.message, self.offer, self.nonce_i = sa, message, offer, nonce_i

    def process(self, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        sa = self.sa
        if sa.rekeyed:
            # §2.8: the initiator deletes the old IKE SA once the new one is up. A
            # second rekey of it means it did not: we close it ourselves (its
            # session lives on in the successor) and refuse as §2.25 asks for a
            # rekey of an SA being closed.
            effects += sa.initiate_delete(now, "IKE SA rekeyed twice")
            return [Notify(NotifyType.TEMPORARY_FAILURE)]
        if sa.child_rekeys:
            # §2.25: a temporary condition such as a rekeying operation. Our
            # rekey of a Child SA is in flight on this SA; were its answer to
            # come after the move, the new pair would be lost with the old SA
            # and the old pair left to die at its hard lifetime. The client
            # tries again later (it MUST wait), once ours is done.
            return [Notify(NotifyType.TEMPORARY_FAILURE)]
        if any(p.protocol == ProtocolId.IKE and (len(p.spi) != IKE_SPI_SIZE or not any(p.spi))
               for p in self.offer.proposals):
            # §3.3.1: a rekey proposal carries the initiator's new 8-octet IKE
            # SPI, which is never zero (§3.1)
            return [Notify(NotifyType.INVALID_SYNTAX)]
        chosen = select_ike(self.offer.proposals, sa.settings.ike_policies, spi_size=IKE_SPI_SIZE)
        if chosen is None:
            effects.append(_no_match(sa, "IKE SA rekey", describe_offer(self.offer.proposals),
                                     describe_policies(sa.settings.ike_policies)))
            return [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
        self.proposal, self.suite, _policy = chosen
        ke = self.message.get(KE)
        if ke is None or ke.group != self.suite.dh_id:
            return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=int(self.suite.dh_id).to_bytes(2, "big"))]
        return Deferred(DhJob(self.suite.dh_id, ke.data), self.finish)

    def finish(self, result: object, now: float, effects: list[Effect]) -> list[Payload]:
        """The DH job came back: the new IKE SA, and our answer."""
        sa, suite, spi_i_new = self.sa, self.suite, self.proposal.spi
        if not isinstance(result, DhResult):
            effects.append(sa.dropped(f"IKE rekey KE: {_job_failure(result)}"))
            return [Notify(NotifyType.INVALID_SYNTAX)]
        prf = get_prf(suite.prf_id)
        encr = get_encr(suite.encr_id, suite.encr_bits)
        integ = None if suite.is_aead else get_integ(suite.integ_id)
        nonce_r = sa.random(max(NONCE_SIZE, prf.key_size // 2))
        spi_r_new = sa.new_ike_spi()
        keys = derive_rekeyed_ike_keys(sa.prf, sa.keys.sk_d, prf, encr, integ, self.nonce_i, nonce_r, result.shared,
                                       spi_i_new, spi_r_new)
        successor = sa.rekeyed_into(spi_i=spi_i_new, spi_r=spi_r_new, suite=suite, keys=keys, prf=prf,
                                    encr=encr, integ=integ, nonce_i=self.nonce_i, nonce_r=nonce_r, now=now)
        sa.hand_over_to(successor)
        # the IKE SA this one replaced, if the initiator never deleted it (§2.8)
        stale, sa.predecessor = sa.predecessor, None
        if stale is not None:
            effects.extend(stale.initiate_delete(now, "IKE SA rekeyed again"))
        effects.append(Emit(IkeSaRekeyed(sa.name, sa.local, sa.remote, sa.username, successor.name,
                                         suite.describe())))
        reply = Proposal(self.proposal.number, ProtocolId.IKE, spi_r_new, suite.transforms())
        return [SA([reply]), Nonce(nonce_r), KE(suite.dh_id, result.public)]
