"""CREATE_CHILD_SA as an initiator: our rekey of the IKE SA before its
IKEv2 policy lifetime ends (RFC 7296 §1.3.2, §2.8, §2.18), as an ASA
renegotiates its IKE SA itself (docs/ftd-behaviour.md, "Session limits of a
group policy").

We offer the SA's own suite (the peer agreed to it already) with the
policy's other DH groups behind it, a Nonce and a KE in the SA's group
(computed by a job before the request leaves). The answer makes a new IKE
SA of which *we* are the original initiator: our new SPI is SPIi, our
nonce Ni, and we protect with SK_ei (§2.18). The session moves to it and
we, the rekey's initiator, delete the old IKE SA (§2.8).

If the client rekeys the same IKE SA at the same time (§2.8.2), both
exchanges finish; the one with the lowest of the four nonces made the
redundant IKE SA, which its initiator deletes. If ours is redundant, the
new SA is made only to close it; if theirs is, the session moves on from
their SA to ours and they close theirs. If the client deletes the old SA
meanwhile, our answer never comes (§2.25.2) and nothing is left behind.
A rekey that fails is tried again; the lifetime's end deletes the SA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..crypto.jobs import DhJob, DhKeyGenJob, DhKeyPair, DhResult, JobFailed, JobResult
from ..crypto.keymat import derive_rekeyed_ike_keys
from ..crypto.transforms import get_encr, get_integ, get_prf
from ..effects import Effect, Emit
from ..events import IkeSaRekeyed, NegotiationAborted
from ..iana import ERROR_NOTIFY_LIMIT, ExchangeType, NotifyType, ProtocolId, TransformType
from ..sa_types import Spawned, State
from ..wire.message import Message
from ..wire.payloads import KE, SA, Nonce, Notify, Proposal, Transform
from .proposals import IkeSuite

if TYPE_CHECKING:
    from ..sa import IkeSa

NONCE_SIZE = 32
MIN_NONCE_SIZE = 16  # RFC 7296 §2.10
IKE_SPI_SIZE = 8
# the share of the IKE SA's lifetime after which we rekey it (the Child SAs'
# soft lifetime is at the same share); the rest is for retries, then delete
REKEY_AT = 0.9
# a TEMPORARY_FAILURE or a lost attempt is tried again this much later
RETRY_AFTER = 10.0


class IkeRekey:
    """Our rekey of the IKE SA `sa`."""

    def __init__(self, sa: "IkeSa") -> None:
        self.sa = sa
        self.group = 0
        self.private = b""
        self.nonce = b""
        self.spi = b""  # our SPI of the new IKE SA: its SPIi
        self.ke_retried = False

    def start(self, now: float) -> list[Effect]:
        sa = self.sa
        if sa.state is not State.ESTABLISHED or sa.rekeyed or sa.ike_rekey is not None:
            return []
        sa.ike_rekey = self
        return self._offer(sa.suite.dh_id)

    def _offer(self, group: int) -> list[Effect]:
        self.group = group
        return [self.sa.compute(DhKeyGenJob(group), self._keyed)]

    def _keyed(self, result: JobResult, now: float, effects: list[Effect]) -> None:
        sa = self.sa
        if not isinstance(result, DhKeyPair):
            effects += self._failed(f"our KE: {_job_failure(result)}", now)
            return
        if sa.state is not State.ESTABLISHED or sa.rekeyed:
            self._done()  # deleted or rekeyed by the client meanwhile: nothing to do
            return
        self.private = result.private
        self.spi = sa.new_ike_spi()
        self.nonce = sa.random(max(NONCE_SIZE, sa.prf.key_size // 2))
        offer = Proposal(1, ProtocolId.IKE, self.spi, _transforms(sa.suite, self._groups()))
        effects += sa.send_request(ExchangeType.CREATE_CHILD_SA,
                                   [SA([offer]), Nonce(self.nonce), KE(self.group, result.public)],
                                   now, self._answered)

    def _groups(self) -> list[int]:
        """The KE's group first, then the others our policies allow for this suite."""
        others = [g for p in self.sa.settings.ike_policies for g in p.dh_groups if g != self.group]
        return [self.group, *dict.fromkeys(others)]

    # -- the answer ---------------------------------------------------------------

    def _answered(self, message: Message, now: float, effects: list[Effect]) -> None:
        sa = self.sa
        error = next((n for n in message.notifies() if n.type < ERROR_NOTIFY_LIMIT), None)
        if error is not None:
            effects += self._refused(error, now)
            return
        reply, nonce, ke = message.get(SA), message.get(Nonce), message.get(KE)
        if reply is None or nonce is None or ke is None or len(reply.proposals) != 1:
            effects += self._failed("the answer lacks SA, Nonce or KE", now)
            return
        proposal = reply.proposals[0]
        suite = _chosen(proposal, sa.suite, self._groups())
        if suite is None or len(proposal.spi) != IKE_SPI_SIZE or not any(proposal.spi):
            effects += self._failed("the answer chose nothing we offered", now)
            return
        if ke.group != self.group or suite.dh_id != self.group or len(nonce.data) < MIN_NONCE_SIZE:
            effects += self._failed("the answer's KE or nonce does not fit our offer", now)
            return

        def shared(result: JobResult, now: float, effects: list[Effect]) -> None:
            if not isinstance(result, DhResult):
                effects += self._failed(f"the client's KE: {_job_failure(result)}", now)
                return
            effects += self._install(suite, proposal.spi, nonce.data, result.shared, now)

        effects.append(sa.compute(DhJob(self.group, ke.data, private=self.private), shared))

    def _refused(self, error: Notify, now: float) -> list[Effect]:
        if error.type == NotifyType.INVALID_KE_PAYLOAD and not self.ke_retried and len(error.data) == 2:
            wanted = int.from_bytes(error.data, "big")
            if wanted != self.group and wanted in self._groups():
                self.ke_retried = True  # RFC 7296 §1.3: once, in the group the peer names
                return self._offer(wanted)
        name = NotifyType(error.type).name if error.type in NotifyType._value2member_map_ else str(error.type)
        return self._failed(f"refused with {name}", now)

    def _install(self, suite: IkeSuite, peer_spi: bytes, nonce_r: bytes, shared: bytes,
                 now: float) -> list[Effect]:
        sa = self.sa
        self._done()
        if sa.state is not State.ESTABLISHED:
            return []  # we or the client are deleting the old SA: the new one would be moot
        prf = get_prf(suite.prf_id)
        encr = get_encr(suite.encr_id, suite.encr_bits)
        integ = None if suite.is_aead else get_integ(suite.integ_id)
        keys = derive_rekeyed_ike_keys(sa.prf, sa.keys.sk_d, prf, encr, integ, self.nonce, nonce_r, shared,
                                       self.spi, peer_spi)
        new_keys = dict(spi_i=self.spi, spi_r=peer_spi, suite=suite, keys=keys, prf=prf, encr=encr, integ=integ,
                        nonce_i=self.nonce, nonce_r=nonce_r, now=now, ours=True)
        theirs = sa.successor
        effects: list[Effect] = []
        if theirs is None:
            ours = sa.rekeyed_into(**new_keys)  # type: ignore[arg-type]
            sa.hand_over_to(ours)
        elif min(self.nonce, nonce_r) < min(theirs.nonce_i, theirs.nonce_r):
            # §2.8.2: the lowest nonce is in our exchange, so our new SA is the
            # redundant one: made only to be closed by us. Theirs carries the
            # session, and they close the old one.
            redundant = sa.rekeyed_into(**new_keys)  # type: ignore[arg-type]
            sa.sessions.changed(sa, Spawned(redundant))
            redundant.hand_over_to(theirs)
            return redundant.initiate_delete(now, "redundant IKE SA of a simultaneous rekey")
        else:
            # theirs is the redundant one, theirs to close: the session moves
            # on from it to ours
            ours = theirs.rekeyed_into(**new_keys)  # type: ignore[arg-type]
            theirs.hand_over_to(ours)
        effects.append(Emit(IkeSaRekeyed(sa.name, sa.local, sa.remote, sa.username, ours.name, suite.describe())))
        # §2.8: the rekey's initiator deletes the old IKE SA
        return effects + sa.initiate_delete(now, "IKE SA rekeyed")

    # -- the end ------------------------------------------------------------------

    def _done(self) -> None:
        if self.sa.ike_rekey is self:
            self.sa.ike_rekey = None

    def _failed(self, reason: str, now: float) -> list[Effect]:
        """Try again a little later, while the lifetime lasts; its end
        deletes the SA (IkeSa.tick)."""
        sa = self.sa
        self._done()
        sa.ike_rekey_retry_at = now + RETRY_AFTER + RETRY_AFTER * sa.random(1)[0] / 255
        return [Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                        f"IKE SA rekey failed: {reason}"))]


def _transforms(suite: IkeSuite, groups: list[int]) -> list[Transform]:
    """`suite`'s transforms, with every group of `groups` as its DH choices."""
    return ([t for t in suite.transforms() if t.type != TransformType.DH]
            + [Transform(TransformType.DH, g) for g in groups])


def _chosen(proposal: Proposal, suite: IkeSuite, groups: list[int]) -> IkeSuite | None:
    """The suite the answer's proposal picked, if it is `suite` with one of
    `groups`: exactly one transform of each type, and nothing else."""
    if proposal.protocol != ProtocolId.IKE:
        return None
    by_type: dict[int, list[Transform]] = {}
    for t in proposal.transforms:
        by_type.setdefault(t.type, []).append(t)
    if any(len(ts) != 1 for ts in by_type.values()):
        return None
    dh = by_type.get(TransformType.DH, [None])[0]
    if dh is None or dh.id not in groups:
        return None
    ours = {(t.type, t.id, t.key_length) for t in suite.transforms() if t.type != TransformType.DH}
    theirs = {(t.type, t.id, t.key_length) for t in proposal.transforms if t.type != TransformType.DH}
    if ours != theirs:
        return None
    return IkeSuite(suite.encr_id, suite.encr_bits, suite.integ_id, suite.prf_id, dh.id)


def _job_failure(result: JobResult) -> str:
    return result.reason if isinstance(result, JobFailed) else "unexpected job result"
