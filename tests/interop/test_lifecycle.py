"""Graceful stop and reload against real clients (issue 7 point 4).

SIGTERM with two strongSwan clients connected: both get a Delete (charon's
view: the IKE SA is gone), a real rsyslogd receives each session's SA-down
lines with the data plane's byte counts, a real FreeRADIUS stores each
Accounting-Stop, and ikev2d exits 0 within its drain budget. SIGHUP and
`ikev2d reload`: a new IKEv2 policy lets the next client in while an
unchanged session lives on; a changed group policy ends its sessions with a
Delete; a broken file is refused (FILE:LINE, as check-config says it) and
the daemon goes on serving.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
import yaml

from lab.freeradius import FreeRadius
from lab.ikev2d import Ikev2d
from lab.netns import Topology
from lab.rsyslog import Rsyslog
from lab.strongswan import Charon

from .checks import assert_connected, assert_healthy, assert_initiated, ping, tail
from .conftest import (RADIUS_SECRET, RADIUS_SERVER, StartCharon, StartFreeRadius,
                       StartIkev2d)

SECRET = RADIUS_SECRET
PASSWORDS = {"alice": "Radius-Alice-Pw-1", "bob": "Radius-Bob-Pw-2"}
STOP_REASON = "Administrator Reboot"
DRAIN_LIMIT = 3.0  # ikev2d.daemon.DRAIN_SECONDS plus the closing of sockets and syslog


def signal_ikev2d(server: Ikev2d, sig: signal.Signals) -> None:
    assert server.proc is not None and server.proc.poll() is None, tail(server.log())
    server.proc.send_signal(sig)


# -- SIGTERM ------------------------------------------------------------------------------


@pytest.fixture
def freeradius(inside_hosts: None, freeradius_server: StartFreeRadius) -> FreeRadius:
    return freeradius_server(secret=SECRET, users=PASSWORDS)


@pytest.mark.interop
@pytest.mark.radius
@pytest.mark.timeout(120)
def test_sigterm_deletes_every_session_logs_it_and_sends_accounting_stop(
        radius_ikev2d: Ikev2d, client: StartCharon, rsyslog: Rsyslog, freeradius: FreeRadius,
        topology: Topology) -> None:
    server = radius_ikev2d
    clients: dict[str, Charon] = {}
    vips: dict[str, str] = {}
    for index, user in enumerate(("alice", "bob")):
        charon = client(index, eap="eap-mschapv2", identity=user, password=PASSWORDS[user])
        assert_initiated(charon.initiate(timeout=15), charon)
        vips[user] = assert_connected(charon, identity=user).local_vips[0]
        clients[user] = charon
    assert ping(topology.clients[0], 2).returncode == 0
    shown = server.show("crypto", "ipsec", "sa", json=True)
    assert shown.returncode == 0, shown.stderr
    counted = {sa["username"]: sa for sa in json.loads(shown.stdout)["ipsec_sas"]}
    assert sorted(counted) == ["alice", "bob"] and counted["alice"]["bytes_in"] > 0, counted
    freeradius.wait_for_records(lambda r: len(r) == 2)  # both Starts stored before the stop
    before = len(rsyslog.received())

    started = time.monotonic()
    signal_ikev2d(server, signal.SIGTERM)
    assert server.proc is not None
    assert server.proc.wait(timeout=10) == 0, tail(server.log())
    assert time.monotonic() - started < DRAIN_LIMIT, tail(server.log())

    # charon's view: our Delete arrived and the IKE SA is gone
    for charon in clients.values():
        assert charon.wait_for_sas(0) == [], tail(charon.log())
        assert "received DELETE for IKE_SA ftd-ra" in charon.log(), tail(charon.log())

    # per session, the lines a logoff writes, with the stop's reason; then the
    # Accounting-Response to its Stop (so the daemon waited for it)
    lines = [r.ftd for r in rsyslog.wait_for(before + 2 * 7)[before:]]
    for session, user in ((0x6000, "alice"), (0x6001, "bob")):
        assert f"%FTD-6-737016: IPAA: Session=0x{session:08x}, Freeing local pool VPN-Pool address {vips[user]}" \
            in lines, "\n".join(lines)
        down = [line for line in lines if line.startswith("%FTD-5-750007:") and f"Username:{user} " in line]
        assert len(down) == 1 and down[0].endswith(f"SA DOWN. Reason: {STOP_REASON}"), "\n".join(lines)
        ended = [line for line in lines if line.startswith("%FTD-4-113019:") and f"Username = {user}," in line]
        assert len(ended) == 1 and ended[0].endswith(f"Reason: {STOP_REASON}"), "\n".join(lines)
        assert f"%FTD-6-113004: AAA user accounting Successful : server = {RADIUS_SERVER} : user = {user}" \
            in lines, "\n".join(lines)
        # the bytes the data plane counted before the stop (nothing moved since)
        bytes_ = f"Bytes xmt: {counted[user]['bytes_out']}, Bytes rcv: {counted[user]['bytes_in']},"
        assert bytes_ in ended[0], ended[0]

    records = freeradius.accounting_records()
    stops = sorted((r["User-Name"], r["Framed-IP-Address"], r["Acct-Terminate-Cause"])
                   for r in records if r["Acct-Status-Type"] == "Stop")
    assert stops == [("alice", vips["alice"], "Admin-Reboot"), ("bob", vips["bob"], "Admin-Reboot")], records
    log = server.log()
    assert "SIGTERM: stopping gracefully" in log and "stopping: ending 2 session(s)" in log, tail(log)
    assert "did not answer their Delete" not in log, tail(log)
    assert [s for s in (SECRET, *PASSWORDS.values()) if s in log + rsyslog.text()] == []


# -- SIGHUP and ikev2d reload --------------------------------------------------------------

P384 = {"name": "P384", "priority": 20, "encryption": ["AES-256"], "integrity": ["SHA512"], "prf": ["SHA512"],
        "dh_groups": [20], "lifetime_seconds": 86400}
P384_IKE = "aes256-sha512-prfsha512-ecp384"


def rewrite(server: Ikev2d, text: str) -> None:
    server.config_path.write_text(text)


def wait_in_log(server: Ikev2d, needle: str, times: int = 1, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while server.log().count(needle) < times and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert log.count(needle) == times, f"{needle!r} not {times} time(s) in ikev2d's log:\n{tail(log)}"
    return log


@pytest.mark.interop
@pytest.mark.timeout(150)
def test_sighup_and_reload_apply_a_good_file_and_refuse_a_broken_one(
        ikev2d_server: StartIkev2d, client: StartCharon, topology: Topology) -> None:
    server = ikev2d_server()
    alice = client(0)
    assert_initiated(alice.initiate(timeout=15), alice)
    assert_connected(alice)

    # a client that proposes only ECP-384 is refused, until a policy allows it
    bob = client(1, identity="bob", password="Lab-Passw0rd-2", proposals=P384_IKE)
    assert not bob.initiate(timeout=10).ok
    cfg: dict[str, Any] = yaml.safe_load(server.config_path.read_text())
    cfg["objects"]["ikev2_policies"].append(P384)
    cfg["remote_access_vpn"]["ike_policies"].append("P384")
    rewrite(server, yaml.safe_dump(cfg, sort_keys=False))
    signal_ikev2d(server, signal.SIGHUP)
    wait_in_log(server, "reload: ikev2 policy P384: added")
    assert "reload: remote access vpn: ike policies NSA -> NSA P384" in server.log()
    assert_initiated(bob.initiate(timeout=15), bob)
    assert_connected(bob, identity="bob", proposal="AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/ECP_384")
    # alice's session was untouched: same SA, still carrying traffic
    assert_connected(alice)
    assert ping(topology.clients[0], 1).returncode == 0

    # a changed group policy: `ikev2d reload` reports it and ends its sessions
    cfg["objects"]["group_policies"][0]["banner"] = "Authorized use only"
    rewrite(server, yaml.safe_dump(cfg, sort_keys=False))
    done = server.cli("reload")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert 'group policy GP-CCIElab: banner none -> "Authorized use only"' in out, done.stdout
    assert sorted(line for line in out if " ended: " in line) == [
        "session 0x00006000 (alice) ended: group policy GP-CCIElab changed",
        "session 0x00006001 (bob) ended: group policy GP-CCIElab changed"], done.stdout
    assert alice.wait_for_sas(0) == [] and bob.wait_for_sas(0) == []
    assert "received DELETE for IKE_SA ftd-ra" in alice.log()
    assert "SA DOWN. Reason: Administrator Reset" in server.log()

    # a broken file: refused whole, FILE:LINE as check-config prints it
    good = server.config_path.read_text()
    broken = good.replace("- AES-256", "- AES-257", 1)
    line = broken[:broken.index("AES-257")].count("\n") + 1
    rewrite(server, broken)
    refused = server.cli("reload")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    why = f"{server.config_path}:{line}: unknown encryption 'AES-257'"
    assert refused.stderr.startswith(f"ikev2d: configuration error: {why}"), refused.stderr
    assert refused.stderr.endswith("ikev2d: reload refused: the running configuration is kept\n"), refused.stderr
    assert server.log().count(f"reload: configuration error: {why}") == 1  # logged, not only answered
    signal_ikev2d(server, signal.SIGHUP)
    wait_in_log(server, f"reload: configuration error: {why}", times=2)
    # still serving the running configuration: the group policy's banner and P384 included
    carol = client(2)
    assert_initiated(carol.initiate(timeout=15), carol)
    assert_connected(carol)
    assert_healthy(server, secrets=("Lab-Passw0rd-1", "Lab-Passw0rd-2"))


@pytest.mark.interop
@pytest.mark.timeout(90)
@pytest.mark.parametrize("second_signal", [False, True], ids=["waits-its-budget", "second-sigterm"])
def test_sigterm_with_a_silent_client_is_bounded_and_a_second_one_cuts_it_short(
        ikev2d_server: StartIkev2d, client: StartCharon, topology: Topology, second_signal: bool) -> None:
    server = ikev2d_server()
    alice = client(0)
    assert_initiated(alice.initiate(timeout=15), alice)
    assert_connected(alice)
    topology.clients[0].ip("link", "set", "eth0", "down")  # our Delete will go unanswered

    started = time.monotonic()
    signal_ikev2d(server, signal.SIGTERM)
    if second_signal:
        time.sleep(0.3)
        signal_ikev2d(server, signal.SIGTERM)
    assert server.proc is not None
    assert server.proc.wait(timeout=10) == 0, tail(server.log())
    took = time.monotonic() - started
    log = server.log()
    assert "SA DOWN. Reason: Administrator Reboot" in log, tail(log)
    if second_signal:
        assert took < 1.5, tail(log)
        assert "SIGTERM again: stopping at once" in log, tail(log)
    else:
        assert 1.9 <= took < DRAIN_LIMIT, tail(log)
        assert "stopping: 1 client(s) did not answer their Delete" in log, tail(log)
