"""The asyncio RADIUS client against small RADIUS servers on 127.0.0.1
(pyrad's packet classes on the server side): retransmission, failover,
dead servers, State stickiness, accounting, and nothing secret logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from pyrad import packet as rp

from ikev2d.aaa.radius.client import RadiusClients, RadiusGroupClient
from ikev2d.aaa.radius.dictionary import radius_dictionary
from ikev2d.aaa.radius.messages import (
    AccessAnswer,
    AccessCode,
    AccessRequest,
    AccountingRecord,
    AcctStatus,
    NasContext,
    RadiusUnreachable,
    TrafficCounters,
)
from ikev2d.conf.model import RadiusServer, RadiusServerGroup

SECRET = "Unit-Radius-Secret-3"
PASSWORD = "Unit-Bob-Pw-5"
NAS = NasContext("198.18.0.1", "198.18.0.2")
TIMEOUT = 0.2

Handler = Callable[[rp.Packet], rp.Packet | None]


class FakeServer(asyncio.DatagramProtocol):
    """Answers with `handler(request)`; None means silence."""

    def __init__(self, handler: Handler | None, secret: str = SECRET) -> None:
        self.handler = handler
        self.secret = secret.encode()
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        kind = rp.AcctPacket if data[0] == rp.AccountingRequest else rp.AuthPacket
        request = kind(packet=data, secret=self.secret, dict=radius_dictionary())
        reply = self.handler(request) if self.handler else None
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply.ReplyPacket(), addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]


async def serve(handler: Handler | None, secret: str = SECRET) -> FakeServer:
    _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: FakeServer(handler, secret), local_addr=("127.0.0.1", 0))
    return protocol


def pap_checker(request: rp.Packet) -> rp.Packet:
    if request.code == rp.AccountingRequest:
        return request.CreateReply()
    reply = request.CreateReply()
    ok = request.PwDecrypt(request["User-Password"][0]) == PASSWORD
    reply.code = rp.AccessAccept if ok else rp.AccessReject
    return reply


def group(*servers: FakeServer, retries: int = 1) -> RadiusServerGroup:
    return RadiusServerGroup("ISE", tuple(
        RadiusServer(host=IPv4Address("127.0.0.1"), authentication_port=s.port, accounting_port=s.port,
                     secret=SECRET, timeout_seconds=TIMEOUT, retries=retries)  # type: ignore[arg-type]
        for s in servers))


def pap(password: str = PASSWORD, server: int | None = None) -> AccessRequest:
    return AccessRequest("ISE", "bob", NAS, password=password, server=server)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_pap_accept_and_reject() -> None:
    async def main() -> tuple[object, object]:
        good = await serve(pap_checker)
        client = RadiusGroupClient(group(good))
        try:
            return await client.access(pap()), await client.access(pap("wrong"))
        finally:
            await client.close()

    accepted, rejected = run(main())
    assert isinstance(accepted, AccessAnswer) and accepted.code is AccessCode.ACCEPT
    assert accepted.server == 0 and accepted.server_host == "127.0.0.1"
    assert isinstance(rejected, AccessAnswer) and rejected.code is AccessCode.REJECT


def test_silent_first_server_is_retried_then_the_second_answers() -> None:
    """`retries` retransmissions of the same packet (RFC 2865 §2.5: same
    Identifier and Request Authenticator), then the next server."""
    async def main() -> tuple[object, FakeServer, FakeServer, float]:
        silent, good = await serve(None), await serve(pap_checker)
        client = RadiusGroupClient(group(silent, good, retries=1))
        started = time.monotonic()
        try:
            result = await client.access(pap())
        finally:
            await client.close()
        return result, silent, good, time.monotonic() - started

    result, silent, good, took = run(main())
    assert isinstance(result, AccessAnswer) and result.code is AccessCode.ACCEPT and result.server == 1
    assert len(silent.received) == 2 and silent.received[0] == silent.received[1]
    assert len(good.received) == 1
    assert took >= 2 * TIMEOUT * 0.9


def test_a_reply_signed_with_another_secret_counts_as_no_answer() -> None:
    async def main() -> tuple[object, FakeServer]:
        impostor, good = await serve(pap_checker, secret="not-our-secret"), await serve(pap_checker)
        client = RadiusGroupClient(group(impostor, good, retries=0))
        try:
            return await client.access(pap()), impostor
        finally:
            await client.close()

    result, impostor = run(main())
    assert len(impostor.received) == 1
    assert isinstance(result, AccessAnswer) and result.server == 1


def test_a_request_with_state_sticks_to_its_server() -> None:
    """The State attribute belongs to one server (RFC 2865 §5.24): no failover."""
    async def main() -> tuple[object, FakeServer]:
        silent, good = await serve(None), await serve(pap_checker)
        client = RadiusGroupClient(group(silent, good, retries=0))
        try:
            return await client.access(pap(server=0)), good
        finally:
            await client.close()

    result, good = run(main())
    assert isinstance(result, RadiusUnreachable) and "no answer after 1 transmission" in result.reason
    assert good.received == []


def test_dead_server_is_skipped_until_its_dead_time_is_over() -> None:
    async def main() -> tuple[list[float], FakeServer]:
        silent, good = await serve(None), await serve(pap_checker)
        now = [0.0]
        client = RadiusGroupClient(group(silent, good, retries=0), max_failed_attempts=1, dead_time=60.0,
                                   clock=lambda: now[0])
        took = []
        try:
            for at in (0.0, 30.0, 61.0):
                now[0] = at
                started = time.monotonic()
                result = await client.access(pap())
                assert isinstance(result, AccessAnswer) and result.server == 1
                took.append(time.monotonic() - started)
        finally:
            await client.close()
        return took, silent

    took, silent = run(main())
    assert len(silent.received) == 2, "asked at 0 s, skipped at 30 s, asked again at 61 s"
    assert took[1] < TIMEOUT, "a dead server costs no timeout"
    assert took[0] >= TIMEOUT * 0.9 and took[2] >= TIMEOUT * 0.9


def test_no_server_answers() -> None:
    async def main() -> object:
        a, b = await serve(None), await serve(None)
        client = RadiusGroupClient(group(a, b, retries=0))
        try:
            return await client.access(pap())
        finally:
            await client.close()

    result = run(main())
    assert isinstance(result, RadiusUnreachable) and result.group == "ISE"
    assert result.reason.count("no answer after 1 transmission") == 2


def test_accounting_acknowledged_by_the_second_server() -> None:
    record = AccountingRecord(group="ISE", status=AcctStatus.STOP, session_id="00006000", username="bob",
                              nas=NAS, framed_ip=IPv4Address("198.19.0.200"), session_time=12)
    counters = TrafficCounters(octets_in=1000, octets_out=2000, packets_in=10, packets_out=20)

    async def main() -> tuple[object, FakeServer]:
        silent, good = await serve(None), await serve(pap_checker)
        clients = RadiusClients({"ISE": group(silent, good, retries=0)})
        try:
            return await clients.account(record, counters), good
        finally:
            await clients.close()

    host, good = run(main())
    assert host == "127.0.0.1"
    (raw,) = good.received
    seen = rp.AcctPacket(packet=raw, secret=SECRET.encode(), dict=radius_dictionary())
    assert seen.VerifyAcctRequest()
    assert seen["Acct-Status-Type"] == [2] and seen["Acct-Session-Id"] == ["00006000"]
    assert seen["Acct-Input-Octets"] == [1000] and seen["Acct-Output-Packets"] == [20]
    assert seen["Framed-IP-Address"] == ["198.19.0.200"]


def test_unknown_group() -> None:
    async def main() -> tuple[object, object]:
        clients = RadiusClients({})
        record = AccountingRecord(group="nope", status=AcctStatus.START, session_id="1", username="u", nas=NAS)
        return await clients.access(AccessRequest("nope", "u", NAS, password="p")), await clients.account(record,
                                                                                                          None)

    unreachable, host = run(main())
    assert isinstance(unreachable, RadiusUnreachable) and host is None


def test_nothing_secret_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        silent, good = await serve(None), await serve(pap_checker)
        client = RadiusGroupClient(group(silent, good, retries=0), max_failed_attempts=1)
        try:
            await client.access(pap())
            await client.access(pap("Another-Secret-Pw-8"))
        finally:
            await client.close()

    run(main())
    text = caplog.text
    assert "no answer after 1 transmission" in text and "marked FAILED" in text
    for secret in (SECRET, PASSWORD, "Another-Secret-Pw-8"):
        assert secret not in text


def test_a_stopped_server_is_retried_as_configured_and_reported_once_with_the_icmp_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    """FreeRADIUS stopped: each transmission draws an ICMP port unreachable.
    The request is still retransmitted as configured (a restart may be
    under way), and the one line that reports it unanswered says why; no
    line per ICMP error."""
    caplog.set_level(logging.DEBUG)
    record = AccountingRecord(group="ISE", status=AcctStatus.STOP, session_id="00006000", username="bob", nas=NAS)

    async def main() -> tuple[object, str | None, FakeServer]:
        stopped = await serve(None)
        config = group(stopped, retries=2)
        stopped.transport.close()  # type: ignore[union-attr]
        clients = RadiusClients({"ISE": config})
        try:
            return await clients.access(pap()), await clients.account(record, None), stopped
        finally:
            await clients.close()

    result, host, _ = run(main())
    assert isinstance(result, RadiusUnreachable) and host is None
    assert result.reason.endswith("no answer after 3 transmissions (ICMP: Connection refused)"), result.reason
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in messages if "Error received" in m], messages
    assert messages[-1] == ("RADIUS accounting Stop for session 00006000 (user bob) not delivered: no server of "
                            "group ISE answered; the record is dropped")
