"""Where a value of a loaded configuration is written: its file line.

The model holds values, not positions, so a judgement made on a `Config`
(check-config's compliance findings) asks this map for the line to blame.
A path walks mapping keys (str), list items by position (int) and list items
by their `name:` (Named). When the value is not written, because an FTD
default applies, the line of the nearest written ancestor is given, with
`written=False`, so the finding can say "(default)".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import yaml

from . import nodes


@dataclass(frozen=True, slots=True)
class Named:
    """A list item that is a mapping whose `key` is `value` (`name: NSA`)."""

    value: str
    key: str = "name"


Step = Union[str, int, Named]


@dataclass(frozen=True, slots=True)
class Location:
    line: int
    written: bool  # False: the value is a default; `line` is where it would go


class SourceMap:
    """Lines of a configuration file's values, found by path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root

    @classmethod
    def of_text(cls, text: str) -> SourceMap:
        try:
            return cls(yaml.compose(text, Loader=yaml.SafeLoader))
        except (yaml.YAMLError, RecursionError):
            # Only loaded files are judged, so this is not expected; an
            # empty map still answers (line 1).
            return cls(None)

    @classmethod
    def of_file(cls, path: Path) -> SourceMap:
        try:
            return cls.of_text(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return cls(None)

    def find(self, *path: Step) -> Location:
        node = self._root
        if node is None:
            return Location(1, False)
        for step in path:
            child = _child(node, step)
            if child is None:
                return Location(nodes.line_of(node), False)
            node = child
        return Location(nodes.line_of(node), True)

    def line(self, *path: Step) -> int:
        return self.find(*path).line


def _child(node: yaml.Node, step: Step) -> yaml.Node | None:
    if isinstance(step, str):
        return _value_of(node, step)
    items = _items(node)
    if isinstance(step, int):
        return items[step] if 0 <= step < len(items) else None
    for item in items:
        value = _value_of(item, step.key)
        if isinstance(value, yaml.ScalarNode) and str(value.value).strip() == step.value:
            return item
    return None


def _value_of(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            # `key:` with nothing after it means "default": not written.
            if nodes.is_null(value_node) and value_node.value in ("", "~"):
                return None
            return value_node
    return None


def _items(node: yaml.Node) -> Sequence[yaml.Node]:
    # As the loader reads lists: a single scalar is a one-item list.
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.ScalarNode) and not nodes.is_null(node):
        return [node]
    return []
