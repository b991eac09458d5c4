"""Subcommands of `ikev2d`, one module each with `register(subparsers)`.

A module's `register` adds its parser and sets `func` (args -> exit code);
add new commands to COMMANDS rather than editing cli.py.
"""

from __future__ import annotations

COMMANDS = (
    "ikev2d.commands.init",
    "ikev2d.commands.run",
    "ikev2d.commands.check_config",
    "ikev2d.commands.show",
    "ikev2d.commands.vpn_sessiondb",
    "ikev2d.commands.clear",
    "ikev2d.commands.reload",
    "ikev2d.commands.profile",
    "ikev2d.commands.keys",
    "ikev2d.commands.debug",
    "ikev2d.commands.load",
    # after show: it adds `--config FILE` (offline running-config) to it
    "ikev2d.commands.show_offline",
)
