"""Issue 8's rekey and PFS cases on the kernel data plane: ikev2d
--dataplane kernel and a strongSwan client using the kernel's ESP, inside
user-mode Linux. See guest_rekey.py for the checks: the client's Child and
IKE rekeys, Child rekeys with PFS (MODP-3072, ECP-384), and a kilobyte
lifetime whose soft and hard XFRM expiry the kernel reports to ikev2d."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm

GUEST_TESTS = {
    "test_client_rekeys_child_then_ike_then_child_on_the_kernel_dataplane",
    "test_client_child_rekey_with_pfs_on_the_kernel_dataplane[modp3072]",
    "test_client_child_rekey_with_pfs_on_the_kernel_dataplane[ecp384]",
    "test_soft_kilobyte_expiry_from_the_kernel_makes_ikev2d_rekey[10kB]",
    "test_hard_kilobyte_expiry_from_the_kernel_deletes_the_child_sa[10kB]",
}


def test_rekeys_and_pfs_on_the_kernel_dataplane_inside_uml(run_guest: RunGuest) -> None:
    report = run_guest("guest_rekey.py", expect=len(GUEST_TESTS), timeout=300)
    assert set(report.outcomes) == GUEST_TESTS
