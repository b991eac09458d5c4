"""EAP-MSCHAPv2, authenticator side.

Framing: draft-kamath-pppext-eap-mschapv2-02 §2 (OpCode, MS-CHAPv2-ID,
MS-Length, then the RFC 2759 packet body). Crypto: RFC 2759 and RFC 3079, in
mschapv2_crypto. The flow:

    Request/Challenge  -> Response/Response
    Request/Success "S=... M=..."  -> Response/Success  -> EAP-Success (MSK)
    Request/Failure "E=691 R=0 ..." -> Response/Failure -> EAP-Failure

R=0: no retry, because strongSwan's client never retries (it aborts on any
Failure Request without answering, eap_mschapv2.c process_peer_failure).
"""

from __future__ import annotations

import enum
import struct

from ikev2d.aaa.local import CredentialStore
from ikev2d.eap.method import (
    WRONG_PASSWORD,
    Continue,
    Failed,
    PasswordMethod,
    RandomBytes,
    Step,
    Succeeded,
    password_failure,
)
from ikev2d.eap.mschapv2_crypto import (
    CHALLENGE_LEN,
    NT_RESPONSE_LEN,
    eap_mschapv2_msk,
    generate_authenticator_response,
    generate_nt_response,
    nt_password_hash,
)
from ikev2d.iana import EapType


class OpCode(enum.IntEnum):
    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4
    CHANGE_PASSWORD = 7


SERVER_NAME = b"ikev2d"  # the Challenge's Name field; strongSwan needs >= 1 octet
SUCCESS_MESSAGE = "Welcome"
FAILURE_MESSAGE = "Authentication failed"
ERROR_AUTHENTICATION_FAILURE = 691  # RFC 2759 §6
_RESPONSE_VALUE_SIZE = 49  # Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1
_MS_HEADER = struct.Struct("!BBH")  # OpCode, MS-CHAPv2-ID, MS-Length
_MALFORMED = "malformed MS-CHAPv2 response"


class _State(enum.Enum):
    AWAIT_RESPONSE = enum.auto()
    AWAIT_SUCCESS_ACK = enum.auto()
    AWAIT_FAILURE_ACK = enum.auto()


def _frame(opcode: OpCode, ms_id: int, body: bytes) -> bytes:
    # MS-Length counts from the OpCode to the end of the packet.
    return _MS_HEADER.pack(opcode, ms_id, _MS_HEADER.size + len(body)) + body


class MsChapV2(PasswordMethod):
    eap_type = EapType.MSCHAPV2

    def __init__(self, identity: str | None, credentials: CredentialStore, random: RandomBytes) -> None:
        super().__init__(identity, credentials, random)
        self._state = _State.AWAIT_RESPONSE
        self._ms_id = 0
        self._challenge = b""
        self._msk: bytes | None = None
        self._failure_reason = WRONG_PASSWORD

    def initial_request(self, identifier: int) -> bytes:
        # The MS-CHAPv2-ID mirrors the EAP Identifier, as the draft suggests.
        self._ms_id = identifier
        self._challenge = self._random(CHALLENGE_LEN)
        body = bytes((CHALLENGE_LEN,)) + self._challenge + SERVER_NAME
        return _frame(OpCode.CHALLENGE, self._ms_id, body)

    def process(self, type_data: bytes, identifier: int) -> Step:
        if self._state is _State.AWAIT_FAILURE_ACK:
            # The peer acknowledged (or ignored) our Failure Request: we are done.
            return Failed(self._failure_reason)
        if not type_data:
            return Failed(_MALFORMED)
        opcode = type_data[0]
        if self._state is _State.AWAIT_SUCCESS_ACK:
            if opcode == OpCode.SUCCESS:
                return Succeeded(msk=self._msk)
            if opcode == OpCode.FAILURE:
                return Failed("peer rejected our authenticator response")
            return Failed(f"unexpected MS-CHAPv2 OpCode {opcode}")
        if opcode == OpCode.RESPONSE:
            return self._check_response(type_data)
        if opcode == OpCode.FAILURE:
            return Failed("peer aborted MS-CHAPv2")
        if opcode == OpCode.CHANGE_PASSWORD:
            return Failed("MS-CHAPv2 password change is not supported")
        return Failed(f"unexpected MS-CHAPv2 OpCode {opcode}")

    def _check_response(self, type_data: bytes) -> Step:
        # draft-kamath §2.2: header, Value-Size (49), Response, Name.
        if len(type_data) < _MS_HEADER.size + 1 + _RESPONSE_VALUE_SIZE:
            return Failed(_MALFORMED)
        _, ms_id, ms_length = _MS_HEADER.unpack_from(type_data)
        if ms_id != self._ms_id or ms_length != len(type_data) or type_data[4] != _RESPONSE_VALUE_SIZE:
            return Failed(_MALFORMED)
        peer_challenge = type_data[5:21]
        nt_response = type_data[29 : 29 + NT_RESPONSE_LEN]
        name = type_data[5 + _RESPONSE_VALUE_SIZE :]
        try:
            username = name.decode("utf-8")
        except UnicodeDecodeError:
            return Failed(_MALFORMED)
        # The Name is what the NT-Response covers, so it is the identity we
        # authenticate (strongSwan sends its EAP identity here).
        self._identity = username
        password, known = self._password(username)
        password_hash = nt_password_hash(password)
        expected = generate_nt_response(self._challenge, peer_challenge, name, password_hash)
        failure = password_failure(nt_response, expected, known)
        if failure is not None:
            return self._fail(failure)
        self._msk = eap_mschapv2_msk(password_hash, nt_response)
        auth = generate_authenticator_response(
            password_hash, nt_response, peer_challenge, self._challenge, name
        )
        self._state = _State.AWAIT_SUCCESS_ACK
        message = f"{auth} M={SUCCESS_MESSAGE}".encode()
        return Continue(_frame(OpCode.SUCCESS, self._ms_id, message))

    def _fail(self, reason: str) -> Step:
        # RFC 2759 §6 Failure packet. The same text for unknown user and wrong
        # password; C= is a fresh challenge as the format requires, unused
        # since R=0.
        self._failure_reason = reason
        self._state = _State.AWAIT_FAILURE_ACK
        fresh = self._random(CHALLENGE_LEN).hex().upper()
        message = (
            f"E={ERROR_AUTHENTICATION_FAILURE} R=0 C={fresh} V=3 M={FAILURE_MESSAGE}"
        ).encode()
        return Continue(_frame(OpCode.FAILURE, self._ms_id, message), failure_reason=reason)
