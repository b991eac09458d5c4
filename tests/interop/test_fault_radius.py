"""A RADIUS server that stops answering mid-session (issue 7, point 5): a
client connected through FreeRADIUS, then FreeRADIUS is stopped.

- the client's disconnect still ends its session cleanly, and the
  Accounting-Stop that cannot be delivered is retransmitted as configured
  (timeout and retries of the server), then reported in one line;
- a new client of the RADIUS profile is refused promptly with
  AUTHENTICATION_FAILED and a log line naming the server and why;
- a client of the local-database profile still connects; ikev2d stays
  healthy and logs no secret.

The configuration has two connection profiles, both presenting the lab
certificate's identity: RADIUS (first, chosen by a client that asks for
IDr vpn.example.test) and the default, the local user database (chosen by a
client that names no IDr).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab import swanlog
from lab.freeradius import FreeRadius
from lab.swanctl_conf import DEFAULT_USERS

from .checks import assert_connected, assert_healthy, assert_in_log, assert_initiated, assert_no_sa, tail
from .conftest import StartCharon, StartFreeRadius, StartIkev2d

pytestmark = [pytest.mark.radius, pytest.mark.interop, pytest.mark.timeout(90)]

SECRET = "Lab-Radius-Secret-7"
ALICE_RADIUS_PW = "Radius-Alice-Pw-1"
CAROL_RADIUS_PW = "Radius-Carol-Pw-3"
SECRETS = (SECRET, ALICE_RADIUS_PW, CAROL_RADIUS_PW)
TIMEOUT, RETRIES = 1, 2  # three transmissions a second apart


def radius_and_local_profiles(cfg: dict[str, Any]) -> None:
    cfg["objects"]["radius_server_groups"] = [{"name": "ISE", "servers": [
        {"host": "127.0.0.1", "secret": SECRET, "timeout_seconds": TIMEOUT, "retries": RETRIES}]}]
    local = cfg["connection_profiles"][0]
    local["authentication"]["server_group"] = "LOCAL"
    local["authentication"]["eap_methods"] = ["mschapv2"]
    radius = {**local, "name": "RADIUS-Users",
              "authentication": {**local["authentication"], "server_group": "ISE"},
              "accounting_server_group": "ISE"}
    cfg["connection_profiles"] = [radius, local]  # the first matching IDr wins; the local one is the default


def test_radius_server_stopping_mid_session(
    ikev2d_server: StartIkev2d, client: StartCharon, freeradius_server: StartFreeRadius
) -> None:
    freeradius: FreeRadius = freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW,
                                                                   "carol": CAROL_RADIUS_PW})
    server = ikev2d_server(edit=radius_and_local_profiles)
    alice = client(0, password=ALICE_RADIUS_PW)
    assert_initiated(alice.initiate(timeout=15), alice)
    assert_connected(alice)
    freeradius.wait_for_records(lambda rs: any(r.get("Acct-Status-Type") == "Start" for r in rs))

    freeradius.stop()

    # the client leaves: its session ends at once, the Stop goes unanswered
    assert alice.terminate().ok
    assert_no_sa(alice)
    deadline = time.monotonic() + 10
    while "RADIUS accounting Stop" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log()
    assert "Username:alice IKEv2 SA DOWN. Reason: User Requested" in log, tail(log)
    # retransmitted as configured, then one line naming the server and why
    assert (f"RADIUS server 127.0.0.1:1813 of group ISE: no answer after {RETRIES + 1} transmissions "
            "(ICMP: Connection refused)") in log, tail(log)
    stop_lines = [line for line in log.splitlines() if "RADIUS accounting Stop for session" in line]
    assert len(stop_lines) == 1, tail(log)
    assert "(user alice) not delivered: no server of group ISE answered; the record is dropped" in stop_lines[0]
    assert "Error received" not in log  # no line per ICMP error

    # a new RADIUS user: refused, promptly, and told so
    carol = client(1, identity="carol", password=CAROL_RADIUS_PW)
    started = time.monotonic()
    result = carol.initiate(timeout=20)
    assert not result.ok
    assert time.monotonic() - started < (RETRIES + 1) * TIMEOUT + 5
    assert_in_log(carol.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(carol)

    # a local-database user is not held up by the dead server
    bob = client(2, identity="bob", password=DEFAULT_USERS["bob"], remote_id="%any")
    assert_initiated(bob.initiate(timeout=15), bob)
    assert_connected(bob, identity="bob")
    log = server.log()
    assert "AAA user authentication Successful : local database : user = bob" in log, tail(log)
    assert ("Username:carol authentication failed: no RADIUS server of group ISE answered (127.0.0.1:1812: no "
            f"answer after {RETRIES + 1} transmissions (ICMP: Connection refused))") in log, tail(log)
    assert_healthy(server, SECRETS)
