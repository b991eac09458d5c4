"""Issue 9: a second, independent IKEv2 implementation as a client.
libreswan's pluto (Debian's 4.x, unpacked by lab/setup.sh into
.lab/libreswan) with client-certificate authentication and a pool address,
ping through the tunnel, against ikev2d with ``--dataplane kernel`` and
``--dataplane userspace``: all inside user-mode Linux, since libreswan
needs the kernel's ESP. See guest_libreswan.py for the checks."""

from __future__ import annotations

import pytest

from lab.libreswan import libreswan_missing

from .conftest import RunGuest

pytestmark = [pytest.mark.xfrm, pytest.mark.libreswan]


def test_libreswan_client_against_ikev2d_inside_uml(run_guest: RunGuest) -> None:
    missing = libreswan_missing()
    if missing:
        pytest.skip(f"libreswan: {missing}")
    report = run_guest("guest_libreswan.py", expect=3, timeout=240, modules=("tun",))
    assert set(report.outcomes) == {
        f"test_libreswan_certificate_client_gets_a_pool_address_and_pings[{dataplane}]"
        for dataplane in ("kernel", "kernel-udp", "userspace")
    }
