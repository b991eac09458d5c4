"""The EAP authenticator state machine (RFC 3748), sans I/O.

The IKE responder hands in the bytes of each EAP payload it receives and sends
back `EapOutcome.message` in its IKE_AUTH response. The conversation:

    Request/Identity -> Response/Identity (or a Nak, see below)
    method Requests  <-> method Responses (or one legacy Nak, §5.3.1)
    EAP-Success (with the method's MSK) or EAP-Failure

Bad input policy, so nothing raises out of `process`:
- octets that are not an EAP packet, a packet that is not a Response, a
  Response whose Identifier is not that of the outstanding Request, and a
  Response of another Type than the Request (other than Nak) are silently
  discarded (RFC 3748 §4.1, §2.1): the outcome repeats the outstanding
  Request and says why in `discarded`. More than MAX_DISCARDS in a row end the
  conversation with EAP-Failure, so a broken peer cannot keep it open forever;
- a Response of the right Identifier and Type whose Type-Data is malformed
  fails the authentication: it can only come from a broken or hostile peer.

The Identifier starts at a random value and is incremented for each new
Request; Success and Failure carry the Identifier of the Response they answer
(RFC 3748 §4.2).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ikev2d.aaa.local import CredentialStore
from ikev2d.eap.gtc import GenericTokenCard
from ikev2d.eap.md5 import Md5Challenge
from ikev2d.eap.method import Continue, EapMethod, Failed, MethodFactory, Succeeded
from ikev2d.eap.mschapv2 import MsChapV2
from ikev2d.eap.packet import EapPacket, NotTheResponse
from ikev2d.iana import EapCode, EapType

METHODS: Mapping[int, MethodFactory] = {
    EapType.MD5_CHALLENGE: Md5Challenge,
    EapType.GTC: GenericTokenCard,
    EapType.MSCHAPV2: MsChapV2,
}
MAX_DISCARDS = 5

NAK_NOTHING_ACCEPTABLE = "peer sent Nak with no acceptable method"


@dataclass(frozen=True)
class EapOutcome:
    message: bytes  # EAP packet to send next (Request, Success or Failure)
    finished: bool  # True once Success or Failure is being sent
    success: bool
    identity: str | None  # from Response/Identity, or the method's own name field
    method: int | None  # EapType running or last proposed (None while asking for the identity)
    msk: bytes | None = field(repr=False)  # MSCHAPv2 only; never in a repr
    # Why authentication failed, for our log only. Also set, with finished
    # False, when a method has decided to fail and its Request only tells the
    # peer (MSCHAPv2 Failure Request): strongSwan aborts there without replying.
    failure_reason: str | None
    # Why the input was ignored, when `message` repeats the outstanding Request.
    discarded: str | None = None


class _Phase(enum.Enum):
    NEW = enum.auto()
    IDENTITY = enum.auto()
    METHOD = enum.auto()
    DONE = enum.auto()


class EapServer:
    """One EAP conversation with one peer, authenticator side."""

    def __init__(
        self,
        methods: Sequence[int],
        credentials: CredentialStore,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        unsupported = [m for m in methods if m not in METHODS]
        if not methods or unsupported:
            raise ValueError(f"EAP methods must be a non-empty subset of {sorted(METHODS)}")
        self._methods = list(dict.fromkeys(methods))  # preference order, no repeats
        self._credentials = credentials
        self._random = random
        self._phase = _Phase.NEW
        self._identity: str | None = None
        self._method: EapMethod | None = None
        self._method_answered = False  # Nak is only valid before the first answer
        self._tried: set[int] = set()
        self._request = EapPacket(EapCode.REQUEST, 0, EapType.IDENTITY)
        self._last: EapOutcome | None = None
        self._discards = 0

    # -- public API ---------------------------------------------------------

    def start(self) -> EapOutcome:
        """The first Request/Identity (RFC 3748 §5.1); repeated if called again."""
        if self._phase is not _Phase.NEW:
            assert self._last is not None
            return self._last
        self._phase = _Phase.IDENTITY
        self._request = EapPacket(EapCode.REQUEST, self._random(1)[0], EapType.IDENTITY)
        return self._emit(self._request)

    def process(self, response: bytes) -> EapOutcome:
        """Consume one EAP packet from the peer; the outcome says what to send."""
        if self._phase is _Phase.NEW:
            raise RuntimeError("EapServer.process() called before start()")
        if self._phase is _Phase.DONE:
            assert self._last is not None
            return self._last
        try:
            packet = EapPacket.response_to(self._request, response)
        except NotTheResponse as exc:
            return self._discard(str(exc))
        if packet.type == EapType.NAK:
            return self._on_nak(packet.data)
        if packet.type != self._request.type:
            return self._discard(f"Response Type {packet.type} does not answer Request Type {self._request.type}")
        self._discards = 0
        if self._phase is _Phase.IDENTITY:
            return self._on_identity(packet.data)
        return self._on_method(packet)

    # -- steps --------------------------------------------------------------

    def _on_identity(self, data: bytes) -> EapOutcome:
        try:
            self._identity = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail("EAP identity is not UTF-8")
        return self._begin(self._methods[0])

    def _on_nak(self, data: bytes) -> EapOutcome:
        # RFC 3748 §5.3.1: a legacy Nak lists the Types the peer wants (0: none).
        self._discards = 0
        if self._phase is _Phase.METHOD and self._method_answered:
            return self._fail("peer sent Nak after the method had started")
        if self._method is not None:
            self._tried.add(self._method.eap_type)
        # Our preference order decides among the Types both sides accept.
        wanted = set(data)
        for candidate in self._methods:
            if candidate in wanted and candidate not in self._tried:
                return self._begin(candidate)
        return self._fail(NAK_NOTHING_ACCEPTABLE)

    def _begin(self, eap_type: int) -> EapOutcome:
        # strongSwan without eap-identity Naks the identity Request itself:
        # then the identity stays None and the method has to find the user.
        self._phase = _Phase.METHOD
        self._method = METHODS[eap_type](self._identity, self._credentials, self._random)
        self._method_answered = False
        identifier = self._next_identifier()
        type_data = self._method.initial_request(identifier)
        return self._send(identifier, type_data)

    def _on_method(self, packet: EapPacket) -> EapOutcome:
        assert self._method is not None
        self._method_answered = True
        step = self._method.process(packet.data, packet.identifier)
        if isinstance(step, Continue):
            return self._send(self._next_identifier(), step.type_data, step.failure_reason)
        if isinstance(step, Succeeded):
            return self._finish(EapCode.SUCCESS, msk=step.msk, reason=None)
        assert isinstance(step, Failed)
        return self._fail(step.reason)

    def _discard(self, why: str) -> EapOutcome:
        self._discards += 1
        if self._discards > MAX_DISCARDS:
            return self._fail("too many invalid EAP responses")
        assert self._last is not None
        return EapOutcome(
            message=self._last.message,
            finished=False,
            success=False,
            identity=self._last.identity,
            method=self._last.method,
            msk=None,
            failure_reason=self._last.failure_reason,
            discarded=why,
        )

    def _fail(self, reason: str) -> EapOutcome:
        return self._finish(EapCode.FAILURE, msk=None, reason=reason)

    # -- output -------------------------------------------------------------

    def _next_identifier(self) -> int:
        return (self._request.identifier + 1) & 0xFF

    def _send(self, identifier: int, type_data: bytes, reason: str | None = None) -> EapOutcome:
        assert self._method is not None
        self._request = EapPacket(EapCode.REQUEST, identifier, self._method.eap_type, type_data)
        return self._emit(self._request, failure_reason=reason)

    def _finish(self, code: EapCode, *, msk: bytes | None, reason: str | None) -> EapOutcome:
        self._phase = _Phase.DONE
        answer = EapPacket(code, self._request.identifier, None)
        return self._emit(answer, msk=msk, failure_reason=reason)

    def _emit(
        self, packet: EapPacket, *, msk: bytes | None = None, failure_reason: str | None = None
    ) -> EapOutcome:
        method = self._method
        self._last = EapOutcome(
            message=packet.pack(),
            finished=packet.code in (EapCode.SUCCESS, EapCode.FAILURE),
            success=packet.code == EapCode.SUCCESS,
            identity=method.identity if method is not None else self._identity,
            method=int(method.eap_type) if method is not None else None,
            msk=msk,
            failure_reason=failure_reason,
        )
        return self._last
