"""The `ikev2d show` side of the control socket: one blocking request."""

from __future__ import annotations

import socket
from typing import Any

from .protocol import MAX_MESSAGE, ControlError, check_path, decode, encode


def request(path: str, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request, return the answer; ControlError says what failed."""
    check_path(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(encode(message))
            data = _read_line(sock)
        except FileNotFoundError:
            raise ControlError(f"{path} does not exist (is `ikev2d run` running?)") from None
        except ConnectionRefusedError:
            raise ControlError(f"{path}: nobody is listening (is `ikev2d run` running?)") from None
        except PermissionError:
            raise ControlError(f"{path}: permission denied (the control socket is root's)") from None
        except OSError as exc:
            raise ControlError(f"{path}: {exc.strerror or exc}") from None
    answer = decode(data)
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "the daemon refused the request")))
    return answer


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
        if size > MAX_MESSAGE:
            raise ControlError("answer too large")
    if not chunks:
        raise ControlError("the daemon closed the connection without answering")
    return b"".join(chunks)
