"""bench/esp_floor.py runs end to end (one round): its three paths measure,
its own checks pass (the floor's ESP opens with the project's opener, every
ESP it decrypts verifies, ikev2d's plane counts every packet), and the floor
batches its sends with UDP GSO while each decrypted packet is its own write.
No figure is asserted: speed is the bench's to show, not a test's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists("/dev/net/tun"),
                    reason="needs root, ip(8) and /dev/net/tun (namespaces, TUN devices)")
def test_the_floor_bench_runs_and_checks_itself(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "esp_floor.py"), "--rounds", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    paths = {(r["path"], r["direction"]): r for r in doc["results"]}
    assert set(paths) == {(p, d) for p in ("ceiling", "floor", "ikev2d") for d in ("encrypt", "decrypt")}
    assert all(r["pps"] > 0 and len(r["samples"]) == 1 for r in paths.values())
    # what crossed the veth: GSO batches encrypting (64 packets a drain in two sends), one frame per packet
    # decrypting (give or take the veth's own IPv6 neighbour chatter)
    for path in ("floor", "ikev2d"):
        assert paths[(path, "encrypt")]["frames_per_packet"] == pytest.approx(2 / 64, abs=0.002)
        assert paths[(path, "decrypt")]["frames_per_packet"] == pytest.approx(1.0, abs=0.01)
    assert "floor % of ceiling" in done.stdout
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if "-floor-" in ns]  # its namespaces are gone
