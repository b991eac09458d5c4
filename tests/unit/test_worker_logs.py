"""A data-plane worker's log records reach the daemon's own logging (its
handlers and format, the worker named), not the worker's stderr."""

from __future__ import annotations

import logging
import socket
from multiprocessing.connection import Connection
from types import SimpleNamespace

import pytest

from esp.userspace.worker import ToDaemon
from esp.userspace.workers import WorkerDataPlane


def _channel() -> tuple[Connection, Connection]:
    a, b = socket.socketpair()
    return Connection(a.detach()), Connection(b.detach())


def test_a_workers_record_is_logged_by_the_daemon_under_its_own_name_and_level(
        caplog: pytest.LogCaptureFixture) -> None:
    worker_end, daemon_end = _channel()
    record_logger = logging.getLogger("esp.userspace.test-worker")
    handler = ToDaemon(worker_end, 3)
    record_logger.addHandler(handler)
    record_logger.propagate = False  # in the worker, this handler is the only one
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record_logger.warning("Child SA 0x%08x: %s", 0x1234, "dropped", exc_info=True)
    finally:
        record_logger.removeHandler(handler)
        record_logger.propagate = True
    plane = WorkerDataPlane(2)
    with caplog.at_level(logging.INFO):
        plane._event(SimpleNamespace(events=daemon_end, index=3))  # type: ignore[arg-type]
    [got] = [r for r in caplog.records if r.name == "esp.userspace.test-worker"]
    assert got.levelno == logging.WARNING
    assert got.getMessage().startswith("data-plane worker 3: Child SA 0x00001234: dropped\nTraceback")
    assert "ValueError: boom" in got.getMessage()
    worker_end.close()
    daemon_end.close()


def test_with_the_daemon_gone_a_record_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    worker_end, daemon_end = _channel()
    daemon_end.close()
    handler = ToDaemon(worker_end, 1)
    handler.emit(logging.LogRecord("esp.userspace", logging.ERROR, __file__, 1, "TUN device %s lost", ("x",), None))
    assert capsys.readouterr().err == "ikev2d dataplane worker 1: TUN device x lost\n"
    worker_end.close()
