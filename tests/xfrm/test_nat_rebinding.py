"""Issue 8's NAT rebinding on the kernel data plane, inside user-mode Linux
(guest_nat_rebinding.py): the kernel's XFRM_MSG_MAPPING between two data
planes, and ikev2d --dataplane kernel following a strongSwan client whose
NAT mapping changes, with nothing but that report to go on."""

from __future__ import annotations

import pytest

from .conftest import RunGuest

pytestmark = pytest.mark.xfrm

# the client's NAT (guest_nat_rebinding.NAT_FOR_IPV4) and `conntrack -D`
NAT_MODULES = ("ip_tables", "iptable_nat", "xt_MASQUERADE", "xt_tcpudp", "nf_conntrack_netlink")


def test_nat_rebinding_on_the_kernel_dataplane_inside_uml(run_guest: RunGuest) -> None:
    run_guest("guest_nat_rebinding.py", expect=2, timeout=180, modules=NAT_MODULES)
