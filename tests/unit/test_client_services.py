"""Client services, without sockets: which listeners the configuration asks
for (the whitepaper's three listings), the HTTP/1.1 parsing and answers,
and the served documents."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, strategies as st

from ikev2d.client_services import Endpoint, plan_endpoints
from ikev2d.client_services.http import (MAX_HEAD, HttpError, Request, Resource, error, parse_head, respond,
                                         serialize)
from ikev2d.client_services.site import build_site, profile_path
from ikev2d.conf import load_config
from ikev2d.conf.model import AccessInterface, Config

ROOT = Path(__file__).resolve().parents[2]


def _config(*, ssl: bool, dtls: bool, ikev2: bool = True, client_services: bool) -> Config:
    config = load_config(ROOT / "config" / "ikev2d.yaml")
    access = AccessInterface(interface=config.remote_access_vpn.access_interfaces[0].interface,
                             enable_ipsec_ikev2=ikev2, enable_ssl=ssl, enable_dtls=dtls)
    ra = dataclasses.replace(config.remote_access_vpn, access_interfaces=(access,))
    profiles = tuple(dataclasses.replace(p, enable_client_services=client_services)
                     for p in config.connection_profiles)
    return dataclasses.replace(config, remote_access_vpn=ra, connection_profiles=profiles)


def _listing(config: Config) -> list[tuple[str, str, int]]:
    return [(e.protocol, e.address, e.port) for e in plan_endpoints(config)]


# -- the whitepaper's three listings ------------------------------------------

def test_ssl_and_dtls_enabled_listens_with_both() -> None:
    config = _config(ssl=True, dtls=True, ikev2=False, client_services=True)
    assert _listing(config) == [("SSL", "198.18.0.1", 443), ("DTLS", "198.18.0.1", 443)]


def test_ssl_disabled_for_ikev2_keeps_ssl_while_client_services_are_on() -> None:
    config = _config(ssl=False, dtls=False, client_services=True)
    assert _listing(config) == [("SSL", "198.18.0.1", 443)]


def test_ssl_and_client_services_disabled_listens_with_nothing() -> None:
    assert _listing(_config(ssl=False, dtls=False, client_services=False)) == []


def test_ssl_vpn_needs_tls_even_without_client_services_and_dtls_needs_ssl() -> None:
    assert _listing(_config(ssl=True, dtls=False, client_services=False)) == [("SSL", "198.18.0.1", 443)]
    assert _listing(_config(ssl=False, dtls=True, client_services=False)) == []


def test_client_services_need_an_ikev2_interface() -> None:
    assert _listing(_config(ssl=False, dtls=False, ikev2=False, client_services=True)) == []


def test_ports_come_from_the_remote_access_vpn() -> None:
    config = _config(ssl=True, dtls=True, client_services=True)
    config = dataclasses.replace(config, remote_access_vpn=dataclasses.replace(
        config.remote_access_vpn, web_access_port=8443, dtls_port=8444))
    assert plan_endpoints(config) == [Endpoint("SSL", "outside", "198.18.0.1", 8443),
                                      Endpoint("DTLS", "outside", "198.18.0.1", 8444)]


def test_profile_downloads_need_ssl_and_client_services() -> None:
    """The whitepaper: to download a profile "you must enable BOTH SSL/TLS
    transport and Client Services"; client services alone keep the TLS
    socket (and its exposure) but serve no profile; a connection profile
    with client services off has none served either."""
    from ikev2d.client_services.site import build_site

    def downloads(config) -> list[bool]:
        return [e.downloads for e in plan_endpoints(config) if e.protocol == "SSL"]

    assert downloads(_config(ssl=True, dtls=False, client_services=True)) == [True]
    assert downloads(_config(ssl=False, dtls=False, client_services=True)) == [False]
    assert downloads(_config(ssl=True, dtls=False, client_services=False)) == [False]
    config = _config(ssl=True, dtls=False, client_services=True)
    render = lambda config, name: f"<AnyConnectProfile name='{name}'/>"  # noqa: E731
    served = build_site(config, render)
    assert [p for p in served if p.endswith(".xml")] and "/" in served
    bare = build_site(config, render, downloads=False)
    assert list(bare) == ["/"] and b"needs both SSL and client services" in bare["/"].body
    off = dataclasses.replace(config, connection_profiles=tuple(
        dataclasses.replace(p, enable_client_services=False) for p in config.connection_profiles))
    assert list(build_site(off, render)) == ["/"]


# -- HTTP ---------------------------------------------------------------------

SITE = {"/": Resource("text/html; charset=utf-8", b"<html/>"),
        "/CACHE/stc/profiles/Lab Profile.xml": Resource("text/xml; charset=utf-8", b"<AnyConnectProfile/>")}


def _head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_parse_a_get_with_headers() -> None:
    req = parse_head(_head("GET /CACHE/stc/profiles/Lab%20Profile.xml?x=1 HTTP/1.1\nHost: vpn\nX-Y:  z \n\n"))
    assert (req.method, req.version, req.path) == ("GET", "HTTP/1.1", "/CACHE/stc/profiles/Lab Profile.xml")
    assert req.headers == {"host": "vpn", "x-y": "z"}


@pytest.mark.parametrize(("head", "status"), [
    ("GET / HTTP/1.1\nHost: a\n", 400),                # no empty line
    ("GET  / HTTP/1.1\nHost: a\n\n", 400),             # two spaces
    ("GET http://a/ HTTP/1.1\nHost: a\n\n", 400),      # absolute-form is for proxies
    ("GET / HTTP/2.0\nHost: a\n\n", 505),
    ("GET / FTP/1.0\nHost: a\n\n", 400),
    ("GET / HTTP/1.1\nHost : a\n\n", 400),             # space before the colon
    ("GET / HTTP/1.1\nHost: a\n folded\n\n", 400),     # obsolete line folding
    ("G{T / HTTP/1.1\nHost: a\n\n", 400),
])
def test_malformed_heads_are_refused_with_their_status(head: str, status: int) -> None:
    with pytest.raises(HttpError) as failure:
        parse_head(_head(head))
    assert failure.value.status == status


def test_oversized_heads_are_refused() -> None:
    with pytest.raises(HttpError) as failure:
        parse_head(b"GET /" + b"a" * MAX_HEAD + b" HTTP/1.1\r\n\r\n")
    assert failure.value.status == 431
    many = "GET / HTTP/1.1\n" + "".join(f"H{i}: v\n" for i in range(100)) + "\n"
    with pytest.raises(HttpError) as failure:
        parse_head(_head(many))
    assert failure.value.status == 431


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_http_error(blob: bytes) -> None:
    try:
        req = parse_head(blob + b"\r\n\r\n")
    except HttpError as exc:
        assert exc.status in (400, 431, 505)
    else:
        assert isinstance(req, Request)


def _req(method: str, target: str, version: str = "HTTP/1.1", host: bool = True) -> Request:
    return Request(method, target, version, {"host": "vpn"} if host else {})


def test_get_answers_the_document_and_unknown_paths_get_404() -> None:
    ok = respond(_req("GET", "/CACHE/stc/profiles/Lab%20Profile.xml"), SITE)
    assert (ok.status, ok.body, ok.headers["Content-Type"]) == (200, b"<AnyConnectProfile/>", "text/xml; charset=utf-8")
    assert respond(_req("GET", "/"), SITE).status == 200
    for target in ("/CACHE/stc/profiles/other.xml", "/../../etc/passwd", "/+CSCOE+/logon.html", "*"):
        assert respond(_req("GET", target), SITE).status == 404, target


def test_methods_and_host() -> None:
    post = respond(_req("POST", "/"), SITE)
    assert (post.status, post.headers["Allow"]) == (405, "GET, HEAD")
    assert respond(_req("GET", "/", host=False), SITE).status == 400
    assert respond(_req("GET", "/", version="HTTP/1.0", host=False), SITE).status == 200


def test_serialized_response_has_length_and_closes_and_head_has_no_body() -> None:
    resp = respond(_req("GET", "/"), SITE)
    data = serialize(resp, now=0)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Length: 7" in lines and "Connection: close" in lines
    assert "Date: Thu, 01 Jan 1970 00:00:00 GMT" in lines
    assert body == b"<html/>"
    assert serialize(resp, head_only=True, now=0) == head + b"\r\n\r\n"
    assert serialize(error(404), now=0).startswith(b"HTTP/1.1 404 Not Found\r\n")


# -- the site -------------------------------------------------------------------

def _fake_render(config: Config, name: str | None) -> str:
    return f'<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/"><Name>{name}</Name></AnyConnectProfile>'


def test_site_serves_one_profile_per_connection_profile_and_a_front_page_linking_them() -> None:
    config = _config(ssl=False, dtls=False, client_services=True)
    site = build_site(config, render=_fake_render)
    names = [p.name for p in config.connection_profiles]
    for name in names:
        doc = ElementTree.fromstring(site[profile_path(name)].body)
        assert doc.findtext("{http://schemas.xmlsoap.org/encoding/}Name") == name
    front = site["/"].body.decode()
    assert all(f'href="{profile_path(n)}"' in front for n in names)
    assert config.device.hostname in front
