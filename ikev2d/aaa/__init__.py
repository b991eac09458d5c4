"""Authentication back ends: the local user database (and, later, RADIUS)."""

from ikev2d.aaa.local import CredentialStore, LocalUserDatabase

__all__ = ["CredentialStore", "LocalUserDatabase"]
