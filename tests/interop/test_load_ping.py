"""`ikev2d load --ping`: every client's ICMP echo to the gateway's inside
address (198.19.0.1) goes through its ESP tunnel and back, against ikev2d
with the userspace data plane and against strongSwan's responder
(kernel-libipsec: its own TUN device, ESP in UDP), from 20 source
addresses of the first client namespace."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab.netns import Topology

from .checks import INSIDE, tail
from .conftest import StartCharon, StartIkev2d
from .test_dataplane_userspace import REMOVED
from .test_load import POOL, USERS, LoadRun, add_sources, assert_all_connected_and_deleted

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
