"""`ikev2d load --ping`: every client's ICMP echo to the gateway's inside
address (198.19.0.1) goes through its ESP tunnel and back, against ikev2d
with the userspace data plane and against strongSwan's responder
(kernel-libipsec: its own TUN device, ESP in UDP), from 20 source
addresses of the first client namespace."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lab.netns import Topology

from .checks import INSIDE, tail
from .conftest import StartCharon, StartIkev2d
from .test_dataplane_userspace import REMOVED
from .test_load import POOL, USERS, LoadRun, add_sources, assert_all_connected_and_deleted, ikev2d_sessions

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

SESSIONS = 30
PINGS = 3


@pytest.fixture
def load_sources(topology: Topology) -> Topology:
    return add_sources(topology)


def assert_every_ping_answered(report: dict[str, Any]) -> None:
    assert_all_connected_and_deleted(report, SESSIONS)
    sent = SESSIONS * PINGS
    assert (report["pings_sent"], report["pings_answered"], report["pings_lost"]) == (sent, sent, 0), report
    assert report["esp_dropped"] == 0, report
    assert 0 < report["latency_ms"]["ping"]["p50"] <= report["latency_ms"]["ping"]["p100"], report


# from port 500 the clients move to 4500 after IKE_SA_INIT; at 4500 they start there
@pytest.mark.parametrize("port,workers", [(500, 1), (4500, 2)])
def test_every_tunnel_to_ikev2d_userspace_answers_its_pings(load_sources: Topology, ikev2d_server: StartIkev2d,
                                                             port: int, workers: int) -> None:
    server = ikev2d_server("--dataplane", "userspace", users=USERS, pool_range=POOL)
    report = LoadRun(load_sources, "-n", str(SESSIONS), "-c", "10", "--ping", INSIDE, "--ping-count", str(PINGS),
                     "--workers", str(workers), port=port).finish()
    assert_every_ping_answered(report)
    # its data plane carried them: each pair's counters, logged as the SA went
    deadline = time.monotonic() + 10
    while len(REMOVED.findall(server.log())) < SESSIONS and time.monotonic() < deadline:
        time.sleep(0.2)
    removed = list(REMOVED.finditer(server.log()))
    assert len(removed) == SESSIONS, tail(server.log())
    for m in removed:
        assert (int(m["pin"]), int(m["pout"])) == (PINGS, PINGS), m.group(0)
        assert (int(m["replay"]), int(m["integ"]), int(m["other"])) == (0, 0, 0), m.group(0)


def test_every_tunnel_to_strongswan_answers_its_pings(load_sources: Topology,
                                                      reference_responder: StartCharon) -> None:
    reference_responder(users=USERS, pool=POOL)
    report = LoadRun(load_sources, "-n", str(SESSIONS), "-c", "10", "--ping", INSIDE,
                     "--ping-count", str(PINGS)).finish()
    assert_every_ping_answered(report)


# `--encap` alone (no pings): the faked NAT_DETECTION_SOURCE_IP makes ikev2d
# see a NAT, so every Child SA is ESP in UDP on the gateway's port 4500, as with
# strongSwan's `encap = yes`; without it the same clients get plain ESP
@pytest.mark.parametrize("encap", [True, False])
def test_encap_alone_makes_ikev2d_encapsulate_every_child_sa(load_sources: Topology, ikev2d_server: StartIkev2d,
                                                             encap: bool) -> None:
    sessions = 5
    server = ikev2d_server("--dataplane", "userspace", users=USERS, pool_range=POOL)
    run = LoadRun(load_sources, "-n", str(sessions), "-c", str(sessions), "--hold", "60",
                  *(["--encap"] if encap else []))
    held = run.wait_until(ikev2d_sessions(server), sessions)
    shown = server.show("crypto", "ipsec", "sa", json=True)
    report = run.finish(end_hold=True)
    assert held == sessions, report
    assert_all_connected_and_deleted(report, sessions)
    assert shown.returncode == 0, shown.stderr
    sas = json.loads(shown.stdout)["ipsec_sas"]
    assert len(sas) == sessions, sas
    port = 4500 if encap else 500
    for sa in sas:
        assert ("NAT-T-Encaps" in sa["in_use_settings"]) is encap, sa["in_use_settings"]
        # the clients' source ports are their own (many clients share an address): the gateway's is 4500
        assert sa["local_crypto_endpt"] == f"{load_sources.gateway_addr}/{port}", sa["local_crypto_endpt"]
