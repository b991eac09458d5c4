"""Rendering a `show` command while its sessions stream in.

A renderer takes the snapshot's head (a `Snapshot`, its sessions possibly
not there) and an iterable of sessions that it walks once, in order, and
gives its text piece by piece, or its JSON `Document`. The whole-snapshot
`render` / `as_json` functions are these over `snapshot.sessions`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TextIO

from .snapshot import SessionSnapshot, Snapshot

Sessions = Iterable[SessionSnapshot]

# what json.dumps(indent=2) ends with when the last member is [null]
_ONE_NULL_TAIL = "\n    null\n  ]\n}"
_TAIL = "\n  ]\n}"


@dataclass(frozen=True)
class Document:
    """A JSON object whose last member, `key`, is a list given item by item."""

    fields: dict[str, Any]
    key: str | None = None
    items: Iterable[dict[str, Any]] = ()

    def whole(self) -> dict[str, Any]:
        return self.fields if self.key is None else {**self.fields, self.key: list(self.items)}


@dataclass(frozen=True)
class Listing:
    """One show command: its text and its JSON from the head and sessions;
    `sessions` False when the head alone answers it (no session records)."""

    text: Callable[[Snapshot, Sessions], Iterable[str]]
    document: Callable[[Snapshot, Sessions], Document]
    sessions: bool = field(default=True)


def write_json(doc: Document, out: TextIO) -> None:
    """`print(json.dumps(doc.whole(), indent=2))`, one list item at a time."""
    if doc.key is None:
        out.write(json.dumps(doc.fields, indent=2) + "\n")
        return
    items = iter(doc.items)
    first = next(items, None)
    if first is None:
        out.write(json.dumps({**doc.fields, doc.key: []}, indent=2) + "\n")
        return
    opening = json.dumps({**doc.fields, doc.key: [None]}, indent=2)
    out.write(opening[:-len(_ONE_NULL_TAIL)])
    separator = "\n    "
    for item in _chain(first, items):
        out.write(separator + json.dumps(item, indent=2).replace("\n", "\n    "))
        separator = ",\n    "
    out.write(_TAIL + "\n")


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def lines_text(lines: Iterable[str]) -> str:
    """Lines as the renderers print them, each ended by a newline."""
    return "".join(line + "\n" for line in lines)
