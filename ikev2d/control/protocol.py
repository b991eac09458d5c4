"""Wire format of the control socket: one JSON object per line each way.

Requests:  {"op": "snapshot"} | {"op": "running-config"}
           | {"op": "logoff", "name": USER} | {"op": "logoff", "index": N}
           | {"op": "reload"} -> {"ok": true, "applied": bool, "lines": [...]}
Answers:   {"ok": true, ...} or {"ok": false, "error": "why"}
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_PATH = "/run/ikev2d/control.sock"
MAX_MESSAGE = 1 << 20  # a snapshot of many sessions still fits
# sun_path is 108 bytes on Linux, one of them the terminating NUL
MAX_PATH_BYTES = 107


class ControlError(RuntimeError):
    """The control socket could not be reached or answered badly."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ControlError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ControlError("not a JSON object")
    return value


def error(reason: str) -> dict[str, Any]:
    return {"ok": False, "error": reason}


def check_path(path: str) -> None:
    if len(path.encode()) > MAX_PATH_BYTES:
        raise ControlError(f"control socket path longer than {MAX_PATH_BYTES} bytes: {path}")
