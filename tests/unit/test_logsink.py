"""Logging to an output that cannot take it (a full disk: /dev/full answers
every write with ENOSPC): no traceback per record, no `--- Logging error
---`, no error at exit; the failure is reported once and the lost lines are
counted, and the first line that gets through again says how many."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikev2d.logsink import FdSink, SinkHandler

REPO = Path(__file__).resolve().parents[2]


def test_full_disk_reported_once_and_counted() -> None:
    reports: list[str] = []
    fd = os.open("/dev/full", os.O_WRONLY)
    sink = FdSink(fd, "ikev2d.log", report=reports.append)
    results = [sink.write_line(f"line {n}") for n in range(100)]
    sink.close()
    assert results == [False] * 100
    assert (sink.written, sink.lost) == (0, 100)
    assert reports == ["ikev2d: cannot write log lines to ikev2d.log: No space left on device (ENOSPC); ikev2d "
                       "goes on serving, and drops and counts the lines until it can write again"]


def test_lines_flow_again_with_the_count_of_those_lost(tmp_path: Path) -> None:
    reports: list[str] = []
    fd = os.open("/dev/full", os.O_WRONLY)
    sink = FdSink(fd, "stdout", report=reports.append)
    for n in range(3):
        sink.write_line(f"lost {n}")
    target = tmp_path / "out.log"
    room = os.open(target, os.O_WRONLY | os.O_CREAT)
    os.dup2(room, fd)  # space again: the same descriptor now takes writes
    os.close(room)
    assert sink.write_line("kept")
    sink.close()
    assert target.read_text().splitlines() == [
        "ikev2d: writing log lines to stdout again; 3 lines were lost (3 in all)", "kept"]
    assert len(reports) == 1 and sink.error is None


def test_handler_never_dumps_a_logging_error(capfd: pytest.CaptureFixture[str]) -> None:
    reports: list[str] = []
    sink = FdSink(os.open("/dev/full", os.O_WRONLY), "stdout", report=reports.append)
    logger = logging.getLogger("ikev2d.test.logsink")
    handler = SinkHandler(sink)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(50):
            logger.warning("record %d", n)
        logger.warning("bad format %d %d", 1)  # a programming slip, not a traceback
    finally:
        logger.removeHandler(handler)
        sink.close()
    assert sink.lost == 51 and len(reports) == 1
    err = capfd.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err


def run_logging_to_dev_full(setup: str) -> subprocess.CompletedProcess[str]:
    code = (f"import logging\n{setup}\n"
            "for n in range(200):\n    logging.getLogger('ikev2d').info('record %d', n)\n"
            "print('still here', file=__import__('sys').stderr)\n")
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE, text=True,
                              cwd=REPO, timeout=30)


def test_run_logging_on_a_full_disk_says_so_once() -> None:
    """`ikev2d run`'s logging set-up with stdout on a full file system: one
    line on stderr, the process goes on, nothing more at exit."""
    done = run_logging_to_dev_full("from ikev2d.logsink import configure_logging\nconfigure_logging(False)")
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert lines == ["ikev2d: cannot write log lines to stdout: No space left on device (ENOSPC); ikev2d goes on "
                     "serving, and drops and counts the lines until it can write again", "still here"], done.stderr


def test_basic_config_would_dump_a_traceback_per_record() -> None:
    """What the set-up above replaces (the reason for it)."""
    done = run_logging_to_dev_full("import sys\nlogging.basicConfig(level=logging.INFO, stream=sys.stdout)")
    assert done.stderr.count("--- Logging error ---") >= 100


def test_ftd_log_file_on_a_full_disk_drops_counts_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    from datetime import datetime, timezone

    from ikev2d.syslog.catalogue import Record
    from ikev2d.syslog.destinations import FileDestination

    caplog.set_level(logging.INFO, "ikev2d.syslog")
    file = FileDestination("FTDv-1", Path("/dev/full"))
    for _ in range(10):
        file.send(Record(113008, 6, "AAA transaction status ACCEPT : user = alice"),
                  datetime(2021, 10, 8, tzinfo=timezone.utc))
    asyncio.run(file.aclose())
    assert (file.sent, file.dropped) == (0, 10)
    assert [r.getMessage() for r in caplog.records] == [
        "ikev2d: cannot write log lines to log file /dev/full: No space left on device (ENOSPC); ikev2d goes on "
        "serving, and drops and counts the lines until it can write again"]
