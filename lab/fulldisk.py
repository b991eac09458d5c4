"""A full file system for one process: a tiny tmpfs, mounted in a mount
namespace of the process's own (nothing changes on the host), filled up
before the process starts, with the process's stdout on it.

`launcher(mountpoint)` is an argv prefix: the rest of the argv runs with
its stdout in `<mountpoint>/stdout.log`, where every write fails with
ENOSPC. `make_room(pid, mountpoint)` removes the filler, as an operator
freeing space would; `read(pid, mountpoint, name)` reads a file there
through /proc/<pid>/root.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

STDOUT = "stdout.log"
FILLER = "filler"

_SCRIPT = ('mount -t tmpfs -o size={kb}k,mode=0755 ikev2d-full "$0" || exit 97; '
           f'(cat /dev/zero > "$0/{FILLER}") 2>/dev/null; '
           f'exec "$@" > "$0/{STDOUT}"')


def launcher(mountpoint: Path, size_kb: int = 64) -> list[str]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SCRIPT.format(kb=size_kb),
            str(mountpoint)]


def make_room(pid: int, mountpoint: Path) -> None:
    subprocess.run(["nsenter", "-t", str(pid), "-m", "rm", "-f", str(mountpoint / FILLER)], check=True, timeout=10)


def read(pid: int, mountpoint: Path, name: str = STDOUT) -> str:
    path = Path(f"/proc/{pid}/root") / mountpoint.relative_to("/") / name
    return path.read_text(errors="replace")
