"""The IKE SA's lifecycle: CONNECTING -> ESTABLISHED | FAILED -> ... ->
DELETED, each transition checked (sa_types.TRANSITIONS), and IKE_AUTH's own
state kept by its task for as long as it runs, never by the SA."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ikev2d.iana import EapType, ExchangeType, NotifyType
from ikev2d.sa import IkeSa, LifecycleError
from ikev2d.sa_types import LifecycleChanged, State
from ikev2d.wire.payloads import AUTH

from responder_harness import Harness


def _only_sa(harness: Harness) -> IkeSa:
    [sa] = harness.responder.sas.values()
    return sa


def test_connecting_until_auth_then_established_and_the_auth_task_is_gone(harness: Harness) -> None:
    client = harness.client(eap_method=EapType.MSCHAPV2)
    client.ike_sa_init()
    sa = _only_sa(harness)
    assert sa.state is State.CONNECTING and sa.auth is not None
    client.ike_auth()
    assert sa.state is State.ESTABLISHED and sa.auth is None and sa.established_at == harness.now


def test_another_ike_auth_after_establishment_is_invalid_syntax(harness: Harness) -> None:
    """RFC 7296 §1.2: IKE_AUTH ends when the SA is up; a further round is not a new login."""
    client = harness.client()
    client.connect()
    answer = client.exchange(ExchangeType.IKE_AUTH, [AUTH(2, b"\x00" * 64)])
    assert [n.type for n in answer.notifies()] == [NotifyType.INVALID_SYNTAX]
    assert _only_sa(harness).state is State.ESTABLISHED


def test_a_failed_login_is_failed_then_deleted_by_its_timer(harness: Harness) -> None:
    client = harness.client(password="wrong-password")
    with pytest.raises(Exception):
        client.connect()
    sa = _only_sa(harness)
    assert sa.state is State.FAILED and sa.auth is None
    deadline = harness.responder.get_timer()
    assert deadline is not None
    harness.responder.handle_timer(deadline)
    assert sa.state is State.DELETED and not harness.responder.sas


def test_transitions_outside_the_table_are_refused(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    sa = _only_sa(harness)
    with pytest.raises(LifecycleError, match="ESTABLISHED -> FAILED"):
        sa.move_to(State.FAILED)
    sa.move_to(State.DELETING)
    with pytest.raises(LifecycleError, match="DELETING -> ESTABLISHED"):
        sa.move_to(State.ESTABLISHED)
    sa.move_to(State.DELETED)
    for state in State:  # the end is the end
        if state is not State.DELETED:
            with pytest.raises(LifecycleError):
                sa.move_to(state)


def test_every_transition_is_reported_to_the_responder_as_a_change(harness: Harness) -> None:
    """The responder keeps its tables from the changes an SA reports
    (SessionDirectory.changed), not by inspecting the SA afterwards."""
    reported: list[tuple[IkeSa, object]] = []
    responder = harness.responder
    book = responder.changed
    responder.changed = lambda sa, change: (reported.append((sa, change)), book(sa, change))  # type: ignore[method-assign]
    client = harness.client()
    client.connect()
    sa = _only_sa(harness)
    responder.delete_ike_sa(sa, "Administrator Reset", harness.now)
    assert [(owner, change) for owner, change in reported] == [
        (sa, LifecycleChanged(State.CONNECTING, State.ESTABLISHED)),
        (sa, LifecycleChanged(State.ESTABLISHED, State.DELETING)),
    ]


def test_the_responder_never_reads_an_sa_back_for_what_happened() -> None:
    """No `successor`/`rekeyed` inspection in core.py: an IKE rekey reaches
    the responder as a RekeyedInto change."""
    tree = ast.parse((Path(__file__).parents[2] / "ikev2d" / "core.py").read_text())
    read_back = sorted({node.attr for node in ast.walk(tree)
                        if isinstance(node, ast.Attribute) and node.attr in ("successor", "rekeyed", "predecessor")})
    assert read_back == []


def test_an_ike_rekey_carries_the_session_over_and_starts_the_sa_afresh(harness: Harness) -> None:
    """RFC 7296 §2.18: the new IKE SA is the same session (identity, lease,
    Child SAs, accounting) with new keys, Message IDs from 0 and nothing of
    the old SA's exchanges (an outstanding idle check, a delete reason)."""
    client = harness.client()
    client.connect()
    old = _only_sa(harness)
    session = (old.unique_id, old.username, old.profile, old.lease, [c.spec for c in old.children],
               old.accounting, old.established_at)
    old.activity_asked_at, old.delete_reason = harness.now, "stale"
    client.rekey_ike(delete_old=False)
    (new,) = [sa for sa in harness.responder.sas.values() if sa is not old]
    assert (new.unique_id, new.username, new.profile, new.lease, [c.spec for c in new.children],
            new.accounting, new.established_at) == session
    assert new.state is State.ESTABLISHED and new.predecessor is old and old.successor is new
    assert new.keys != old.keys and new.spi_r != old.spi_r
    assert new.tasks.next_request_id == 0 and new.activity_asked_at is None and new.delete_reason == ""
    assert (old.children, old.lease, old.accounting) == ([], None, None)
