"""The `ikev2d show` side of the control socket: blocking requests, the
answer read one capped line at a time."""

from __future__ import annotations

import contextlib
import socket
from typing import Any, BinaryIO, Generator, Iterator

from .protocol import MAX_LINE, ControlError, ControlUnreachable, check_path, decode, encode

Lines = Generator[dict[str, Any], None, None]  # closed early, it closes the socket


def request(path: str, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request, return its one-line answer; ControlError says what failed."""
    with contextlib.closing(stream(path, message, timeout)) as lines:
        return next(lines)


def stream(path: str, message: dict[str, Any], timeout: float = 10.0) -> Lines:
    """Send one request and yield its answer line by line, the first one
    checked for "ok"; the caller decides when the answer is complete.
    `timeout` bounds each wait for the daemon, not the whole answer."""
    with _connect(path, message, timeout) as sock, sock.makefile("rb") as answer:
        first = True
        while True:
            line = _read_line(path, answer, first)
            if line is None:
                return
            value = decode(line)
            if first and not value.get("ok"):
                raise ControlError(str(value.get("error", "the daemon refused the request")))
            first = False
            yield value


@contextlib.contextmanager
def _connect(path: str, message: dict[str, Any], timeout: float) -> Iterator[socket.socket]:
    check_path(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(encode(message))
        except FileNotFoundError:
            raise ControlUnreachable(f"{path} does not exist (is `ikev2d run` running?)") from None
        except ConnectionRefusedError:
            raise ControlUnreachable(f"{path}: nobody is listening (is `ikev2d run` running?)") from None
        except PermissionError:
            raise ControlUnreachable(f"{path}: permission denied (the control socket is root's)") from None
        except OSError as exc:
            raise ControlUnreachable(f"{path}: {exc.strerror or exc}") from None
        yield sock


def _read_line(path: str, answer: BinaryIO, first: bool) -> bytes | None:
    """The next line, None at a clean end; never more than MAX_LINE octets held."""
    try:
        line = answer.readline(MAX_LINE + 1)
    except OSError as exc:  # a timeout or a reset
        raise ControlError(f"{path}: {exc.strerror or exc}") from None
    if line.endswith(b"\n"):
        return line
    if len(line) > MAX_LINE:
        raise ControlError(f"answer line longer than {MAX_LINE} octets")
    if line:
        raise ControlError("the daemon closed the connection mid-line")
    if first:
        raise ControlError("the daemon closed the connection without answering")
    return None
