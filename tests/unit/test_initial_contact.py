"""INITIAL_CONTACT (RFC 7296 §2.4): a client that restarted and comes back
says it holds no other SA with us; its older sessions (same authenticated
identity, same address, as strongSwan judges it) end at once, without a
Delete nobody would answer, and it gets back the address it had."""

from __future__ import annotations

from ipaddress import IPv4Address

from ikev2d.aaa.radius.accounting import terminate_cause
from ikev2d.aaa.radius.messages import TerminateCause
from ikev2d.effects import Emit, RemoveChildSa, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.sa import REPLACED_BY_INITIAL_CONTACT
from ikev2d.sa_types import State
from ikev2d.syslog.catalogue import DISCONNECT_REASONS
from lab.initiator import Initiator, InitiatorOptions

from responder_harness import GATEWAY, Harness

ALICE_HOST = "198.18.0.2"


def _alice(harness: Harness, port: int, initial_contact: bool = True, host: str = ALICE_HOST) -> Initiator:
    local = (host, port)
    return Initiator(InitiatorOptions(local=local, remote=GATEWAY, initial_contact=initial_contact),
                     harness.sender(local))


def _sessions_of(harness: Harness, user: str) -> list:
    return [sa for sa in harness.responder.sas.values() if sa.username == user and sa.state is State.ESTABLISHED]


def test_a_restarted_client_replaces_its_old_session_and_gets_its_address_back(harness: Harness) -> None:
    bob = harness.client(3, username="bob", password="Lab-Passw0rd-2")
    assert bob.connect().address == IPv4Address("198.19.0.200")
    first = _alice(harness, 500).connect()
    assert first.address == IPv4Address("198.19.0.201")
    bob.delete()  # .200 is free again: the lowest, but not alice's
    [old] = _sessions_of(harness, "alice")
    old_children = [c.spec.spi_in for c in old.children]
    assert len(old_children) == 1
    harness.effects.clear()
    again = _alice(harness, 1500).connect()  # the same host, a new port: a crash and a restart
    assert again.address == IPv4Address("198.19.0.201")
    [new] = _sessions_of(harness, "alice")
    assert new is not old and old.spi_r not in harness.responder.sas and old.state is State.DELETED
    downs = [e.event for e in harness.effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [(d.username, d.reason) for d in downs] == [("alice", REPLACED_BY_INITIAL_CONTACT)]
    assert [e.spec.spi_in for e in harness.effects if isinstance(e, RemoveChildSa)] == old_children
    # nothing went to the old port: its peer is gone
    assert not [e for e in harness.effects if isinstance(e, SendDatagram) and e.remote == (ALICE_HOST, 500)]


def test_without_initial_contact_both_sessions_stay(harness: Harness) -> None:
    assert _alice(harness, 500).connect().address == IPv4Address("198.19.0.200")
    assert _alice(harness, 1500, initial_contact=False).connect().address == IPv4Address("198.19.0.201")
    assert len(_sessions_of(harness, "alice")) == 2


def test_the_same_user_from_another_address_is_another_device(harness: Harness) -> None:
    """strongSwan replaces only sessions from the same peer address: a
    user's second device is no restart of the first."""
    _alice(harness, 500).connect()
    _alice(harness, 500, host="198.18.0.9").connect()
    assert len(_sessions_of(harness, "alice")) == 2


def test_the_replaced_session_is_reported_as_preempted() -> None:
    assert DISCONNECT_REASONS[REPLACED_BY_INITIAL_CONTACT] == "Port Preempted"
    assert terminate_cause(REPLACED_BY_INITIAL_CONTACT) == TerminateCause.PORT_PREEMPTED  # RFC 2866 §5.10
