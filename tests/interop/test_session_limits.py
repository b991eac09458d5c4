"""The group policy's session limits against real strongSwan clients:
vpn-simultaneous-logins (3 by default: a fourth login of one user logs off
the session idle longest, the first) and the maximum connect time
(vpn-session-timeout; one minute here, the shortest the FMC allows), and
the IKE SA lifetime, which ikev2d enforces by rekeying the IKE SA itself."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from lab.netns import Topology

from .checks import assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(150)]


def _alice_sessions(server) -> list[dict]:
    result = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
    assert result.returncode == 0, result.stderr
    return [s for s in json.loads(result.stdout)["sessions"] if s["username"] == "alice"]


def test_a_fourth_login_of_one_user_logs_off_the_first(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    server = ikev2d_server()
    clients = [client(i) for i in range(4)]
    for charon in clients[:3]:
        assert_initiated(charon.initiate(timeout=10), charon)
    assert len(_alice_sessions(server)) == 3
    assert_initiated(clients[3].initiate(timeout=10), clients[3])
    assert clients[0].wait_for_sas(0, timeout=10) == [], "the first session was not logged off"
    assert all(len(c.list_sas()) == 1 for c in clients[1:])
    assert len(_alice_sessions(server)) == 3
    assert "Reason: Port Preempted" in server.log(), tail(server.log())
    assert_healthy(server)


def _one_minute_sessions(cfg: dict[str, Any]) -> None:
    for policy in cfg["objects"]["group_policies"]:
        policy["max_connect_time_minutes"] = 1


def test_the_maximum_connect_time_ends_a_session(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    server = ikev2d_server(edit=_one_minute_sessions)
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert alice.wait_for_sas(0, timeout=75) == [], "the session outlived its maximum connect time"
    log = server.log()
    assert "SA DOWN. Reason: Max time exceeded" in log and "Reason: Max time exceeded" in log, tail(log)
    assert_healthy(server)


def _two_minute_ike_lifetime(cfg: dict[str, Any]) -> None:
    for policy in cfg["objects"]["ikev2_policies"]:
        policy["lifetime_seconds"] = 120  # the FMC's minimum


@pytest.mark.timeout(200)
def test_ikev2d_rekeys_the_ike_sa_of_a_client_that_never_does(ikev2d_server: StartIkev2d, client: StartCharon,
                                                             topology: Topology) -> None:
    """strongSwan rekeys its IKE SA after 4 h by default: within a two-minute
    lifetime it never does, so ikev2d rekeys it at 90 % of the lifetime, as
    an ASA renegotiates its own (docs/ftd-behaviour.md): the client answers,
    the new IKE SA is ikev2d's (strongSwan is its responder), the session and
    its tunnel carry on, and nothing is torn down."""
    server = ikev2d_server("--dataplane", "userspace", edit=_two_minute_ike_lifetime)
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    (before,) = alice.list_sas()
    assert before.initiator
    deadline = time.monotonic() + 130
    after = before
    while time.monotonic() < deadline and after.initiator:
        time.sleep(2)
        sas = alice.list_sas()
        after = sas[0] if len(sas) == 1 else after
    assert not after.initiator and after.state == "ESTABLISHED", f"not rekeyed by ikev2d: {alice.list_sas()}"
    assert after.uniqueid != before.uniqueid and after.children, after
    log = alice.log()
    # our request's Message ID follows the liveness checks sent before it
    assert re.search(r"parsed CREATE_CHILD_SA request \d+ \[ SA No KE \]", log), tail(log)
    assert "198.18.0.1 is initiating an IKE_SA" in log and "received DELETE for IKE_SA" in log, tail(log)
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, pinged.stdout
    roles = json.loads(server.show("crypto", "ikev2", "sa", json=True).stdout)
    assert "INITIATOR" in json.dumps(roles), roles
    assert "SA DOWN" not in server.log(), tail(server.log())
    assert_healthy(server)
