"""One IKE SA on the responder side: its state, keys and exchanges.

The SA owns its message IDs, the retransmission cache and fragment
reassembly (the task manager's job in strongSwan); the per-feature work
(proposals, NAT-D, config payload, traffic selectors) lives in `tasks/`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Callable


from .aaa.radius.accounting import stop_record
from .aaa.radius.messages import AccountingRecord, RadiusResult
from .crypto.errors import CryptoError, IntegrityError
from .crypto.jobs import JobResult
from .crypto.keymat import IkeKeys
from .crypto.transforms import EncrAlgorithm, IntegAlgorithm, PrfAlgorithm
from .eap import EapServer
from .eap.relay import EapRelay
from .effects import Compute, Effect, Emit, RemoveChildSa, SendAccounting, SendDatagram
from .events import (AddressReleased, ChildSaDeleted, IkeSaDeleted, MessageDropped)
from .iana import (ERROR_NOTIFY_LIMIT, ExchangeType, NotifyType, ProtocolId)
from .protect import FragmentReassembler, SkKeys, protect_fragments, unprotect_message
from .protect.fragments import authentic_fragment_number
from .sa_types import ChildSa, Deferred, Finish, PendingChild, State
from .settings import ProfileSettings, ResponderSettings
from .tasks.child_sa import negotiate_child_sa
from .tasks.ike_auth import ike_auth
from .tasks.proposals import IkeSuite
from .tasks.rekey import create_child_sa
from .wire.errors import UnsupportedCriticalPayload, WireError
from .wire.header import Header
from .wire.message import Message
from .wire.payloads import (SA, SKF, Delete, Notify, Payload, TSi, TSr)

Address = tuple[str, int]

# IPv4 + UDP, and the non-ESP marker on port 4500 (RFC 3948 §2.2)
IPV4_UDP_OVERHEAD = 28
NON_ESP_MARKER_SIZE = 4


@dataclass
class _Waiting:
    exchange: int
    message_id: int
    local: Address
    remote: Address
    finish: Finish


@dataclass
class _Outgoing:
    """A request we initiated (Delete, liveness check), kept for retransmission."""

    message_id: int
    datagrams: list[bytes]
    next_send: float
    tries: int
    on_answer: Callable[[float, list[Effect]], None]


# RFC 7296 §2.4: retransmit with back-off, then give up on the peer
RETRANSMIT_TIMEOUT = 2.0
RETRANSMIT_BASE = 2.0
RETRANSMIT_TRIES = 4
# how often one request's retransmits are answered: a client retransmits a
# handful of times; a replayed request must not make us an amplifier
MAX_RETRANSMIT_ANSWERS = 8


@dataclass
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
    state: State = State.AUTH_PENDING
    next_request_id: int = 1
    last_response_id: int = -1
    last_response: list[bytes] = field(default_factory=list)
    # SHA-256 of the last authentic request (its first fragment, when
    # fragmented): a retransmit is that same datagram (RFC 7296 §2.1)
    request_digest: bytes = b""
    retransmits_answered: int = 0
    profile: ProfileSettings | None = None
    eap: EapServer | EapRelay | None = None
    username: str = ""
    msk: bytes | None = field(default=None, repr=False)
    idi_body: bytes = b""
    pending: PendingChild | None = None
    lease: tuple[str, IPv4Address] | None = None
    children: list[ChildSa] = field(default_factory=list)
    established_at: float | None = None
    last_activity: float = 0.0
    delete_after: float | None = None  # a failed SA lingers to answer retransmits
    waiting: _Waiting | None = None  # a request whose answer waits for a Compute job
    next_own_id: int = 0  # message IDs of the requests we initiate
    outgoing: _Outgoing | None = None
    delete_reason: str = ""
    accounting: AccountingRecord | None = None  # the Start sent, so a Stop follows
    allocate_ike_spi: Callable[[], bytes] = lambda: os.urandom(8)
    successor: "IkeSa | None" = None  # the IKE SA this one was rekeyed into
    rekeyed: bool = False  # its session lives on in `successor`
    predecessor: "IkeSa | None" = None  # the IKE SA this one replaced, until this one is rekeyed

    def __post_init__(self) -> None:
        self.sk = SkKeys(
            encr=self.encr, integ=self.integ,
            sk_e_in=self.keys.sk_ei, sk_a_in=self.keys.sk_ai,
            sk_e_out=self.keys.sk_er, sk_a_out=self.keys.sk_ar,
        )
        self.reassembler = FragmentReassembler(self.sk)
        self.last_activity = self.created

    # -- identity -----------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.spi_i.hex()}_i {self.spi_r.hex()}_r"

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
        if header.message_id == self.last_response_id and self.last_response:
            return self._retransmit(raw, header, local, remote)
        if self.waiting is not None:
            return []  # a retransmit while our job runs: the answer is coming
        if self.state is State.FAILED:
            return [self._dropped("request on an IKE SA whose authentication failed")]
        if header.message_id != self.next_request_id:
            return [self._dropped(f"unexpected message ID {header.message_id}")]
        digest = hashlib.sha256(raw).digest()
        try:
            if header.next_payload == SKF.payload_type:
                message = self.reassembler.add(raw, now)
                if _skf_number(raw) == 1 and self.reassembler.last_drop is None:
                    self.request_digest = digest  # authentic: add() raises otherwise
                if message is None:
                    return []
            else:
                self.request_digest = b""
                message = unprotect_message(raw, self.sk)
                self.request_digest = digest
        except IntegrityError:
            return [self._dropped("integrity check failed")]
        except UnsupportedCriticalPayload as exc:
            self.request_digest = digest
            return self._respond(header.exchange, header.message_id,
                                 [Notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                         data=exc.payload_type.to_bytes(1, "big"))], local, remote)
        except (WireError, CryptoError) as exc:
            # authentic (the ICV held) but malformed: RFC 7296 §2.21.4
            self.request_digest = digest
            return [self._dropped(f"invalid syntax: {exc}")] + self._respond(
                header.exchange, header.message_id, [Notify(NotifyType.INVALID_SYNTAX)], local, remote)
        # an authentic request may come from a new NAT mapping (RFC 7296 §2.23)
        self.local, self.remote = local, remote
        self.last_activity = now
        handlers: dict[int, Callable[[Message, float, list[Effect]], list[Payload] | Deferred]] = {
            ExchangeType.IKE_AUTH: self._ike_auth,
            ExchangeType.INFORMATIONAL: self._informational,
            ExchangeType.CREATE_CHILD_SA: self._create_child_sa,
        }
        handler = handlers.get(header.exchange)
        if handler is None:
            return [self._dropped(f"unsupported exchange {header.exchange}")]
        effects: list[Effect] = []
        payloads = handler(message, now, effects)
        if isinstance(payloads, Deferred):
            self.waiting = _Waiting(header.exchange, header.message_id, local, remote, payloads.finish)
            return effects + [Compute(("sa", self.spi_r, header.message_id), payloads.job)]
        # Child SAs are installed (and events logged) before the answer
        # leaves, so the client's first ESP packet finds its SA.
        return effects + self._respond(header.exchange, header.message_id, payloads, local, remote)

    # -- requests we initiate (RFC 7296 §2.4) --------------------------------------

    def handle_response(self, raw: bytes, header: Header, local: Address, remote: Address,
                        now: float) -> list[Effect]:
        out = self.outgoing
        if out is None or header.message_id != out.message_id:
            return [self._dropped(f"response {header.message_id} to no request of ours")]
        try:
            unprotect_message(raw, self.sk)
        except IntegrityError:
            return [self._dropped("integrity check failed on a response")]
        except (WireError, CryptoError) as exc:
            return [self._dropped(f"malformed response: {exc}")]
        self.outgoing = None
        self.last_activity = now
        effects: list[Effect] = []
        out.on_answer(now, effects)
        return effects

    def _send_request(self, exchange: int, payloads: list[Payload], now: float,
                      on_answer: Callable[[float, list[Effect]], None]) -> list[Effect]:
        overhead = IPV4_UDP_OVERHEAD + (NON_ESP_MARKER_SIZE if self.local[1] != 500 else 0)
        datagrams = protect_fragments(
            self.spi_i, self.spi_r, exchange, self.next_own_id, payloads, self.sk,
            fragment_size=self.settings.fragment_size if self.peer_fragmentation else 0, overhead=overhead,
            is_response=False, is_initiator=False, random=self.random)
        self.outgoing = _Outgoing(self.next_own_id, datagrams, now + RETRANSMIT_TIMEOUT, 1, on_answer)
        self.next_own_id += 1
        return [SendDatagram(d, self.local, self.remote) for d in datagrams]

    def initiate_delete(self, now: float, reason: str) -> list[Effect]:
        """Tell the client its session is over (administrator logoff, idle
        timeout, a data plane that failed): children and lease go at once,
        the SA once the client answers or stops answering."""
        effects: list[Effect] = []
        if self.state in (State.DELETED, State.DELETING):
            return effects
        established = self.state is State.ESTABLISHED
        self._release(now, reason, effects)
        if not established:
            self.state = State.DELETED
            return effects
        self.state = State.DELETING
        self.delete_reason = reason
        self.outgoing = None  # a Delete supersedes a pending liveness check

        def answered(now: float, effects: list[Effect]) -> None:
            self.state = State.DELETED

        return effects + self._send_request(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE, [])], now, answered)

    def delete_child(self, spi_in: int, now: float) -> list[Effect]:
        """Our side ends a Child SA (hard lifetime): remove it and tell the
        client with an INFORMATIONAL Delete (RFC 7296 §1.4.1)."""
        child = next((c for c in self.children if c.spec.spi_in == spi_in), None)
        if child is None or self.state is not State.ESTABLISHED:
            return []
        effects: list[Effect] = []
        self._remove_child_by_out_spi(child.spec.spi_out, effects)
        if self.outgoing is None:
            def answered(now: float, effects: list[Effect]) -> None:
                pass
            effects += self._send_request(ExchangeType.INFORMATIONAL,
                                          [Delete(ProtocolId.ESP, [spi_in.to_bytes(4, "big")])], now, answered)
        return effects

    def _liveness_check(self, now: float) -> list[Effect]:
        # an empty INFORMATIONAL request is IKEv2's dead peer detection
        def answered(now: float, effects: list[Effect]) -> None:
            pass
        return self._send_request(ExchangeType.INFORMATIONAL, [], now, answered)

    def tick(self, now: float) -> list[Effect]:
        """Retransmit what we asked, detect dead peers, expire."""
        out = self.outgoing
        if out is not None and now >= out.next_send:
            if out.tries >= RETRANSMIT_TRIES:
                self.outgoing = None
                effects: list[Effect] = []
                if self.state is State.DELETING:
                    self.state = State.DELETED
                else:
                    self.delete(now, "Peer not responding (DPD)", effects)
                return effects
            out.tries += 1
            out.next_send = now + RETRANSMIT_TIMEOUT * RETRANSMIT_BASE ** (out.tries - 1)
            return [SendDatagram(d, self.local, self.remote) for d in out.datagrams]
        dpd = self.settings.dpd_interval
        if (self.state is State.ESTABLISHED and out is None and dpd
                and now - self.last_activity >= dpd):
            return self._liveness_check(now)
        return []

    def job_done(self, token: tuple, result: JobResult | RadiusResult, now: float) -> list[Effect]:
        waiting = self.waiting
        if waiting is None or token[2] != waiting.message_id or self.state is State.DELETED:
            return []
        self.waiting = None
        effects: list[Effect] = []
        payloads = waiting.finish(result, now, effects)
        return effects + self._respond(waiting.exchange, waiting.message_id, payloads, waiting.local, waiting.remote)

    def _respond(self, exchange: int, message_id: int, payloads: list[Payload], local: Address,
                 remote: Address) -> list[Effect]:
        overhead = IPV4_UDP_OVERHEAD + (NON_ESP_MARKER_SIZE if local[1] != 500 else 0)
        fragment_size = self.settings.fragment_size if self.peer_fragmentation else 0
        self.last_response = protect_fragments(
            self.spi_i, self.spi_r, exchange, message_id, payloads, self.sk,
            fragment_size=fragment_size, overhead=overhead, is_response=True, is_initiator=False,
            random=self.random)
        self.last_response_id = message_id
        self.next_request_id = message_id + 1
        self.retransmits_answered = 0
        return self._send_cached(local, remote)

    def _retransmit(self, raw: bytes, header: Header, local: Address, remote: Address) -> list[Effect]:
        """A request with the Message ID we last answered. Before any
        integrity check, only the very datagram we answered is a retransmit;
        anything else must prove itself authentic first (a client may
        re-fragment a retransmit smaller, RFC 7383 §2.6.1), so a forged
        28-octet header cannot reflect our cached answer at any address."""
        if hashlib.sha256(raw).digest() != self.request_digest:
            if header.next_payload == SKF.payload_type:
                if authentic_fragment_number(raw, self.sk) != 1:
                    return []  # answered once, on fragment 1; forgeries silently
            else:
                try:
                    unprotect_message(raw, self.sk)
                except (WireError, CryptoError):
                    return [self._dropped("a request with the last answered message ID that is not "
                                          "its retransmit")]
        if self.retransmits_answered >= MAX_RETRANSMIT_ANSWERS:
            return [self._dropped(f"retransmit of request {header.message_id} answered "
                                  f"{MAX_RETRANSMIT_ANSWERS} times already")]
        self.retransmits_answered += 1
        return self._send_cached(local, remote)

    def _send_cached(self, local: Address, remote: Address) -> list[Effect]:
        return [SendDatagram(d, local, remote) for d in self.last_response]

    def _dropped(self, reason: str) -> Effect:
        return Emit(MessageDropped(self.name, self.local, self.remote, reason))

    # -- exchanges: the work itself lives in tasks/ -----------------------------

    def _ike_auth(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        return ike_auth(self, message, now, effects)

    def negotiate_child_sa(self, offer: SA, tsi_req: TSi, tsr_req: TSr, address: IPv4Address, nonce_i: bytes,
                           nonce_r: bytes, now: float, effects: list[Effect]) -> Notify | tuple[SA, TSi, TSr, ChildSa]:
        return negotiate_child_sa(self, offer, tsi_req, tsr_req, address, nonce_i, nonce_r, now, effects)

    def new_child_spi(self) -> int:
        while True:
            spi = int.from_bytes(self.random(4), "big")
            if spi >= 256 and not self.spi_in_use(spi):  # 1..255 are reserved by IANA
                return spi

    # -- INFORMATIONAL and CREATE_CHILD_SA ----------------------------------

    def _informational(self, message: Message, now: float, effects: list[Effect]) -> list[Payload]:
        if self.state is not State.ESTABLISHED and any(n.type < ERROR_NOTIFY_LIMIT for n in message.notifies()):
            # the initiator gave up on the negotiation (e.g. AUTHENTICATION_FAILED
            # after an EAP failure): RFC 7296 §2.21.2, the IKE SA is gone
            self.delete(now, "Peer aborted the negotiation", effects)
            return []
        out: list[Payload] = []
        for delete in message.get_all(Delete):
            if delete.protocol == ProtocolId.IKE:
                self.delete(now, "User Requested", effects)
                return []
            if delete.protocol == ProtocolId.ESP:
                ours = []
                for spi_bytes in delete.spis:
                    child = self._remove_child_by_out_spi(int.from_bytes(spi_bytes, "big"), effects)
                    if child is not None:
                        ours.append(child.spec.spi_in.to_bytes(4, "big"))
                if ours:
                    out.append(Delete(ProtocolId.ESP, ours))
        return out  # an empty INFORMATIONAL is a liveness check: answer empty

    def _create_child_sa(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        return create_child_sa(self, message, now, effects)

    def hand_over_to(self, successor: "IkeSa") -> None:
        """After an IKE rekey the session (children, lease, accounting) lives
        on in the new IKE SA; this one only waits for the client's Delete."""
        self.children, self.lease, self.accounting = [], None, None
        self.successor, self.rekeyed = successor, True

    def new_ike_spi(self) -> bytes:
        return self.allocate_ike_spi()

    def dropped(self, reason: str) -> Effect:
        return self._dropped(reason)

    # -- teardown -----------------------------------------------------------

    def _remove_child_by_out_spi(self, spi_out: int, effects: list[Effect]) -> ChildSa | None:
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
        self._release(now, reason, effects)
        self.state = State.DELETED

    def _release(self, now: float, reason: str, effects: list[Effect]) -> None:
        if self.state is State.ESTABLISHED and self.accounting is not None:
            # before the Child SAs go, so the adapter can still read their counters
            stop = stop_record(self.accounting, now - (self.established_at or now), reason,
                               tuple(c.spec.spi_in for c in self.children))
            effects.append(SendAccounting(stop, self.name, self.local, self.remote))
            self.accounting = None
        for child in list(self.children):
            self._remove_child_by_out_spi(child.spec.spi_out, effects)
        if self.lease is not None and self.profile is not None:
            pool, address = self.lease
            self.profile.pools.release(address)
            effects.append(Emit(AddressReleased(self.name, self.local, self.remote, self.username, pool, address,
                                                self.unique_id)))
            self.lease = None
        if self.state is State.ESTABLISHED and not self.rekeyed:
            effects.append(Emit(IkeSaDeleted(self.name, self.local, self.remote, self.username, reason,
                                             now - (self.established_at or now), session=self.unique_id,
                                             group_policy=self.profile.group_policy.name if self.profile else "")))

    def fail(self, now: float) -> None:
        # keep answering retransmits of the failing exchange for a while,
        # then go: never a stuck SA
        self.state = State.FAILED
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
        if self.state is State.DELETED:
            return self.created  # already due: the responder forgets it
        times: list[float] = []
        out = self.outgoing
        if out is not None:
            times.append(out.next_send)
        elif self.state is State.ESTABLISHED and self.settings.dpd_interval:
            times.append(self.last_activity + self.settings.dpd_interval)
        if self.delete_after is not None:
            times.append(self.delete_after)
        elif self.state not in (State.ESTABLISHED, State.DELETING):
            times.append(self.created + self.settings.half_open_timeout)
        return min(times) if times else None


def _skf_number(raw: bytes) -> int:
    # SKF payload right after the 28-byte header: generic header (4) then
    # Fragment Number (2) and Total Fragments (2), RFC 7383 §2.5
    return int.from_bytes(raw[32:34], "big") if len(raw) >= 36 else 0
