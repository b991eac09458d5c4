"""Netlink sockets inside a fresh, private network namespace.

A helper thread unshares its network namespace and opens the socket there;
the socket keeps that namespace alive and usable from any thread, and when it
is closed the namespace goes away. `in_netns` does the same in an existing,
named namespace (the tests use it to give each namespace its own data plane). Nothing in the caller's namespace (its
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


def _setns_net(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def in_fresh_netns(make: Callable[[], T]) -> T:
    """Run `make` on a thread that first moves to a new network namespace
    (needs CAP_SYS_ADMIN); return its result or raise its exception."""
    return _on_thread(_unshare_net, make)


def in_netns(name: str, make: Callable[[], T]) -> T:
    """Run `make` on a thread inside the named namespace (`ip netns add NAME`,
    or a path such as /proc/PID/ns/net): sockets it opens belong there."""
    path = name if name.startswith("/") else f"/run/netns/{name}"
    return _on_thread(lambda: _setns_net(path), make)


def _on_thread(enter: Callable[[], None], make: Callable[[], T]) -> T:
    values: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            enter()
            values.append(make())
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="fresh-netns", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]
