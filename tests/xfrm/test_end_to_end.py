"""Issue 3's end-to-end (the "Real kernel" bullet): ikev2d --dataplane kernel
and a strongSwan client using the kernel's ESP, inside user-mode Linux.
See guest_end_to_end.py for the checks: ESP in UDP and plain ESP with the
NSA suite, and ESP in UDP with AES-256-GCM."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_ikev2d_kernel_dataplane_with_strongswan_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_end_to_end.py", expect=3, timeout=180)
    assert set(report.outcomes) == {
        f"test_strongswan_kernel_esp_through_ikev2d_kernel_dataplane[{case}]"
        for case in ("esp", "esp-in-udp", "esp-in-udp-gcm")
    }
