"""The sans-I/O responder: datagrams and time in; datagrams, Child SAs and
events out (the aioquic model). No sockets, no clock reads, no threads.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Callable

from .aaa.radius.messages import AccessRequest, RadiusResult
from .crypto.jobs import CryptoWorker, JobResult
from .effects import Compute, Effect, Emit, IkeKeysDerived, SendDatagram
from .events import IkeInitReceived, IkeInitRejected, MessageDropped
from .half_open import HalfOpen
from .iana import ExchangeType, NotifyType
from .pki.crl import CrlFetch
from .pki.crl_fetch import fetch_crl
from .sa import LOGINS_EXCEEDED, REPLACED_BY_INITIAL_CONTACT, IkeSa, State
from .sa_types import LifecycleChanged, RekeyedInto, SaChange, Spawned
from .settings import ResponderSettings
from .spi_lanes import SpiLanes
from .tasks import peer_address
from .tasks.cookie import CookieJar
from .tasks.ike_init import Dropped, IkeInit, Refusal, error_response
from .timers import TimerQueue
from .trace.messages import TraceContext, message_record, state_record
from .trace.record import PACKETS, STATES
from .trace.tracer import Tracer
from .wire.errors import InvalidMajorVersion, UnsupportedCriticalPayload, WireError
from .wire.header import Header
from .wire.message import Message, decode_message
from .wire.payloads import KE, SA, Nonce, Notify

Address = tuple[str, int]

# timer and half-open keys: ("sa", SPIr) for an IKE SA, ("init", SPIi,
# remote) for an IKE_SA_INIT whose DH job is running
Key = tuple


@dataclass
class _PendingInit:
    """An IKE_SA_INIT request whose DH job runs: its task, and the digest
    its retransmits are recognised by."""

    task: IkeInit
    digest: bytes
    received: float  # when the request came, for the session's ladder


INIT_DONE_SECONDS = 30.0
INIT_DONE_MAX = 4096


class Responder:
    def __init__(self, settings: ResponderSettings, *, random: Callable[[int], bytes] = os.urandom,
                 dh_backend: str = "auto", child_spi_lanes: int = 1) -> None:
        self.settings = settings
        self.random = random
        self.dh_backend = dh_backend
        self.sas: dict[bytes, IkeSa] = {}  # by our SPI
        # IKE_SA_INIT retransmits: (SPIi, remote) -> (request digest, SA)
        self._init_index: dict[tuple[bytes, Address], tuple[bytes, IkeSa]] = {}
        self._ids = itertools.count(0x6000)  # the whitepaper's first session is 0x00006000
        self._init_key_of: dict[bytes, tuple[bytes, Address]] = {}  # SPIr -> its _init_index key
        # the _init_index keys of SAs established lately (-> when created),
        # oldest first: a late duplicate of their IKE_SA_INIT is a logged
        # drop, and an established session keeps no index entry (~0.3 kB)
        self._init_done: dict[tuple[bytes, Address], float] = {}
        self._pending_init: dict[tuple[bytes, Address], _PendingInit] = {}
        self.cookies = CookieJar(random)
        self._timers: TimerQueue[Key] = TimerQueue()
        self._half_open = HalfOpen()
        # IKE_SA_INIT requests answered without state, by reason (cookie
        # challenge, limits): what a flood costs is visible, not just logged
        self.init_refusals: Counter[str] = Counter()
        # False while the daemon stops: no new client starts a session that
        # would be torn down a moment later
        self.accepting = True
        # what SAs reported (SessionDirectory.changed), not yet booked
        self._changes: list[tuple[IkeSa, SaChange]] = []
        # the established sessions of each user (an IKE SA superseded by a
        # rekey is not one): the logins limit and INITIAL_CONTACT look here,
        # not through every SA of the headend
        self._sessions_of: dict[str, dict[bytes, IkeSa]] = {}
        # the Child SAs' inbound SPIs: which IKE SA holds each, and what each
        # SA held when last booked, so a new SPI is checked, and an expiry
        # found, without a scan of every SA (O(sessions) per connect)
        self._child_owner: dict[int, IkeSa] = {}
        self._child_spis_of: dict[bytes, tuple[int, ...]] = {}
        # the data plane's lanes (worker processes, by SPI): each new inbound
        # SPI goes to the lane holding the fewest booked Child SAs
        self.spi_lanes = SpiLanes(child_spi_lanes)
        self._place_child_spi = self.spi_lanes.place  # one bound method shared by every SA
        # the debug trace's outbox, emptied by the adapter (ikev2d debug ...)
        self.tracer = Tracer()

    # -- entry points ---------------------------------------------------------

    def datagram_received(self, data: bytes, local: Address, remote: Address, now: float) -> list[Effect]:
        try:
            header = Header.parse(data)
        except InvalidMajorVersion:
            return [self._drop(local, remote, "unsupported IKE major version")]
        except WireError as exc:
            return [self._drop(local, remote, f"malformed header: {exc}")]
        if header.is_response:
            sa = self._sa_of(header)
            if sa is None:
                return [self._drop(local, remote, "response for an unknown IKE SA")]
            effects = sa.handle_response(data, header, local, remote, now)
            return effects + self._book(sa)
        if header.exchange == ExchangeType.IKE_SA_INIT:
            return self._ike_sa_init(data, header, local, remote, now)
        sa = self._sa_of(header)
        if sa is None:
            return [self._drop(local, remote, "unknown IKE SPI")]
        effects = sa.handle_request(data, header, local, remote, now)
        return effects + self._book(sa)

    def _sa_of(self, header: Header) -> IkeSa | None:
        """The IKE SA a message belongs to, by our SPI: the responder's when
        the sender is the original initiator (the I flag), else the
        initiator's (an IKE SA our own rekey made, RFC 7296 §2.18), and the
        peer's SPI and role must match too."""
        ours, theirs = (header.spi_r, header.spi_i) if header.is_initiator else (header.spi_i, header.spi_r)
        sa = self.sas.get(ours)
        if sa is None or sa.peer_spi != theirs or sa.original_initiator == header.is_initiator:
            return None
        return sa

    def job_done(self, token: tuple, result: JobResult | RadiusResult, now: float) -> list[Effect]:
        """Resume the exchange that asked for a `Compute` job (a crypto
        job's result, or a RADIUS Access-Request's answer)."""
        if token[0] == "init":
            pending = self._pending_init.pop((token[1], token[2]), None)
            self._timers.disarm(token)
            self._half_open.discard(token)
            return self._finish_ike_sa_init(pending, result, now) if pending is not None else []
        sa = self.sas.get(token[1])
        if sa is None:
            return []  # the SA went away while its job ran
        effects = sa.job_done(token, result, now)
        return effects + self._book(sa)

    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called (None: nothing pending)."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> list[Effect]:
        """Whatever is due at `now`: retransmits, liveness checks, the end
        of half-open, failed and dead SAs, DH jobs that never came back."""
        effects: list[Effect] = []
        for key in self._timers.pop_due(now):
            if key[0] == "init":
                effects += self._init_job_lost(key, now)
                continue
            sa = self.sas.get(key[1])
            if sa is None:
                continue
            effects += sa.tick(now)
            if sa.expired(now) and sa.state is not State.DELETED:
                sa.delete(now, "Timeout", effects)
            effects += self._book(sa)
        return effects

    def _init_job_lost(self, key: Key, now: float) -> list[Effect]:
        # a worker that raised or a broken pool never answers: free the
        # half-open slot rather than hold it (and, at the limit, refuse
        # every new client) for good; the client retries and gets a new job
        pending = self._pending_init.pop((key[1], key[2]), None)
        self._half_open.discard(key)
        if pending is None:
            return []
        return [self._drop(pending.task.local, pending.task.remote,
                           "IKE_SA_INIT: the DH computation never returned")]

    def find_sa(self, unique_id: int) -> IkeSa | None:
        return next((s for s in self.sas.values() if s.unique_id == unique_id), None)

    def _sa_of_child(self, spi_in: int) -> IkeSa | None:
        owner = self._child_owner.get(spi_in)
        if owner is not None and any(c.spec.spi_in == spi_in for c in owner.children):
            return owner
        # not booked yet (the exchange that made it is still running): the long way
        return next((sa for sa in self.sas.values() if any(c.spec.spi_in == spi_in for c in sa.children)), None)

    def child_sa_failed(self, spi_in: int, reason: str, now: float) -> list[Effect]:
        """The data plane could not install a Child SA: end that session
        cleanly rather than leave a client with a tunnel that carries nothing."""
        sa = self._sa_of_child(spi_in)
        if sa is None:
            return []
        effects: list[Effect] = [Emit(MessageDropped(sa.name, sa.local, sa.remote,
                                                     f"data plane refused the Child SA: {reason}"))]
        return effects + self.delete_ike_sa(sa, "Data plane failure", now)

    def child_sa_expired(self, spi_in: int, hard: bool, now: float) -> list[Effect]:
        """A Child SA lifetime ran out (the data plane counts them). Soft: we
        rekey it (tasks/child_rekey.py); hard: the SA goes, and the client is
        told, whether or not the rekey worked."""
        sa = self._sa_of_child(spi_in)
        if sa is None:
            return []
        effects = sa.delete_child(spi_in, now) if hard else sa.rekey_child(spi_in, now)
        return effects + self._book(sa)

    def esp_source_changed(self, spi_in: int, remote: Address, now: float) -> list[Effect]:
        """The data plane saw authentic ESP of a Child SA come from `remote`,
        not where the SA sends: check the path with IKE (peer_address.probe)."""
        sa = self._sa_of_child(spi_in)
        if sa is None:
            return []
        effects = peer_address.probe(sa, remote, now)
        return effects + self._book(sa)

    def delete_ike_sa(self, sa: IkeSa, reason: str, now: float) -> list[Effect]:
        """End a session from our side (logoff, a failed data plane)."""
        effects = sa.initiate_delete(now, reason)
        return effects + self._book(sa)

    def activity(self, ike_spi: bytes, packets: int, now: float) -> list[Effect]:
        """The data plane's packet count for an SA that asked (ReadActivity)."""
        sa = self.sas.get(ike_spi)
        if sa is None:
            return []
        effects = sa.traffic(packets, now)
        return effects + self._book(sa)

    def rearm_timers(self) -> None:
        """After a reload changed the settings (DPD interval, half-open
        timeout): each SA's timer at its deadline under the new ones."""
        for sa in list(self.sas.values()):
            self._book(sa)

    # -- IKE_SA_INIT (RFC 7296 §1.2) ------------------------------------------

    def _ike_sa_init(self, data: bytes, header: Header, local: Address, remote: Address,
                     now: float) -> list[Effect]:
        if header.message_id != 0 or any(header.spi_r) or not header.is_initiator:
            return [self._drop(local, remote, "IKE_SA_INIT with a non-zero SPIr or message ID")]
        if not self.accepting:
            return [self._drop(local, remote, "IKE_SA_INIT while the headend is stopping")]
        digest = hashlib.sha256(data).digest()
        if (header.spi_i, remote) in self._pending_init:
            return []  # a retransmit while our DH job runs: the answer is coming
        if (header.spi_i, remote) in self._init_done:
            return [self._drop(local, remote, "IKE_SA_INIT retransmitted after its IKE_AUTH")]
        known = self._init_index.get((header.spi_i, remote))
        if known is not None:
            seen_digest, sa = known
            if seen_digest == digest and sa.state is not State.DELETED:
                if not sa.init_response:  # kept only while IKE_AUTH runs
                    return [self._drop(local, remote, "IKE_SA_INIT retransmitted after its IKE_AUTH")]
                return [SendDatagram(sa.init_response, local, remote)]  # a retransmit
            return [self._drop(local, remote, "IKE_SA_INIT reusing a live SPIi")]
        name = f"{header.spi_i.hex()}_i"
        effects: list[Effect] = [Emit(IkeInitReceived(name, local, remote))]
        try:
            request = decode_message(data, header)
        except UnsupportedCriticalPayload as exc:
            return effects + self._init_error(header, local, remote, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                              exc.payload_type.to_bytes(1, "big"), str(exc))
        except WireError as exc:
            return effects + self._init_error(header, local, remote, NotifyType.INVALID_SYNTAX, b"", str(exc))
        if self.tracer.wants(PACKETS):
            self.tracer.add(message_record(True, request, _init_context(header, local, remote), (len(data),)))
        sa_payload, ke, nonce = request.get(SA), request.get(KE), request.get(Nonce)
        if sa_payload is None or ke is None or nonce is None:
            return effects + self._init_error(header, local, remote, NotifyType.INVALID_SYNTAX, b"",
                                              "IKE_SA_INIT without SA, KE or Nonce")
        half_open = len(self._half_open)
        if self._cookie_required(half_open):
            offered = request.payloads[0] if request.payloads else None
            if not (isinstance(offered, Notify) and offered.type == NotifyType.COOKIE
                    and self.cookies.valid(offered.data, nonce.data, remote[0], header.spi_i, now)):
                # RFC 7296 §2.6: prove the address is real before any DH,
                # signature or state is spent on it
                self.init_refusals["cookie challenge"] += 1
                cookie = self.cookies.make(nonce.data, remote[0], header.spi_i, now)
                return effects + self._init_error(header, local, remote, NotifyType.COOKIE, cookie,
                                                  "cookie challenge")
        if half_open >= self.settings.max_half_open:
            self.init_refusals["max in negotiation"] += 1
            return effects + self._init_error(header, local, remote, NotifyType.TEMPORARY_FAILURE, b"",
                                              "too many IKE SAs in negotiation")
        if self._half_open.for_host(remote[0]) >= self.settings.max_half_open_per_address:
            # the address is real (it came back with a cookie, or there is no
            # load), but it may not hold every slot: dropped, the client retries
            self.init_refusals["per-address limit"] += 1
            return effects + [self._drop(local, remote, f"{remote[0]} already has "
                                         f"{self.settings.max_half_open_per_address} IKE SAs in negotiation")]
        task = IkeInit(self.settings, data, header, request, local, remote)
        job = task.process(self.dh_backend)
        if isinstance(job, Refusal):
            return effects + self._init_error(header, local, remote, job.notify, job.data, job.detail)
        key = (header.spi_i, remote)
        self._pending_init[key] = _PendingInit(task, digest, now)
        token = ("init",) + key
        self._half_open.add(token, remote[0])
        self._timers.arm(token, now + self.settings.half_open_timeout)
        return effects + [Compute(token, job)]

    def _finish_ike_sa_init(self, pending: _PendingInit, result: JobResult | RadiusResult,
                            now: float) -> list[Effect]:
        task = pending.task
        header, local, remote = task.header, task.local, task.remote
        spi_r = self._new_ike_spi()
        outcome = task.finish(result, spi_r, self.random)
        if isinstance(outcome, Dropped):
            return [self._drop(local, remote, outcome.reason)]
        if isinstance(outcome, Refusal):
            return self._init_error(header, local, remote, outcome.notify, outcome.data, outcome.detail)
        sa = IkeSa(
            settings=self.settings, unique_id=next(self._ids), spi_i=header.spi_i, spi_r=spi_r,
            local=local, remote=remote, suite=outcome.suite, keys=outcome.keys, prf=outcome.prf,
            encr=outcome.encr, integ=outcome.integ, nonce_i=task.nonce_i, nonce_r=outcome.nonce_r,
            init_request=task.data, init_response=outcome.response,
            peer_fragmentation=outcome.peer_fragmentation, peer_hash_algorithms=outcome.peer_hash_algorithms,
            nat_peer=outcome.nat_peer, nat_local=outcome.nat_local, created=now, random=self.random,
            spi_in_use=self._child_spi_in_use, place_child_spi=self._place_child_spi,
            allocate_ike_spi=self._new_ike_spi, sessions=self,
        )
        self.sas[spi_r] = sa
        self._init_index[(header.spi_i, remote)] = (pending.digest, sa)
        self._init_key_of[spi_r] = (header.spi_i, remote)
        self._half_open.add(("sa", spi_r), remote[0])
        sa.record_step(task.request, True, (len(task.data),), pending.received, local[1])
        sa.record_step(Message(header.spi_i, spi_r, ExchangeType.IKE_SA_INIT, 0, True, False,
                               outcome.response_payloads), False, (len(outcome.response),), now, local[1])
        self._book(sa)
        self._trace_sent(outcome.response, sa.trace_context())
        return [SendDatagram(outcome.response, local, remote), IkeKeysDerived(sa.wireshark_keys())]

    def _init_error(self, header: Header, local: Address, remote: Address, notify: NotifyType, data: bytes,
                    detail: str) -> list[Effect]:
        name = f"{header.spi_i.hex()}_i"
        response = error_response(header, notify, data)
        self._trace_sent(response, _init_context(header, local, remote))
        return [Emit(IkeInitRejected(name, local, remote, notify.name, detail)),
                SendDatagram(response, local, remote)]

    def _trace_sent(self, response: bytes, ctx: TraceContext) -> None:
        """IKE_SA_INIT answers are built whole in ike_init.py: traced from their octets."""
        if self.tracer.wants(PACKETS):
            self.tracer.add(message_record(False, decode_message(response, Header.parse(response)), ctx,
                                           (len(response),)))

    # -- bookkeeping ----------------------------------------------------------

    def _cookie_required(self, half_open: int) -> bool:
        mode = self.settings.cookie_challenge
        if mode == "always":
            return True
        if mode == "never":
            return False
        return half_open * 100 >= self.settings.max_half_open * self.settings.cookie_threshold_percent

    def _new_ike_spi(self) -> bytes:
        while True:
            spi = self.random(8)
            if any(spi) and spi not in self.sas:
                return spi

    def _child_spi_in_use(self, spi: int) -> bool:
        # the booked Child SAs: an exchange makes at most one before it is
        # booked, and an SA's own rekeys under way are checked by the SA
        return spi in self._child_owner

    def _book_children(self, sa: IkeSa) -> None:
        """Index `sa`'s Child SAs as they are now (at the end of an exchange, job or timer)."""
        now = tuple(c.spec.spi_in for c in sa.children)
        before = self._child_spis_of.get(sa.spi, ())
        if now == before:
            return
        for spi in before:
            if spi not in now and self._child_owner.get(spi) is sa:
                del self._child_owner[spi]
                self.spi_lanes.released(spi)
        for spi in now:
            if spi not in self._child_owner:
                self.spi_lanes.booked(spi)
            self._child_owner[spi] = sa  # an IKE rekey's successor takes them over
        if now:
            self._child_spis_of[sa.spi] = now
        else:
            self._child_spis_of.pop(sa.spi, None)

    def replace_older(self, sa: IkeSa, now: float) -> tuple[list[Effect], IPv4Address | None]:
        """INITIAL_CONTACT (RFC 7296 §2.4): `sa`'s peer has restarted, so the
        sessions it had with us are gone on its side: end them here at once,
        without a Delete nobody would answer. As strongSwan does, only those
        of the same authenticated identity *from the same address*: other
        devices of one user are a matter for the simultaneous-logins limit."""
        effects: list[Effect] = []
        address = None
        older = [other for other in self._user_sessions(sa)
                 if other.profile is sa.profile and other.remote[0] == sa.remote[0]]
        for other in sorted(older, key=lambda o: o.unique_id):
            if other.lease is not None:
                address = other.lease[1]
            other.delete(now, REPLACED_BY_INITIAL_CONTACT, effects)  # booked with `sa`
        return effects, address

    def make_room(self, sa: IkeSa, limit: int, now: float) -> list[Effect]:
        """vpn-simultaneous-logins: while the user has `limit` sessions up
        besides `sa`, log one off, as the ASA does: the one idle longest,
        and of those idle alike the oldest (docs/ftd-behaviour.md, "Session
        limits of a group policy"). It gets a Delete: it is alive."""
        others = self._user_sessions(sa)
        effects: list[Effect] = []
        others.sort(key=lambda o: (o.last_traffic, o.unique_id))
        while len(others) >= limit > 0:
            victim = others.pop(0)
            effects += victim.initiate_delete(now, LOGINS_EXCEEDED)  # booked with `sa`
        return effects

    def _user_sessions(self, sa: IkeSa) -> list[IkeSa]:
        """The other established sessions of `sa`'s user; their state is
        checked again, as this exchange may have ended some already."""
        return [other for other in self._sessions_of.get(sa.username, {}).values()
                if other is not sa and other.state is State.ESTABLISHED]

    def _index_session(self, sa: IkeSa, up: bool) -> None:
        sessions = self._sessions_of.setdefault(sa.username, {})
        if up:
            sessions[sa.spi] = sa
        else:
            sessions.pop(sa.spi, None)
            if not sessions:
                del self._sessions_of[sa.username]

    def changed(self, sa: IkeSa, change: SaChange) -> None:
        """SessionDirectory: an SA reports a lifecycle change or a rekey;
        booked by `_book` once the exchange, job or timer is done with it."""
        self._changes.append((sa, change))
        if isinstance(change, LifecycleChanged) and self.tracer.wants(STATES):
            self.tracer.add(state_record(change.old.value, change.new.value, sa.trace_context()))

    def _book(self, sa: IkeSa) -> list[Effect]:
        """Book what an exchange, job or timer did, from the changes the SAs
        reported (`sa`'s and any other SA it touched, such as a session it
        logged off), then re-arm their timers: their deadlines may have
        moved (a request sent, an answer received). Returns the keys of the
        IKE SAs a rekey made, for the adapter's key export."""
        touched = {id(sa): sa}
        born: list[IkeSa] = []
        while self._changes:
            owner, change = self._changes.pop(0)
            touched[id(owner)] = owner
            match change:
                case Spawned(sa=spawned):
                    self.sas[spawned.spi] = spawned
                    touched[id(spawned)] = spawned
                    born.append(spawned)
                case RekeyedInto(successor=successor):
                    # an IKE rekey: the session moves on in a new IKE SA
                    self.sas[successor.spi] = successor
                    touched[id(successor)] = successor
                    born.append(successor)
                    self._index_session(owner, up=False)
                    self._index_session(successor, up=True)
                case LifecycleChanged(new=State.DELETED):
                    self._forget(owner)
                case LifecycleChanged(new=State.ESTABLISHED):
                    self._half_open.discard(("sa", owner.spi))
                    self._index_session(owner, up=True)
                    self._init_established(owner)
                case LifecycleChanged(new=State.DELETING):
                    self._half_open.discard(("sa", owner.spi))
                    self._index_session(owner, up=False)
        for each in touched.values():
            if self.sas.get(each.spi) is each:
                self._timers.arm(("sa", each.spi), each.deadline())
                self._book_children(each)
        # a collision reports one new SA to two old ones: one row each
        return [IkeKeysDerived(new.wireshark_keys()) for new in {id(b): b for b in born}.values()]

    def _forget(self, sa: IkeSa) -> None:
        self.sas.pop(sa.spi, None)
        for spi in self._child_spis_of.pop(sa.spi, ()):
            if self._child_owner.get(spi) is sa:
                del self._child_owner[spi]
                self.spi_lanes.released(spi)
        self._index_session(sa, up=False)
        key = ("sa", sa.spi)
        self._timers.disarm(key)
        self._half_open.discard(key)
        init_key = self._init_key_of.pop(sa.spi, None)
        if init_key is not None and self._init_index.get(init_key, (b"", None))[1] is sa:
            del self._init_index[init_key]

    def _init_established(self, sa: IkeSa) -> None:
        """`sa`'s IKE_SA_INIT is answered for good: its index entry moves to
        the recent ones, kept INIT_DONE_SECONDS (any late duplicate comes
        within), at most INIT_DONE_MAX of them."""
        init_key = self._init_key_of.pop(sa.spi, None)
        if init_key is None or self._init_index.get(init_key, (b"", None))[1] is not sa:
            return
        del self._init_index[init_key]
        done = self._init_done
        done[init_key] = sa.created
        horizon = sa.created - INIT_DONE_SECONDS
        for key, created in list(itertools.islice(done.items(), 8)):  # oldest first; a few per call keeps up
            if created >= horizon and len(done) <= INIT_DONE_MAX:
                break
            del done[key]

    def _drop(self, local: Address, remote: Address, reason: str) -> Effect:
        return Emit(MessageDropped("-", local, remote, reason))


def _init_context(header: Header, local: Address, remote: Address) -> TraceContext:
    """An IKE_SA_INIT before any SA: named by the initiator's SPI, as 750002 does."""
    return TraceContext(f"{header.spi_i.hex()}_i", 0, remote, local)


def settle(responder: Responder, effects: list[Effect], worker: CryptoWorker, now: float,
           radius: Callable[[AccessRequest], RadiusResult] | None = None) -> list[Effect]:
    """Run `Compute` effects inline until none remain (for tests): crypto
    jobs on `worker`, RADIUS Access-Requests answered by `radius`.

    Raises ValueError for an Access-Request when no `radius` is given: a
    RADIUS profile cannot be settled by a crypto worker alone."""
    out: list[Effect] = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if not isinstance(effect, Compute):
            out.append(effect)
            continue
        job = effect.job
        result: JobResult | RadiusResult
        if isinstance(job, AccessRequest):
            if radius is None:
                raise ValueError(f"settle: a RADIUS Access-Request to server group {job.group!r} "
                                 "needs a radius= answerer")
            result = radius(job)
        elif isinstance(job, CrlFetch):
            result = fetch_crl(job)  # files and lab HTTP servers: quick enough inline
        else:
            result = worker.run(job)
        queue = responder.job_done(effect.token, result, now) + queue
    return out
