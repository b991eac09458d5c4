"""Project-wide pytest setup: skip `interop` tests only where the machine lacks
what they need (root, `ip netns`, strongSwan's charon and swanctl), with the
reason stated.  Nothing else is skipped here."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

import pytest

CHARON = "/usr/lib/ipsec/charon"


@lru_cache(maxsize=1)
def interop_missing() -> str | None:
    """Why interop tests cannot run on this machine, or None if they can."""
    if os.geteuid() != 0:
        return "interop tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return "interop tests need iproute2's `ip`"
    try:
        proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns` unusable: {exc}"
    if proc.returncode != 0:
        return f"`ip netns` unusable: {proc.stderr.strip()}"
    if not os.access(CHARON, os.X_OK):
        return f"no strongSwan charon at {CHARON} (run lab/setup.sh)"
    if shutil.which("swanctl") is None:
        return "no swanctl (Debian package strongswan-swanctl; run lab/setup.sh)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun (strongSwan's kernel-libipsec needs TUN)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    for item in items:
        if item.get_closest_marker("interop") is None:
            continue
        if reason is None:
            reason = interop_missing() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
