"""Run a command inside user-mode Linux: a real kernel with ESP, in seconds.

The CI machine's kernel has XFRM but no ESP (no esp4 module: an ESP state is refused);
Debian's `user-mode-linux` package has both, as modules. The guest's root is
the host's / through hostfs and lab/uml/init.sh is its PID 1: it mounts
proc, sysfs and tmpfs (/run, /dev/shm) inside the guest, points the kernel's
modprobe at the UML modules, loads `modules`, runs the job and prints a
marker line with the job's exit code, which becomes ours (UML itself always
exits 0). The guest can write the host's files: jobs write only under the
work directory they are given.

    python -m lab.uml [--timeout S] [--workdir DIR] -- COMMAND...
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from lab.process import last_lines, read_log

REPO = Path(__file__).resolve().parent.parent
UML_KERNEL = Path("/usr/bin/linux.uml")
UML_MODULES_DIR = Path("/usr/lib/uml/modules")
INIT = REPO / "lab" / "uml" / "init.sh"
PYTHON = REPO / ".venv" / "bin" / "python"

# ESP with the NSA suite and GCM, ESP in UDP, veth and bridges for the lab.
# Preloaded: otherwise the first SA install spends seconds in failing
# request_module calls under UML (kernel-esp.md).
DEFAULT_MODULES = (
    "ipv6", "xfrm_user", "esp4", "esp6", "veth", "bridge",
    "authenc", "cbc", "hmac", "sha512_generic", "echainiv", "drbg",
    "gcm", "ghash-generic", "ctr", "seqiv",
)
NO_MARKER = 125  # the guest never reported: it crashed, or we stopped it


@dataclass(frozen=True)
class UmlResult:
    exit_code: int  # the job's, or NO_MARKER
    log_path: Path  # the guest console: kernel messages and the job's output
    seconds: float
    timed_out: bool

    def output(self) -> str:
        return read_log(self.log_path)

    def tail(self, lines: int = 150) -> str:
        return last_lines(self.output(), lines)


def uml_missing() -> str | None:
    """Why UML cannot run here (None when it can)."""
    if not UML_KERNEL.exists():
        return f"{UML_KERNEL} is missing: install Debian's user-mode-linux package (lab/setup.sh does)"
    if not UML_MODULES_DIR.is_dir() or not any(UML_MODULES_DIR.iterdir()):
        return f"{UML_MODULES_DIR} has no module tree (user-mode-linux package incomplete)"
    if os.geteuid() != 0:
        return "user-mode-linux lab runs as root (namespaces inside the guest)"
    return None


def _job_script(command: Sequence[str], cwd: Path, env: Mapping[str, str], tmpfs: Path) -> str:
    # a guest-only tmpfs for unix sockets and daemons' private /run, which do
    # not belong on hostfs (it shadows an empty folder of the work directory)
    lines = ["set -u", f"mkdir -p {shlex.quote(str(tmpfs))}", f"mount -t tmpfs tmpfs {shlex.quote(str(tmpfs))}",
             f"cd {shlex.quote(str(cwd))}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(" ".join(shlex.quote(a) for a in command) + " 2>&1")
    return "\n".join(lines) + "\n"


def run_in_uml(
    command: Sequence[str],
    workdir: Path,
    *,
    timeout: float = 120.0,
    mem: str = "384M",
    modules: Sequence[str] = DEFAULT_MODULES,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO,
    kernel: Path = UML_KERNEL,
) -> UmlResult:
    """Boot UML, run `command` as root in the guest (cwd `cwd`, extra `env`),
    power off; the console log stays in `workdir/uml-console.log`. In the
    guest, $UML_WORKDIR is `workdir` and $UML_TMPFS a tmpfs of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    job = workdir / "uml-job.sh"
    tmpfs = workdir / "guest-tmpfs"
    guest_env = {"IKEV2D_IN_UML": "1", "UML_WORKDIR": str(workdir), "UML_TMPFS": str(tmpfs),
                 "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    job.write_text(_job_script(command, cwd, guest_env, tmpfs))
    log_path = workdir / "uml-console.log"
    # a marker the job cannot print by accident
    marker = f"UML-EXIT-{secrets.token_hex(6)}="
    argv = [
        str(kernel), f"mem={mem}", "rootfstype=hostfs", "rootflags=/", "rw", f"init={INIT}",
        f"UML_JOB={job}", f"UML_MODULES={','.join(modules)}", f"UML_MARKER={marker}",
        "con=null", "con0=null,fd:1", "quiet",
    ]
    start = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        # UML runs as several host processes: a session of its own lets us
        # stop exactly those (and no others) if the guest hangs
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=workdir, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_session(proc)
    seconds = time.monotonic() - start
    text = log_path.read_text(errors="replace")
    found = re.findall(rf"^{re.escape(marker)}(\d+)\s*$", text, flags=re.MULTILINE)
    code = int(found[-1]) if found else NO_MARKER
    if timed_out:
        with open(log_path, "a") as log:
            log.write(f"\n[lab.uml] stopped after {timeout:.0f}s without finishing\n")
    return UmlResult(exit_code=code, log_path=log_path, seconds=seconds, timed_out=timed_out)


def _stop_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, the process group of the UML we started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pytest_in_uml(args: Sequence[str], workdir: Path, *, timeout: float = 120.0,
                  env: Mapping[str, str] | None = None, modules: Sequence[str] = DEFAULT_MODULES) -> UmlResult:
    """Run pytest on `args` (files or node ids) in the guest; its JUnit XML
    report is `workdir/guest-junit.xml` and its temporary files stay under
    `workdir/guest-tmp`."""
    command = [
        str(PYTHON), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--color=no",
        f"--basetemp={workdir / 'guest-tmp'}", f"--junitxml={workdir / 'guest-junit.xml'}",
        "-o", "addopts=", *args,
    ]
    return run_in_uml(command, workdir, timeout=timeout, env=env, modules=modules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.uml", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=None, help="where the job and console log go")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    reason = uml_missing()
    if reason:
        print(f"lab.uml: {reason}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(f"/tmp/ikev2d-uml-{os.getpid()}")
    result = run_in_uml(command, workdir, timeout=args.timeout)
    sys.stdout.write(result.output())
    print(f"[lab.uml] exit {result.exit_code} after {result.seconds:.1f}s; log {result.log_path}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
