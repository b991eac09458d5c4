"""KernelDataPlane on a kernel with ESP (user-mode Linux): the guest tests in
guest_dataplane.py, run in one boot. See that file for what each proves."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_kernel_dataplane_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_dataplane.py", expect=11, timeout=150)
    # the four traffic cases: both suites, plain ESP and ESP in UDP
    traffic = [k for k in report.outcomes if k.startswith("test_traffic_counters_and_clean_removal")]
    assert len(traffic) == 4
