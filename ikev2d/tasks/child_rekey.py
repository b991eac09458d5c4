"""CREATE_CHILD_SA as an initiator: our rekey of a Child SA whose soft
lifetime (seconds or kilobytes of the IPsec proposal) ran out (RFC 7296
§1.3.3, §2.8).

The request carries REKEY_SA naming the old pair by our inbound SPI, our
IPsec proposals, a Nonce, a KE when the crypto map sets PFS (computed by
a job before the request leaves), and the selectors the pair has. The
answer installs the new pair, and we, the rekey's initiator, delete the
old one (§2.8). What the client may do meanwhile:

- rekey the same pair itself (§2.8.1): the exchange holding the lowest of
  the four nonces made the redundant pair, which its initiator deletes; the
  initiator of the surviving one deletes the old pair;
- delete the pair: the new one is moot, and our Delete closes it;
- refuse: INVALID_KE_PAYLOAD is retried once in the group it names, if we
  allow that group; TEMPORARY_FAILURE later (§2.25); anything else ends the
  attempt, and the hard lifetime ends the pair.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Sequence

from ..crypto.jobs import DhJob, DhKeyGenJob, DhKeyPair, DhResult, JobFailed, JobResult
from ..effects import Effect, Emit
from ..events import ChildSaRekeyed, NegotiationAborted
from ..iana import ERROR_NOTIFY_LIMIT, ExchangeType, NotifyType, ProtocolId
from ..sa_types import ChildSa, State
from ..wire.message import Message
from ..wire.payloads import KE, SA, Delete, Nonce, Notify, Payload, TSi, TSr
from .child_sa import install_child_sa
from .proposals import EspSuite, Pfs, esp_offer, select_esp
from .traffic_selectors import MAX_CHILD_NETWORKS, Network, TooManySelectors, selectors_to_networks

if TYPE_CHECKING:
    from ..conf.model import IpsecProposal
    from ..sa import IkeSa

NONCE_SIZE = 32
MIN_NONCE_SIZE = 16  # RFC 7296 §2.10
# §2.25: a TEMPORARY_FAILURE is retried "later"; a few times, seconds apart
# (jittered, so two ends that collided do not collide again)
RETRY_AFTER = 5.0
RETRY_JITTER = 5.0
MAX_ATTEMPTS = 3


def _name(notify: int) -> str:
    try:
        return NotifyType(notify).name
    except ValueError:
        return str(notify)


def _within(networks: Sequence[Network], allowed: Sequence[Network]) -> bool:
    # subnet_of raises across families: a dual-stack SA holds both
    return all(any(_subnet(n, a) for a in allowed) for n in networks)


def _subnet(n: Network, a: Network) -> bool:
    if isinstance(n, IPv4Network) and isinstance(a, IPv4Network):
        return n.subnet_of(a)
    if isinstance(n, IPv6Network) and isinstance(a, IPv6Network):
        return n.subnet_of(a)
    return False


class ChildRekey:
    """Our rekey of the Child SA whose inbound SPI is `spi_in`."""

    def __init__(self, sa: "IkeSa", spi_in: int, attempt: int = 1) -> None:
        self.sa = sa
        self.spi_in = spi_in
        self.attempt = attempt
        self.new_spi = 0  # our inbound SPI of the new pair
        self.group = 0  # the PFS group of the KE we send, 0 for none
        self.private = b""  # our DH key of that KE, from its job
        self.nonce = b""
        self.ke_retried = False

    # -- the request --------------------------------------------------------------

    def _old(self) -> ChildSa | None:
        return next((c for c in self.sa.children if c.spec.spi_in == self.spi_in), None)

    def _still_ours(self) -> ChildSa | None:
        """The old pair, if rekeying it is still ours to do."""
        old = self._old()
        if old is None or old.replaced_by is not None or self.sa.state is not State.ESTABLISHED:
            return None  # the client deleted or rekeyed it, or the IKE SA is going
        return old

    def start(self, now: float) -> list[Effect]:
        sa = self.sa
        if self._still_ours() is None or self.spi_in in sa.child_rekeys:
            return []
        sa.child_rekeys[self.spi_in] = self
        self.new_spi = sa.new_child_spi(self.spi_in)
        pfs = sa.settings.pfs
        return self._offer(pfs.groups[0] if pfs.required and pfs.groups else 0, now)

    def _offer(self, group: int, now: float) -> list[Effect]:
        self.group = group
        if not group:
            return self._send(now, None)
        return [self.sa.compute(DhKeyGenJob(group), self._keyed)]

    def _keyed(self, result: JobResult, now: float, effects: list[Effect]) -> None:
        if not isinstance(result, DhKeyPair):
            self._give_up(f"our KE: {_job_failure(result)}", effects)
            return
        self.private = result.private
        effects += self._send(now, KE(result.group_id, result.public))

    def _send(self, now: float, ke: KE | None) -> list[Effect]:
        sa = self.sa
        old = self._still_ours()
        if old is None or old.selectors is None:
            self._done()
            return []
        self.nonce = sa.random(NONCE_SIZE)
        client_side, our_side = old.selectors
        # we initiate this exchange: TSi is our side of the pair (§2.9)
        payloads: list[Payload] = [
            Notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=self.spi_in.to_bytes(4, "big")),
            SA(esp_offer(sa.settings.ipsec_proposals, self.new_spi, self.group)), Nonce(self.nonce)]
        if ke is not None:
            payloads.append(ke)
        payloads += [TSi(our_side.selectors), TSr(client_side.selectors)]
        return sa.send_request(ExchangeType.CREATE_CHILD_SA, payloads, now, self._answered)

    # -- the answer ---------------------------------------------------------------

    def _answered(self, message: Message, now: float, effects: list[Effect]) -> None:
        sa = self.sa
        error = next((n for n in message.notifies() if n.type < ERROR_NOTIFY_LIMIT), None)
        if error is not None:
            effects += self._refused(error, now)
            return
        reply, nonce, tsi, tsr, ke = message.get(SA), message.get(Nonce), message.get(TSi), message.get(TSr), \
            message.get(KE)
        if reply is None or nonce is None or tsi is None or tsr is None or len(reply.proposals) != 1:
            self._give_up("the answer lacks SA, Nonce or selectors", effects)
            return
        if len(nonce.data) < MIN_NONCE_SIZE:
            self._give_up("the answer's nonce is too short", effects)
            return
        pfs = Pfs((self.group,), required=True) if self.group else Pfs()
        chosen = select_esp(reply.proposals, sa.settings.ipsec_proposals, pfs)
        if chosen is None or chosen[1].dh_id != self.group:
            self._give_up("the answer chose nothing we offered", effects)
            return
        proposal, suite, ours = chosen
        spi_out = int.from_bytes(proposal.spi, "big")
        if not self.group:
            if ke is not None:
                self._give_up("a KE in an answer to a request without one", effects)
                return
            self._install(suite, ours, spi_out, nonce.data, tsi, tsr, None, now, effects)
            return
        if ke is None or ke.group != self.group:
            self._give_up("the answer has no KE in our group", effects)
            return

        def shared(result: JobResult, now: float, effects: list[Effect]) -> None:
            if not isinstance(result, DhResult):
                self._give_up(f"the client's KE: {_job_failure(result)}", effects)
                return
            self._install(suite, ours, spi_out, nonce.data, tsi, tsr, result.shared, now, effects)

        effects.append(sa.compute(DhJob(self.group, ke.data, private=self.private), shared))

    def _refused(self, error: Notify, now: float) -> list[Effect]:
        sa = self.sa
        if error.type == NotifyType.INVALID_KE_PAYLOAD and not self.ke_retried and len(error.data) == 2:
            wanted = int.from_bytes(error.data, "big")
            if wanted != self.group and self._group_allowed(wanted):
                self.ke_retried = True  # once: RFC 7296 §1.3 has the initiator retry in the named group
                return self._offer(wanted, now)
        self._done()
        if error.type == NotifyType.TEMPORARY_FAILURE and self.attempt < MAX_ATTEMPTS:
            jitter = RETRY_JITTER * sa.random(1)[0] / 255
            sa.rekey_retries[self.spi_in] = (now + RETRY_AFTER + jitter, self.attempt + 1)
            return []
        if error.type == NotifyType.CHILD_SA_NOT_FOUND:
            return []  # the client no longer has the pair (§2.25): its Delete is coming, or came
        return [self._aborted(f"Child SA rekey refused with {_name(error.type)}")]

    def _group_allowed(self, group: int) -> bool:
        pfs = self.sa.settings.pfs
        if pfs.required:
            return group in pfs.groups
        # without `set pfs`, the groups a client's PFS rekey is accepted in (rekey.py)
        return any(group in policy.dh_groups for policy in self.sa.settings.ike_policies)

    def _install(self, suite: EspSuite, ours: "IpsecProposal", spi_out: int, nonce_r: bytes, tsi: TSi, tsr: TSr,
                 shared: bytes | None, now: float, effects: list[Effect]) -> None:
        sa = self.sa
        self._done()
        old = self._old()
        if old is None or sa.state is not State.ESTABLISHED:
            # the client deleted the pair while we rekeyed it: the new one is
            # moot; it exists on the client's side only, so a Delete is all
            effects += sa.send_request(ExchangeType.INFORMATIONAL,
                                       [Delete(ProtocolId.ESP, [self.new_spi.to_bytes(4, "big")])], now)
            return
        try:
            limit = max(MAX_CHILD_NETWORKS, len(old.spec.local_selectors), len(old.spec.remote_selectors))
            local = selectors_to_networks(tsi.selectors, limit)
            remote = selectors_to_networks(tsr.selectors, limit)
        except TooManySelectors:
            local = remote = ()
        if not local or not remote or not _within(local, old.spec.local_selectors) \
                or not _within(remote, old.spec.remote_selectors):
            effects.append(self._aborted("Child SA rekey answered with selectors we did not offer"))
            effects += sa.send_request(ExchangeType.INFORMATIONAL,
                                       [Delete(ProtocolId.ESP, [self.new_spi.to_bytes(4, "big")])], now)
            return
        child = install_child_sa(sa, suite, ours, self.new_spi, spi_out, self.nonce, nonce_r, local, remote, now,
                                 effects, shared, we_initiated=True)
        child.selectors = (TSi(tsr.selectors), TSr(tsi.selectors))  # kept as the client's TSi, our TSr
        child.lowest_nonce = min(self.nonce, nonce_r)
        rival = next((c for c in sa.children if c.spec.spi_in == old.replaced_by), None)
        if rival is not None and rival.lowest_nonce and child.lowest_nonce < rival.lowest_nonce:
            # §2.8.1: both rekeyed the pair; ours holds the lowest nonce, so
            # ours is the redundant one and ours to close. The client, whose
            # rekey survives, deletes the old pair.
            effects += sa.delete_child(child.spec.spi_in, now)
            return
        old.replaced_by = child.spec.spi_in
        effects.append(Emit(ChildSaRekeyed(sa.name, sa.local, sa.remote, sa.username, old.spec.spi_in,
                                           child.spec.spi_in, child.spec.spi_out)))
        # §2.8: the rekey's initiator deletes the old pair (and with a
        # collision the client deletes its redundant one, `rival`)
        effects += sa.delete_child(old.spec.spi_in, now)

    # -- the end ------------------------------------------------------------------

    def _done(self) -> None:
        if self.sa.child_rekeys.get(self.spi_in) is self:
            del self.sa.child_rekeys[self.spi_in]

    def _give_up(self, reason: str, effects: list[Effect]) -> None:
        self._done()
        effects.append(self._aborted(f"Child SA rekey failed: {reason}"))

    def _aborted(self, reason: str) -> Effect:
        # the old pair stays until its hard lifetime, which deletes it
        sa = self.sa
        return Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username, reason))


def _job_failure(result: JobResult) -> str:
    return result.reason if isinstance(result, JobFailed) else "unexpected job result"
