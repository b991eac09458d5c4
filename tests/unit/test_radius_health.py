"""Failover order and dead servers (ASA aaa-server max-failed-attempts and
dead time), with the clock in the test's hands."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ikev2d.aaa.radius.health import DEAD_TIME, MAX_FAILED_ATTEMPTS, ServerHealth


def test_asa_defaults() -> None:
    assert (MAX_FAILED_ATTEMPTS, DEAD_TIME) == (3, 600.0)


def test_servers_in_configured_order_while_all_live() -> None:
    assert ServerHealth(3).order(0.0) == [0, 1, 2]


def test_dead_after_max_failed_attempts_in_a_row_and_skipped() -> None:
    health = ServerHealth(2, max_failed_attempts=3, dead_time=60.0)
    assert health.failed(0, 10.0) is False
    assert health.failed(0, 11.0) is False
    assert health.order(12.0) == [0, 1], "two failures are not yet three"
    assert health.failed(0, 12.0) is True
    assert health.order(13.0) == [1]
    assert health.is_dead(0, 71.9)
    assert health.order(72.0) == [0, 1], "back after its dead time"


def test_an_answer_resets_the_count() -> None:
    health = ServerHealth(2, max_failed_attempts=2)
    health.failed(0, 1.0)
    health.answered(0)
    assert health.failed(0, 2.0) is False
    assert health.order(3.0) == [0, 1]


def test_all_dead_tries_all_rather_than_none() -> None:
    health = ServerHealth(2, max_failed_attempts=1, dead_time=60.0)
    assert health.failed(0, 0.0) and health.failed(1, 0.0)
    assert health.order(1.0) == [0, 1]


def test_a_failure_after_the_dead_time_starts_counting_afresh() -> None:
    health = ServerHealth(1, max_failed_attempts=2, dead_time=10.0)
    health.failed(0, 0.0)
    assert health.failed(0, 0.0) is True
    assert health.failed(0, 20.0) is False, "a revived server gets its full count again"
    assert not health.is_dead(0, 20.0)


@pytest.mark.parametrize(("count", "attempts"), [(0, 3), (2, 0)])
def test_bad_parameters(count: int, attempts: int) -> None:
    with pytest.raises(ValueError):
        ServerHealth(count, max_failed_attempts=attempts)


@given(st.integers(1, 5), st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.floats(0, 5)), max_size=40))
def test_order_is_never_empty_and_lists_each_server_once(count: int,
                                                          steps: list[tuple[int, bool, float]]) -> None:
    health = ServerHealth(count, max_failed_attempts=2, dead_time=3.0)
    now = 0.0
    for index, ok, dt in steps:
        now += dt
        i = index % count
        health.answered(i) if ok else health.failed(i, now)
        order = health.order(now)
        assert order and len(set(order)) == len(order) and order == sorted(order)
        assert all(0 <= j < count for j in order)
