"""UDP endpoints that no peer can break: every send and receive error kind is
counted, logged at most once per interval per kind, and forgotten; the socket
keeps serving (the headend used to stop on one unroutable source)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket

import pytest

from ikev2d.udp import BindError, SocketErrors, UdpEndpoint

SEND_ERRORS = [errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EPERM, errno.ENOBUFS, errno.EAGAIN,
               errno.EMSGSIZE, errno.ECONNREFUSED]


class FlakySocket:
    """Wraps a real socket; raises the queued errors before the real call."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.send_errors: list[int] = []
        self.receive_errors: list[int] = []

    def sendto(self, data: bytes, remote: tuple[str, int]) -> int:
        if self.send_errors:
            code = self.send_errors.pop(0)
            raise OSError(code, os.strerror(code))
        return self.sock.sendto(data, remote)

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if self.receive_errors:
            code = self.receive_errors.pop(0)
            raise OSError(code, os.strerror(code))
        return self.sock.recvfrom(size)

    def __getattr__(self, name: str):
        return getattr(self.sock, name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _flaky_endpoint(received: list[bytes]) -> tuple[UdpEndpoint, FlakySocket, SocketErrors]:
    """A started endpoint on loopback whose socket raises what a test queues."""
    errors = SocketErrors()
    endpoint = UdpEndpoint("127.0.0.1", 0, lambda data, local, remote: received.append(data), errors)
    flaky = FlakySocket(endpoint.sock)
    endpoint.sock = flaky  # type: ignore[assignment]
    endpoint.start()
    return endpoint, flaky, errors


async def _until(received: list[bytes]) -> None:
    for _ in range(100):
        await asyncio.sleep(0.01)
        if received:
            return


@pytest.mark.parametrize("code", SEND_ERRORS, ids=[errno.errorcode[c] for c in SEND_ERRORS])
def test_every_send_error_kind_is_counted_and_the_socket_keeps_serving(code: int) -> None:
    async def run() -> None:
        received: list[bytes] = []
        endpoint, flaky, errors = _flaky_endpoint(received)
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        try:
            flaky.send_errors.append(code)
            assert endpoint.send(b"lost", peer.getsockname()) is False
            assert endpoint.send(b"next", peer.getsockname()) is True
            assert peer.recv(100) == b"next"
            peer.sendto(b"still reading", endpoint.local)
            await _until(received)
            assert received == [b"still reading"]
            assert errors.counts == {("send", errno.errorcode[code]): 1}
        finally:
            peer.close()
            endpoint.close()
    asyncio.run(run())


def test_receive_errors_are_counted_and_the_drain_goes_on() -> None:
    async def run() -> None:
        received: list[bytes] = []
        endpoint, flaky, errors = _flaky_endpoint(received)
        flaky.receive_errors += [errno.ECONNREFUSED, errno.EHOSTUNREACH]
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            peer.sendto(b"after two ICMP errors", endpoint.local)
            await _until(received)
            assert received == [b"after two ICMP errors"]
            assert errors.total() == 2 and errors.counts[("receive", "ECONNREFUSED")] == 1
        finally:
            peer.close()
            endpoint.close()
    asyncio.run(run())


def test_each_kind_is_logged_once_per_interval_with_the_count_it_skipped(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    errors = SocketErrors(interval=60.0, clock=clock)
    local, remote = ("198.18.0.1", 500), ("198.18.9.9", 500)
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    with caplog.at_level(logging.WARNING, logger="ikev2d.udp"):
        for _ in range(1000):
            errors.record("send", unreachable, local, remote)
        errors.record("send", OSError(errno.ENOBUFS, "No buffer space available"), local, remote)
        clock.now = 61.0
        errors.record("send", unreachable, local, remote)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "ENETUNREACH" in lines[0] and "198.18.9.9:500" in lines[0] and "keeps serving" in lines[0]
    assert "ENOBUFS" in lines[1]
    assert "999 more of this kind" in lines[2]
    assert errors.counts[("send", "ENETUNREACH")] == 1001


def test_a_busy_port_is_reported_with_its_address() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(BindError, match=f"cannot listen on UDP 127.0.0.1:{port}: Address already in use"):
            UdpEndpoint("127.0.0.1", port, lambda *a: None, SocketErrors())
    finally:
        holder.close()
