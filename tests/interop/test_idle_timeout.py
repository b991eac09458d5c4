"""The group policy's idle timeout against real strongSwan clients and the
userspace data plane: a session that carries no traffic for the timeout is
ended with a Delete and 113019 "Reason: Idle Timeout"; one that pings stays.
(One minute, the shortest the FMC allows: the test takes about 80 s.)"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from lab.netns import Namespace

from .checks import INSIDE, assert_healthy, assert_initiated, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

IDLE_MINUTES = 1


def _one_minute_idle(cfg: dict[str, Any]) -> None:
    for policy in cfg["objects"]["group_policies"]:
        policy["idle_timeout_minutes"] = IDLE_MINUTES


def _pinging(ns: Namespace, seconds: int) -> "subprocess.Popen[str]":
    return subprocess.Popen(ns.argv(["ping", "-q", "-i", "5", "-w", str(seconds), INSIDE]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_an_idle_session_ends_and_a_busy_one_stays(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=_one_minute_idle)
    idle = client(0)
    busy = client(1, identity="bob", password="Lab-Passw0rd-2")
    for charon in (idle, busy):
        assert_initiated(charon.initiate(timeout=10), charon)
    pinger = _pinging(busy.ns, IDLE_MINUTES * 60 + 20)
    try:
        assert idle.wait_for_sas(0, timeout=IDLE_MINUTES * 60 + 15) == [], "the idle session is still up"
        assert len(busy.list_sas()) == 1, "the busy session was ended too"
    finally:
        out, _ = pinger.communicate(timeout=IDLE_MINUTES * 60 + 40)
    assert " 0% packet loss" in out, out
    log = server.log()
    assert "SA DOWN. Reason: Idle Timeout" in log, tail(log)
    [disconnect] = [line for line in log.splitlines() if "113019" in line]
    assert "Username = alice" in disconnect and "Reason: Idle Timeout" in disconnect, disconnect
    assert_healthy(server)
