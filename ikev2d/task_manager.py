"""The task manager of one IKE SA (strongSwan's task_manager_v2): the only
owner of its Message IDs, in both directions.

- The peer's requests (RFC 7296 §2.1, §2.2): which Message ID comes next,
  the cached answer to the last one and the recognition of its retransmits,
  RFC 7383 reassembly, and a request whose answer waits for a job.
- Our own requests (§2.4): a queue, one exchange in flight at a time (a
  window of one), retransmission with back-off, and giving up on the peer.
- Fragmentation of everything we send (RFC 7383 §2.5).

It knows nothing of what an exchange means: the SA and its tasks decide
that. Time is passed in; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from .crypto.errors import CryptoError, IntegrityError
from .effects import Effect
from .iana import NotifyType
from .protect import FragmentReassembler, SkKeys, protect_fragments, unprotect_message
from .protect.fragments import authentic_fragment_number
from .sa_types import Finish
from .wire.errors import UnsupportedCriticalPayload, WireError
from .wire.header import Header
from .wire.message import Message
from .wire.payloads import SKF, Notify, Payload

Address = tuple[str, int]
Random = Callable[[int], bytes]

# IPv4 + UDP, and the non-ESP marker on port 4500 (RFC 3948 §2.2)
IPV4_UDP_OVERHEAD = 28
NON_ESP_MARKER_SIZE = 4
IKE_PORT = 500

# RFC 7296 §2.4: retransmit with back-off, then give up on the peer
RETRANSMIT_TIMEOUT = 2.0
RETRANSMIT_BASE = 2.0
RETRANSMIT_TRIES = 4
# how often one request's retransmits are answered: a client retransmits a
# handful of times; a replayed request must not make us an amplifier
MAX_RETRANSMIT_ANSWERS = 8

# what to do with a request's answer: (the answer, now, effects to add to)
OnAnswer = Callable[[Message, float, list[Effect]], None]


# -- what passed, for the debug trace ----------------------------------------------

@dataclass(frozen=True)
class Passed:
    """A message that went in or out: decrypted and reassembled, or ours
    before protection, with the size of each datagram it travelled in
    (more than one: RFC 7383 fragments)."""

    inbound: bool
    message: Message
    sizes: tuple[int, ...]
    at: float = 0.0  # the core's clock
    port: int = 0  # ours it left from (outbound; the SA knows where an inbound one came)


@dataclass(frozen=True)
class Resent:
    """A retransmission: ours (`tries` so far) or our cached answer to the
    peer's retransmitted request."""

    ours: bool
    exchange: int
    message_id: int
    tries: int


Observer = Callable[[Passed | Resent], None]


# -- what a received request turned out to be ------------------------------------

@dataclass(frozen=True)
class Received:
    """A new, authentic, well-formed request: the SA's tasks answer it."""

    message: Message


@dataclass(frozen=True)
class Refused:
    """Authentic but not acceptable as it is: answer with `notify` (RFC 7296
    §2.21.4); `reason` is for the log."""

    notify: Notify
    reason: str


@dataclass(frozen=True)
class Ignored:
    """Nothing to answer (a fragment of a message not yet whole, a
    retransmit while its answer is computed); `reason` for the log, or None
    when there is nothing worth saying."""

    reason: str | None = None


Inbound = Received | Refused | Ignored


@dataclass
class Waiting:
    """A request whose answer waits for a `Compute` job."""

    exchange: int
    message_id: int
    local: Address
    remote: Address
    finish: Finish


@dataclass
class _Request:
    exchange: int
    payloads: list[Payload]
    on_answer: OnAnswer


@dataclass
class _InFlight:
    request: _Request
    message_id: int
    datagrams: list[bytes]
    next_send: float
    tries: int = 1


@dataclass(frozen=True)
class GaveUp:
    """Our request went unanswered through every retransmission (§2.4)."""

    exchange: int


@dataclass
class TaskManager:
    sk: SkKeys
    spi_i: bytes
    spi_r: bytes
    fragment_size: int  # 0: the peer cannot take fragments (RFC 7383 §2.3)
    random: Random
    # an IKE SA born of a rekey counts from 0 (RFC 7296 §2.18); one born of
    # IKE_SA_INIT from 1, its Message ID 0 answered before the SA existed
    born_of_rekey: bool = False
    # we are the IKE SA's original initiator (our rekey made it): the I flag
    original_initiator: bool = False
    # the peer's requests
    next_request_id: int = field(init=False)
    last_response_id: int = -1
    last_response: list[bytes] = field(default_factory=list)
    # SHA-256 of the last authentic request (its first fragment, when
    # fragmented): a retransmit is that same datagram (RFC 7296 §2.1)
    request_digest: bytes = b""
    retransmits_answered: int = 0
    waiting: Waiting | None = None
    # ours
    next_own_id: int = 0
    in_flight: _InFlight | None = None
    # rarely more than one: a list (an empty deque costs ~700 bytes per SA)
    queue: list[_Request] = field(default_factory=list)
    # the IKE SA's debug trace: told of every message and retransmission
    observer: Observer | None = field(default=None, repr=False)
    # the fragments of the message being reassembled: (its Message ID, size by number)
    _fragment_sizes: tuple[int, dict[int, int]] = field(default_factory=lambda: (-1, {}), repr=False)

    def __post_init__(self) -> None:
        self.next_request_id = 0 if self.born_of_rekey else 1
        self.reassembler = FragmentReassembler(self.sk)

    # -- the peer's requests ----------------------------------------------------

    def is_retransmit_id(self, header: Header) -> bool:
        return header.message_id == self.last_response_id and bool(self.last_response)

    def retransmit(self, raw: bytes, header: Header) -> tuple[list[bytes], str | None]:
        """The cached answer for a request with the Message ID we last
        answered (with a reason when it is not given). Before any integrity
        check only the very datagram we answered is a retransmit; anything
        else must prove itself authentic first (a client may re-fragment a
        retransmit smaller, RFC 7383 §2.6.1), so a forged 28-octet header
        cannot reflect our cached answer at any address."""
        if hashlib.sha256(raw).digest() != self.request_digest:
            if header.next_payload == SKF.payload_type:
                if authentic_fragment_number(raw, self.sk, header) != 1:
                    return [], None  # answered once, on fragment 1; forgeries silently
            else:
                try:
                    unprotect_message(raw, self.sk, header)
                except (WireError, CryptoError):
                    return [], "a request with the last answered message ID that is not its retransmit"
        if self.retransmits_answered >= MAX_RETRANSMIT_ANSWERS:
            return [], f"retransmit of request {header.message_id} answered {MAX_RETRANSMIT_ANSWERS} times already"
        self.retransmits_answered += 1
        if self.observer is not None:
            self.observer(Resent(False, header.exchange, header.message_id, self.retransmits_answered))
        return list(self.last_response), None

    def open_request(self, raw: bytes, header: Header, now: float) -> Inbound:
        """Take a request that is not a retransmit: in window, authentic,
        reassembled, decoded."""
        if self.waiting is not None:
            return Ignored()  # a retransmit while our job runs: the answer is coming
        if header.message_id != self.next_request_id:
            return Ignored(f"unexpected message ID {header.message_id}")
        digest = hashlib.sha256(raw).digest()
        try:
            if header.next_payload == SKF.payload_type:
                message = self.reassembler.add(raw, now, header)
                if self.reassembler.last_drop is None:  # for the trace: each fragment's size
                    if self._fragment_sizes[0] != header.message_id:
                        self._fragment_sizes = (header.message_id, {})
                    self._fragment_sizes[1][_skf_number(raw)] = len(raw)
                if _skf_number(raw) == 1 and self.reassembler.last_drop is None:
                    self.request_digest = digest  # authentic: add() raises otherwise
                if message is None:
                    return Ignored(self.reassembler.last_drop)
            else:
                self.request_digest = b""
                message = unprotect_message(raw, self.sk, header)
                self.request_digest = digest
        except IntegrityError:
            return Ignored("integrity check failed")
        except UnsupportedCriticalPayload as exc:
            self.request_digest = digest
            return Refused(Notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                  data=exc.payload_type.to_bytes(1, "big")), str(exc))
        except (WireError, CryptoError) as exc:
            # authentic (the ICV held) but malformed: RFC 7296 §2.21.4
            self.request_digest = digest
            return Refused(Notify(NotifyType.INVALID_SYNTAX), f"invalid syntax: {exc}")
        if self.observer is not None:
            fragments = _skf_total(raw) if header.next_payload == SKF.payload_type else 1
            sizes = self._fragment_sizes[1]
            self.observer(Passed(True, message, tuple(sizes[n] for n in sorted(sizes)) if fragments > 1
                                 else (len(raw),), now))
        return Received(message)

    def wait(self, waiting: Waiting) -> None:
        self.waiting = waiting

    def resume(self, message_id: int) -> Waiting | None:
        """The request a job's result belongs to, if it still waits."""
        waiting = self.waiting
        if waiting is None or waiting.message_id != message_id:
            return None
        self.waiting = None
        return waiting

    def respond(self, exchange: int, message_id: int, payloads: list[Payload], local: Address,
                now: float = 0.0) -> list[bytes]:
        """Our answer to request `message_id`, protected and fragmented; kept
        for its retransmits."""
        self.last_response = self._protect(exchange, message_id, payloads, local, is_response=True)
        self._observe_out(exchange, message_id, payloads, True, self.last_response, now, local)
        self.last_response_id = message_id
        self.next_request_id = message_id + 1
        self.retransmits_answered = 0
        return list(self.last_response)

    # -- our requests -------------------------------------------------------------

    def initiate(self, exchange: int, payloads: list[Payload], on_answer: OnAnswer, now: float,
                 local: Address) -> list[bytes]:
        """Queue a request of ours; the datagrams to send if it goes out now
        (nothing else in flight), else [] and it follows the one in flight."""
        self.queue.append(_Request(exchange, payloads, on_answer))
        return self._next(now, local) if self.in_flight is None else []

    def idle(self) -> bool:
        return self.in_flight is None and not self.queue

    def drop_queued(self) -> None:
        """Forget requests not sent yet (a Delete of the IKE SA makes them moot)."""
        self.queue.clear()

    def response(self, raw: bytes, header: Header, now: float = 0.0) -> tuple[Message, OnAnswer] | str:
        """The answer to our request in flight and what to do with it, or why
        `raw` is not that answer."""
        flight = self.in_flight
        if flight is None or header.message_id != flight.message_id:
            return f"response {header.message_id} to no request of ours"
        try:
            message = unprotect_message(raw, self.sk, header)
        except IntegrityError:
            return "integrity check failed on a response"
        except (WireError, CryptoError) as exc:
            return f"malformed response: {exc}"
        self.in_flight = None
        if self.observer is not None:
            self.observer(Passed(True, message, (len(raw),), now))
        return message, flight.request.on_answer

    def send_next(self, now: float, local: Address) -> list[bytes]:
        """After an answer: the next queued request, if any."""
        return self._next(now, local) if self.in_flight is None else []

    def due(self, now: float) -> list[bytes] | GaveUp:
        """Retransmit our request in flight if its time has come (§2.4)."""
        flight = self.in_flight
        if flight is None or now < flight.next_send:
            return []
        if flight.tries >= RETRANSMIT_TRIES:
            self.in_flight = None
            self.queue.clear()
            return GaveUp(flight.request.exchange)
        flight.tries += 1
        flight.next_send = now + RETRANSMIT_TIMEOUT * RETRANSMIT_BASE ** (flight.tries - 1)
        if self.observer is not None:
            self.observer(Resent(True, flight.request.exchange, flight.message_id, flight.tries))
        return list(flight.datagrams)

    def deadline(self) -> float | None:
        return self.in_flight.next_send if self.in_flight is not None else None

    def _next(self, now: float, local: Address) -> list[bytes]:
        if not self.queue:
            return []
        request = self.queue.pop(0)
        message_id = self.next_own_id
        self.next_own_id += 1
        datagrams = self._protect(request.exchange, message_id, request.payloads, local, is_response=False)
        self._observe_out(request.exchange, message_id, request.payloads, False, datagrams, now, local)
        self.in_flight = _InFlight(request, message_id, datagrams, now + RETRANSMIT_TIMEOUT)
        return list(datagrams)

    # -- both ---------------------------------------------------------------------

    def _protect(self, exchange: int, message_id: int, payloads: list[Payload], local: Address,
                 is_response: bool) -> list[bytes]:
        overhead = IPV4_UDP_OVERHEAD + (NON_ESP_MARKER_SIZE if local[1] != IKE_PORT else 0)
        return protect_fragments(self.spi_i, self.spi_r, exchange, message_id, payloads, self.sk,
                                 fragment_size=self.fragment_size, overhead=overhead, is_response=is_response,
                                 is_initiator=self.original_initiator, random=self.random)


    def _observe_out(self, exchange: int, message_id: int, payloads: list[Payload], is_response: bool,
                     datagrams: list[bytes], now: float, local: Address) -> None:
        if self.observer is not None:
            message = Message(self.spi_i, self.spi_r, exchange, message_id, is_response, self.original_initiator,
                              list(payloads))
            self.observer(Passed(False, message, tuple(len(d) for d in datagrams), now, local[1]))


def _skf_total(raw: bytes) -> int:
    # after the Fragment Number (RFC 7383 §2.5)
    return int.from_bytes(raw[34:36], "big") if len(raw) >= 36 else 0


def _skf_number(raw: bytes) -> int:
    # SKF right after the 28-octet header (the caller checked the header's
    # Next Payload): generic header (4), then Fragment Number, RFC 7383 §2.5
    return int.from_bytes(raw[32:34], "big") if len(raw) >= 36 else 0
