"""Issue 9's bonus: a third IKEv2 client, OpenIKED (Debian's openiked), with
client-certificate authentication and a pool address, inside user-mode Linux
(it programs the kernel's ESP through PF_KEY). See guest_openiked.py."""

from __future__ import annotations

import pytest

from lab.openiked import openiked_missing

from .conftest import RunGuest

pytestmark = [pytest.mark.xfrm]


def test_openiked_client_against_ikev2d_inside_uml(run_guest: RunGuest) -> None:
    missing = openiked_missing()
    if missing:
        pytest.skip(f"openiked: {missing}")
    run_guest("guest_openiked.py", expect=1, timeout=180, modules=("af_key",))
