"""A minimal client for strongSwan's VICI protocol (the socket swanctl uses).

Only what the lab needs: plain commands, and streamed commands (``list-sas``
answers with ``list-sa`` events; ``initiate``/``terminate`` stream
``control-log`` events).  Wire format, from strongSwan's
``src/libcharon/plugins/vici/README.md``: every packet is a 32-bit
big-endian length followed by a type byte, a name for named types, and a
message made of sections, key/values and lists.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Union

# Packet types
CMD_REQUEST = 0
CMD_RESPONSE = 1
CMD_UNKNOWN = 2
EVENT_REGISTER = 3
EVENT_UNREGISTER = 4
EVENT_CONFIRM = 5
EVENT_UNKNOWN = 6
EVENT = 7
_NAMED = {CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER, EVENT}

# Message element types
SECTION_START = 1
SECTION_END = 2
KEY_VALUE = 3
LIST_START = 4
LIST_ITEM = 5
LIST_END = 6

Value = Union[str, list[str], "Message"]
Message = dict[str, Value]


class ViciError(RuntimeError):
    """The daemon refused a command, or the socket broke."""


def encode_message(msg: Message) -> bytes:
    out = bytearray()
    for key, value in msg.items():
        name = key.encode()
        if isinstance(value, dict):
            out += bytes([SECTION_START, len(name)]) + name
            out += encode_message(value)
            out += bytes([SECTION_END])
        elif isinstance(value, list):
            out += bytes([LIST_START, len(name)]) + name
            for item in value:
                data = str(item).encode()
                out += bytes([LIST_ITEM]) + struct.pack("!H", len(data)) + data
            out += bytes([LIST_END])
        else:
            data = str(value).encode()
            out += bytes([KEY_VALUE, len(name)]) + name + struct.pack("!H", len(data)) + data
    return bytes(out)


def decode_message(data: bytes) -> Message:
    root: Message = {}
    stack: list[Message] = [root]
    current_list: list[str] | None = None
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ViciError("truncated VICI message")
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    def name() -> str:
        return take(take(1)[0]).decode(errors="replace")

    def value() -> str:
        (n,) = struct.unpack("!H", take(2))
        return take(n).decode(errors="replace")

    while pos < len(data):
        kind = take(1)[0]
        if kind == SECTION_START:
            section: Message = {}
            stack[-1][name()] = section
            stack.append(section)
        elif kind == SECTION_END:
            if len(stack) == 1:
                raise ViciError("unbalanced section end")
            stack.pop()
        elif kind == KEY_VALUE:
            key = name()
            stack[-1][key] = value()
        elif kind == LIST_START:
            current_list = []
            stack[-1][name()] = current_list
        elif kind == LIST_ITEM:
            if current_list is None:
                raise ViciError("list item outside a list")
            current_list.append(value())
        elif kind == LIST_END:
            current_list = None
        else:
            raise ViciError(f"unknown VICI element type {kind}")
    return root


@dataclass
class Streamed:
    """The final response of a streamed command and the events before it."""

    response: Message
    events: list[Message] = field(default_factory=list)


class Session:
    """One connection to a charon's VICI socket (a unix socket path)."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settimeout(self, timeout: float) -> None:
        self._sock.settimeout(timeout)

    def _send(self, kind: int, name: str | None = None, msg: Message | None = None) -> None:
        payload = bytes([kind])
        if name is not None:
            raw = name.encode()
            payload += bytes([len(raw)]) + raw
        if msg is not None:
            payload += encode_message(msg)
        self._sock.sendall(struct.pack("!I", len(payload)) + payload)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise ViciError("VICI socket closed")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> tuple[int, str | None, Message]:
        (length,) = struct.unpack("!I", self._recv_exact(4))
        payload = self._recv_exact(length)
        kind = payload[0]
        pos = 1
        name: str | None = None
        if kind in _NAMED:
            n = payload[pos]
            name = payload[pos + 1 : pos + 1 + n].decode()
            pos += 1 + n
        return kind, name, decode_message(payload[pos:])

    def request(self, command: str, msg: Message | None = None) -> Message:
        self._send(CMD_REQUEST, command, msg or {})
        kind, _, reply = self._recv()
        if kind == CMD_UNKNOWN:
            raise ViciError(f"unknown VICI command {command!r}")
        if kind != CMD_RESPONSE:
            raise ViciError(f"unexpected VICI packet type {kind}")
        return reply

    def _event(self, kind: int, event: str) -> None:
        self._send(kind, event)
        got, _, _ = self._recv()
        if got == EVENT_UNKNOWN:
            raise ViciError(f"unknown VICI event {event!r}")
        if got != EVENT_CONFIRM:
            raise ViciError(f"unexpected VICI packet type {got}")

    def streamed(self, command: str, event: str, msg: Message | None = None) -> Streamed:
        """Run a command that streams `event` packets before its response."""
        self._event(EVENT_REGISTER, event)
        self._send(CMD_REQUEST, command, msg or {})
        out = Streamed(response={})
        while True:
            kind, name, body = self._recv()
            if kind == EVENT and name == event:
                out.events.append(body)
            elif kind == CMD_RESPONSE:
                out.response = body
                break
            elif kind == CMD_UNKNOWN:
                raise ViciError(f"unknown VICI command {command!r}")
            else:
                raise ViciError(f"unexpected VICI packet type {kind}")
        # On an error above the session is unusable anyway: callers close it.
        self._event(EVENT_UNREGISTER, event)
        return out
