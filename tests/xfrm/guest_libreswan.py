"""A second, independent IKEv2 client: libreswan's pluto against ikev2d,
INSIDE user-mode Linux (tests/xfrm/test_libreswan.py boots it; not
collected on the host).

libreswan has no EAP client and no userspace ESP, so: the connection
profile authenticates by client certificate (the lab user carol's, in
pluto's NSS database), pluto asks for a pool address with the
configuration payload, and its Child SA goes into the guest kernel's XFRM.
ikev2d runs with ``--dataplane kernel`` (plain ESP, and ESP in UDP 4500 forced
by libreswan's ``encapsulation=yes``) and ``--dataplane userspace`` (plain ESP).

The group policy carries no DNS servers and no default domain here:
libreswan 4.10 refuses a CFG_REPLY holding the Cisco Unity default-domain
attribute (28674) as malformed and drops the Child SA; DNS servers would
send its updown to /etc/resolv.conf.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import ikev2dlog
from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config
from lab.libreswan import Conn, Pluto, libreswan_missing
from lab.netns import Topology, run_prefix
from lab.pki import LabPki, make_lab_pki

from .guestlib import GuestLab, guest_tmpfs, in_uml, ip, nsexec, parse_ip_states, wait_for

pytestmark = [
    pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_libreswan.py boots it)"),
    pytest.mark.skipif(libreswan_missing() is not None, reason=f"libreswan: {libreswan_missing()}"),
]

INSIDE = "198.19.0.1"
POOL_FIRST = "198.19.0.200"
USER = "carol"  # the certificate's CN is the session's username


def certificate_only(pki: LabPki) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["objects"]["trusted_ca_certificates"] = [{"name": "LAB-CA", "certificate": str(pki.ca_cert)}]
        for profile in cfg["connection_profiles"]:
            profile["authentication"]["method"] = "client-certificate"
        for policy in cfg["objects"]["group_policies"]:
            policy["dns_servers"] = []
            policy.pop("default_domain", None)
    return edit


@dataclass
class Lab(GuestLab):
    client: Pluto
    conn: Conn

    def client_tail(self) -> tuple[str, str]:
        return "pluto", self.client.tail(60)

    def sessions(self) -> list[dict[str, Any]]:
        shown = self.gateway.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
        assert shown.returncode == 0, shown.stderr
        sessions: list[dict[str, Any]] = json.loads(shown.stdout)["sessions"]
        return sessions


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def lab(pki: LabPki, request: pytest.FixtureRequest) -> Iterator[Lab]:
    case: str = request.param  # "kernel", "kernel-udp" (ESP in UDP 4500) or "userspace"
    dataplane = case.split("-")[0]
    run = guest_tmpfs() / f"libreswan-{case}"  # sockets off the hostfs root
    run.mkdir(parents=True)
    topology = Topology(run_prefix(f"l{len(case)}"), 1).create()
    cfg = lab_config(pki, store=run / "pki-store", knobs=Ikev2dKnobs(edit=certificate_only(pki)))
    gateway = Ikev2d(topology.gateway, run / "ikev2d", cfg,
                     extra_args=["--dataplane", dataplane, "--crypto-workers", "0"])
    client = Pluto(topology.clients[0], run / "pluto")
    conn = Conn("ftd", topology.client_addrs[0], topology.gateway_addr, f"@{pki.server_name}", USER,
                encapsulation=case.endswith("-udp"))
    try:
        gateway.start(timeout=30)
        user = pki.client_identity(USER)
        client.import_identity(pki.ca_cert, user.cert, user.key, USER)
        client.start(conn, timeout=30)
        yield Lab(topology, gateway, client, conn)
    finally:
        client.stop()
        gateway.stop()
        keep = Path(os.environ.get("UML_WORKDIR", "/tmp")) / f"libreswan-{case}-logs"
        keep.mkdir(parents=True, exist_ok=True)
        for path in (gateway.log_path, client.log_path):
            if path.exists():
                shutil.copy(path, keep / path.name)
        topology.destroy()
        shutil.rmtree(run, ignore_errors=True)


@pytest.mark.parametrize("lab", ["kernel", "kernel-udp", "userspace"], indirect=True)
def test_libreswan_certificate_client_gets_a_pool_address_and_pings(lab: Lab) -> None:
    dataplane = "kernel" if "dataplane kernel: chosen" in lab.gateway.log() else "userspace"
    up = lab.client.initiate(lab.conn.name, timeout=60)
    assert up.returncode == 0, f"whack --initiate -> {up.returncode}\n{up.stdout}{up.stderr}{lab.context()}"
    assert "established IKE SA" in up.stdout and "established Child SA" in up.stdout, up.stdout
    # RFC 7427 both ways: libreswan signs RSASSA-PSS, ikev2d PKCS#1 v1.5
    assert "authenticated peer '2048-bit PKCS#1 1.5 RSA with SHA2_512' digital signature" in up.stdout, up.stdout

    # libreswan's side: both SAs up, the pool address received and on lo
    status = lab.client.whack("--status").stdout
    assert "STATE_V2_ESTABLISHED_IKE_SA" in status and "STATE_V2_ESTABLISHED_CHILD_SA" in status, status
    traffic = lab.client.whack("--trafficstatus").stdout
    assert f'"{lab.conn.name}"' in traffic and "type=ESP" in traffic, traffic
    assert f"received INTERNAL_IP4_ADDRESS {POOL_FIRST}" in lab.client.log(), lab.context()
    assert f"{POOL_FIRST}/32" in ip(lab.client_ns, "addr", "show", "dev", "lo")
    assert f"src {POOL_FIRST}/32" in ip(lab.client_ns, "xfrm", "policy")
    client_states = parse_ip_states(ip(lab.client_ns, "xfrm", "state"))
    assert len(client_states) == 2
    assert all((s.line("encap") is not None) == lab.conn.encapsulation for s in client_states), client_states

    # ikev2d's side: the session, its address, the FTD lines of a certificate session
    [session] = lab.sessions()
    assert session["username"] == USER and session["assigned_ip"] == POOL_FIRST, session
    log = lab.gateway.log()
    assert "%FTD-6-717022: Certificate was successfully validated." in log, lab.context()
    assert f"%FTD-6-113039: Group <GP-CCIElab> User <{USER}> IP <{lab.topology.client_addrs[0]}>" in log
    assert ikev2dlog.sa_up(log, USER), lab.context()
    assert ikev2dlog.address_assigned(log, USER, POOL_FIRST), lab.context()
    if dataplane == "kernel":
        gw_states = parse_ip_states(ip(lab.gw_ns, "xfrm", "state"))
        assert len(gw_states) == 2
        assert all((s.line("encap") is not None) == lab.conn.encapsulation for s in gw_states), gw_states

    # through the tunnel: the client's kernel does its ESP, ikev2d's data plane the other end
    pong = nsexec(lab.client_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-I", POOL_FIRST, INSIDE,
                  check=False)
    assert pong.returncode == 0, f"{pong.stdout}{pong.stderr}{lab.context()}"
    counted = {s.spi: s.packets for s in parse_ip_states(ip(lab.client_ns, "-s", "xfrm", "state"))}
    assert all(n >= 3 for n in counted.values()), counted

    # disconnect: libreswan deletes, ikev2d ends the session and frees the address
    down = lab.client.terminate(lab.conn.name)
    assert down.returncode == 0, f"{down.stdout}{down.stderr}"
    assert wait_for(lambda: lab.sessions() == [], timeout=10), lab.context()
    assert wait_for(lambda: bool(ikev2dlog.address_freed(lab.gateway.log(), POOL_FIRST)), timeout=5), lab.context()
    assert f"Username:{USER} IKEv2 SA DOWN" in lab.gateway.log(), lab.context()
    if dataplane == "kernel":
        assert wait_for(lambda: ip(lab.gw_ns, "xfrm", "state").strip() == ""
                        and ip(lab.gw_ns, "xfrm", "policy").strip() == "", timeout=5), lab.context()
    assert ip(lab.client_ns, "xfrm", "state").strip() == "", ip(lab.client_ns, "xfrm", "state")
    assert f"{POOL_FIRST}/32" not in ip(lab.client_ns, "addr", "show", "dev", "lo")
    assert lab.gateway.running(), lab.context()
    assert not ikev2dlog.tracebacks(lab.gateway.log()), lab.context()
