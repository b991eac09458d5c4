"""The route handover the multi-worker data plane's design rests on
(docs/performance.md, "Two cores"): a client's route replaced onto the new
worker's device survives the old worker deleting its own route, because
`RouteTable.delete` names the device and the kernel matches on it.
Checked with the kernel, in a network namespace of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import socket, subprocess
from ipaddress import ip_network
from esp.userspace.routes import RouteTable
def ip(*a): subprocess.run(["ip", *a], check=True)
ip("link", "add", "w0", "type", "veth", "peer", "name", "w1")  # two devices that come up anywhere
for dev in ("w0", "w1"):
    ip("link", "set", dev, "up")
client = ip_network("198.19.7.9/32")
w0, w1 = socket.if_nametoindex("w0"), socket.if_nametoindex("w1")
routes = RouteTable()
routes.replace(client, w0)   # worker 0 installs the first pair
routes.replace(client, w1)   # the rekeyed pair lands in worker 1
routes.delete(client, w0)    # worker 0 removes the old pair's route
print(subprocess.run(["ip", "-o", "route", "show", "198.19.7.9"], capture_output=True, text=True).stdout.strip())
routes.delete(client, w1)
print("after:" + subprocess.run(["ip", "-o", "route", "show", "198.19.7.9"], capture_output=True, text=True).stdout.strip())
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)")
def test_deleting_the_old_workers_route_keeps_the_new_workers() -> None:
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, after = done.stdout.splitlines()
    assert "dev w1" in first and "dev w0" not in first
    assert after == "after:"
