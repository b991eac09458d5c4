"""Client-services sockets on loopback: TLS with the identity certificate,
the documents over HTTPS, every bound (time, size, connections), the DTLS
placeholder, and that stop really closes."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ikev2d.client_services import Bound, ClientServices, Endpoint
from ikev2d.client_services.http import Resource
from ikev2d.client_services.probe import probe, udp_probe
from ikev2d.client_services.server import DtlsPlaceholder, Limits
from ikev2d.client_services.tls import server_context
from ikev2d.identity import Identity

PROFILE = "/CACHE/stc/profiles/CCIElab.xml"
SITE = {"/": Resource("text/html; charset=utf-8", b"<html/>"),
        PROFILE: Resource("text/xml; charset=utf-8", b"<AnyConnectProfile/>")}
LIMITS = Limits(handshake_seconds=2.0, request_seconds=0.5, max_connections=2)


@pytest.fixture(scope="module")
def identity() -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpn.example.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("vpn.example.test"),
                                                        x509.IPAddress(IPv4Address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    return Identity(cert, [], key)


@pytest.fixture(scope="module")
def cafile(identity: Identity, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "server.pem"
    path.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


Scenario = Callable[[dict[str, Bound], ClientServices], Awaitable[None]]


def _run(identity: Identity, scenario: Scenario) -> None:
    """Serve SSL and DTLS on loopback (ephemeral ports), run `scenario`, stop."""

    async def main() -> None:
        services = ClientServices([Endpoint("SSL", "lo", "127.0.0.1", 0), Endpoint("DTLS", "lo", "127.0.0.1", 0)],
                                  SITE, server_context(identity), LIMITS)
        bound = {b.protocol: b for b in await services.start()}
        try:
            await asyncio.wait_for(scenario(bound, services), 20)
        finally:
            await services.stop()

    asyncio.run(main())


async def _tls(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx)


def test_profile_over_https_verified_against_the_identity_certificate(identity: Identity, cafile: str) -> None:
    async def scenario(bound: dict[str, Bound], _: ClientServices) -> None:
        port = bound["SSL"].port
        got = await asyncio.to_thread(probe, "127.0.0.1", port, path=PROFILE, cafile=cafile,
                                      server_name="vpn.example.test")
        assert got["handshake"], got
        assert got["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert got["peer_certificate_subject"] == "CN=vpn.example.test"
        assert (got["status"], got["body"]) == (200, "<AnyConnectProfile/>")
        assert got["headers"]["Content-Type"] == "text/xml; charset=utf-8"
        missing = await asyncio.to_thread(probe, "127.0.0.1", port, path="/CACHE/stc/profiles/nope.xml")
        assert missing["status"] == 404

    _run(identity, scenario)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_old_tls_is_refused(identity: Identity) -> None:
    async def scenario(bound: dict[str, Bound], _: ClientServices) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", bound["SSL"].port, ssl=ctx)

    _run(identity, scenario)


def test_head_gets_headers_without_body(identity: Identity) -> None:
    async def scenario(bound: dict[str, Bound], _: ClientServices) -> None:
        reader, writer = await _tls(bound["SSL"].port)
        writer.write(f"HEAD {PROFILE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = await reader.read()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Length: 20\r\n" in data and data.endswith(b"\r\n\r\n")
        writer.close()

    _run(identity, scenario)


def test_silent_client_gets_408_and_endless_head_gets_431(identity: Identity) -> None:
    async def scenario(bound: dict[str, Bound], _: ClientServices) -> None:
        reader, writer = await _tls(bound["SSL"].port)
        started = asyncio.get_running_loop().time()
        assert (await reader.read()).startswith(b"HTTP/1.1 408 Request Timeout")
        assert asyncio.get_running_loop().time() - started < LIMITS.request_seconds + 1
        writer.close()
        reader, writer = await _tls(bound["SSL"].port)
        writer.write(b"GET /" + b"a" * 20000)
        assert (await reader.read()).startswith(b"HTTP/1.1 431 ")
        writer.close()

    _run(identity, scenario)


def test_connections_beyond_the_limit_are_closed_unanswered(identity: Identity) -> None:
    async def scenario(bound: dict[str, Bound], services: ClientServices) -> None:
        held = [await _tls(bound["SSL"].port) for _ in range(LIMITS.max_connections)]
        await asyncio.sleep(0.05)
        reader, writer = await _tls(bound["SSL"].port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await reader.read() == b"", "a connection over the limit must get nothing"
        for _, w in held:
            w.close()

    _run(identity, scenario)


def test_dtls_placeholder_binds_and_answers_nothing(identity: Identity) -> None:
    async def scenario(bound: dict[str, Bound], services: ClientServices) -> None:
        got = await asyncio.to_thread(udp_probe, "127.0.0.1", bound["DTLS"].port, wait=0.3)
        assert (got["refused"], got["answered"]) == (False, False), got
        placeholder = services.services[1]
        assert isinstance(placeholder, DtlsPlaceholder) and placeholder.protocol.datagrams == 1

    _run(identity, scenario)


def test_listed_sockets_are_the_bound_ones_and_stop_closes_them(identity: Identity) -> None:
    ports: dict[str, int] = {}

    async def scenario(bound: dict[str, Bound], _: ClientServices) -> None:
        assert sorted(bound) == ["DTLS", "SSL"]
        for b in bound.values():
            assert b.address == "127.0.0.1" and b.port > 0 and 0 < b.socket_id <= 0xFFFFFFFF
            ports[b.protocol] = b.port

    _run(identity, scenario)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports["SSL"]), timeout=2).close()
    assert udp_probe("127.0.0.1", ports["DTLS"], wait=0.3)["refused"], "ICMP port unreachable once closed"


def test_nothing_planned_means_nothing_bound(identity: Identity) -> None:
    async def main() -> list[Bound]:
        services = ClientServices([], {}, None)
        try:
            return await services.start()
        finally:
            await services.stop()

    assert asyncio.run(main()) == []
    with pytest.raises(ValueError):
        ClientServices([Endpoint("SSL", "lo", "127.0.0.1", 0)], SITE, None)
