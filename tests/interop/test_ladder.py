"""`ikev2d show session USER` against a real strongSwan client (issue 10,
point 3): the ladder of its exchanges, and the packet list, row for row the
datagrams tcpdump captured on the headend (fragments and NAT-T's marker
included), as the whitepaper shows Wireshark's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from lab import wireshark
from lab.capture import Capture
from lab.process import poll_until

from .checks import assert_healthy, assert_initiated, ping
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

EXCHANGES = {"34": "IKE_SA_INIT", "35": "IKE_AUTH", "36": "CREATE_CHILD_SA", "37": "INFORMATIONAL"}


@pytest.mark.skipif(not wireshark.tshark_available(), reason="tshark is not installed (lab/setup.sh installs it)")
def test_the_packet_list_is_what_the_wire_carried(ikev2d_server: StartIkev2d, client: StartCharon,
                                                  gateway_capture: Callable[[], Capture], tmp_path: Path) -> None:
    capture = gateway_capture()
    server = ikev2d_server(fragment_size=576)
    alice = client(0, fragment_size=576)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert ping(alice.ns).returncode == 0

    # The client may send an INFORMATIONAL of its own (a MOBIKE address update
    # when its virtual IP comes up) just after IKE_AUTH: stop the capture once
    # the list has been still for half a second, and read it once the headend
    # has taken every datagram the capture holds.
    def packet_rows() -> list[list[str]]:
        listed = server.show("session", "alice", "--packets")
        return [row.split("\t") for row in listed.stdout.splitlines()[2:]]  # the title, the header
    seen = [packet_rows()]

    def still() -> bool:
        seen.append(packet_rows())
        return seen[-1] == seen[-2]
    poll_until(still, timeout=5, step=0.5)
    capture.stop()
    wire = subprocess.run(["tshark", "-r", str(capture.pcap), "-Y", "isakmp", "-T", "fields", "-e", "frame.len",
                           "-e", "isakmp.exchangetype", "-e", "isakmp.messageid"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    frames = [line.split("\t") for line in wire if line]
    poll_until(lambda: len(packet_rows()) >= len(frames), timeout=5)
    rows = packet_rows()
    ladder = server.show("session", "alice")
    assert ladder.returncode == 0, ladder.stderr
    arrows = [line for line in ladder.stdout.splitlines() if line.rstrip().endswith(">|") or "|<" in line]
    assert len(arrows) >= 12 and "IKE_AUTH request 1 SK{ IDi" in ladder.stdout
    page = server.show("session", "alice", "--html", str(tmp_path / "ladder.html"))
    assert page.returncode == 0 and (tmp_path / "ladder.html").read_text().count("<line") > 12
    steps = json.loads(server.show("session", "alice", json=True).stdout)[0]["steps"]

    assert [int(r[5]) for r in rows] == [int(f[0]) for f in frames], (rows, frames)
    assert [r[6].split(" ")[0] for r in rows] == [EXCHANGES[f[1]] for f in frames]
    assert any("(Reassembled + Message fragment" in r[6] for r in rows)
    assert sum(len(s["sizes"]) for s in steps) == len(frames)
    assert_healthy(server)
