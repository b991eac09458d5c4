"""KernelDataPlane.update() on a kernel with ESP (user-mode Linux): the
guest tests in guest_peer_moves.py (a new NAT port; a new peer address)."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_kernel_dataplane_follows_a_moving_peer_inside_uml(run_guest: RunGuest) -> None:
    run_guest("guest_peer_moves.py", expect=2, timeout=150)
