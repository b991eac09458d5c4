"""Wire format of the control socket: JSON objects, one per line.

Requests (one line):
    {"op": "show", "sessions": true|false} | {"op": "running-config"}
    | {"op": "logoff", "name": USER} | {"op": "logoff", "index": N}
    | {"op": "reload"} | {"op": "pool", "name": POOL}
    | {"op": "pool6", "name": POOL}

Answers: {"ok": false, "error": "why"} on one line, or {"ok": true, ...}:
one line for running-config, logoff and reload ({"ok": true, "applied":
bool, "lines": [...]}); for `show` a stream
(ikev2d/control/snapshot_stream.py): a header line, one line per session
and one per Child SA, then an end line with the count. Either side can
read it line by line, so neither holds more than one record of it.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_PATH = "/run/ikev2d/control.sock"
# The cap on one answer line. One record is bounded by what one IKE
# message can carry: the only peer-chosen texts in a session record, its
# EAP identity and its IDi, come from payloads of at most 65535 octets and
# JSON escaping grows an octet to 6 at worst (\u00XX), so 2 x 6 x 65535 =
# 786,420 octets plus the fixed fields (< 4 KiB) and names from our own
# configuration; a Child SA's selectors, which a client can make many,
# travel 1,000 a line (snapshot_stream.SELECTOR_CHUNK, < 40 KiB). The
# worst session line comes to 787,177 octets. A record that would pass the cap anyway ends
# the answer with an error line, never a longer line
# (tests/unit/test_control_scale.py builds the worst case).
MAX_LINE = 1 << 20
MAX_REQUEST = 1 << 16  # requests are a few dozen octets
# sun_path is 108 bytes on Linux, one of them the terminating NUL
MAX_PATH_BYTES = 107


class ControlError(RuntimeError):
    """The control socket could not be reached or answered badly."""


class ControlUnreachable(ControlError):
    """No daemon answers on the control socket (exit 3, not 1, in the CLI)."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ControlError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ControlError("not a JSON object")
    return value


def error(reason: str) -> dict[str, Any]:
    return {"ok": False, "error": reason}


def check_path(path: str) -> None:
    if len(path.encode()) > MAX_PATH_BYTES:
        raise ControlError(f"control socket path longer than {MAX_PATH_BYTES} bytes: {path}")
