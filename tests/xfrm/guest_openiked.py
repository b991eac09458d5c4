"""OpenIKED against ikev2d, INSIDE user-mode Linux (tests/xfrm/test_openiked.py
boots it): client-certificate authentication, an address from the pool,
ping through the tunnel, ikev2d with ``--dataplane kernel``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab import ikev2dlog
from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Topology, run_prefix
from lab.openiked import Iked, Policy, openiked_missing
from lab.pki import make_lab_pki

from .guest_libreswan import INSIDE, POOL_FIRST, USER, certificate_only
from .guestlib import guest_tmpfs, in_uml, ip, nsexec, wait_for

pytestmark = [
    pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_openiked.py boots it)"),
    pytest.mark.skipif(openiked_missing() is not None, reason=f"openiked: {openiked_missing()}"),
]


def test_openiked_certificate_client_gets_a_pool_address_and_pings(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path / "pki")
    run = guest_tmpfs() / "openiked"
    run.mkdir(parents=True)
    topology = Topology(run_prefix("oi"), 1).create()
    cfg = lab_config(pki, store=run / "pki-store", knobs=Ikev2dKnobs(edit=certificate_only(pki)))
    gateway = Ikev2d(topology.gateway, run / "ikev2d", cfg, extra_args=["--dataplane", "kernel", "--crypto-workers", "0"])
    client = Iked(topology.clients[0], run / "iked")
    client_ns = topology.clients[0].name
    try:
        gateway.start(timeout=30)
        user = pki.client_identity(USER)
        client.install_identity(pki.ca_cert, user.cert, user.key)
        client.start(Policy("ftd", topology.client_addrs[0], topology.gateway_addr, USER, pki.server_name))
        context = lambda: f"\n--- ikev2d\n{gateway.tail(60)}\n--- iked\n{client.tail(80)}"  # noqa: E731
        assert wait_for(lambda: bool(ikev2dlog.sa_up(gateway.log(), USER)), timeout=30), context()
        assert wait_for(lambda: f"src {POOL_FIRST}/32" in ip(client_ns, "xfrm", "policy"), timeout=15), \
            context() + ip(client_ns, "xfrm", "policy")
        assert ikev2dlog.address_assigned(gateway.log(), USER, POOL_FIRST), context()
        assert "%FTD-6-717022: Certificate was successfully validated." in gateway.log()
        # iked installs the SAs and policies; the address and a route are the test's to add
        if f"{POOL_FIRST}/32" not in ip(client_ns, "addr", "show", "dev", "lo"):
            ip(client_ns, "addr", "add", f"{POOL_FIRST}/32", "dev", "lo")
        ip(client_ns, "route", "replace", "198.19.0.0/24", "dev", "eth0", "src", POOL_FIRST)
        pong = nsexec(client_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-I", POOL_FIRST, INSIDE,
                      check=False)
        assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{context()}"
        reset = client.reset_sas()
        assert reset.returncode == 0, f"{reset.stdout}{reset.stderr}"
        assert wait_for(lambda: bool(ikev2dlog.address_freed(gateway.log(), POOL_FIRST)), timeout=15), context()
        assert wait_for(lambda: ip(topology.gateway.name, "xfrm", "state").strip() == "", timeout=5), context()
        assert wait_for(lambda: ip(client_ns, "xfrm", "state").strip() == "", timeout=5), context()
        assert not ikev2dlog.tracebacks(gateway.log())
    finally:
        client.stop()
        gateway.stop()
        keep = Path(os.environ.get("UML_WORKDIR", "/tmp")) / "openiked-logs"
        keep.mkdir(parents=True, exist_ok=True)
        for path in (gateway.log_path, client.log_path):
            if path.exists():
                shutil.copy(path, keep / path.name)
        topology.destroy()
        shutil.rmtree(run, ignore_errors=True)
