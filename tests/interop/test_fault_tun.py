"""The TUN device removed under the userspace data plane (issue 7, point 5):
`ip link del ikev2d0` in the gateway namespace while a strongSwan client is
connected. ikev2d must not spin on the dead descriptor nor log a traceback;
it says so, recreates the device and its routes, and the client's session
carries traffic again without a new authentication; a new client still
connects.
"""

from __future__ import annotations

import os
import time

import pytest

from lab.ikev2d import Ikev2d
from lab.netns import Topology
from lab.swanctl_conf import DEFAULT_USERS

from .checks import assert_connected, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def cpu_seconds(server: Ikev2d) -> float:
    assert server.proc is not None
    fields = open(f"/proc/{server.proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_for_log(server: Ikev2d, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, f"ikev2d never logged {text!r}:\n{tail(server.log())}"
        time.sleep(0.1)


def test_tun_device_deleted_under_a_session_is_recreated_and_traffic_resumes(
    ikev2d_server: StartIkev2d, client: StartCharon, topology: Topology
) -> None:
    server = ikev2d_server("--dataplane", "userspace")
    alice = client(0)
    assert_initiated(alice.initiate(), alice)
    sa = assert_connected(alice)
    assert ping(topology.clients[0]).returncode == 0

    topology.gateway.ip("link", "del", "ikev2d0")
    wait_for_log(server, "TUN device ikev2d0 lost")
    wait_for_log(server, "TUN device ikev2d0 recreated")

    # no busy loop on the dead descriptor: ikev2d idles
    before = cpu_seconds(server)
    time.sleep(1.0)
    assert cpu_seconds(server) - before < 0.3
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, f"no traffic after the device came back:\n{pinged.stdout}\n{tail(server.log())}"
    assert [s.uniqueid for s in alice.list_sas()] == [sa.uniqueid], "the session must survive, not be redone"
    log = server.log()
    assert log.count("TUN device ikev2d0 lost (File descriptor in bad state)") == 1, tail(log)

    bob = client(1, identity="bob", password=DEFAULT_USERS["bob"])
    assert_initiated(bob.initiate(), bob)
    assert_connected(bob, identity="bob")
    assert ping(topology.clients[1]).returncode == 0
    assert_healthy(server)
