"""Reloading the configuration of a running daemon: the difference between
two configurations (`diff`), which sessions survive it (`plan`), and
applying it to the daemon (`apply`)."""

from .apply import ReloadReport, reload
from .diff import Change, config_changes

__all__ = ["Change", "ReloadReport", "config_changes", "reload"]
