"""docs/configuration.md is generated from the validator's schema: it must
be regenerated whenever a key is added, renamed or documented differently,
and every key the loader accepts is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ikev2d.conf import load_config, reference, schema
from ikev2d.conf.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_committed_reference_is_what_the_schema_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == reference.render(), (
        "docs/configuration.md is stale: run `python -m ikev2d.conf.reference > docs/configuration.md`")


def _paths(node: object, prefix: str = "") -> set[tuple[str, str]]:
    """(section path, key) for every key written in a parsed YAML document."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add((prefix, str(key)))
            child = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, list):
                for item in value:
                    found |= _paths(item, child + "[]")
            else:
                found |= _paths(value, child)
    return found


@pytest.mark.parametrize("example", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_key_of_the_examples_is_documented(example: Path) -> None:
    documented = {(s.path, k) for s in schema.SECTIONS for k in schema.keys(s.path)}
    written = _paths(yaml.safe_load(example.read_text()))
    assert written <= documented, sorted(written - documented)


def test_a_key_missing_from_the_schema_is_refused_by_the_loader(tmp_path: Path) -> None:
    # the readers take their keys from the schema: an undocumented key is an error
    text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("  fragment_size: 1280", "  fragmentsize: 1280")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="unknown key 'fragmentsize'.*did you mean 'fragment_size'"):
        load_config(path)
