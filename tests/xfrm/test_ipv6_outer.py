"""Issue 9, point 6: IKE and plain ESP over IPv6 outer addresses from a
strongSwan client using the kernel's ESP, to ikev2d with the kernel data
plane (XFRM SAs with AF_INET6 outer addresses) and the userspace data plane
(an AF_INET6 raw ESP socket; in one process and in two workers), and ESP in UDP over IPv6 on the kernel plane,
inside user-mode Linux (guest_ipv6_outer.py)."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm


def test_esp_over_ipv6_outer_addresses_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_ipv6_outer.py", expect=4, timeout=400, modules=("tun",))
    assert set(report.outcomes) == {f"test_esp_over_ipv6_outer_addresses[{case}]"
                                    for case in ("kernel", "userspace", "userspace-workers", "kernel-esp-in-udp")}
