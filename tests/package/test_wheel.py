"""The wheel works alone: built from the repository, installed into a fresh
venv, run from a folder outside the repository (so nothing of the source tree
is importable), as an unprivileged user where the test runs as root.

    ikev2d --version; ikev2d init DIR; ikev2d check-config DIR/ikev2d.yaml;
    ikev2d run on 127.0.0.1 with high ports; a client connects; show; SIGTERM

Dependencies come from the package registry (pinned by constraints.txt)
through pip's cache. Marked `wheel` (pytest -m wheel runs it alone).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from lab.connect import main as connect
from lab.ports import free_udp_ports

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.wheel, pytest.mark.timeout(300)]


def _as_user() -> list[str]:
    """Run as `nobody` when we are root: proves no privilege is needed."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: cannot drop privileges to prove none is needed")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "IKEV2D"))}
    env["HOME"] = "/tmp"
    return env


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """A venv with only the built wheel (and its dependencies) in it."""
    top = Path(tempfile.mkdtemp(prefix="ikev2d-wheel-", dir="/tmp"))
    top.chmod(0o755)  # `nobody` must reach the venv
    try:
        dist = top / "dist"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                       check=True, cwd=top, env=_clean_env(), timeout=240)
        (wheel,) = dist.glob("ikev2d-*.whl")
        venv = top / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, cwd=top, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)],
                       check=True, cwd=top, env=_clean_env(), timeout=240)
        yield venv
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _run(venv: Path, *args: str, cwd: Path, user: bool = True) -> subprocess.CompletedProcess[str]:
    command = [*(_as_user() if user else []), str(venv / "bin" / "ikev2d"), *args]
    return subprocess.run(command, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=60)


def test_the_wheel_installs_no_lab_and_no_scapy(installed: Path) -> None:
    python = str(installed / "bin" / "python")
    probe = ("import importlib.util as u; "
             "print([m for m in ('lab', 'scapy', 'vici') if u.find_spec(m)])")
    out = subprocess.run([python, "-c", probe], cwd="/", env=_clean_env(), capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_version_init_check_config_run_and_connect(installed: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="ikev2d-try-", dir="/tmp"))
    work.chmod(0o777)  # the unprivileged user writes its configuration and PKI here
    daemon: subprocess.Popen[str] | None = None
    try:
        version = _run(installed, "--version", cwd=work)
        assert version.returncode == 0 and version.stdout.startswith("ikev2d ")

        ike, nat_t = free_udp_ports(2)
        init = _run(installed, "init", str(work / "gw"), "--ike-port", str(ike), "--natt-port", str(nat_t), cwd=work)
        assert init.returncode == 0, init.stderr
        config = work / "gw" / "ikev2d.yaml"
        assert (work / "gw" / "examples" / "ikev2d.yaml").exists()  # package data travelled
        check = _run(installed, "check-config", "--here", str(config), cwd=work)
        assert check.returncode == 0, check.stdout + check.stderr

        control = work / "control.sock"
        command = [*_as_user(), str(installed / "bin" / "ikev2d"), "run", "--config", str(config),
                   "--dataplane", "none", "--crypto-workers", "0", "--control", str(control)]
        daemon = subprocess.Popen(command, cwd=work, env=_clean_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while not control.exists():
            assert daemon.poll() is None, daemon.communicate()[0]
            assert time.monotonic() < deadline, "the daemon did not come up"
            time.sleep(0.1)

        # the client: the repository's lab initiator, reading address, port and password from the file
        assert connect(["--config", str(config), "--user", "alice", "--stay", "0.5"]) == 0
        show = _run(installed, "show", "vpn-sessiondb", "summary", "--control", str(control), cwd=work, user=False)
        assert show.returncode == 0 and "VPN Session Summary" in show.stdout
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            output = daemon.communicate(timeout=20)[0]
            assert daemon.returncode == 0, output
            assert "%FTD-5-750006:" in output and "Username:alice IKEv2 SA UP" in output
            password = next(line.split(":", 1)[1].strip() for line in config.read_text().splitlines()
                            if line.strip().startswith("password:"))
            assert password not in output  # secrets never in logs
        shutil.rmtree(work, ignore_errors=True)


def test_an_unprivileged_bind_to_500_says_what_to_do(installed: Path) -> None:
    if not _as_user() and os.geteuid() == 0:
        pytest.skip("needs to run unprivileged")
    work = Path(tempfile.mkdtemp(prefix="ikev2d-try-", dir="/tmp"))
    work.chmod(0o777)
    try:
        assert _run(installed, "init", str(work / "gw"), cwd=work).returncode == 0
        run = _run(installed, "run", "--config", str(work / "gw" / "ikev2d.yaml"), "--ike-port", "500",
                   "--natt-port", "4500", "--dataplane", "none", "--control", "", cwd=work)
        assert run.returncode == 1
        assert "cannot listen on UDP 127.0.0.1:500: Permission denied" in run.stderr
        assert "CAP_NET_BIND_SERVICE" in run.stderr and "--ike-port 10500 --natt-port 14500" in run.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
