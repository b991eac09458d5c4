"""The README's commands work as written: its "Try it without the lab"
block runs verbatim (from the repository root, with the repository's
.venv), and it still starts with exactly the two commands for a fresh
machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(section: str) -> list[str]:
    """The ```sh blocks of one `## section` of the README."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section '{section}'"
    return re.findall(r"^```sh\n(.*?)^```", match[1], re.S | re.M)


def test_readme_starts_with_the_two_commands() -> None:
    first = re.search(r"^```sh\n(.*?)^```", README, re.S | re.M)
    assert first is not None
    commands = [line.split("#")[0].strip() for line in first[1].splitlines() if line.strip()]
    assert commands == ["bash lab/demo.sh", "bash lab/test.sh"]


@pytest.mark.timeout(120)
def test_try_it_without_the_lab_runs_verbatim(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "ikev2d").exists():
        pytest.skip("the README's block uses .venv/ at the repository root (bash lab/setup.sh makes it)")
    install, run = blocks("Try it without the lab")
    assert "pip install" in install and "-e ." in install  # ikev2d alone, no lab extras
    script = tmp_path / "try.sh"
    script.write_text("set -e\n" + run)
    command = ["bash", str(script)]
    if os.geteuid() == 0 and shutil.which("unshare"):
        # a private network namespace: the block's fixed ports 10500/14500
        # cannot collide with another run on this machine
        command = ["unshare", "--net", "sh", "-c", f"ip link set lo up && exec bash {script}"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "configuration is valid; compliant" in output
    assert "connected to 127.0.0.1:10500 as alice: address 198.19.0.200" in output
    assert "VPN Session Summary" in output and "disconnected" in output
    assert "%FTD-5-750006:" in output  # the daemon's syslog line for the session
