"""Anti-replay window (RFC 4303 §3.4.3) and ESN inference (RFC 4303 Appendix A)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esp.userspace.replay import REPLAY, TOO_OLD, ReplayWindow


def receive(w: ReplayWindow, seq: int) -> int:
    verdict = w.check(seq)
    if verdict >= 0:
        w.accept(seq)
    return verdict


def test_in_order_then_replay_is_refused() -> None:
    w = ReplayWindow(64)
    for seq in range(1, 100):
        assert receive(w, seq) == seq
    assert receive(w, 99) == REPLAY
    assert receive(w, 50) == REPLAY
    assert w.top == 99


def test_sequence_number_zero_is_never_accepted() -> None:
    # §3.3.3: the first packet sent carries 1
    assert ReplayWindow(64).check(0) == REPLAY


def test_out_of_order_inside_the_window_is_accepted_once() -> None:
    w = ReplayWindow(64)
    assert receive(w, 10) == 10
    assert receive(w, 5) == 5
    assert receive(w, 5) == REPLAY
    assert receive(w, 9) == 9
    assert w.top == 10


def test_window_slides_and_left_edge_is_too_old() -> None:
    w = ReplayWindow(64)
    receive(w, 100)
    assert w.check(37) == 37  # 100 - 63: still inside
    assert w.check(36) == TOO_OLD  # 64 behind the top
    receive(w, 200)  # slide by 100: everything before 137 is now out
    assert w.check(137) == 137
    assert w.check(136) == TOO_OLD
    assert w.check(100) == TOO_OLD


def test_configurable_size() -> None:
    w = ReplayWindow(1024)
    receive(w, 2000)
    assert w.check(977) == 977
    assert w.check(976) == TOO_OLD


def test_check_alone_does_not_move_the_window() -> None:
    # a packet whose ICV fails is checked but never accepted
    w = ReplayWindow(64)
    receive(w, 5)
    assert w.check(1000) == 1000
    assert w.top == 5
    assert w.check(4) == 4


def test_size_zero_disables_the_check_but_tracks_the_top() -> None:
    w = ReplayWindow(0)
    receive(w, 10)
    assert receive(w, 10) == 10
    assert receive(w, 1) == 1
    assert w.top == 10
    assert w.check(0) == REPLAY


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(-1)


@settings(max_examples=300)
@given(st.integers(1, 256), st.lists(st.integers(1, 600), max_size=200))
def test_matches_a_set_model(size: int, seqs: list[int]) -> None:
    """Accepted exactly when new and within `size` of the highest seen."""
    w = ReplayWindow(size)
    seen: set[int] = set()
    top = 0
    for seq in seqs:
        expected_ok = seq not in seen and seq > top - size
        got = receive(w, seq)
        assert (got >= 0) == expected_ok, (seq, top)
        if expected_ok:
            seen.add(seq)
            top = max(top, seq)
        elif seq in seen and seq > top - size:
            assert got == REPLAY
        else:
            assert got == TOO_OLD


# -- ESN (Appendix A2.2) ---------------------------------------------------------

def test_esn_crosses_the_32_bit_boundary() -> None:
    w = ReplayWindow(64, esn=True)
    w.accept((1 << 32) - 2)
    assert w.infer(0xFFFFFFFF) == (1 << 32) - 1
    assert w.infer(0) == 1 << 32  # wrapped low half: next epoch
    assert w.infer(5) == (1 << 32) + 5
    receive(w, 1 << 32)
    # a late packet from the previous epoch, still inside the window
    assert w.infer(0xFFFFFFF0) == (1 << 32) - 16
    assert receive(w, w.infer(0xFFFFFFF0)) == (1 << 32) - 16


def test_esn_early_in_the_first_epoch_has_no_previous_epoch() -> None:
    w = ReplayWindow(64, esn=True)
    receive(w, 3)
    assert w.infer(0xFFFFFFF0) == TOO_OLD  # would be epoch -1
    assert w.infer(0) == 0
    assert w.check(w.infer(0)) == REPLAY  # full number 0 is never valid


@given(st.integers(64, (1 << 40)), st.integers(-63, 1 << 20))
def test_esn_inference_recovers_numbers_near_the_top(top: int, delta: int) -> None:
    """Any number within the window behind the top, or ahead of it by less
    than 2^32 - window, is recovered from its low 32 bits."""
    w = ReplayWindow(64, esn=True)
    w.accept(top)
    seq = top + delta
    assert w.infer(seq & 0xFFFFFFFF) == seq
