"""Client services as the whitepaper explains them ("Important Notes
Regarding Client Services"): `show asp table socket` lists exactly what
listens, and a real TLS client from the client namespace agrees.

The whitepaper's three listings of the outside interface:

1. SSL and DTLS enabled: SSL and DTLS on 443 (ikev2d always needs
   IPsec-IKEv2 on some interface, so IKEv2 stays enabled here too);
2. SSL disabled in favour of IPsec-IKEv2, client services still on: SSL only;
3. client services disabled as well: nothing, and TLS is really gone.

Each configuration is checked three ways: the daemon's own listing (the
control socket's `show asp table socket`, text and JSON), the kernel's
(`ss` in the gateway namespace), and a client's (`ikev2d.client_services.probe`
from the client namespace: TLS handshake verified against the lab CA, or
connection refused; and a datagram to the DTLS port: silently taken, or
refused with ICMP port unreachable).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest

from lab.ikev2d import Ikev2d
from lab.netns import Namespace, Topology
from lab.pki import LabPki

from .conftest import StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

GATEWAY = "198.18.0.1"
PROFILE_PATH = "/CACHE/stc/profiles/CCIElab.xml"


def client_services(ssl: bool, dtls: bool, services: bool) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        for access in cfg["remote_access_vpn"]["access_interfaces"]:
            access.update(enable_ipsec_ikev2=True, enable_ssl=ssl, enable_dtls=dtls)
        for profile in cfg["connection_profiles"]:
            profile["enable_client_services"] = services
    return edit


WHITEPAPER = {
    "ssl-and-dtls": (client_services(ssl=True, dtls=True, services=True), [("SSL", 443), ("DTLS", 443)]),
    "ssl-only-for-client-services": (client_services(ssl=False, dtls=False, services=True), [("SSL", 443)]),
    "nothing": (client_services(ssl=False, dtls=False, services=False), []),
}


def show_sockets(server: Ikev2d, timeout: float = 10.0) -> tuple[str, list[dict[str, str]]]:
    """`show asp table socket` as text and JSON, once the daemon answers
    (it answers only after every listener has started)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.show("asp", "table", "socket")
        if text.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert text.returncode == 0, f"show asp table socket failed:\n{text.stdout}{text.stderr}\n{server.tail()}"
    as_json = server.show("asp", "table", "socket", json=True)
    assert as_json.returncode == 0, as_json.stderr
    return text.stdout, json.loads(as_json.stdout)["sockets"]


def probe(ns: Namespace, *args: str) -> dict[str, Any]:
    proc = ns.run([sys.executable, "-m", "ikev2d.client_services.probe", *args], check=False, timeout=30)
    assert proc.stdout.strip(), f"probe printed nothing: {proc.stderr}"
    return json.loads(proc.stdout)


def tls_probe(ns: Namespace, pki: LabPki, path: str | None = None) -> dict[str, Any]:
    extra = ["--path", path] if path else []
    return probe(ns, GATEWAY, "443", "--cafile", str(pki.ca_cert), "--server-name", "vpn.example.test", *extra)


def kernel_listening(ns: Namespace) -> set[tuple[str, str]]:
    """(tcp|udp, address:port) the gateway's kernel has listening/bound."""
    out = set()
    for proto, flag in (("tcp", "-Hltn"), ("udp", "-Hlun")):
        for line in ns.run(["ss", flag], check=False).stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4:
                out.add((proto, fields[3]))
    return out


@pytest.mark.parametrize("case", list(WHITEPAPER))
def test_show_asp_table_socket_agrees_with_a_real_tls_client(
    case: str, ikev2d_server: StartIkev2d, topology: Topology, lab_pki: LabPki
) -> None:
    edit, expected = WHITEPAPER[case]
    server = ikev2d_server(edit=edit)

    text, sockets = show_sockets(server)

    # the daemon's listing: exactly the whitepaper's rows, in its layout
    assert [(s["protocol"], s["local_address"]) for s in sockets] == [(p, f"{GATEWAY}:{port}") for p, port in expected]
    assert all(s["state"] == "LISTEN" and s["foreign_address"] == "0.0.0.0:*" for s in sockets)
    assert all(re.fullmatch(r"[0-9a-f]{8}", s["socket"]) for s in sockets)
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].split() == ["Protocol", "Socket", "State", "Local", "Address", "Foreign", "Address"]
    assert [line.split() for line in lines[1:]] == [
        [s["protocol"], s["socket"], "LISTEN", s["local_address"], "0.0.0.0:*"] for s in sockets]

    # the kernel's view
    kernel = kernel_listening(topology.gateway)
    listed = {p for p, _ in expected}
    assert (("tcp", f"{GATEWAY}:443") in kernel) == ("SSL" in listed), kernel
    assert (("udp", f"{GATEWAY}:443") in kernel) == ("DTLS" in listed), kernel

    # a client's view, from outside
    outside = topology.clients[0]
    tls = tls_probe(outside, lab_pki)
    if "SSL" in listed:
        assert tls["handshake"], tls
        assert tls["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert "CN=vpn.example.test" in tls["peer_certificate_subject"], tls
    else:
        assert not tls["connected"] and "ConnectionRefusedError" in tls["error"], tls
    udp = probe(outside, "--udp", GATEWAY, "443")
    assert udp["refused"] == ("DTLS" not in listed), udp
    assert not udp["answered"], "the DTLS placeholder never answers"
    assert server.running(), server.tail()


def test_profile_download_over_https_returns_the_anyconnect_profile(
    ikev2d_server: StartIkev2d, topology: Topology, lab_pki: LabPki
) -> None:
    """With SSL and client services both on (the whitepaper: "you must enable
    BOTH SSL/TLS transport and Client Services" to download a profile),
    AnyConnect's profile URL answers the XML that `ikev2d profile` writes for
    the same configuration."""
    from ikev2d.anyconnect_profile import render_profile
    from ikev2d.conf import load_config

    server = ikev2d_server(edit=client_services(ssl=True, dtls=False, services=True))
    show_sockets(server)

    got = tls_probe(topology.clients[0], lab_pki, PROFILE_PATH)

    assert got["handshake"] and got["status"] == 200, got
    assert got["headers"]["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(got["body"])
    assert root.tag.rsplit("}", 1)[-1] == "AnyConnectProfile"
    primary = [e.text for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "PrimaryProtocol"]
    assert primary and all(p is not None and p.strip() == "IPsec" for p in primary), primary
    assert got["body"] == render_profile(load_config(server.config_path), "CCIElab")

    front = tls_probe(topology.clients[0], lab_pki, "/")
    assert front["status"] == 200 and PROFILE_PATH in front["body"]
    assert tls_probe(topology.clients[0], lab_pki, "/+CSCOE+/logon.html")["status"] == 404
    log = server.log()
    assert f"GET '{PROFILE_PATH}' 200" in log, server.tail()


def test_client_services_without_ssl_expose_tls_but_serve_no_profile(
    ikev2d_server: StartIkev2d, topology: Topology, lab_pki: LabPki
) -> None:
    """The whitepaper's middle listing: SSL off, client services on. The TLS
    socket is there (the exposure the whitepaper warns of), but a profile
    download needs SSL as well, so the profile URL is not served."""
    server = ikev2d_server(edit=client_services(ssl=False, dtls=False, services=True))
    show_sockets(server)
    got = tls_probe(topology.clients[0], lab_pki, PROFILE_PATH)
    assert got["handshake"] and got["status"] == 404, got
    front = tls_probe(topology.clients[0], lab_pki, "/")
    assert front["status"] == 200 and "needs both SSL and client services" in front["body"], front
