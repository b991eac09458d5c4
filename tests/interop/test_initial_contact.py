"""A real strongSwan client that crashes and reconnects (RFC 7296 §2.4):
charon killed without a Delete, a new charon in the same namespace sends
INITIAL_CONTACT in its first IKE_AUTH, and ikev2d holds one session for the
user afterwards, with the same pool address, the old one reported down."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .checks import POOL_FIRST, assert_connected, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def _sessions(server) -> list[dict]:
    result = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["sessions"]


def test_a_crashed_client_that_reconnects_replaces_its_session(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace")
    first = client(0)
    assert_initiated(first.initiate(timeout=10), first)
    assert assert_connected(first).local_vips == [POOL_FIRST]
    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGKILL)  # a crash: no Delete leaves
    first.proc.wait(timeout=5)
    time.sleep(0.5)

    again = client(0)  # a new charon, the same host and user
    assert_initiated(again.initiate(timeout=10), again)
    assert assert_connected(again).local_vips == [POOL_FIRST], "the reconnecting client gets its address back"
    assert "N(INIT_CONTACT)" in again.log(), tail(again.log())
    sessions = _sessions(server)
    assert [(s["username"], s["assigned_ip"]) for s in sessions] == [("alice", POOL_FIRST)]
    assert "SA DOWN. Reason: Peer reconnected (INITIAL_CONTACT)" in server.log(), server.tail()
    assert ping(again.ns).returncode == 0
    assert_healthy(server)
