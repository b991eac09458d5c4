"""The lab's daemons (ikev2d, charon, FreeRADIUS, rsyslogd, tcpdump) run the
same way: in the foreground in a namespace, in a session of their own so
that `lab.netns.stop_process` stops exactly them by PID, their output in a
file, and a start that waits until the daemon is ready or says why not.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lab.netns import stop_process


class Daemon:
    """A lab daemon held by the Popen of its process, `proc` (None when it
    was never started or has been stopped)."""

    proc: subprocess.Popen[bytes] | None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stop_process(self) -> int | None:
        """Stop the process by PID (SIGTERM, then SIGKILL) and forget it;
        its exit status (None when there was none to stop)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return stop_process(proc)


class NotReady(Exception):
    """The daemon exited, or the wait timed out, before it was ready: the
    message says which ("exited with 1", "not ready after 10.0s")."""


def spawn(
    argv: Sequence[str],
    output: Path,
    *,
    stdout: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` with stdin closed and its stdout and stderr in `output`
    (only stderr when not `stdout`: stdout is dropped)."""
    with open(output, "wb") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out if stdout else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if stdout else out,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )


def poll_until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.2) -> bool:
    """Whether `condition()` came to hold within `timeout` seconds, asked
    every `step` seconds (and once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    *,
    waiting_for: str = "not ready",
    interval: float = 0.1,
) -> None:
    """Poll until `ready()` holds. Raises NotReady when `proc` exits first
    ("exited with CODE") or at the timeout ("WAITING_FOR after Ts"); the
    caller stops the process and reports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NotReady(f"exited with {proc.returncode}")
        if ready():
            return
        time.sleep(interval)
    raise NotReady(f"{waiting_for} after {timeout}s")


def read_log(path: Path) -> str:
    """A daemon's log so far; "" before the daemon has written it."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def last_lines(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])
