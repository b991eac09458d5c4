"""What several subcommands share: loading a configuration, exit codes,
the control socket's default path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..conf import Config, ConfigError, load_config
from ..control.protocol import DEFAULT_PATH

# Exit codes, the same for every command (sysexits' EX_USAGE for usage, so
# a script can tell "you called me wrong" from "the file is bad")
OK = 0
INVALID = 1  # the file cannot be used / the operation failed
NOT_COMPLIANT = 2  # check-config: valid, but against the NSA/CNSA guidance
UNREACHABLE = 3  # no daemon answers on the control socket
USAGE = 64  # wrong arguments

# `IKEV2D_CONTROL=/tmp/ikev2d.sock` spares repeating --control on every
# command when the daemon runs unprivileged (it cannot create /run/ikev2d)
CONTROL_ENV = "IKEV2D_CONTROL"


def default_control_path() -> str:
    return os.environ.get(CONTROL_ENV) or DEFAULT_PATH


def load_or_report(path: str) -> Config | None:
    """Load a configuration, or print its problems (FILE:LINE: ...) and give None."""
    try:
        return load_config(Path(path))
    except ConfigError as exc:
        print(f"ikev2d: configuration error: {exc}", file=sys.stderr)
        return None
