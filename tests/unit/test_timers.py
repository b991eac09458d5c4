"""The core's timer queue: one live deadline per key, earliest first."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ikev2d.timers import TimerQueue


def test_earliest_deadline_first_and_due_keys_are_disarmed() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.arm("b", 20.0)
    q.arm("a", 10.0)
    assert q.next_deadline() == 10.0
    assert q.pop_due(9.9) == []
    assert q.pop_due(10.0) == ["a"]
    assert q.next_deadline() == 20.0 and len(q) == 1


def test_moving_a_deadline_earlier_supersedes_the_old_entry() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.arm("sa", 30.0)
    q.arm("sa", 5.0)
    assert q.pop_due(100.0) == ["sa"]  # once, not twice


def test_moving_a_deadline_later_keeps_the_earlier_wakeup() -> None:
    # the owner finds nothing due at the earlier time and re-arms then
    q: TimerQueue[str] = TimerQueue()
    q.arm("sa", 5.0)
    q.arm("sa", 30.0)
    assert q.next_deadline() == 5.0


def test_disarmed_and_none_deadlines_never_fire() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.arm("x", 1.0)
    q.arm("y", 2.0)
    q.disarm("x")
    q.arm("y", None)
    assert q.next_deadline() is None
    assert q.pop_due(10.0) == []


@given(st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.floats(0, 100)))))
def test_pop_due_matches_a_plain_model(arms: list[tuple[int, float | None]]) -> None:
    q: TimerQueue[int] = TimerQueue()
    model: dict[int, float] = {}
    for key, deadline in arms:
        q.arm(key, deadline)
        if deadline is None:
            model.pop(key, None)
        elif key not in model or deadline < model[key]:
            model[key] = deadline
    expected_next = min(model.values()) if model else None
    assert q.next_deadline() == expected_next
    assert sorted(q.pop_due(50.0)) == sorted(k for k, d in model.items() if d <= 50.0)
    assert len(q) == sum(1 for d in model.values() if d > 50.0)
