"""Log lines to an output that may fail: stdout on a full disk, a log file
whose file system is full, a closed pipe.

Each line is one write(2), unbuffered: a line that cannot be written is
lost and counted, and nothing is kept in a buffer to be retried, to grow,
or to fail again at exit. The first failure is reported once, through
`report` (stderr for stdout, the log for a file), and the first line
written after it says how many were lost. Nothing here ever raises.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sys
from typing import Callable, Protocol, TextIO

Report = Callable[[str], None]


class LineWriter(Protocol):
    written: int
    lost: int

    def write_line(self, text: str) -> bool: ...


def to_stderr(text: str) -> None:
    try:
        os.write(2, (text + "\n").encode("utf-8", "replace"))
    except OSError:  # stderr gone too: nothing is left to say it on
        pass


class FdSink:
    """Whole lines to file descriptor `fd`, named `name` in reports."""

    def __init__(self, fd: int, name: str, report: Report = to_stderr) -> None:
        self.fd = fd
        self.name = name
        self.report = report
        self.written = self.lost = 0
        self._lost_reported = 0  # `lost` when the failure was reported
        self.error: OSError | None = None  # the failure under way

    def write_line(self, text: str) -> bool:
        if self.error is not None:  # failing so far: first say what was lost, if it goes through now
            lost = self.lost - self._lost_reported + 1
            if self._write(f"ikev2d: writing log lines to {self.name} again; {lost} lines were lost "
                           f"({self.lost} in all)") is not None:
                self.lost += 1
                return False
            self.error = None
        error = self._write(text)
        if error is not None:
            self._failed(error)
            return False
        self.written += 1
        return True

    def _write(self, text: str) -> OSError | None:
        data = (text + "\n").encode("utf-8", "replace")
        try:
            while data:  # a short write (the disk filled mid-line): the rest, or the error
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            return exc
        return None

    def _failed(self, exc: OSError) -> None:
        self.lost += 1
        if self.error is None:
            self.error = exc
            self._lost_reported = self.lost
            self.report(f"ikev2d: cannot write log lines to {self.name}: {_why(exc)}; "
                        "ikev2d goes on serving, and drops and counts the lines until it can write again")

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class TextSink:
    """Lines to a text stream (a test's StringIO, or a caller's stream)."""

    def __init__(self, stream: TextIO, name: str = "stream", report: Report = to_stderr) -> None:
        self.stream = stream
        self.name = name
        self.report = report
        self.written = self.lost = 0
        self._failing = False

    def write_line(self, text: str) -> bool:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError) as exc:  # full, or closed
            self.lost += 1
            if not self._failing:
                self._failing = True
                self.report(f"ikev2d: cannot write log lines to {self.name}: {exc}; dropping and counting them")
            return False
        self.written += 1
        self._failing = False
        return True


def _why(exc: OSError) -> str:
    if exc.errno is not None:
        return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc)


_stdout: FdSink | None = None


def stdout_sink() -> LineWriter:
    """The process's stdout as a sink, one for every writer, so a full disk
    is reported once and the count is the whole loss."""
    global _stdout
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # replaced by a test's capture
        return TextSink(sys.stdout, "stdout")
    if _stdout is None or _stdout.fd != fd:
        try:
            sys.stdout.flush()  # what print() buffered goes first
        except (OSError, ValueError):
            pass
        _stdout = FdSink(fd, "stdout")
    return _stdout


class SinkHandler(logging.Handler):
    """A logging handler that never prints `--- Logging error ---`: a line
    the output refuses is counted by the sink, a record that cannot be
    formatted becomes a line saying so."""

    def __init__(self, sink: LineWriter) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a bad format string in a log call: say where, not a traceback
            text = f"unformattable log record from {record.name} ({record.pathname}:{record.lineno}): {exc!r}"
        self.sink.write_line(text)


def configure_logging(verbose: bool) -> LineWriter:
    """`ikev2d run`'s logging: every record to stdout, line by line (in
    place of logging.basicConfig, whose handler prints a traceback for each
    record a full disk refuses)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in root.handlers:
        if isinstance(handler, SinkHandler):
            return handler.sink
    sink = stdout_sink()
    ours = SinkHandler(sink)
    ours.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(ours)
    return sink
