"""Destinations on loopback: what a UDP or TCP syslog server receives, and
that a dead or stalled server never blocks the sender (drops are counted)."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.destinations import FileDestination, StreamDestination, TcpDestination, UdpDestination
from ikev2d.syslog.framing import rfc3164, rfc5424

WHEN = datetime(2021, 10, 8, 7, 40, 28, tzinfo=timezone.utc)
RECORDS = [Record(750002, 5, "Local:198.18.0.1:500 Remote:198.18.0.2:500 Username:Unknown IKEv2 "
                             "Received a IKE_INIT_SA request"),
           Record(113008, 6, "AAA transaction status ACCEPT : user = alice"),
           Record(113019, 4, "Group = GP, Username = alice, IP = 198.18.0.2, Session disconnected.")]


def test_console_and_file_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    console = StreamDestination("FTDv-1", out)
    path = tmp_path / "logs" / "ftd.log"
    file = FileDestination("FTDv-1", path)
    for r in RECORDS[:2]:
        console.send(r, WHEN)
        file.send(r, WHEN)
    asyncio.run(file.aclose())
    expected = ("Oct 08 2021 07:40:28 FTDv-1 : %FTD-5-750002: Local:198.18.0.1:500 Remote:198.18.0.2:500 "
                "Username:Unknown IKEv2 Received a IKE_INIT_SA request\n"
                "Oct 08 2021 07:40:28 FTDv-1 : %FTD-6-113008: AAA transaction status ACCEPT : user = alice\n")
    assert out.getvalue() == expected
    assert path.read_text() == expected
    # appended, not truncated, on the next start
    again = FileDestination("FTDv-1", path)
    again.send(RECORDS[2], WHEN)
    asyncio.run(again.aclose())
    assert path.read_text().count("\n") == 3


def test_closed_console_counts_a_drop() -> None:
    out = io.StringIO()
    console = StreamDestination("FTDv-1", out)
    out.close()
    console.send(RECORDS[0], WHEN)
    assert (console.sent, console.dropped) == (0, 1)


def test_udp_one_datagram_per_message() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(2)
        port = server.getsockname()[1]
        for framing, frame in (("rfc5424", rfc5424), ("rfc3164", rfc3164)):
            udp = UdpDestination("FTDv-1", "127.0.0.1", port, framing)
            for r in RECORDS:
                udp.send(r, WHEN)
            got = [server.recv(65535) for _ in RECORDS]
            assert got == [frame(r, "FTDv-1", WHEN) for r in RECORDS]
            assert (udp.sent, udp.dropped) == (3, 0)
            asyncio.run(udp.aclose())


def read_octet_counted(data: bytes) -> list[bytes]:
    out = []
    while data:
        length, _, rest = data.partition(b" ")
        out.append(rest[:int(length)])
        data = rest[int(length):]
    return out


def test_tcp_octet_counted_messages_in_order() -> None:
    async def scenario() -> bytes:
        received = bytearray()
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(4096):
                received.extend(chunk)
                if received.count(b"%FTD-") == len(RECORDS):
                    done.set()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc5424")
        for r in RECORDS:
            tcp.send(r, WHEN)
        await asyncio.wait_for(done.wait(), 5)
        assert (tcp.sent, tcp.dropped) == (3, 0)
        await tcp.aclose()
        server.close()
        await server.wait_closed()
        return bytes(received)

    data = asyncio.run(scenario())
    assert read_octet_counted(data) == [rfc5424(r, "FTDv-1", WHEN) for r in RECORDS]


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_dead_server_never_blocks_and_counts_drops() -> None:
    async def scenario() -> tuple[float, TcpDestination]:
        tcp = TcpDestination("FTDv-1", "127.0.0.1", free_tcp_port(), "rfc5424", queue_size=10)
        start = time.perf_counter()
        for n in range(50):
            tcp.send(RECORDS[n % 3], WHEN)
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0.2)  # the writer tries to connect meanwhile
        await tcp.aclose()
        return elapsed, tcp

    elapsed, tcp = asyncio.run(scenario())
    assert elapsed < 0.5
    assert (tcp.sent, tcp.dropped, len(tcp.queue)) == (0, 40, 10)


def test_tcp_stalled_server_fills_the_queue_then_drops() -> None:
    """A server that accepts and never reads: the kernel buffers fill, the
    writer task waits in drain(), sends go on returning at once."""
    big = Record(113019, 4, "x" * 60000)

    async def scenario() -> tuple[float, TcpDestination, int]:
        accepted: list[asyncio.StreamWriter] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # and never read

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc5424", queue_size=20)
        slowest = 0.0
        for _ in range(400):  # 24 MB offered: far more than socket buffers hold
            start = time.perf_counter()
            tcp.send(big, WHEN)
            slowest = max(slowest, time.perf_counter() - start)
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        await tcp.aclose()
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
        return slowest, tcp, len(accepted)

    slowest, tcp, connections = asyncio.run(scenario())
    assert connections == 1
    assert slowest < 0.1
    assert tcp.dropped > 0
    assert len(tcp.queue) <= 20  # bounded
    # every message is sent, dropped, queued or (one) stuck in the writer
    assert tcp.sent + tcp.dropped + len(tcp.queue) in (399, 400)


def test_tcp_reconnects_and_delivers_the_queue() -> None:
    async def scenario() -> bytes:
        port = free_tcp_port()
        tcp = TcpDestination("FTDv-1", "127.0.0.1", port, "rfc3164")
        tcp.send(RECORDS[0], WHEN)  # server not there yet: queued
        await asyncio.sleep(0.1)
        received = bytearray()
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(4096):
                received.extend(chunk)
                if received.count(b"%FTD-") == 2:
                    done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        tcp.send(RECORDS[1], WHEN)
        await asyncio.wait_for(done.wait(), 10)  # first retry after 1 s
        await tcp.aclose()
        server.close()
        await server.wait_closed()
        return bytes(received)

    data = asyncio.run(scenario())
    assert read_octet_counted(data) == [rfc3164(r, "FTDv-1", WHEN) for r in RECORDS[:2]]


def test_tcp_close_delivers_what_is_queued() -> None:
    async def scenario() -> bytes:
        received = bytearray()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(4096):
                received.extend(chunk)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        tcp = TcpDestination("FTDv-1", "127.0.0.1", server.sockets[0].getsockname()[1], "rfc5424")
        tcp.send(RECORDS[0], WHEN)
        while not tcp.connected:
            await asyncio.sleep(0.01)
        for r in RECORDS[1:]:
            tcp.send(r, WHEN)
        await tcp.aclose()  # right away: the queue still holds two
        await asyncio.sleep(0.1)
        server.close()
        await server.wait_closed()
        return bytes(received)

    assert len(read_octet_counted(asyncio.run(scenario()))) == 3
