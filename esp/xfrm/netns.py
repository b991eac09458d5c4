"""Netlink sockets inside a fresh, private network namespace.

A helper thread unshares its network namespace and opens the socket there;
the socket keeps that namespace alive and usable from any thread, and when it
is closed the namespace goes away. Nothing in the caller's namespace (its
SAs, policies, routes) can be touched through it: the probe and the host's
unit tests use this.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable, TypeVar

CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")


def in_fresh_netns(make: Callable[[], T]) -> T:
    """Run `make` on a thread that first moves to a new network namespace
    (needs CAP_SYS_ADMIN); return its result or raise its exception."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            _unshare_net()
            box["value"] = make()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="fresh-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
