"""Can this machine run the lab?  One answer, used by the tests and the demo."""

from __future__ import annotations

import os
import shutil
import subprocess

from lab.strongswan import CHARON


def lab_missing() -> str | None:
    """Why the lab cannot run here (root, `ip netns`, charon, swanctl, TUN), or None."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "the lab needs iproute2's `ip`"
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
