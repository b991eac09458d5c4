"""EAP-GTC, authenticator side (RFC 3748 §5.6) checking a static password.

strongSwan's eap-gtc client ignores the prompt and answers with the bare
secret as Type-Data (eap_gtc.c, process_peer): no user name, no NUL, no
"RESPONSE=" prefix. That is the only form accepted here; the user is the
EAP-Identity. No key is derived.
"""

from __future__ import annotations

from ikev2d.aaa.local import CredentialStore
from ikev2d.eap.method import (
    UNKNOWN_USER,
    WRONG_PASSWORD,
    Failed,
    RandomBytes,
    Step,
    Succeeded,
    lookup_password,
    secrets_equal,
    utf8,
)
from ikev2d.iana import EapType

PROMPT = b"Password: "


class GenericTokenCard:
    eap_type = EapType.GTC

    def __init__(self, identity: str | None, credentials: CredentialStore, random: RandomBytes) -> None:
        self._identity = identity
        self._credentials = credentials
        self._random = random

    @property
    def identity(self) -> str | None:
        return self._identity

    def initial_request(self, identifier: int) -> bytes:
        return PROMPT

    def process(self, type_data: bytes, identifier: int) -> Step:
        if not type_data:
            return Failed("empty GTC response")
        password, known = lookup_password(self._credentials, self._identity, self._random)
        if not secrets_equal(type_data, utf8(password)) or not known:
            return Failed(WRONG_PASSWORD if known else UNKNOWN_USER)
        return Succeeded(msk=None)
