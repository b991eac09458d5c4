"""Start-up choice of the data plane: `--dataplane auto|kernel|userspace|none`.

`auto` asks the kernel back end's probe whether the kernel accepts the ESP
states ikev2d needs, plain and in UDP (it adds and deletes throw-away
states), and runs the kernel back end if so, the userspace one if not; both
carry both encapsulations (the userspace one plain ESP through a raw
socket), so a client not behind NAT, which never asks for UDP, is served
either way. Every choice comes with one log line that
says which back end runs and why.
"""

from __future__ import annotations

from typing import Callable

from ikev2d.workers import usable_cpus

from .dataplane import DataPlane, DataPlaneError, RecordingDataPlane
from .userspace.steering import MAX_WORKERS

MODES = ("auto", "kernel", "userspace", "none")
Probe = Callable[[], tuple[bool, str]]


def probe_kernel() -> tuple[bool, str]:
    """The kernel back end's probe; a missing or broken back end is a "no"."""
    try:
        from .kernel import probe_kernel_esp
    except Exception as exc:  # not in this tree, or its imports fail (e.g. no pyroute2)
        return False, f"kernel back end not available: {exc}"
    try:
        return probe_kernel_esp()
    except Exception as exc:  # a probe must never stop the daemon from starting
        return False, f"kernel probe failed: {exc}"


def _kernel(replay_window: int) -> DataPlane:
    from .kernel import KernelDataPlane
    return KernelDataPlane(replay_window=replay_window)


def _userspace(replay_window: int, tun_name: str, mtu: int, workers: int = 1) -> DataPlane:
    if workers > 1:  # opt-in: the plane spread over worker processes (esp.userspace.workers)
        from .userspace.workers import WorkerDataPlane
        return WorkerDataPlane(workers, tun_name=tun_name, mtu=mtu, replay_window=replay_window)
    from .userspace import UserspaceDataPlane
    return UserspaceDataPlane(tun_name=tun_name, mtu=mtu, replay_window=replay_window)


def _where(tun_name: str, workers: int) -> str:
    return f"TUN {tun_name}" if workers == 1 else f"{workers} worker processes, TUN {tun_name}w0..w{workers - 1}"


def make_dataplane(mode: str, *, replay_window: int = 64, tun_name: str = "ikev2d0", mtu: int = 1400,
                   probe: Probe = probe_kernel, workers: int | None = 1,
                   cpus: Callable[[], int] = usable_cpus) -> tuple[DataPlane, str]:
    """The back end for `mode` and the one log line that says which runs and
    why. Raises DataPlaneError when `kernel` is forced and unavailable.
    `workers` None (`--dataplane-workers auto`): one worker process per CPU
    the daemon may use whenever ESP runs in user space (one process on one
    CPU); the kernel back end needs none."""
    if workers is None:
        workers = min(cpus(), MAX_WORKERS) if mode in ("userspace", "auto") else 1
    elif workers < 1:
        raise DataPlaneError(f"--dataplane-workers {workers}: at least 1")
    elif workers > 1 and mode != "userspace":
        raise DataPlaneError(f"--dataplane-workers {workers} needs --dataplane userspace")
    if mode == "none":
        return RecordingDataPlane(), "dataplane none: Child SAs are recorded, no traffic is carried (--dataplane none)"
    if mode == "userspace":
        return (_userspace(replay_window, tun_name, mtu, workers),
                f"dataplane userspace: chosen with --dataplane userspace ({_where(tun_name, workers)})")
    if mode not in ("auto", "kernel"):
        raise DataPlaneError(f"unknown data plane {mode!r} (one of {', '.join(MODES)})")
    ok, why = probe()
    if mode == "kernel":
        if not ok:
            raise DataPlaneError(f"--dataplane kernel, but the kernel back end cannot run: {why}")
        return _kernel(replay_window), f"dataplane kernel: chosen with --dataplane kernel; {why}"
    if ok:
        return _kernel(replay_window), f"dataplane kernel: {why}"
    return (_userspace(replay_window, tun_name, mtu, workers),
            f"dataplane userspace: the kernel cannot carry ESP ({why}); ESP (plain and in UDP) runs in Python "
            f"on {_where(tun_name, workers)}")
