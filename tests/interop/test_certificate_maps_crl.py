"""Certificate maps and CRL checking against real strongSwan clients with
`auth = pubkey`: three connection profiles chosen by the OU of the user's
certificate (FMC Advanced > Certificate Maps), and a trustpoint with
`revocation-check crl` refusing a revoked certificate, with the CRL read
from a file and fetched from an HTTP server in the gateway namespace,
while a good certificate connects and pings."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from lab import swanlog
from lab.netns import Topology, stop_process
from lab.pki import LabPki

from .checks import assert_connected, assert_healthy, assert_in_log, assert_initiated, assert_no_sa, ping, tail
from .conftest import StartCharon, StartIkev2d
from .test_client_certificate import certificate_only

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PROFILES = {  # profile: (pool, range, the OU that maps to it)
    "Sales": ("Sales-Pool", "198.19.1.10-198.19.1.20", "Sales"),
    "Engineering": ("Eng-Pool", "198.19.2.10-198.19.2.20", "Engineering"),
}
NETWORKS = {"CCIElab": "198.19.0.0/24", "Sales": "198.19.1.0/24", "Engineering": "198.19.2.0/24"}


def mapped_profiles(ca: Path) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        certificate_only(ca)(cfg)
        objects = cfg["objects"]
        (ccie,) = cfg["connection_profiles"]
        objects["certificate_maps"] = []
        mappings = []
        for profile, (pool, span, unit) in PROFILES.items():
            objects["ipv4_pools"].append({"name": pool, "range": span, "mask": "255.255.255.0"})
            cfg["connection_profiles"].append(dict(ccie, name=profile, address_pools=[pool]))
            objects["certificate_maps"].append({"name": f"{unit}-MAP", "rules": [
                {"field": "subject-name", "component": "ou", "operator": "eq", "value": unit.lower()},
                {"field": "extended-key-usage", "operator": "co", "value": "clientauth"}]})
            mappings.append({"certificate_map": f"{unit}-MAP", "connection_profile": profile})
        cfg["remote_access_vpn"]["certificate_mapping"] = {"use_configured_rules": True, "mappings": mappings}
    return edit


def test_three_profiles_selected_by_certificate_map(ikev2d_server: StartIkev2d, client: StartCharon,
                                                    lab_pki: LabPki) -> None:
    server = ikev2d_server(edit=mapped_profiles(lab_pki.ca_cert), logging_level="debugging")
    wanted = [("carol", "Engineering", "Engineering"), ("dave", "Sales", "Sales"), ("erin", "Finance", "CCIElab")]
    clients = []
    for index, (name, unit, _) in enumerate(wanted):
        user = lab_pki.client_identity(name, org_unit=unit)
        clients.append(client(index, eap="pubkey", identity=f"O=ikev2d lab, OU={unit}, CN={name}",
                              client_cert=user.cert, client_key=user.key))
    for charon in clients:
        assert_initiated(charon.initiate(timeout=15), charon)
    shown = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
    by_address = {s["assigned_ip"]: s for s in json.loads(shown.stdout)["sessions"]}
    for charon, (name, unit, profile) in zip(clients, wanted):
        (sa,) = charon.list_sas()
        (vip,) = sa.local_vips
        assert ipaddress.ip_address(vip) in ipaddress.ip_network(NETWORKS[profile]), (name, vip)
        assert by_address[vip]["tunnel_group"] == profile, by_address[vip]
    log = server.log()
    assert "%FTD-7-717038: Tunnel group match found. Tunnel Group: Engineering, Peer certificate: serial " \
           "number: " in log, tail(log)
    assert "%FTD-7-717038: Tunnel group match found. Tunnel Group: Sales," in log, tail(log)
    assert "%FTD-4-717037: Tunnel group search using certificate maps failed for peer certificate: serial " \
           "number: " in log and "subject name: o=ikev2d lab,ou=Finance,cn=erin" in log, tail(log)
    assert_healthy(server)


def with_crl(ca: Path, *urls: str, check: str = "crl") -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        certificate_only(ca)(cfg)
        (trustpoint,) = cfg["objects"]["trusted_ca_certificates"]
        trustpoint.update(revocation_check=check, crl_urls=list(urls))
    return edit


@pytest.fixture
def crl_http(topology: Topology, tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Factory: serve a folder over HTTP on 127.0.0.1 inside the gateway
    namespace (where ikev2d runs); the URL of its lab.crl."""
    started: list[subprocess.Popen[bytes]] = []

    def serve(folder: Path) -> str:
        port = 8089 + len(started)
        proc = subprocess.Popen(topology.gateway.argv([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                                       "--directory", str(folder), str(port)]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.monotonic() + 10
        while "127.0.0.1:%d" % port not in topology.gateway.run(["ss", "-Htln"], check=False).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "the CRL HTTP server did not start"
            time.sleep(0.1)
        return f"http://127.0.0.1:{port}/lab.crl"

    yield serve
    for proc in started:
        stop_process(proc)


def _revoked_then_good(server: Any, client: StartCharon, lab_pki: LabPki, topology: Topology) -> None:
    carol = lab_pki.client_identity("carol")
    dave = lab_pki.client_identity("dave")
    revoked = client(0, eap="pubkey", identity="O=ikev2d lab, CN=carol", client_cert=carol.cert,
                     client_key=carol.key)
    assert not revoked.initiate(timeout=20).ok, "a revoked certificate must not connect"
    assert_in_log(revoked.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(revoked)
    log = server.log()
    assert "%FTD-3-717027: Certificate chain failed validation. Certificate is revoked." in log, tail(log)
    good = client(1, eap="pubkey", identity="O=ikev2d lab, CN=dave", client_cert=dave.cert, client_key=dave.key)
    assert_initiated(good.initiate(timeout=20), good)
    assert_connected(good, identity="O=ikev2d lab, CN=dave")
    pinged = ping(topology.clients[1])
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"
    log = server.log()
    assert "%FTD-6-717028: Certificate chain was successfully validated with revocation status check." in log, \
        tail(log)
    assert_healthy(server)


def test_revoked_certificate_refused_by_a_crl_file(ikev2d_server: StartIkev2d, client: StartCharon,
                                                   lab_pki: LabPki, topology: Topology, tmp_path: Path) -> None:
    crl = lab_pki.issue_crl(tmp_path / "lab.crl", [lab_pki.client_identity("carol").cert])
    server = ikev2d_server("--dataplane", "userspace", edit=with_crl(lab_pki.ca_cert, str(crl)))
    _revoked_then_good(server, client, lab_pki, topology)


def test_revoked_certificate_refused_by_a_crl_over_http(ikev2d_server: StartIkev2d, client: StartCharon,
                                                        lab_pki: LabPki, topology: Topology, tmp_path: Path,
                                                        crl_http: Callable[[Path], str]) -> None:
    folder = tmp_path / "crl"
    folder.mkdir()
    lab_pki.issue_crl(folder / "lab.crl", [lab_pki.client_identity("carol").cert])
    url = crl_http(folder)
    server = ikev2d_server("--dataplane", "userspace", edit=with_crl(lab_pki.ca_cert, url))
    _revoked_then_good(server, client, lab_pki, topology)


def test_unreachable_crl_fails_closed(ikev2d_server: StartIkev2d, client: StartCharon, lab_pki: LabPki) -> None:
    server = ikev2d_server(edit=with_crl(lab_pki.ca_cert, "http://127.0.0.1:9/lab.crl"))
    dave = lab_pki.client_identity("dave")
    charon = client(0, eap="pubkey", identity="O=ikev2d lab, CN=dave", client_cert=dave.cert, client_key=dave.key)
    assert not charon.initiate(timeout=20).ok, "without its CRL a certificate must not connect"
    assert_no_sa(charon)
    log = server.log()
    assert "%FTD-3-717010: CRL polling failed for trustpoint LAB-CA." in log, tail(log)
    assert_healthy(server)


def test_crl_from_the_certificates_distribution_point(ikev2d_server: StartIkev2d, client: StartCharon,
                                                      lab_pki: LabPki, topology: Topology, tmp_path: Path,
                                                      crl_http: Callable[[Path], str]) -> None:
    """`policy cdp`, the default: no static URL, the CRL is fetched from the
    distribution point each certificate names."""
    folder = tmp_path / "cdp"
    folder.mkdir()
    url = crl_http(folder)
    frank = lab_pki.client_identity("frank", crl_url=url)
    grace = lab_pki.client_identity("grace", crl_url=url)
    lab_pki.issue_crl(folder / "lab.crl", [frank.cert])
    server = ikev2d_server(edit=with_crl(lab_pki.ca_cert))
    revoked = client(0, eap="pubkey", identity="O=ikev2d lab, CN=frank", client_cert=frank.cert,
                     client_key=frank.key)
    assert not revoked.initiate(timeout=20).ok, "a revoked certificate must not connect"
    assert_no_sa(revoked)
    good = client(1, eap="pubkey", identity="O=ikev2d lab, CN=grace", client_cert=grace.cert,
                  client_key=grace.key)
    assert_initiated(good.initiate(timeout=20), good)
    log = server.log()
    assert "%FTD-3-717027: Certificate chain failed validation. Certificate is revoked." in log, tail(log)
    assert "with revocation status check." in log, tail(log)
    assert_healthy(server)
