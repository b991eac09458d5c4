"""INFORMATIONAL as tasks (RFC 7296 §1.4, §2.3, §2.4): our Delete waits
behind a liveness check in flight (a window of one) and leaves with the
next Message ID once it is answered; the peer's Delete of a Child SA is
answered with ours."""

from __future__ import annotations

from responder_harness import Harness

from ikev2d.effects import SendDatagram
from ikev2d.protect import unprotect_message
from ikev2d.sa_types import State
from ikev2d.tasks.informational import ChildDelete, IkeDelete
from ikev2d.wire.header import Header
from ikev2d.wire.payloads import Delete


def _requests(effects: list) -> list[bytes]:
    return [e.data for e in effects if isinstance(e, SendDatagram) and not Header.parse(e.data).is_response]


def test_our_delete_waits_for_the_liveness_check_in_flight(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    [sa] = harness.responder.sas.values()
    dpd = _requests(harness.responder.handle_timer(harness.now + sa.settings.dpd_interval))
    assert len(dpd) == 1 and Header.parse(dpd[0]).message_id == 0
    assert _requests(IkeDelete(sa, "Administrator Reset").start(harness.now + 31)) == []  # queued
    assert sa.state is State.DELETING
    answer = client.answer(dpd[0])[0]
    delete = _requests(harness.responder.datagram_received(answer, sa.local, sa.remote, harness.now + 32))
    assert len(delete) == 1 and Header.parse(delete[0]).message_id == 1
    assert unprotect_message(delete[0], client.sk).get(Delete) is not None
    client.answer(delete[0])
    assert client.deleted_by_peer


def test_a_child_delete_of_an_unknown_spi_asks_nothing(harness: Harness) -> None:
    harness.client().connect()
    [sa] = harness.responder.sas.values()
    assert ChildDelete(sa, 0x1234).start(harness.now) == []
    [child] = sa.children
    effects = ChildDelete(sa, child.spec.spi_in).start(harness.now)
    assert len(_requests(effects)) == 1 and sa.children == []
