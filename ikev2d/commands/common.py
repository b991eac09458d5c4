"""What several subcommands share."""

from __future__ import annotations

import sys
from pathlib import Path

from ..conf import Config, ConfigError, load_config


def load_or_report(path: str) -> Config | None:
    """Load a configuration, or print its problems (FILE:LINE: ...) and give None."""
    try:
        return load_config(Path(path))
    except ConfigError as exc:
        print(f"ikev2d: configuration error: {exc}", file=sys.stderr)
        return None
