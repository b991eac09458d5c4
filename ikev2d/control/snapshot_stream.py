"""The `show` answer as a stream of lines, and its reassembly:

    {"ok": true, "snapshot": {hostname, taken_epoch, ..., listeners, totals}}
    {"session": {every SessionSnapshot field but children}}
    {"child": {a ChildSnapshot, its first SELECTOR_CHUNK selectors a side}}
    {"selectors": {"local": [...], "remote": [...]}}   more of that child's
    {"end": N}                                          N sessions were sent

Each line holds one record, so its size does not grow with the number of
sessions (ikev2d/control/protocol.py bounds a record). Children and their
selectors go on lines of their own because a client that rekeys without
deleting, or asks for thousands of selectors, could otherwise make one
session's line as long as it liked. Without the end line the answer was
cut short.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Iterator, TypeVar

from ..show.snapshot import ChildSnapshot, SessionSnapshot, Snapshot, fields_of, from_dict, to_dict
from .protocol import ControlError

SELECTOR_CHUNK = 1000
_T = TypeVar("_T", Snapshot, SessionSnapshot)


def answer(head: Snapshot, sessions: Iterable[SessionSnapshot]) -> Iterator[dict[str, Any]]:
    """The lines of a `show` answer, one session at a time."""
    summary = to_dict(head)
    summary.pop("sessions")
    yield {"ok": True, "snapshot": summary}
    count = 0
    for s in sessions:
        yield {"session": fields_of(s, leave_out="children")}
        for child in s.children:
            yield from _child(child)
        count += 1
    yield {"end": count}


def _child(c: ChildSnapshot) -> Iterator[dict[str, Any]]:
    local, remote = c.local_selectors, c.remote_selectors
    first = fields_of(c)
    first["local_selectors"], first["remote_selectors"] = local[:SELECTOR_CHUNK], remote[:SELECTOR_CHUNK]
    yield {"child": first}
    for i in range(SELECTOR_CHUNK, max(len(local), len(remote)), SELECTOR_CHUNK):
        yield {"selectors": {"local": local[i:i + SELECTOR_CHUNK], "remote": remote[i:i + SELECTOR_CHUNK]}}


class SnapshotReader:
    """Reads a `show` answer from its decoded lines: `head` at once (a
    Snapshot without sessions), then `sessions()` one by one as they come,
    so a listing of any length is rendered in the memory of one session."""

    def __init__(self, lines: Iterator[dict[str, Any]]) -> None:
        self._lines = lines
        first = next(lines, None)
        if first is None or not isinstance(first.get("snapshot"), dict):
            raise ControlError("the answer has no snapshot header")
        self.head = _build(Snapshot, {**first["snapshot"], "sessions": []})

    def whole(self) -> Snapshot:
        """The head with every session (its memory grows with them: tests, tools)."""
        return dataclasses.replace(self.head, sessions=tuple(self.sessions()))

    def sessions(self) -> Iterator[SessionSnapshot]:
        session: dict[str, Any] | None = None
        children: list[dict[str, Any]] = []
        count = 0
        for line in self._lines:
            if "session" in line:
                if session is not None:
                    yield _session(session, children)
                    count += 1
                session, children = _object(line, "session"), []
            elif "child" in line and session is not None:
                children.append(_object(line, "child"))
            elif "selectors" in line and children:
                _extend(children[-1], _object(line, "selectors"))
            elif "end" in line:
                if session is not None:
                    yield _session(session, children)
                    count += 1
                if line["end"] != count:
                    raise ControlError(f"the answer announced {line['end']!r} sessions, {count} came")
                return
            elif line.get("ok") is False:
                raise ControlError(str(line.get("error", "the daemon failed mid-answer")))
            else:
                raise ControlError(f"unexpected line in the answer: {sorted(line)[:3]}")
        raise ControlError("the answer was cut short")


def _object(line: dict[str, Any], key: str) -> dict[str, Any]:
    value = line[key]
    if not isinstance(value, dict):
        raise ControlError(f"bad {key} record: not an object")
    return value


def _extend(child: dict[str, Any], more: dict[str, Any]) -> None:
    for side in ("local", "remote"):
        extra, held = more.get(side, []), child.get(f"{side}_selectors")
        if not isinstance(extra, list) or not isinstance(held, list):
            raise ControlError("bad selectors record")
        held.extend(extra)


def _session(data: dict[str, Any], children: list[dict[str, Any]]) -> SessionSnapshot:
    return _build(SessionSnapshot, {**data, "children": children})


def _build(cls: type[_T], data: dict[str, Any]) -> _T:
    try:
        return from_dict(cls, data)
    except TypeError as exc:
        raise ControlError(f"bad record from the daemon: {exc}") from None
