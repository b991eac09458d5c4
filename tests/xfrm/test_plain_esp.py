"""Issue 9, point 1: plain ESP (IP protocol 50) from a strongSwan client
using the kernel's ESP with ``encap = no``, through ikev2d's userspace data
plane, both inside user-mode Linux (guest_plain_esp.py; the plane in one
process and in two worker processes); and the userspace
data plane's plain ESP moving to ESP in UDP and back against the kernel's
ESP (guest_userspace_moves.py)."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_plain_esp_through_the_userspace_dataplane_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_plain_esp.py", expect=2, timeout=300, modules=("tun",))
    assert set(report.outcomes) == {"test_strongswan_plain_esp_through_ikev2d_userspace_dataplane",
                                    "test_strongswan_plain_esp_through_two_dataplane_workers"}


def test_userspace_plain_esp_and_its_moves_against_the_kernels_esp_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_userspace_moves.py", expect=1, timeout=150, modules=("tun",))
    assert set(report.outcomes) == {"test_userspace_plain_esp_moves_to_udp_and_back_against_the_kernel"}
