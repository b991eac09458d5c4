"""The contract between EapServer and one authenticator-side EAP method.

A method only sees Type-Data: the server owns codes, identifiers, Nak and the
choice of method (RFC 3748 §2.1), so each method stays a small state machine.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ikev2d.aaa.local import CredentialStore

RandomBytes = Callable[[int], bytes]

# Failure reasons shared by the methods (for our log only: the peer always
# sees the same generic failure, RFC 3748 §7.2 on not leaking which part of
# the credential was wrong).
UNKNOWN_USER = "unknown user"
WRONG_PASSWORD = "wrong password"


@dataclass(frozen=True)
class Continue:
    """Send another Request of this method carrying `type_data`.

    `failure_reason` is set when the method has already decided to fail and
    this Request only tells the peer so (MS-CHAPv2 Failure Request).
    """

    type_data: bytes = field(repr=False)
    failure_reason: str | None = None


@dataclass(frozen=True)
class Succeeded:
    msk: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Failed:
    reason: str


Step = Continue | Succeeded | Failed


class EapMethod(Protocol):
    """One run of an authenticator-side method for one peer."""

    @property
    def eap_type(self) -> int:
        """The EapType this method implements."""
        ...

    @property
    def identity(self) -> str | None:
        """The user this method authenticated (or tried to)."""
        ...

    def initial_request(self, identifier: int) -> bytes:
        """Type-Data of the method's first Request, sent with `identifier`."""
        ...

    def process(self, type_data: bytes, identifier: int) -> Step:
        """Handle the Type-Data of a Response that carried `identifier`."""
        ...


class MethodFactory(Protocol):
    def __call__(
        self, identity: str | None, credentials: CredentialStore, random: RandomBytes
    ) -> EapMethod: ...


def lookup_password(
    credentials: CredentialStore, username: str | None, random: RandomBytes
) -> tuple[str, bool]:
    """The user's password and True, or a random stand-in and False if no such user.

    Returning a stand-in lets the method run the same computation either way,
    so an unknown user is not told apart by timing or by the reply.
    """
    password = credentials.password(username) if username is not None else None
    if password is None:
        return random(16).hex(), False
    return password, True


def utf8(text: str) -> bytes:
    """Passwords as the client sends them (strongSwan uses the UTF-8 secret as is)."""
    # surrogatepass: odd configuration text must not raise mid-exchange.
    return text.encode("utf-8", "surrogatepass")


def secrets_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for anything derived from a password."""
    return hmac.compare_digest(a, b)
