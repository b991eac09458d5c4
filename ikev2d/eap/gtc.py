"""EAP-GTC, authenticator side (RFC 3748 §5.6) checking a static password.

strongSwan's eap-gtc client ignores the prompt and answers with the bare
secret as Type-Data (eap_gtc.c, process_peer): no user name, no NUL, no
"RESPONSE=" prefix. That is the only form accepted here; the user is the
EAP-Identity. No key is derived.
"""

from __future__ import annotations

from ikev2d.eap.method import Failed, PasswordMethod, Step, Succeeded, password_failure, utf8
from ikev2d.iana import EapType

PROMPT = b"Password: "


class GenericTokenCard(PasswordMethod):
    eap_type = EapType.GTC

    def initial_request(self, identifier: int) -> bytes:
        return PROMPT

    def process(self, type_data: bytes, identifier: int) -> Step:
        if not type_data:
            return Failed("empty GTC response")
        password, known = self._password(self._identity)
        failure = password_failure(type_data, utf8(password), known)
        if failure is not None:
            return Failed(failure)
        return Succeeded(msk=None)
