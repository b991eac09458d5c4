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


class PasswordMethod:
    """What every password-checking method starts from: the peer's EAP
    identity, the local credential store and the random source.

    Subclasses set `eap_type` and implement `initial_request` and `process`
    (the rest of :class:`EapMethod`).
    """

    def __init__(self, identity: str | None, credentials: CredentialStore, random: RandomBytes) -> None:
        self._identity = identity
        self._credentials = credentials
        self._random = random

    @property
    def identity(self) -> str | None:
        return self._identity

    def _password(self, username: str | None) -> tuple[str, bool]:
        """`lookup_password` in this method's store."""
        return lookup_password(self._credentials, username, self._random)


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


def password_failure(received: bytes, expected: bytes, known: bool) -> str | None:
    """None when `received` matches `expected`, computed from a known user's
    password; else the failure reason (UNKNOWN_USER when `expected` came
    from a stand-in). The comparison runs in constant time either way."""
    if not secrets_equal(received, expected) or not known:
        return WRONG_PASSWORD if known else UNKNOWN_USER
    return None
