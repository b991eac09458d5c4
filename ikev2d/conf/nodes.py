"""Typed reading of a composed YAML node tree, with a line for every problem.

The loader works on `yaml.compose()` nodes rather than on constructed
Python objects because nodes keep their position: every value, key and list
item can be blamed on its line. The helpers here know YAML, not FMC.
"""

from __future__ import annotations

import difflib
from ipaddress import AddressValueError, IPv4Address, IPv6Interface
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

import yaml
from yaml.constructor import SafeConstructor

from .san import parse_host

T = TypeVar("T")

NULL_TAG = "tag:yaml.org,2002:null"
INT_TAG = "tag:yaml.org,2002:int"
BOOL_TAG = "tag:yaml.org,2002:bool"
STR_TAG = "tag:yaml.org,2002:str"


class Problem(Exception):
    """Issues (line, message) found while reading one object.

    Raised to abandon that object only: the caller records the issues and
    goes on with the next object, so one pass reports as much as it can.
    """

    def __init__(self, issues: Sequence[tuple[int, str]]) -> None:
        super().__init__(issues)
        self.issues = list(issues)

    @classmethod
    def at(cls, node: yaml.Node, message: str) -> Problem:
        return cls([(line_of(node), message)])


def line_of(node: yaml.Node) -> int:
    return mark_line(node.start_mark)


def mark_line(mark: yaml.Mark) -> int:
    """The 1-based line of a mark as editors, grep and sed count lines: by
    newline characters. YAML also breaks lines at a lone CR, NEL (U+0085) and
    U+2028/U+2029, so its own line number can point past the real one."""
    buffer = getattr(mark, "buffer", None)
    if isinstance(buffer, str) and 0 <= mark.index <= len(buffer):
        return buffer.count("\n", 0, mark.index) + 1
    return int(mark.line) + 1


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG


def suggest(word: str, choices: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` when a choice is close enough, else ``""``."""
    by_upper = {c.upper(): c for c in choices}
    close = difflib.get_close_matches(word.upper(), list(by_upper), n=1, cutoff=0.6)
    return f" (did you mean '{by_upper[close[0]]}'?)" if close else ""


def describe(node: yaml.Node) -> str:
    """What a node is, in words, for 'expected X, got Y' messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    return f"'{node.value}'"


class Fields:
    """A YAML mapping read as the settings of one object, keys checked up front.

    Unknown keys are reported before anything is missing, so a typo gives
    "unknown key 'encrytion' (did you mean 'encryption'?)" rather than
    "missing 'encryption'".
    """

    def __init__(self, node: yaml.Node, what: str, allowed: Sequence[str]) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise Problem.at(node, f"{what} must be a mapping of settings, got {describe(node)}")
        self.node = node
        self.what = what
        self._values: dict[str, yaml.Node] = {}
        self._key_lines: dict[str, int] = {}
        issues: list[tuple[int, str]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or is_null(key_node):
                issues.append((line_of(key_node), f"{what}: a key must be a plain name"))
                continue
            key = str(key_node.value)
            if key in self._values:
                issues.append(
                    (
                        line_of(key_node),
                        f"{what}: '{key}' is set twice (first at line {self._key_lines[key]})",
                    )
                )
            elif key not in allowed:
                issues.append(
                    (
                        line_of(key_node),
                        f"unknown key '{key}' in {what}{suggest(key, allowed)};"
                        f" valid keys: {', '.join(allowed)}",
                    )
                )
            else:
                self._values[key] = value_node
                self._key_lines[key] = line_of(key_node)
        if issues:
            raise Problem(issues)

    @property
    def line(self) -> int:
        return line_of(self.node)

    def optional(self, key: str, null_is_a_name: bool = False) -> yaml.Node | None:
        """The value, or None when absent or empty (`key:` alone means 'default').

        With `null_is_a_name`, a written `NULL` is a value, not emptiness:
        `esp_hash: NULL` names FTD's NULL integrity.
        """
        value = self._values.get(key)
        if value is None:
            return None
        if is_null(value) and not (null_is_a_name and value.value not in ("", "~")):
            return None
        return value

    def required(self, key: str, null_is_a_name: bool = False) -> yaml.Node:
        value = self.optional(key, null_is_a_name)
        if value is None:
            line = self._key_lines.get(key, self.line)
            raise Problem([(line, f"{self.what} needs '{key}'")])
        return value

    def key_line(self, key: str) -> int:
        return self._key_lines.get(key, self.line)

    def optional_integer(self, key: str, default: int, low: int, high: int) -> int:
        """The whole number in [low, high] at `key`, or `default` when absent or empty."""
        node = self.optional(key)
        return default if node is None else integer(node, key, low, high)



def named_fields(node: yaml.Node, kind: str, allowed: Sequence[str]) -> tuple[Fields, yaml.Node, str]:
    """The settings of a named object (`- name: ...`): its fields, the node
    of its name (where a duplicate is reported) and the name; what the
    fields report after that says which one: "IPv4 pool 'POOL1' needs ..."."""
    fields = Fields(node, kind, allowed)
    name_node = fields.required("name")
    object_name = name(name_node, f"{kind} name")
    fields.what = f"{kind} '{object_name}'"
    return fields, name_node, object_name

def text(node: yaml.Node, what: str) -> str:
    """A scalar as written: `password: 1234` stays the text '1234', not an int,
    and `integrity: [NULL]` the name NULL (YAML would read it as null)."""
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise Problem.at(node, f"{what} must be text, got {_kind(node)}")
    value = str(node.value)
    if not value.strip():
        raise Problem.at(node, f"{what} is empty")
    return value


def name(node: yaml.Node, what: str) -> str:
    """An object name: text without surrounding spaces."""
    return text(node, what).strip()


def integer(node: yaml.Node, what: str, low: int, high: int) -> int:
    value: object = None
    if isinstance(node, yaml.ScalarNode):
        if node.tag == INT_TAG:
            try:
                value = SafeConstructor().construct_yaml_int(node)
            except (ValueError, yaml.YAMLError):
                value = None
        elif node.tag == STR_TAG and node.value.strip().isdecimal():
            value = int(node.value.strip()) if len(node.value) < 20 else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Problem.at(node, f"{what} must be a whole number, got {describe(node)}")
    if not low <= value <= high:
        raise Problem.at(node, f"{what} must be between {low} and {high}, got {value}")
    return value


def boolean(node: yaml.Node, what: str) -> bool:
    if isinstance(node, yaml.ScalarNode) and node.tag == BOOL_TAG:
        return bool(SafeConstructor().construct_yaml_bool(node))
    raise Problem.at(node, f"{what} must be true or false, got {describe(node)}")


def items(node: yaml.Node | None, what: str) -> list[yaml.Node]:
    """A list's items; a single scalar counts as a one-item list, nothing as none."""
    if node is None or (is_null(node) and node.value in ("", "~")):
        return []
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.ScalarNode):
        return [node]
    raise Problem.at(node, f"{what} must be a list, got a mapping")


def ipv4(node: yaml.Node, what: str) -> IPv4Address:
    value = text(node, what).strip()
    try:
        return IPv4Address(value)
    except AddressValueError:
        hint = " (only IPv4 is supported)" if ":" in value else ""
        raise Problem.at(node, f"{what} '{value}' is not an IPv4 address{hint}") from None


def ipv6_interface(node: yaml.Node, what: str) -> IPv6Interface:
    """`2001:2::1/64` (a prefix length, as `ipv6 address` takes it; /64 when left out)."""
    value = text(node, what).strip()
    try:
        parsed = IPv6Interface(value if "/" in value else f"{value}/64")
    except ValueError:
        raise Problem.at(node, f"{what} '{value}' is not an IPv6 address (with an optional /prefix)") from None
    if parsed.ip.is_unspecified or parsed.ip.is_multicast or parsed.ip.is_link_local:
        raise Problem.at(node, f"{what} {parsed.ip} cannot serve clients: give a global unicast address")
    return parsed


def host(node: yaml.Node) -> IPv4Address | str:
    """A server to reach (`host:`): an IPv4 address, or a DNS name as text."""
    try:
        return parse_host(text(node, "host"))
    except ValueError as exc:
        raise Problem.at(node, f"host {exc}") from None


def choice(node: yaml.Node, what: str, table: Mapping[str, T]) -> T:
    """One of a table's names, case-insensitively; the error lists the valid ones."""
    value = text(node, what).strip()
    for key, result in table.items():
        if key.upper() == value.upper():
            return result
    raise Problem.at(
        node,
        f"unknown {what} '{value}'{suggest(value, table)}; valid: {', '.join(table)}",
    )


def unique(node: yaml.Node, seen: dict[object, int], value: object, what: str) -> None:
    """Record a list entry; an entry listed twice is an error naming both lines."""
    if value in seen:
        raise Problem.at(node, f"{what} is listed twice (first at line {seen[value]})")
    seen[value] = line_of(node)


def each_unique(
    entries: Sequence[yaml.Node],
    read: Callable[[yaml.Node], T],
    key: Callable[[T], object],
    what: Callable[[T], str],
) -> tuple[T, ...]:
    """Read every entry of a list on its own and report all their problems
    together; an entry with the same `key` as an earlier one is an error
    naming `what` it is and both lines."""
    result: list[T] = []
    seen: dict[object, int] = {}
    issues: list[tuple[int, str]] = []
    for entry in entries:
        try:
            value = read(entry)
            unique(entry, seen, key(value), what(value))
            result.append(value)
        except Problem as problem:
            issues.extend(problem.issues)
    if issues:
        raise Problem(issues)
    return tuple(result)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "nothing"
