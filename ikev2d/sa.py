"""One IKE SA on the responder side: its state, keys and exchanges.

Message IDs, the response cache, retransmits, fragments and the queue of
our own requests belong to its `TaskManager` (task_manager.py); the
per-feature work (proposals, NAT-D, config payload, traffic selectors)
lives in `tasks/`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Callable


from .aaa.authorization import NONE as NO_AUTHORIZATION, Authorization
from .aaa.radius.accounting import stop_record
from .aaa.radius.messages import AccountingRecord, RadiusResult
from .crypto.jobs import Job, JobResult
from .crypto.keymat import IkeKeys
from .crypto.transforms import EncrAlgorithm, IntegAlgorithm, PrfAlgorithm
from .effects import Compute, Effect, Emit, ReadActivity, RemoveChildSa, SendAccounting, SendDatagram
from .events import (AddressReleased, ChildSaDeleted, IkeSaDeleted, MessageDropped)
from .iana import ExchangeType, NotifyType
from .keylog import IkeSaKeys
from .ladder import History, Step, new_history, payload_tags, shared_sizes
from .protect import SkKeys
from .sa_types import (TRANSITIONS, ChildSa, Deferred, LifecycleChanged, NoOtherSessions, RekeyedInto,
                       SessionDirectory, State)
from .conf.model import GroupPolicy
from .settings import ProfileSettings, ResponderSettings
from .tasks.child_rekey import ChildRekey
from .tasks.child_sa import negotiate_child_sa
from .tasks.ike_auth import IkeAuth
from .tasks import peer_address
from .tasks.ike_rekey import REKEY_AT, IkeRekey
from .tasks.informational import ChildDelete, IkeDelete, informational, liveness_check
from .tasks.proposals import IN_IKE_AUTH, IkeSuite, Pfs, ike_lifetime
from .tasks.rekey import create_child_sa
from .task_manager import GaveUp, Ignored, OnAnswer, Passed, Received, Refused, Resent, TaskManager, Waiting
from .trace.messages import TraceContext, wire_record
from .trace.record import PACKETS
from .wire.header import Header
from .wire.message import Message
from .wire.payloads import (SA, Notify, Payload, TSi, TSr)

Address = tuple[str, int]
log = logging.getLogger("ikev2d.sa")

# what resumes a request of ours once its job is done: (result, now, effects)
OwnJobDone = Callable[[JobResult, float, list[Effect]], None]


# how long the adapter has to answer a ReadActivity before we ask again
ACTIVITY_ANSWER_WAIT = 60.0

# why sessions end on the group policy's limits (113019 reasons in the catalogue)
MAX_CONNECT_TIME = "Max time exceeded"
LOGINS_EXCEEDED = "Simultaneous logins exceeded"
IKE_LIFETIME_EXPIRED = "IKE SA lifetime expired"

# why an older session ends when its peer comes back with INITIAL_CONTACT
REPLACED_BY_INITIAL_CONTACT = "Peer reconnected (INITIAL_CONTACT)"


class LifecycleError(RuntimeError):
    """A lifecycle transition that TRANSITIONS does not allow: a bug."""

# slots: one per session, ~60 attributes; an instance dict would be ~1.6 kB
@dataclass(slots=True)
class IkeSa:
    settings: ResponderSettings
    unique_id: int
    spi_i: bytes
    spi_r: bytes
    local: Address
    remote: Address
    suite: IkeSuite
    keys: IkeKeys
    prf: PrfAlgorithm
    encr: EncrAlgorithm
    integ: IntegAlgorithm | None
    nonce_i: bytes
    nonce_r: bytes
    init_request: bytes
    init_response: bytes
    peer_fragmentation: bool
    peer_hash_algorithms: frozenset[int]
    nat_peer: bool
    nat_local: bool
    created: float
    random: Callable[[int], bytes] = os.urandom
    spi_in_use: Callable[[int], bool] = lambda spi: False
    # (a random draw, the SPI a rekey replaces or 0) -> the new inbound Child SA SPI (the responder's
    # SpiLanes: the emptiest data-plane lane)
    place_child_spi: Callable[[int, int], int] = lambda spi, replacing: spi
    state: State = State.CONNECTING
    profile: ProfileSettings | None = None
    username: str = ""
    idi_body: bytes = b""  # the peer's identity as it sent it, for `show`
    peer_auth: str = "EAP"  # how the peer authenticated, for `show` (Auth verify): EAP, RSA, ECDSA
    lease: tuple[str, IPv4Address] | None = None
    lease6: tuple[str, IPv6Address] | None = None  # dual stack: the IPv6 address too
    children: list[ChildSa] = field(default_factory=list)
    established_at: float | None = None
    last_activity: float = 0.0  # of IKE: the last authentic request or answer
    # of traffic, for the group policy's idle timeout: the data plane's packet
    # count when last read, when it last changed, and when we last asked
    traffic_packets: int = 0
    last_traffic: float = 0.0
    activity_asked_at: float | None = None
    delete_after: float | None = None  # a failed SA lingers to answer retransmits
    delete_reason: str = ""
    accounting: AccountingRecord | None = None  # the Start sent, so a Stop follows
    # what the AAA server decided (RADIUS Access-Accept), and the group
    # policy it assigned when that exists here (else the profile's applies)
    authorization: Authorization = NO_AUTHORIZATION
    assigned_policy: GroupPolicy | None = None
    allocate_ike_spi: Callable[[], bytes] = lambda: os.urandom(8)
    sessions: SessionDirectory = field(default_factory=NoOtherSessions)  # the responder's other sessions
    successor: "IkeSa | None" = None  # the IKE SA this one was rekeyed into
    predecessor: "IkeSa | None" = None  # the IKE SA this one replaced, until this one is rekeyed
    # made by our own IKE rekey: we are its original initiator (RFC 7296
    # §2.18), so we send with the I flag and SK_ei, and our SPI is SPIi
    original_initiator: bool = False
    mobike: bool = False  # RFC 4555 negotiated in IKE_AUTH: only UPDATE_SA_ADDRESSES moves the SA
    probe_remote: Address | None = None  # where our liveness check goes: ESP came from there (peer_address)
    # where the request being handled came from and arrived (MOBIKE moves there)
    request_addresses: tuple[Address, Address] = (("", 0), ("", 0))
    # the session's messages for `show session --ladder`: bounded, and one
    # list through the session's IKE rekeys
    history: History = field(default_factory=new_history)
    # the addresses of the message being handled, (ours, theirs)
    arrival: tuple[Address, Address] = (("", 0), ("", 0))
    # made in __post_init__ (described there)
    sk: SkKeys = field(init=False, repr=False)
    tasks: TaskManager = field(init=False, repr=False)
    auth: IkeAuth | None = field(init=False, repr=False)
    child_rekeys: dict[int, ChildRekey] = field(init=False, repr=False)
    rekey_retries: dict[int, tuple[float, int]] = field(init=False, repr=False)
    _own_jobs: dict[int, OwnJobDone] = field(init=False, repr=False)
    _own_job_numbers: itertools.count[int] = field(init=False, repr=False)
    ike_rekey: IkeRekey | None = field(init=False, repr=False)
    ike_rekey_retry_at: float | None = field(init=False, repr=False)
    _name: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # one string, shared by every step of its ladder and every event
        self._name = f"{self.spi_i.hex()}_i {self.spi_r.hex()}_r"
        # SK_ei/SK_ai protect what the original initiator sends (RFC 7296 §2.14)
        keys = self.keys
        ei, ai, er, ar = keys.sk_ei, keys.sk_ai, keys.sk_er, keys.sk_ar
        if self.original_initiator:
            ei, ai, er, ar = er, ar, ei, ai
        self.sk = SkKeys(encr=self.encr, integ=self.integ, sk_e_in=ei, sk_a_in=ai, sk_e_out=er, sk_a_out=ar)
        # created with the SA, never copied: an IKE rekey's successor starts
        # its Message IDs afresh (RFC 7296 §2.18)
        self.tasks = TaskManager(self.sk, self.spi_i, self.spi_r,
                                 self.settings.fragment_size if self.peer_fragmentation else 0, self.random,
                                 born_of_rekey=self.predecessor is not None,
                                 original_initiator=self.original_initiator, observer=self._trace)
        # IKE_AUTH's own state lives in its task, for as long as it runs
        self.auth = IkeAuth(self) if self.state is State.CONNECTING else None
        # our Child rekeys under way, by the old SA's inbound SPI, and those
        # to try again later (a TEMPORARY_FAILURE): when, and the attempt
        self.child_rekeys = {}
        self.rekey_retries = {}
        # jobs our own requests wait for (a KE before we send one): by number
        self._own_jobs = {}
        self._own_job_numbers = itertools.count(1)
        # our IKE rekey under way, and when to try again after one failed
        self.ike_rekey = None
        self.ike_rekey_retry_at = None
        self.last_activity = self.created

    # -- lifecycle ----------------------------------------------------------

    def _trace(self, passed: Passed | Resent) -> None:
        """What the task manager saw: a step of the session's ladder, and the
        debug trace's record when someone listens (trace/messages.py)."""
        inbound = isinstance(passed, Passed) and passed.inbound
        if isinstance(passed, Passed):
            self.record_step(passed.message, inbound, passed.sizes, passed.at,
                             self.arrival[0][1] if inbound else passed.port)
        tracer = self.sessions.tracer
        if tracer.wants(PACKETS):
            # where an inbound one really came from and to (the SA may follow it there only after)
            local, remote = self.arrival if inbound else (self.local, self.remote)
            tracer.add(wire_record(passed, TraceContext(self.name, self.unique_id, remote, local, self.username)))

    def record_step(self, message: Message, inbound: bool, sizes: tuple[int, ...], now: float,
                    port: int) -> None:
        self.history.append(Step(now, inbound, message.exchange, message.message_id, message.is_response,
                                 payload_tags(message.payloads), shared_sizes(sizes), self.name,
                                 message.is_initiator, port))

    def trace_context(self) -> TraceContext:
        return TraceContext(self.name, self.unique_id, self.remote, self.local, self.username)

    def move_to(self, state: State) -> None:
        """A checked, logged lifecycle transition (TRANSITIONS)."""
        if state is self.state:
            return
        if state not in TRANSITIONS[self.state]:
            raise LifecycleError(f"IKE SA {self.name}: {self.state.value} -> {state.value} is not a transition")
        log.debug("IKE SA %s: %s -> %s", self.name, self.state.value, state.value)
        old, self.state = self.state, state
        if state is not State.CONNECTING:
            self.auth = None  # IKE_AUTH is over, one way or the other
            # its AUTH payloads signed these; nothing reads them again (~1.3 kB a session)
            self.init_request = self.init_response = b""
            self.keys = dataclasses.replace(self.keys, sk_pi=b"", sk_pr=b"")  # AUTH's too
        self.sessions.changed(self, LifecycleChanged(old, state))

    def established(self, now: float) -> None:
        self.move_to(State.ESTABLISHED)
        self.established_at = self.last_traffic = now

    @property
    def group_policy(self) -> GroupPolicy | None:
        """The session's group policy: the one the AAA server assigned, else
        the connection profile's (docs/ftd-behaviour.md, "RADIUS authorization")."""
        if self.assigned_policy is not None:
            return self.assigned_policy
        return self.profile.group_policy if self.profile is not None else None

    @property
    def idle_timeout(self) -> float:
        """vpn-idle-timeout in seconds (0: none): the AAA server's Idle-Timeout,
        else the group policy's."""
        if self.authorization.idle_timeout is not None:
            return float(self.authorization.idle_timeout)
        gp = self.group_policy
        return gp.idle_timeout_minutes * 60.0 if gp is not None else 0.0

    @property
    def max_connect_time(self) -> float | None:
        """vpn-session-timeout in seconds (None: none): the AAA server's
        Session-Timeout, else the group policy's."""
        if self.authorization.session_timeout is not None:
            return float(self.authorization.session_timeout)
        gp = self.group_policy
        return gp.max_connect_time_minutes * 60.0 if gp is not None and gp.max_connect_time_minutes else None

    @property
    def lifetime_deadline(self) -> float | None:
        """When the IKEv2 policy's lifetime ends this IKE SA, unless the
        client rekeyed it before (its successor's lifetime starts anew)."""
        if self.state is not State.ESTABLISHED:
            return None
        return self.created + ike_lifetime(self.suite, self.settings.ike_policies)

    @property
    def rekey_deadline(self) -> float | None:
        """When we rekey this IKE SA ourselves (IkeRekey), unless the client
        did, or our rekey is under way: at REKEY_AT of its lifetime, later
        again after a failed attempt."""
        if self.state is not State.ESTABLISHED or self.rekeyed or self.ike_rekey is not None:
            return None
        due = self.created + REKEY_AT * ike_lifetime(self.suite, self.settings.ike_policies)
        return max(due, self.ike_rekey_retry_at or due)

    @property
    def connect_deadline(self) -> float | None:
        """When the group policy's maximum connect time (vpn-session-timeout) ends the session."""
        limit = self.max_connect_time
        if self.state is not State.ESTABLISHED or not limit or self.established_at is None:
            return None
        return self.established_at + limit

    def _idle_check_due(self) -> float | None:
        if self.state is not State.ESTABLISHED or not self.idle_timeout:
            return None
        if self.activity_asked_at is not None:  # asked and not answered: ask again
            return self.activity_asked_at + ACTIVITY_ANSWER_WAIT
        return self.last_traffic + self.idle_timeout

    def traffic(self, packets: int, now: float) -> list[Effect]:
        """The data plane's answer to ReadActivity: any change in the packet
        count is traffic; none for the whole idle timeout ends the session
        (with a Delete, as the FTD does, 113019 "Idle Timeout")."""
        self.activity_asked_at = None
        if self.state is not State.ESTABLISHED:
            return []
        if packets != self.traffic_packets:
            self.traffic_packets, self.last_traffic = packets, now
            return []
        if now - self.last_traffic >= self.idle_timeout:
            return self.initiate_delete(now, "Idle Timeout")
        return []

    # -- identity -----------------------------------------------------------

    @property
    def rekeyed(self) -> bool:
        """Its session lives on in `successor`; it only waits for its Delete."""
        return self.successor is not None

    @property
    def spi(self) -> bytes:
        """Our IKE SPI: the responder's, unless our own rekey made this SA."""
        return self.spi_i if self.original_initiator else self.spi_r

    @property
    def peer_spi(self) -> bytes:
        return self.spi_r if self.original_initiator else self.spi_i

    @property
    def name(self) -> str:
        return self._name

    def wireshark_keys(self) -> IkeSaKeys:
        """Its keys for Wireshark's IKEv2 decryption table."""
        return IkeSaKeys(self.spi_i, self.spi_r, self.suite.encr_id, self.suite.encr_bits, self.suite.integ_id,
                         self.keys, self.name)

    @property
    def session_id(self) -> str:
        return f"0x{self.unique_id:08x}"

    @property
    def proposal_name(self) -> str:
        return self.suite.describe()

    # -- the request path ---------------------------------------------------

    def handle_request(self, raw: bytes, header: Header, local: Address, remote: Address, now: float) -> list[Effect]:
        if self.state is State.DELETED:
            return []
        self.arrival = (local, remote)  # for the ladder and the trace: where it really came
        if self.tasks.is_retransmit_id(header):
            datagrams, reason = self.tasks.retransmit(raw, header)
            return [SendDatagram(d, local, remote) for d in datagrams] + (
                [self._dropped(reason)] if reason else [])
        if self.state is State.FAILED:
            return [self._dropped("request on an IKE SA whose authentication failed")]
        match self.tasks.open_request(raw, header, now):
            case Ignored(reason=reason):
                return [self._dropped(reason)] if reason else []
            case Refused(notify=notify, reason=reason):
                return [self._dropped(reason)] + self._respond(header.exchange, header.message_id, [notify], now,
                                                               local, remote)
            case Received(message=message):
                pass
        # an authentic request may come from a new NAT mapping (RFC 7296 §2.23)
        moved = peer_address.follow(self, local, remote)
        self.request_addresses = (local, remote)
        self.last_activity = now
        handlers: dict[int, Callable[[Message, float, list[Effect]], list[Payload] | Deferred]] = {
            ExchangeType.IKE_AUTH: self._ike_auth,
            ExchangeType.INFORMATIONAL: self._informational,
            ExchangeType.CREATE_CHILD_SA: self._create_child_sa,
        }
        handler = handlers.get(header.exchange)
        if handler is None:
            return [self._dropped(f"unsupported exchange {header.exchange}")]
        effects: list[Effect] = moved
        payloads = handler(message, now, effects)
        if isinstance(payloads, Deferred):
            self.tasks.wait(Waiting(header.exchange, header.message_id, local, remote, payloads.finish))
            return effects + [Compute(("sa", self.spi, header.message_id), payloads.job)]
        # Child SAs are installed (and events logged) before the answer
        # leaves, so the client's first ESP packet finds its SA.
        return effects + self._respond(header.exchange, header.message_id, payloads, now, local, remote)

    # -- requests we initiate (RFC 7296 §2.4) --------------------------------------

    def handle_response(self, raw: bytes, header: Header, local: Address, remote: Address,
                        now: float) -> list[Effect]:
        self.arrival = (local, remote)
        answer = self.tasks.response(raw, header, now)
        if isinstance(answer, str):
            return [self._dropped(answer)]
        message, on_answer = answer
        self.last_activity = now
        self.probe_remote = None
        # an answer from a new NAT mapping moves us as a request does
        effects: list[Effect] = peer_address.follow(self, local, remote)
        on_answer(message, now, effects)
        if self.state is not State.DELETED:
            effects += self._sent(self.tasks.send_next(now, self.local))
        return effects

    def send_request(self, exchange: int, payloads: list[Payload], now: float,
                      on_answer: OnAnswer | None = None) -> list[Effect]:
        """Queue a request of ours behind any in flight (a window of one)."""
        return self._sent(self.tasks.initiate(exchange, payloads, on_answer or _nothing, now, self.local))

    def _sent(self, datagrams: list[bytes]) -> list[Effect]:
        return [SendDatagram(d, self.local, self.probe_remote or self.remote) for d in datagrams]

    def initiate_delete(self, now: float, reason: str) -> list[Effect]:
        """End the session from our side, telling the client (IkeDelete)."""
        return IkeDelete(self, reason).start(now)

    def delete_child(self, spi_in: int, now: float) -> list[Effect]:
        """End one Child SA from our side, telling the client (ChildDelete)."""
        return ChildDelete(self, spi_in).start(now)

    def rekey_child(self, spi_in: int, now: float, attempt: int = 1) -> list[Effect]:
        """Rekey one Child SA from our side, its soft lifetime over (ChildRekey)."""
        return ChildRekey(self, spi_in, attempt).start(now)

    def compute(self, job: Job, done: OwnJobDone) -> Effect:
        """A job a request of ours needs first; `done` resumes it."""
        number = next(self._own_job_numbers)
        self._own_jobs[number] = done
        return Compute(("sa", self.spi, "own", number), job)

    def tick(self, now: float) -> list[Effect]:
        """Retransmit what we asked, detect dead peers, expire."""
        due = self.tasks.due(now)
        if isinstance(due, GaveUp):
            # §2.4: a peer that answers nothing is gone, and so is its SA
            gone: list[Effect] = []
            self.probe_remote = None
            if self.state is State.DELETING:
                self.move_to(State.DELETED)
            else:
                self.delete(now, "Peer not responding (DPD)", gone)
            return gone
        if due:
            return self._sent(due)
        effects: list[Effect] = []
        for spi_in, (when, attempt) in list(self.rekey_retries.items()):
            if now >= when:
                del self.rekey_retries[spi_in]
                effects += self.rekey_child(spi_in, now, attempt)
        connect_deadline = self.connect_deadline
        if connect_deadline is not None and now >= connect_deadline:
            return effects + self.initiate_delete(now, MAX_CONNECT_TIME)
        rekey_deadline = self.rekey_deadline
        if rekey_deadline is not None and now >= rekey_deadline:
            effects += IkeRekey(self).start(now)
        lifetime_deadline = self.lifetime_deadline
        if lifetime_deadline is not None and now >= lifetime_deadline:
            # a client that never rekeys: the SA goes, as its keys may not
            # live longer than the policy says (RFC 7296 §2.8)
            return effects + self.initiate_delete(now, IKE_LIFETIME_EXPIRED)
        idle_check = self._idle_check_due()
        if idle_check is not None and now >= idle_check:
            self.activity_asked_at = now
            effects.append(ReadActivity(self.spi, tuple(c.spec.spi_in for c in self.children)))
        dpd = self.settings.dpd_interval
        if (self.state is State.ESTABLISHED and self.tasks.idle() and dpd
                and now - self.last_activity >= dpd):
            effects += liveness_check(self, now)
        return effects

    def job_done(self, token: tuple, result: JobResult | RadiusResult, now: float) -> list[Effect]:
        if self.state is State.DELETED:
            return []
        if token[2] == "own":
            done = self._own_jobs.pop(token[3], None)
            if done is None or isinstance(result, RadiusResult):
                return []
            resumed: list[Effect] = []
            done(result, now, resumed)
            return resumed
        waiting = self.tasks.resume(token[2])
        if waiting is None:
            return []
        effects: list[Effect] = []
        payloads = waiting.finish(result, now, effects)
        if isinstance(payloads, Deferred):  # one job led to another (a CRL, then our signature)
            self.tasks.wait(Waiting(waiting.exchange, waiting.message_id, waiting.local, waiting.remote,
                                    payloads.finish))
            return effects + [Compute(("sa", self.spi, waiting.message_id), payloads.job)]
        return effects + self._respond(waiting.exchange, waiting.message_id, payloads, now, waiting.local,
                                       waiting.remote)

    def _respond(self, exchange: int, message_id: int, payloads: list[Payload], now: float, local: Address,
                 remote: Address) -> list[Effect]:
        return [SendDatagram(d, local, remote) for d in self.tasks.respond(exchange, message_id, payloads, local, now)]

    def _dropped(self, reason: str) -> Effect:
        return Emit(MessageDropped(self.name, self.local, self.remote, reason))

    # -- exchanges: the work itself lives in tasks/ -----------------------------

    def _ike_auth(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        if self.auth is None:  # IKE_AUTH is over: RFC 7296 §1.2 has no further round
            return [Notify(NotifyType.INVALID_SYNTAX)]
        return self.auth.process(message, now, effects)

    def negotiate_child_sa(self, offer: SA, tsi_req: TSi, tsr_req: TSr, address: IPv4Address, nonce_i: bytes,
                           nonce_r: bytes, now: float, effects: list[Effect], pfs: Pfs | None = IN_IKE_AUTH,
                           shared_secret: bytes | None = None,
                           replacing: int = 0) -> Notify | tuple[SA, TSi, TSr, ChildSa]:
        return negotiate_child_sa(self, offer, tsi_req, tsr_req, address, nonce_i, nonce_r, now, effects, pfs,
                                  shared_secret, replacing)

    def new_child_spi(self, replacing: int = 0) -> int:
        """A new inbound SPI; `replacing`: the inbound SPI of the Child SA a rekey replaces."""
        pending = {rekey.new_spi for rekey in self.child_rekeys.values()}
        while True:
            spi = self.place_child_spi(int.from_bytes(self.random(4), "big"), replacing)
            # 1..255 are reserved by IANA; a rekey of ours holds its SPI before it is installed
            if spi >= 256 and not self.spi_in_use(spi) and spi not in pending:
                return spi

    # -- INFORMATIONAL and CREATE_CHILD_SA ----------------------------------

    def _informational(self, message: Message, now: float, effects: list[Effect]) -> list[Payload]:
        return informational(self, message, now, effects)

    def _create_child_sa(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        return create_child_sa(self, message, now, effects)

    def rekeyed_into(self, *, spi_i: bytes, spi_r: bytes, suite: IkeSuite, keys: IkeKeys, prf: PrfAlgorithm,
                     encr: EncrAlgorithm, integ: IntegAlgorithm | None, nonce_i: bytes, nonce_r: bytes,
                     now: float, ours: bool = False) -> "IkeSa":
        """The IKE SA an IKE rekey makes (RFC 7296 §2.18): new SPIs, keys and
        nonces, a fresh TaskManager (Message IDs from 0) and lifetime; the
        session itself (identity, lease, Child SAs, accounting, the path
        and what the peer supports) carries over. What carries over is
        listed here, so a field added to the SA starts fresh in a successor
        unless it is named: never a stale copy of per-SA state."""
        successor = IkeSa(
            settings=self.settings, unique_id=self.unique_id, spi_i=spi_i, spi_r=spi_r,
            local=self.local, remote=self.remote, suite=suite, keys=keys, prf=prf, encr=encr, integ=integ,
            nonce_i=nonce_i, nonce_r=nonce_r, init_request=b"", init_response=b"",
            peer_fragmentation=self.peer_fragmentation, peer_hash_algorithms=self.peer_hash_algorithms,
            nat_peer=self.nat_peer, nat_local=self.nat_local, created=now, random=self.random,
            spi_in_use=self.spi_in_use, place_child_spi=self.place_child_spi, state=State.ESTABLISHED,
            profile=self.profile, username=self.username,
            idi_body=self.idi_body, lease=self.lease, lease6=self.lease6, children=list(self.children),
            established_at=self.established_at, traffic_packets=self.traffic_packets,
            last_traffic=self.last_traffic, accounting=self.accounting, authorization=self.authorization,
            assigned_policy=self.assigned_policy, mobike=self.mobike, allocate_ike_spi=self.allocate_ike_spi,
            sessions=self.sessions, predecessor=self, original_initiator=ours, history=self.history)
        successor.last_activity = now
        return successor

    def hand_over_to(self, successor: "IkeSa") -> None:
        """After an IKE rekey the session (children, lease, accounting) lives
        on in the new IKE SA; this one only waits for the client's Delete."""
        self.children, self.lease, self.lease6, self.accounting = [], None, None, None
        self.successor = successor
        self.sessions.changed(self, RekeyedInto(successor))

    def new_ike_spi(self) -> bytes:
        return self.allocate_ike_spi()

    def dropped(self, reason: str) -> Effect:
        return self._dropped(reason)

    # -- teardown -----------------------------------------------------------

    def remove_child_by_out_spi(self, spi_out: int, effects: list[Effect]) -> ChildSa | None:
        for child in self.children:
            if child.spec.spi_out == spi_out:
                self.children.remove(child)
                effects.append(RemoveChildSa(child.spec))
                effects.append(Emit(ChildSaDeleted(self.name, self.local, self.remote, self.username,
                                                   child.spec.spi_in, child.spec.spi_out)))
                return child
        return None

    def delete(self, now: float, reason: str, effects: list[Effect]) -> None:
        """Tear everything down: Child SAs, the address lease, the SA."""
        self.release(now, reason, effects)
        self.move_to(State.DELETED)

    def release(self, now: float, reason: str, effects: list[Effect]) -> None:
        if self.state is State.ESTABLISHED and self.accounting is not None:
            # before the Child SAs go, so the adapter can still read their counters
            stop = stop_record(self.accounting, now - (self.established_at or now), reason,
                               tuple(c.spec.spi_in for c in self.children))
            effects.append(SendAccounting(stop, self.name, self.local, self.remote))
            self.accounting = None
        for child in list(self.children):
            self.remove_child_by_out_spi(child.spec.spi_out, effects)
        if self.lease is not None and self.profile is not None:
            pool, address = self.lease
            self.profile.pools.release(address)
            effects.append(Emit(AddressReleased(self.name, self.local, self.remote, self.username, pool, address,
                                                self.unique_id)))
            self.lease = None
        if self.lease6 is not None and self.profile is not None:
            pool, address6 = self.lease6
            self.profile.pools6.release(address6)
            effects.append(Emit(AddressReleased(self.name, self.local, self.remote, self.username, pool, address6,
                                                self.unique_id)))
            self.lease6 = None
        if self.state is State.ESTABLISHED and not self.rekeyed:
            effects.append(Emit(IkeSaDeleted(self.name, self.local, self.remote, self.username, reason,
                                             now - (self.established_at or now), session=self.unique_id,
                                             group_policy=self.group_policy.name if self.group_policy else "")))

    def fail(self, now: float) -> None:
        # keep answering retransmits of the failing exchange for a while,
        # then go: never a stuck SA
        self.move_to(State.FAILED)
        self.delete_after = now + 10.0

    def expired(self, now: float) -> bool:
        if self.state is State.DELETED:
            return True
        if self.delete_after is not None:
            return now >= self.delete_after
        if self.state not in (State.ESTABLISHED, State.DELETING):
            return now - self.created >= self.settings.half_open_timeout
        return False

    def deadline(self) -> float | None:
        """When `tick` or `expired` next has something to do: the next
        retransmit, the liveness check, the end of a failed or half-open SA."""
        state = self.state
        if state is State.DELETED:
            return self.created  # already due: the responder forgets it
        # the earliest of them, without a list: this runs after every exchange
        first = self.tasks.deadline()
        if first is None and state is State.ESTABLISHED and self.settings.dpd_interval and self.tasks.idle():
            first = self.last_activity + self.settings.dpd_interval
        for due in (self._idle_check_due(), self.connect_deadline, self.lifetime_deadline, self.rekey_deadline,
                    self.delete_after):
            if due is not None and (first is None or due < first):
                first = due
        if self.rekey_retries:
            for when, _attempt in self.rekey_retries.values():
                if first is None or when < first:
                    first = when
        if self.delete_after is None and state is not State.ESTABLISHED and state is not State.DELETING:
            due = self.created + self.settings.half_open_timeout
            if first is None or due < first:
                first = due
        return first



def _nothing(message: Message, now: float, effects: list[Effect]) -> None:
    """An answer that only tells us the peer is alive (DPD, a Child Delete)."""
