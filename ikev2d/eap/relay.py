"""EAP authenticator backed by a RADIUS server group, sans I/O.

ikev2d asks for the EAP-Identity itself (RFC 3748 §5.1), then either

- relays (mode "eap", RFC 3579 pass-through): every EAP Response goes to
  the RADIUS server in EAP-Message attributes, its Access-Challenge carries
  the next Request, Access-Accept the EAP-Success and the MSK (the MPPE
  keys), Access-Reject the EAP-Failure. The server picks the method; a
  client's Nak goes to the server like any other Response; or
- checks a password (mode "pap"): ikev2d runs EAP-GTC with the client and
  asks the server with PAP (RFC 2865 User-Password). Like the ASA's
  username/password login: the client's secret goes to RADIUS, not to a
  local database. No MSK: both sides sign with SK_pi/SK_pr.

`process` returns either an `EapOutcome` to send at once or an
`AccessRequest` job; the job's result goes to `answer`, which returns the
outcome. As a pass-through authenticator checks Code, Identifier and
Length (RFC 3748 §2.3), a Response that does not answer the outstanding
Request is discarded and the Request repeated.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

from ikev2d.aaa.authorization import NONE as NO_AUTHORIZATION
from ikev2d.aaa.radius.messages import AccessAnswer, AccessCode, AccessRequest, NasContext, RadiusResult
from ikev2d.eap.gtc import PROMPT as GTC_PROMPT
from ikev2d.eap.packet import EapPacket, EapSyntaxError, NotTheResponse
from ikev2d.eap.server import MAX_DISCARDS, EapOutcome
from ikev2d.iana import EapCode, EapType

RelayMode = Literal["eap", "pap"]
MSCHAPV2_FAILURE_OPCODE = 4  # RFC 2759-style Failure Request inside EAP-MSCHAPv2


class EapRelay:
    """One client's EAP conversation, decided by RADIUS group `group`."""

    def __init__(self, group: str, mode: RelayMode, nas: NasContext,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.group = group
        self.mode = mode
        self.nas = nas
        self._random = random
        self._request: EapPacket | None = None  # the outstanding Request
        self._identity: str | None = None
        self._method: int | None = None
        self._state: bytes | None = None
        self._server: int | None = None  # the server holding our State
        self._asked: EapPacket | None = None  # the Response whose answer we await
        self._last: EapOutcome | None = None
        self._discards = 0
        self.classes: tuple[bytes, ...] = ()  # from Access-Accept, for accounting
        self.authorization = NO_AUTHORIZATION  # what the Access-Accept assigned
        self.server_host: str | None = None  # who decided, for the log
        self.rejected = False  # the server refused the credentials (not: could not be asked)

    # -- the EapServer-like API ------------------------------------------------

    def start(self) -> EapOutcome:
        if self._last is None:
            self._request = EapPacket(EapCode.REQUEST, self._random(1)[0], EapType.IDENTITY)
            self._last = self._emit(self._request.pack())
        return self._last

    def process(self, response: bytes) -> EapOutcome | AccessRequest:
        assert self._request is not None and self._last is not None, "start() first"
        if self._last.finished:
            return self._last
        if self._asked is not None:
            return self._discard("a Response while RADIUS has not answered the last one")
        try:
            packet = EapPacket.response_to(self._request, response)
        except NotTheResponse as exc:
            return self._discard(str(exc))
        self._discards = 0
        if self._request.type == EapType.IDENTITY and self._identity is None:
            return self._on_identity(packet, response)
        if self.mode == "pap":
            return self._on_gtc(packet)
        return self._relay(packet, response)

    def answer(self, result: RadiusResult) -> EapOutcome:
        """The RADIUS result of the request `process` returned."""
        asked, self._asked = self._asked, None
        assert asked is not None, "answer() without a request in flight"
        if not isinstance(result, AccessAnswer):
            return self._fail(asked, f"no RADIUS server of group {result.group} answered ({result.reason})")
        self.server_host = result.server_host
        if result.code is AccessCode.CHALLENGE:
            return self._on_challenge(asked, result)
        if result.code is AccessCode.ACCEPT:
            self.classes = result.classes
            self.authorization = result.authorization
            return self._finish(asked, EapCode.SUCCESS, result, msk=result.msk if self.mode == "eap" else None,
                                reason=None)
        self.rejected = True
        why = f"RADIUS Access-Reject from {result.server_host}"
        if result.reply_message:
            why += f": {result.reply_message}"
        return self._finish(asked, EapCode.FAILURE, result, msk=None, reason=why)

    # -- steps --------------------------------------------------------------------

    def _on_identity(self, packet: EapPacket, raw: bytes) -> EapOutcome | AccessRequest:
        if packet.type != EapType.IDENTITY:
            return self._fail(packet, "peer did not send its EAP identity")
        try:
            self._identity = packet.data.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(packet, "EAP identity is not UTF-8")
        if not self._identity:
            return self._fail(packet, "empty EAP identity")
        if self.mode == "pap":
            self._method = EapType.GTC
            self._request = EapPacket(EapCode.REQUEST, (packet.identifier + 1) & 0xFF, EapType.GTC, GTC_PROMPT)
            self._last = self._emit(self._request.pack())
            return self._last
        return self._relay(packet, raw)

    def _on_gtc(self, packet: EapPacket) -> EapOutcome | AccessRequest:
        if packet.type != EapType.GTC:
            return self._fail(packet, "peer refused EAP-GTC (username/password via RADIUS needs it)")
        if not packet.data:
            return self._fail(packet, "empty GTC response")
        try:
            password = packet.data.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(packet, "GTC response is not UTF-8")
        assert self._identity is not None
        self._asked = packet
        return AccessRequest(self.group, self._identity, self.nas, password=password)

    def _relay(self, packet: EapPacket, raw: bytes) -> AccessRequest:
        assert self._identity is not None
        self._asked = packet
        return AccessRequest(self.group, self._identity, self.nas, eap_message=raw, state=self._state,
                             server=self._server)

    def _on_challenge(self, asked: EapPacket, result: AccessAnswer) -> EapOutcome:
        if self.mode == "pap":
            return self._fail(asked, f"RADIUS Access-Challenge from {result.server_host} to PAP is not supported")
        try:
            request = EapPacket.parse(result.eap_message or b"")
        except EapSyntaxError as exc:
            return self._fail(asked, f"RADIUS Access-Challenge without a usable EAP-Message: {exc}")
        if request.code != EapCode.REQUEST:
            return self._fail(asked, "RADIUS Access-Challenge whose EAP-Message is not a Request")
        self._request, self._state, self._server = request, result.state, result.server
        if request.type != EapType.NAK:
            self._method = request.type
        reason = None
        if request.type == EapType.MSCHAPV2 and request.data[:1] == bytes((MSCHAPV2_FAILURE_OPCODE,)):
            # the server's MSCHAPv2 Failure Request: strongSwan gives up on it
            # without an answer, so the SA ends it at once with EAP-Failure
            reason = f"EAP-MSCHAPv2 failure from RADIUS server {result.server_host}"
            self.rejected = True
        self._last = self._emit(request.pack(), reason=reason)
        return self._last

    # -- output -------------------------------------------------------------------

    def _discard(self, why: str) -> EapOutcome:
        assert self._last is not None and self._request is not None
        self._discards += 1
        if self._discards > MAX_DISCARDS:
            return self._fail(self._request, "too many invalid EAP responses")
        last = self._last
        return EapOutcome(message=last.message, finished=False, success=False, identity=last.identity,
                          method=last.method, msk=None, failure_reason=last.failure_reason, discarded=why)

    def _fail(self, answered: EapPacket, reason: str) -> EapOutcome:
        return self._finish(answered, EapCode.FAILURE, None, msk=None, reason=reason)

    def _finish(self, answered: EapPacket, code: EapCode, result: AccessAnswer | None, *, msk: bytes | None,
                reason: str | None) -> EapOutcome:
        # Use the server's Success/Failure when it sent one (RFC 3579 §2.6.3);
        # else our own, with the Identifier of the Response it answers.
        message = EapPacket(code, answered.identifier, None).pack()
        if result is not None and self.mode == "eap" and result.eap_message:
            try:
                theirs = EapPacket.parse(result.eap_message)
            except EapSyntaxError:
                theirs = None
            if theirs is not None and theirs.code == code:
                message = result.eap_message
        self._last = self._emit(message, finished=True, success=code == EapCode.SUCCESS, msk=msk, reason=reason)
        return self._last

    def _emit(self, message: bytes, *, finished: bool = False, success: bool = False, msk: bytes | None = None,
              reason: str | None = None) -> EapOutcome:
        return EapOutcome(message=message, finished=finished, success=success, identity=self._identity,
                          method=self._method, msk=msk, failure_reason=reason)
