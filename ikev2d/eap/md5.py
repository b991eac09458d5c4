"""EAP-MD5-Challenge, authenticator side (RFC 3748 §5.4, CHAP of RFC 1994 §4.1).

Response Value = MD5(Identifier | password | Challenge). No key is derived,
so the IKE AUTH payloads use no MSK (RFC 7296 §2.16).
"""

from __future__ import annotations

import hashlib

from ikev2d.aaa.local import CredentialStore
from ikev2d.eap.method import Failed, PasswordMethod, RandomBytes, Step, Succeeded, password_failure, utf8
from ikev2d.iana import EapType

CHALLENGE_LEN = 16
_DIGEST_LEN = 16


class Md5Challenge(PasswordMethod):
    eap_type = EapType.MD5_CHALLENGE

    def __init__(self, identity: str | None, credentials: CredentialStore, random: RandomBytes) -> None:
        super().__init__(identity, credentials, random)
        self._challenge = b""

    def initial_request(self, identifier: int) -> bytes:
        # Value-Size | Value; the optional CHAP Name is left out, as strongSwan does.
        self._challenge = self._random(CHALLENGE_LEN)
        return bytes((CHALLENGE_LEN,)) + self._challenge

    def process(self, type_data: bytes, identifier: int) -> Step:
        if not type_data or type_data[0] != _DIGEST_LEN or len(type_data) < 1 + _DIGEST_LEN:
            return Failed("malformed MD5-Challenge response")
        received = type_data[1 : 1 + _DIGEST_LEN]  # any Name after it is ignored
        password, known = self._password(self._identity)
        expected = hashlib.md5(bytes((identifier,)) + utf8(password) + self._challenge).digest()
        failure = password_failure(received, expected, known)
        if failure is not None:
            return Failed(failure)
        return Succeeded(msk=None)
