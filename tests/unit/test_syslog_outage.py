"""A syslog server that is down, refuses TCP or goes away mid-stream: the
destination reports it once (then at most every minute), reconnects with
back-off, drops and counts what does not fit its bounded queue, and never
raises into the caller."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import datetime, timezone

import pytest

from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.destinations import Backoff, TcpDestination, UdpDestination
from ikev2d.syslog.outage import Outage

WHEN = datetime(2021, 10, 8, 7, 40, 28, tzinfo=timezone.utc)
RECORD = Record(113008, 6, "AAA transaction status ACCEPT : user = alice")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ikev2d.syslog" and r.levelno >= logging.WARNING]


def test_outage_reported_once_then_reminded_then_ended(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ikev2d.syslog")
    clock = FakeClock()
    outage = Outage("syslog server tcp/198.19.0.10:1470", "reconnecting", clock)
    for dropped in range(1, 50):  # fifty failures in half a minute: one line
        outage.failed("cannot connect: Connection refused", dropped)
        clock.now += 0.5
    assert warnings(caplog) == ["syslog server tcp/198.19.0.10:1470: cannot connect: Connection refused; "
                                "reconnecting"]
    clock.now = 161.0
    outage.failed("cannot connect: Connection refused", 80)
    assert warnings(caplog)[-1] == ("syslog server tcp/198.19.0.10:1470 still failing for 61 s: cannot connect: "
                                    "Connection refused; 79 messages dropped meanwhile")
    clock.now = 170.0
    outage.delivered(90)
    assert caplog.records[-1].getMessage() == ("syslog server tcp/198.19.0.10:1470 delivering again after 70 s; "
                                               "89 messages dropped meanwhile")
    assert not outage.down
    outage.delivered(90)  # nothing more to say
    assert len(caplog.records) == 3


def test_outage_with_quiet_period_waits_before_ending() -> None:
    clock = FakeClock()
    outage = Outage("syslog server udp/x:514", "lost", clock)
    outage.failed("Connection refused", 1)
    clock.now += 5
    outage.delivered(1, quiet=10)
    assert outage.down
    clock.now += 6
    outage.delivered(1, quiet=10)
    assert not outage.down


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    b = Backoff(1.0, 30.0)
    assert [b.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    b.reset()
    assert b.next() == 1


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_to_a_closed_port_reports_the_icmp_error_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ikev2d.syslog")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends
    udp = UdpDestination("FTDv-1", "127.0.0.1", port, "rfc5424")
    for _ in range(20):
        udp.send(RECORD, WHEN)
        time.sleep(0.005)  # the ICMP error comes back between sends
    asyncio.run(udp.aclose())
    assert udp.dropped >= 5, (udp.sent, udp.dropped)
    assert udp.sent + udp.dropped == 20
    assert warnings(caplog) == [f"syslog server udp/127.0.0.1:{port}: Connection refused (ICMP error); "
                                "messages to it are lost and counted; ikev2d goes on sending"]


async def _collect(received: list[bytes], closes_after: int | None) -> asyncio.Server:
    """A TCP syslog server on loopback; with `closes_after`, its first
    connection closes after that many bytes (a server going away)."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        while chunk := await reader.read(4096):
            received.append(chunk)
            if first and closes_after is not None and sum(map(len, received)) >= closes_after:
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_tcp_refused_at_start_backs_off_then_delivers_what_waited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ikev2d.syslog")
    delays: list[float] = []

    async def scenario() -> tuple[TcpDestination, bytes]:
        received: list[bytes] = []
        server = await _collect(received, None)
        port = server.sockets[0].getsockname()[1]
        refusals = 4

        async def connect(host: str, p: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            nonlocal refusals
            if refusals:
                refusals -= 1
                raise ConnectionRefusedError(111, "Connection refused")
            return await asyncio.open_connection(host, port)

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            await asyncio.sleep(0)

        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc5424", queue_size=5, connect=connect, sleep=sleep)
        for _ in range(8):  # 5 wait, 3 dropped
            tcp.send(RECORD, WHEN)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if tcp.sent == 5:
                break
        await tcp.aclose()
        server.close()
        await server.wait_closed()
        return tcp, b"".join(received)

    tcp, data = asyncio.run(scenario())
    assert delays == [1, 2, 4, 8]
    assert (tcp.sent, tcp.dropped, tcp.connections) == (5, 3, 1)
    assert data.count(b"%FTD-6-113008") == 5
    assert warnings(caplog) == ["syslog server tcp/127.0.0.1:%d: cannot connect: Connection refused; reconnecting "
                                "with back-off (up to 30 s); meanwhile up to 5 messages wait and the rest are "
                                "dropped and counted" % tcp.port]
    assert "delivering again" in caplog.records[-1].getMessage()


def test_tcp_server_going_away_mid_stream_is_noticed_and_reconnected(caplog: pytest.LogCaptureFixture) -> None:
    """The server closes its end: the writer notices at once (EOF), not by
    losing the next message into a dead connection, and reconnects."""
    caplog.set_level(logging.INFO, "ikev2d.syslog")

    async def scenario() -> tuple[TcpDestination, bytes]:
        received: list[bytes] = []
        server = await _collect(received, closes_after=1)

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(0)

        port = server.sockets[0].getsockname()[1]
        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc5424", sleep=sleep)
        tcp.send(RECORD, WHEN)
        for _ in range(200):  # the server reads it, closes; the writer reconnects
            await asyncio.sleep(0.01)
            if tcp.connections == 2 and tcp.connected:
                break
        tcp.send(RECORD, WHEN)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if b"".join(received).count(b"%FTD-") == 2:
                break
        await tcp.aclose()
        server.close()
        await server.wait_closed()
        return tcp, b"".join(received)

    tcp, data = asyncio.run(scenario())
    assert data.count(b"%FTD-6-113008") == 2
    assert (tcp.sent, tcp.dropped, tcp.connections) == (2, 0, 2)
    assert any("connection lost: the server closed the connection" in w for w in warnings(caplog))


def test_tcp_queue_bounds_memory_while_down() -> None:
    async def scenario() -> TcpDestination:
        async def never(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            raise ConnectionRefusedError(111, "Connection refused")

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(0.001)

        tcp = TcpDestination("FTDv-1", "127.0.0.1", free_tcp_port(), "rfc5424", queue_size=100, connect=never,
                             sleep=sleep)
        for _ in range(10_000):
            tcp.send(RECORD, WHEN)
            if _ % 1000 == 0:
                await asyncio.sleep(0.002)
        await tcp.aclose()
        return tcp

    tcp = asyncio.run(scenario())
    assert len(tcp.queue) == 100 and tcp.dropped == 9_900 and tcp.sent == 0
    assert tcp.outage.failures > 1


def test_tcp_server_that_accepts_and_closes_at_once_keeps_the_back_off_growing() -> None:
    """No spin and no pair of lines a second: short-lived connections do not
    reset the back-off."""
    delays: list[float] = []

    async def scenario() -> TcpDestination:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            await asyncio.sleep(0.01)

        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc5424", sleep=sleep)
        tcp.send(RECORD, WHEN)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(delays) >= 5:
                break
        await tcp.aclose()
        server.close()
        await server.wait_closed()
        return tcp

    tcp = asyncio.run(scenario())
    assert delays[:5] == [1, 2, 4, 8, 16] and tcp.connections >= 5
