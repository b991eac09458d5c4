"""The local user database (FTD "LOCAL" realm): usernames and clear passwords.

EAP-MD5 and EAP-MSCHAPv2 need the clear password (or its NT hash) on the
server, so a hash-only store cannot serve them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class CredentialStore(Protocol):
    """Where an EAP method finds the password of a user."""

    def password(self, username: str) -> str | None:
        """The clear password of `username`, or None if there is no such user."""
        ...


class LocalUserDatabase:
    """An in-memory CredentialStore built from configuration."""

    def __init__(self, users: Mapping[str, str]) -> None:
        for name, secret in users.items():
            if not isinstance(name, str) or not isinstance(secret, str):
                raise TypeError("usernames and passwords must be text")
            if not name:
                raise ValueError("empty username in the local user database")
        # A private copy, so later changes to the caller's mapping cannot
        # change who may log in behind our back.
        self._users: dict[str, str] = dict(users)

    def password(self, username: str) -> str | None:
        # Exact match: FTD local usernames are case-sensitive.
        return self._users.get(username)

    def __contains__(self, username: object) -> bool:
        return username in self._users

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        # Never show passwords, even in a debugger or a stray log line.
        return f"LocalUserDatabase(<{len(self._users)} users>)"
