"""IPv6 inside the tunnel (dual stack) with ikev2d's kernel data plane and a
strongSwan client using the kernel's ESP, inside user-mode Linux: see
guest_dual_stack.py."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_dual_stack_with_the_kernel_dataplane_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_dual_stack.py", expect=1, timeout=180)
    assert set(report.outcomes) == {"test_dual_stack_child_sa_through_ikev2d_kernel_dataplane"}
