"""`ikev2d load` over the network from a client namespace: 200 EAP-MSCHAPv2
sessions against ikev2d and against strongSwan's own responder, seen held
on the server, then deleted, their IKE_AUTH answers in RFC 7383 fragments;
its COOKIE and INVALID_KE handling.

The load generator runs from 20 source addresses added to the first client
namespace's eth0 (198.18.0.100-119), one UDP socket each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from lab.netns import Topology

from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Lab-Load-Passw0rd-1"
SESSIONS = 200
USERS = {f"load{n}": PASSWORD for n in range(1, SESSIONS + 1)}
POOL = "198.19.1.1-198.19.1.250"
SOURCES = [f"198.18.0.{n}" for n in range(100, 120)]
MODP_2048, MODP_3072 = 14, 15


class LoadRun:
    """`ikev2d load` in the background in the client namespace; `finish`
    waits for its JSON report, first ending its hold if asked (SIGTERM:
    the sessions are deleted, then reported)."""

    def __init__(self, topology: Topology, *args: str, port: int = 500) -> None:
        ns = topology.clients[0]
        argv = [sys.executable, "-m", "ikev2d", "load", f"{topology.gateway_addr}:{port}", "--json",
                "--user", "load{n}", "--source", f"{SOURCES[0]}-{SOURCES[-1]}", *args]
        env = dict(os.environ, IKEV2D_LOAD_PASSWORD=PASSWORD)
        self.proc = subprocess.Popen(ns.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, cwd=REPO)

    def wait_until(self, held: Callable[[], int], count: int, timeout: float = 60.0) -> int:
        """Poll the server's session count until `count` (or the run ended)."""
        deadline = time.monotonic() + timeout
        seen = held()
        while seen < count and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
            seen = held()
        return seen

    def finish(self, end_hold: bool = False) -> dict[str, Any]:
        if end_hold and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        assert out.strip(), err
        return json.loads(out)


def add_sources(topology: Topology) -> Topology:
    """SOURCES on the first client namespace's eth0."""
    for address in SOURCES:
        topology.clients[0].add_address("eth0", f"{address}/24")
    return topology


@pytest.fixture
def load_sources(topology: Topology) -> Topology:
    return add_sources(topology)


def ikev2d_sessions(server: Any) -> Callable[[], int]:
    def count() -> int:
        shown = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
        return len(json.loads(shown.stdout)["sessions"]) if shown.returncode == 0 else -1
    return count


def strongswan_sas(responder: Any) -> Callable[[], int]:
    return lambda: sum(1 for sa in responder.list_sas() if sa.state == "ESTABLISHED")


def assert_fragments_reassembled(report: dict[str, Any], sessions: int) -> None:
    assert report["fragments_received"] >= 2 * sessions, report


def assert_all_connected_and_deleted(report: dict[str, Any], sessions: int) -> None:
    assert report["errors"] == {}, report
    assert report["established"] == sessions, report
    assert report["deleted"] == sessions, report
    for phase in ("IKE_SA_INIT", "IKE_AUTH", "total"):
        assert 0 < report["latency_ms"][phase]["p50"] <= report["latency_ms"][phase]["p100"], report


@pytest.mark.parametrize("workers", [1, 2])
def test_200_sessions_to_ikev2d(load_sources: Topology, ikev2d_server: StartIkev2d, workers: int) -> None:
    # 576-octet fragments: its IKE_AUTH answer with the certificate comes in several
    server = ikev2d_server(users=USERS, pool_range=POOL, fragment_size=576)
    run = LoadRun(load_sources, "-n", str(SESSIONS), "-c", "40", "--hold", "60", "--workers", str(workers))
    held = run.wait_until(ikev2d_sessions(server), SESSIONS)
    report = run.finish(end_hold=True)
    assert held == SESSIONS, report
    assert_all_connected_and_deleted(report, SESSIONS)
    assert_fragments_reassembled(report, SESSIONS)
    assert ikev2d_sessions(server)() == 0


def test_200_sessions_to_strongswan(load_sources: Topology, reference_responder: StartCharon) -> None:
    responder = reference_responder(users=USERS, pool=POOL, fragment_size=576)
    run = LoadRun(load_sources, "-n", str(SESSIONS), "-c", "40", "--hold", "60")
    held = run.wait_until(strongswan_sas(responder), SESSIONS)
    report = run.finish(end_hold=True)
    assert held == SESSIONS, report
    assert_all_connected_and_deleted(report, SESSIONS)
    assert_fragments_reassembled(report, SESSIONS)
    assert responder.wait_for_sas(0, timeout=10) == []


def _always_cookies(config: dict[str, Any]) -> None:
    config["remote_access_vpn"].setdefault("ikev2_parameters", {})["cookie_challenge"] = "always"


def test_cookie_challenge_of_ikev2d_is_answered(load_sources: Topology, ikev2d_server: StartIkev2d) -> None:
    ikev2d_server(users=USERS, edit=_always_cookies)
    report = LoadRun(load_sources, "-n", "10", "-c", "5").finish()
    assert report["cookies"] == 10, report
    assert_all_connected_and_deleted(report, 10)


def test_cookie_challenge_of_strongswan_is_answered(load_sources: Topology, reference_responder: StartCharon) -> None:
    # one half-open IKE SA makes charon ask every IKE_SA_INIT for a cookie for 10 s
    reference_responder(users=USERS, cookie_threshold=1)
    report = LoadRun(load_sources, "-n", "20", "-c", "10").finish()
    assert report["cookies"] >= 10, report  # all but the first few, in practice
    assert_all_connected_and_deleted(report, 20)


@pytest.mark.parametrize("server", ["ikev2d", "strongswan"])
def test_invalid_ke_is_retried_with_the_group_the_server_wants(
    load_sources: Topology, ikev2d_server: StartIkev2d, reference_responder: StartCharon, server: str
) -> None:
    # both servers take MODP-3072 only; the clients guess MODP-2048 first
    if server == "ikev2d":
        ikev2d_server(users=USERS, dh_groups=[MODP_3072])
    else:
        reference_responder(users=USERS)
    report = LoadRun(load_sources, "-n", "10", "-c", "5", "--dh-group", f"{MODP_2048},{MODP_3072}",
                     "--ke-group", str(MODP_2048)).finish()
    assert report["invalid_ke_retries"] == 10, report
    assert_all_connected_and_deleted(report, 10)


def test_invalid_ke_for_a_group_not_offered_is_an_error_by_notify(
    load_sources: Topology, ikev2d_server: StartIkev2d
) -> None:
    ikev2d_server(users=USERS, dh_groups=[MODP_3072])
    report = LoadRun(load_sources, "-n", "4", "--dh-group", str(MODP_2048)).finish()
    assert report["established"] == 0
    assert report["errors"] == {"NO_PROPOSAL_CHOSEN": 4}, report
