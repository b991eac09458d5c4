"""Whatever the file holds, the loader answers with a Config or a ConfigError
naming a line of that file: never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikev2d.conf import Config, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "ikev2d.yaml"
DEFAULT_TEXT = DEFAULT.read_text()
DEFAULT_LINES = DEFAULT_TEXT.splitlines()

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that reach the interesting branches: wrong types, YAML's special
# scalars, edge numbers, near-miss names, flow collections, broken syntax.
TOKENS = [
    "", "~", "null", "NULL", "yes", "no", "true", "0", "-1", "65536", "1e400", "0x10",
    "99999999999999999999999", "1.5", "[]", "{}", "[1, [2]]", "{a: b}", "'quoted'",
    '"\\x00"', "AES-256", "AES256", "AES-GCM-256", "SHA512", "SHA-512", "NULL", "15", "24",
    "198.19.0.250-198.19.0.200", "198.19.0.200-198.19.1.5", "0.0.0.255", "255.255.255.0",
    "2001:db8::1", "198.18.0.1/33", "VPN-Pool", "NSA", "CCIElab", "GP-CCIElab",
    "VPN-Identity", "files", "rsa-1024", "CN=", "C=USA", "&a [*a]", "*undefined",
    "!!python/object:os.system",
    "[", "]", "{", ":", "- x", "? x", "|", ">", "%", "@", "`", "\t", "<<: {a: 1}",
]


def mutate_line(line: str, value: str) -> str:
    """Replace the value after `key:` (or a list item's value) with another."""
    for marker in (": ", "- "):
        index = line.find(marker)
        if index >= 0:
            return line[: index + len(marker)] + value
    return line + value


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    lines = list(DEFAULT_LINES)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "value", "duplicate", "indent", "insert"]))
        if action == "delete":
            del lines[index]
        elif action == "value":
            value = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)))
            lines[index] = mutate_line(lines[index], value)
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "indent":
            lines[index] = " " * draw(st.integers(0, 6)) + lines[index].lstrip()
        else:
            lines.insert(index, draw(st.text(max_size=30)))
    return "\n".join(lines) + "\n"


def check(text: str) -> None:
    path = Path("/etc/ikev2d/fuzz.yaml")
    try:
        result = parse_config(text, path)
    except ConfigError as error:
        last_line = text.count("\n") + 2
        for issue in error.issues:
            assert issue.file == str(path)
            assert 1 <= issue.line <= last_line, issue
            assert issue.problem
        assert str(error).startswith(f"{path}:")
    else:
        assert isinstance(result, Config)


@FUZZ
@given(mutated_text())
def test_mutated_default_file_never_raises_anything_else(text: str) -> None:
    check(text)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    check(text)


# Structured mutation: replace one subtree of the default file's data with
# arbitrary YAML data, so wrong types reach every reader, not just the first.
yaml_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
        st.text(max_size=10), st.sampled_from(TOKENS),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(["name", "range", "mask"])),
                        inner, max_size=3),
    ),
    max_leaves=8,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, prefix + (index,))
    return found


def mutated(text: str, where: tuple[Any, ...], value: Any, delete: bool) -> str:
    """A fresh copy of the YAML `text` with the item at path `where`
    deleted, or set to `value`, dumped again."""
    data = yaml.safe_load(text)
    parent = data
    for step in where[:-1]:
        parent = parent[step]
    if delete:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return yaml.safe_dump(data, sort_keys=False)


DEFAULT_DATA = yaml.safe_load(DEFAULT_TEXT)
DEFAULT_PATHS = [p for p in paths(DEFAULT_DATA) if p]


@FUZZ
@given(st.sampled_from(DEFAULT_PATHS), yaml_values, st.booleans())
def test_any_value_anywhere_never_raises_anything_else(
    where: tuple[Any, ...], value: Any, delete: bool
) -> None:
    check(mutated(DEFAULT_TEXT, where, value, delete))


def test_default_file_itself_loads() -> None:
    # The mutations above start from a file that is valid.
    assert isinstance(parse_config(DEFAULT_TEXT, DEFAULT), Config)


# The same structured mutation of config/radius.yaml, which alone holds RADIUS
# server groups and syslog servers; whatever loads must also be judged by
# check-config and rendered as running-config and as a client profile.
RADIUS_FILE = ROOT / "config" / "radius.yaml"
RADIUS_TEXT = RADIUS_FILE.read_text()
RADIUS_PATHS = [p for p in paths(yaml.safe_load(RADIUS_TEXT)) if p]


@FUZZ
@given(st.sampled_from(RADIUS_PATHS), yaml_values, st.booleans())
def test_radius_file_mutations_load_judge_and_render(
    where: tuple[Any, ...], value: Any, delete: bool
) -> None:
    from ikev2d.anyconnect_profile import render_profile
    from ikev2d.compliance import check_compliance
    from ikev2d.conf.locate import SourceMap
    from ikev2d.running_config import render_running_config

    text = mutated(RADIUS_TEXT, where, value, delete)
    check(text)
    try:
        config = parse_config(text, RADIUS_FILE)
    except ConfigError:
        return
    last_line = text.count("\n") + 1
    for finding in check_compliance(config, SourceMap.of_text(text)):
        assert 1 <= finding.line <= last_line, finding
    assert render_running_config(config).endswith(": end\n")
    assert "<AnyConnectProfile" in render_profile(config)
