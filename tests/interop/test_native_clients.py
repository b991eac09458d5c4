"""The native clients' default offers against ikev2d on
config/native-clients.yaml (issue 9, point 3; docs/native-clients.md).

A strongSwan client makes exactly each client's offer (the strings
ikev2d/compliance/clients.py holds, the same ones `check-config --clients`
judges) and identity (Windows: its address as IDi; no IDr where the client
sends none), connects, and pings through the tunnel. What strongSwan
negotiated must be what `check-config --clients` predicted: the report and
the wire cannot disagree.

One ikev2d and one client charon serve the module, as in
test_ikev2d_algorithms.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ikev2d.compliance.clients import CLIENTS, NativeClient, Verdict, judge_client
from ikev2d.conf import load_config
from lab.ikev2d import REPO, Ikev2d, lab_config, load_default_config
from lab.netns import Topology, run_prefix
from lab.pki import LabPki
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig

from .checks import assert_connected, assert_healthy, assert_initiated, ping, tail

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

NATIVE = REPO / "config" / "native-clients.yaml"
SERVER_ID = "vpn.example.test"  # the profile's ike_identity, which ikev2d presents


@dataclass
class Lab:
    topology: Topology
    server: Ikev2d
    client: Charon
    ca_cert: Path


def start_lab(config: Path, lab_pki: LabPki, folder: Path, name: str, started: list[Ikev2d | Charon]) -> Lab:
    topology = Topology(run_prefix(name), 1).create()
    try:
        cfg = lab_config(lab_pki, store=folder / "pki-store", base=load_default_config(config))
        server = Ikev2d(topology.gateway, folder / "ikev2d", cfg, extra_args=("--dataplane", "userspace"))
        started.append(server)
        server.start()
        client = Charon(topology.clients[0], folder / "client")
        started.append(client)
        client.start()
    except BaseException:
        stop_lab(started, topology)
        raise
    return Lab(topology, server, client, lab_pki.ca_cert)


def stop_lab(started: list[Ikev2d | Charon], topology: Topology) -> None:
    for daemon in reversed(started):
        daemon.stop()
    topology.destroy()


@pytest.fixture(scope="module")
def lab(lab_session: None, lab_pki: LabPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started: list[Ikev2d | Charon] = []
    the_lab = start_lab(NATIVE, lab_pki, tmp_path_factory.mktemp("native"), "nat", started)
    try:
        yield the_lab
    finally:
        stop_lab(started, the_lab.topology)


def load_as(lab: Lab, native: NativeClient) -> str:
    """Load the client's offer and identity into the lab's charon; its IDi."""
    address = lab.topology.client_addrs[0]
    ike_id = address if native.test_identity == "%address" else native.test_identity
    lab.client.load(ClientConfig(local_addr=address, remote_addr=lab.topology.gateway_addr, ca_cert=lab.ca_cert,
                                 proposals=native.ike, esp_proposals=native.esp, identity="alice",
                                 ike_id=ike_id,
                                 # "%any": strongSwan sends no IDr, as these clients do by default
                                 remote_id=SERVER_ID if native.sends_idr else "%any"))
    return ike_id


def connect_as_predicted(lab: Lab, native: NativeClient, verdict: Verdict) -> None:
    """Connected with the suites the verdict names, the identities the
    client uses, and a ping through the tunnel."""
    client, topology = lab.client, lab.topology
    ike_id = load_as(lab, native)
    try:
        assert_initiated(client.initiate(timeout=10), client)
        assert verdict.ike_suite is not None and verdict.esp_suite is not None
        assert_connected(client, proposal=verdict.ike_suite, esp_proposal=verdict.esp_suite,
                         identity=ike_id, remote_id=SERVER_ID)
        first_auth = [line for line in client.log().splitlines() if "generating IKE_AUTH request 1 [" in line][-1]
        assert ("IDr" in first_auth.split("[", 1)[1]) == native.sends_idr, first_auth
        result = ping(topology.clients[0], count=2)
        assert result.returncode == 0, result.stdout + result.stderr + "\n" + tail(lab.server.log())
    finally:
        client.terminate(timeout=5)
        client.wait_for_sas(0, timeout=5)
    assert_healthy(lab.server)


@pytest.mark.parametrize("native", CLIENTS, ids=[c.key for c in CLIENTS])
def test_native_client_offer_connects_as_check_config_predicts(lab: Lab, native: NativeClient) -> None:
    verdict = judge_client(load_config(NATIVE), native)
    assert verdict.admitted, verdict.render()
    connect_as_predicted(lab, native, verdict)
