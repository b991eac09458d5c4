"""The local user database that EAP methods query for clear passwords."""

from __future__ import annotations

import pytest

from ikev2d.aaa import CredentialStore, LocalUserDatabase


def test_known_user_gets_the_configured_password() -> None:
    db = LocalUserDatabase({"alice": "s3cret", "bob": "hunter2"})
    assert db.password("alice") == "s3cret"
    assert db.password("bob") == "hunter2"


def test_unknown_user_is_none_not_an_empty_password() -> None:
    db = LocalUserDatabase({"alice": ""})
    assert db.password("mallory") is None
    assert db.password("alice") == ""


def test_usernames_are_case_sensitive() -> None:
    db = LocalUserDatabase({"alice": "pw"})
    assert db.password("Alice") is None


def test_database_is_a_snapshot_of_the_mapping() -> None:
    # Later edits to the configuration dict must not add users behind our back.
    users = {"alice": "pw"}
    db = LocalUserDatabase(users)
    users["mallory"] = "x"
    users["alice"] = "changed"
    assert db.password("mallory") is None
    assert db.password("alice") == "pw"


def test_repr_never_shows_a_password() -> None:
    db = LocalUserDatabase({"alice": "VerySecretPassword"})
    text = repr(db) + str(db)
    assert "VerySecretPassword" not in text
    assert "1 users" in text


def test_implements_the_credential_store_protocol() -> None:
    assert isinstance(LocalUserDatabase({}), CredentialStore)


@pytest.mark.parametrize("users", [{"": "pw"}, {"alice": b"pw"}, {1: "pw"}])
def test_bad_configuration_is_rejected(users: dict[object, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        LocalUserDatabase(users)  # type: ignore[arg-type]
