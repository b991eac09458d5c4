"""The disk of the log full (issue 7, point 5): ikev2d's stdout (its log
and the FTD console lines) and its FTD log file on a tiny tmpfs that is
full before it starts (lab/fulldisk.py: a mount namespace of its own).

Clients connect all the same; the condition is reported once, on stderr
(the file cannot take it), with no traceback and no `--- Logging error
---`; when room is made, the first line through says how many were lost.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab import fulldisk
from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Topology
from lab.pki import LabPki
from lab.swanctl_conf import DEFAULT_USERS

from .checks import assert_connected, assert_healthy, assert_initiated, tail
from .conftest import LabLogs, StartCharon

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

REPORT = ("ikev2d: cannot write log lines to stdout: No space left on device (ENOSPC); ikev2d goes on serving, "
          "and drops and counts the lines until it can write again")


def test_log_disk_full_reported_once_and_ike_keeps_serving(
    topology: Topology, lab_pki: LabPki, tmp_path: Path, client: StartCharon, lab_logs: LabLogs
) -> None:
    full = tmp_path / "full"
    folder = tmp_path / "ikev2d"

    def log_file_on_the_full_disk(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["logging"]["file"] = str(full / "ftd.log")

    cfg = lab_config(lab_pki, store=folder / "pki-store",
                     knobs=Ikev2dKnobs(logging_level="informational", edit=log_file_on_the_full_disk))
    server = Ikev2d(topology.gateway, folder, cfg, launcher=fulldisk.launcher(full))
    lab_logs.add("ikev2d stderr", server.log)
    server.start()
    try:
        alice = client(0)
        assert_initiated(alice.initiate(), alice)
        assert_connected(alice)
        stderr = server.log()
        assert stderr.splitlines() == [REPORT], stderr  # once, for every line of a connection
        assert server.proc is not None
        pid = server.proc.pid
        assert fulldisk.read(pid, full) == "" and fulldisk.read(pid, full, "ftd.log") == ""

        fulldisk.make_room(pid, full)  # the operator frees space
        bob = client(1, identity="bob", password=DEFAULT_USERS["bob"])
        assert_initiated(bob.initiate(), bob)
        assert_connected(bob, identity="bob")
        deadline = time.monotonic() + 5
        while "Username:bob" not in fulldisk.read(pid, full) and time.monotonic() < deadline:
            time.sleep(0.1)
        out = fulldisk.read(pid, full)
        first = out.splitlines()[0]
        assert first.startswith("ikev2d: writing log lines to stdout again; ") and "lines were lost" in first, out
        lost = int(first.split("; ")[1].split()[0])
        assert lost >= 20, first  # alice's whole connection, counted
        assert "Username:bob IKEv2 SA UP" in out, tail(out)
        assert "Username:bob IKEv2 SA UP" in fulldisk.read(pid, full, "ftd.log")
        assert server.log().splitlines() == [REPORT]
        assert_healthy(server)
    finally:
        server.stop()
