"""Calls to a charon's VICI socket through strongSwan's own ``vici`` package.

The package speaks the protocol; this module adds what the lab needs on top:

* answers as ``str`` (the package returns ``bytes`` values in OrderedDicts);
* a streamed command (``initiate``, ``terminate``, ``list-sas``) returns its
  events *and* its outcome: the package raises ``CommandException`` for
  ``success = no`` after it has yielded the events, so a refused initiate
  still comes back with its control-log;
* a deadline for the whole call.  The package turns a socket timeout off
  after the first byte of each packet and only applies it per packet, so a
  charon that keeps streaming control-log lines (retransmits) but never
  answers would never time out; and on an error its generator still sends
  the unregister and waits for the confirmation.  A timer shuts the socket
  down at the deadline instead: every blocked read and write in the package
  then fails at once and :class:`ViciTimeout` is raised with the events
  seen so far.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import vici
from vici.exception import CommandException

Value = Union[str, list[str], "Message"]
Message = dict[str, Value]

# What the package yields for a streamed command: one message per event.
Events = Iterable[Mapping[str, Any]]
StreamCall = Callable[[Any], Events]  # given a vici.Session


class ViciError(RuntimeError):
    """The socket or the protocol failed (not a command that said no)."""


class ViciTimeout(ViciError):
    """A call got no final answer before its deadline."""

    def __init__(self, command: str, deadline: float, events: list[Message]) -> None:
        super().__init__(f"VICI {command}: no answer within {deadline:g}s ({len(events)} events before)")
        self.command = command
        self.deadline = deadline
        self.events = events


def decode(raw: Mapping[str, Any]) -> Message:
    """bytes values (and lists of them, and sections) as str, recursively."""
    out: Message = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            out[key] = decode(value)
        elif isinstance(value, list):
            out[key] = [_text(v) for v in value]
        else:
            out[key] = _text(value)
    return out


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Streamed:
    """Outcome of a streamed command and the events it streamed before it."""

    ok: bool
    errmsg: str = ""
    events: list[Message] = field(default_factory=list)


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _command_errmsg(exc: CommandException) -> str:
    return str(exc).removeprefix("Command failed: ")


class _Deadline:
    """Shuts `sock` down after `seconds` unless cancelled first."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def streamed(path: Path, command: str, call: StreamCall, deadline: float) -> Streamed:
    """Run `call(session)` (e.g. ``lambda s: s.initiate({...})``) to its end.

    `command` only names the call in errors.  Raises :class:`ViciTimeout`
    past `deadline` seconds, :class:`ViciError` if the socket or the
    protocol fails; a command that answers ``success = no`` is returned
    with ``ok`` False and its ``errmsg``.
    """
    sock = _connect(path)
    events: list[Message] = []
    try:
        with _Deadline(sock, deadline) as timer:
            try:
                for event in call(vici.Session(sock)):
                    events.append(decode(event))
            except CommandException as exc:
                return Streamed(False, _command_errmsg(exc), events)
            except KeyError:  # the package's CommandException wants an errmsg
                return Streamed(False, "(failed without errmsg)", events)
            except Exception as exc:
                if timer.fired.is_set():
                    raise ViciTimeout(command, deadline, events) from exc
                raise ViciError(f"VICI {command}: {exc!r}") from exc
    finally:
        sock.close()
    return Streamed(True, "", events)


def request(path: Path, command: str, message: Message | None = None, deadline: float = 10.0) -> Message:
    """A plain command (``version``, ``stats``...); its answer as str.

    Raises :class:`ViciError` when the daemon says ``success = no``, the
    socket fails, or no answer comes within `deadline` seconds.
    """
    sock = _connect(path)
    try:
        with _Deadline(sock, deadline) as timer:
            try:
                return decode(vici.Session(sock).request(command, message))
            except Exception as exc:
                if timer.fired.is_set():
                    raise ViciTimeout(command, deadline, []) from exc
                raise ViciError(f"VICI {command}: {exc!r}") from exc
    finally:
        sock.close()
