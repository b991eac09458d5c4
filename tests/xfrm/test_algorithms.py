"""Issue 9, point 2, on the kernel data plane: every ESP encryption and
hash of the FTD's IPsec proposal between ikev2d --dataplane kernel and a
strongSwan client using the kernel's ESP, inside user-mode Linux (see
guest_algorithms.py)."""

from __future__ import annotations

import pytest

from .conftest import RunGuest
from .guest_algorithms import CASES

pytestmark = pytest.mark.xfrm


def test_every_esp_algorithm_on_the_kernel_dataplane_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_algorithms.py", expect=len(CASES), timeout=300)
    assert set(report.outcomes) == {f"test_esp_algorithm_on_the_kernel_dataplane[{name}]" for name in CASES}
