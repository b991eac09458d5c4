"""The group policy's idle timeout (FTD `vpn-idle-timeout`, default 30
minutes), enforced: when it may have run out the core asks the data plane
how many packets the session's Child SAs carried (ReadActivity); no change
for the whole timeout ends the session with a Delete, 113019 "Idle
Timeout" (it used to be parsed and shown, never applied)."""

from __future__ import annotations

from esp.dataplane import RecordingDataPlane, SaCounters
from ikev2d.effects import Emit, ReadActivity, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.sa import ACTIVITY_ANSWER_WAIT
from ikev2d.sa_types import State
from ikev2d.syslog.catalogue import DISCONNECT_REASONS
from ikev2d.transport import Transport

from responder_harness import Harness

IDLE = 30 * 60.0  # config/ikev2d.yaml's group policy: 30 minutes


def _connected(harness: Harness):
    harness.responder.settings.dpd_interval = 0  # only the idle timer runs
    client = harness.client()
    client.connect()
    [sa] = harness.responder.sas.values()
    return client, sa


def _asks(harness: Harness, at: float) -> bool:
    """Whether the timers, run at `at`, ask the data plane for activity."""
    return any(isinstance(e, ReadActivity) for e in harness.responder.handle_timer(at))


def test_the_idle_check_comes_when_the_timeout_may_have_run_out(harness: Harness) -> None:
    _, sa = _connected(harness)
    assert not _asks(harness, harness.now + IDLE - 1)
    [ask] = harness.responder.handle_timer(harness.now + IDLE)
    assert ask == ReadActivity(sa.spi_r, tuple(c.spec.spi_in for c in sa.children))


def test_no_traffic_for_the_whole_timeout_ends_the_session_with_a_delete(harness: Harness) -> None:
    client, sa = _connected(harness)
    end = harness.now + IDLE
    harness.responder.handle_timer(end)
    effects = harness.responder.activity(sa.spi_r, 0, end)
    [delete] = [e.data for e in effects if isinstance(e, SendDatagram)]
    downs = [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [d.reason for d in downs] == ["Idle Timeout"] and DISCONNECT_REASONS["Idle Timeout"] == "Idle Timeout"
    client.answer(delete)
    assert client.deleted_by_peer and sa.state is State.DELETING


def test_traffic_keeps_the_session_and_moves_the_next_check(harness: Harness) -> None:
    _, sa = _connected(harness)
    first = harness.now + IDLE
    harness.responder.handle_timer(first)
    assert harness.responder.activity(sa.spi_r, 42, first) == []  # packets moved
    assert sa.state is State.ESTABLISHED
    assert not _asks(harness, first + IDLE - 1)
    assert _asks(harness, first + IDLE)
    assert harness.responder.activity(sa.spi_r, 42, first + IDLE) != []  # then nothing more: idle


def test_an_unanswered_question_is_asked_again(harness: Harness) -> None:
    _, sa = _connected(harness)
    asked = harness.now + IDLE
    assert _asks(harness, asked)
    assert not _asks(harness, asked + ACTIVITY_ANSWER_WAIT - 1)
    assert _asks(harness, asked + ACTIVITY_ANSWER_WAIT)


def test_the_adapter_answers_from_the_data_plane_counters(harness: Harness) -> None:
    _, sa = _connected(harness)

    class Counting(RecordingDataPlane):
        def counters(self, spi_in: int) -> SaCounters | None:
            return SaCounters(packets_in=5, packets_out=7) if spi_in in self.sas else None

    plane = Counting()
    for child in sa.children:
        plane.install(child.spec)
    transport = Transport(harness.responder, ["198.18.0.1"], plane, crypto=None)  # type: ignore[arg-type]
    transport.perform(harness.responder.handle_timer(harness.now + IDLE))
    assert sa.traffic_packets == 12 and sa.state is State.ESTABLISHED
