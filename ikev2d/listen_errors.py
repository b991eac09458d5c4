"""Why a listening socket could not be opened, and what to do about it.

A bare `[Errno 13] Permission denied` leaves a new user guessing; every
bind failure is reported with the address, the port, the cause in words and
the fix (a capability, another port, who holds the port, the right address).
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
UNPRIVILEGED_PORT_START = PROC / "sys/net/ipv4/ip_unprivileged_port_start"
# what a user can pass instead of 500/4500 (any free ports above 1023 do)
UNPRIVILEGED_HINT = "--ike-port 10500 --natt-port 14500"
# BindError's own words (ikev2d/udp.py): "cannot listen on UDP ADDR:PORT: reason"
# (an IPv6 address in brackets: "UDP [2001:2::1]:500")
_WHERE = re.compile(r"\b(UDP|TCP) (?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d+)")


@dataclass(frozen=True)
class Where:
    protocol: str  # "UDP" or "TCP"
    address: str
    port: int


def where_from(message: str) -> Where | None:
    """The socket a BindError message names, if it names one."""
    match = _WHERE.search(message)
    return Where(match[1], match[2] or match[3], int(match[4])) if match else None


def explain(exc: OSError, where: Where) -> str:
    """One paragraph: what failed, why, and the fix."""
    problem, fix = diagnose(exc, where)
    return f"{problem}. Fix: {fix}" if fix else problem


def diagnose(exc: OSError, where: Where) -> tuple[str, str]:
    """(what failed and why, the fix; empty when there is no advice)."""
    # the errno's own words: asyncio's strerror repeats the address as a tuple
    reason = os.strerror(exc.errno) if exc.errno else str(exc.strerror or exc)
    shown = f"[{where.address}]" if ":" in where.address else where.address
    head = f"cannot listen on {where.protocol} {shown}:{where.port}: {reason}"
    if exc.errno == errno.EACCES:
        limit = unprivileged_port_start()
        why = (f"ports below {limit} need root or the capability CAP_NET_BIND_SERVICE"
               if where.port < limit else "the system refused the port")
        return (f"{head} ({why})",
                f"run as root; or grant the capability (`sudo setcap cap_net_bind_service=+ep {_interpreter()}`,"
                f" or the systemd unit `ikev2d init --systemd` writes, with AmbientCapabilities);"
                f" or use ports above {limit - 1}: {UNPRIVILEGED_HINT} (or ike_port/nat_t_port under"
                f" remote_access_vpn)")
    if exc.errno == errno.EADDRINUSE:
        holders = port_holders(where.protocol, where.port)
        who = ", ".join(holders) if holders else f"another process ({_ss(where)} as root names it)"
        return (f"{head} (held by {who})",
                "stop that process (e.g. strongSwan's charon), or use other ports:"
                " --ike-port N --natt-port M (or ike_port/nat_t_port under remote_access_vpn)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{head} ({where.address} is not an address of this host; see `ip -br addr`)",
                "give the interface in the configuration an address this host has,"
                " or listen elsewhere with --listen ADDRESS (e.g. --listen 127.0.0.1)")
    return head, ""


def unprivileged_port_start() -> int:
    """Ports below this need CAP_NET_BIND_SERVICE (Linux default 1024)."""
    try:
        return int(UNPRIVILEGED_PORT_START.read_text().strip())
    except (OSError, ValueError):
        return 1024


def _ss(where: Where) -> str:
    return f"`ss -l{'u' if where.protocol == 'UDP' else 't'}np 'sport = :{where.port}'`"


def _interpreter() -> str:
    import sys
    return os.path.realpath(sys.executable)


def port_holders(protocol: str, port: int, proc: Path = PROC) -> list[str]:
    """'NAME (pid N)' for each process with a socket bound to the port, as
    far as this user may see (/proc/net/{udp,tcp}, then /proc/PID/fd)."""
    inodes = _bound_inodes(proc / "net" / protocol.lower(), port, listening_only=protocol == "TCP")
    if not inodes:
        return []
    found: list[str] = []
    for pid_dir in proc.glob("[0-9]*"):
        links = _fd_links(pid_dir)
        if any(f"socket:[{inode}]" in links for inode in inodes):
            try:
                name = (pid_dir / "comm").read_text().strip()
            except OSError:
                name = "?"
            found.append(f"{name} (pid {pid_dir.name})")
    if not found:
        found.append(f"a process this user cannot see ({_ss(Where(protocol, '', port))} as root names it)")
    return found


def _fd_links(pid_dir: Path) -> set[str]:
    """What a process's descriptors point at; empty for another user's process."""
    links: set[str] = set()
    try:
        fds = list((pid_dir / "fd").iterdir())
    except OSError:  # another user's process, or gone
        return links
    for fd in fds:
        try:
            links.add(os.readlink(fd))
        except OSError:  # closed meanwhile (the listing's own descriptor is)
            continue
    return links


def _bound_inodes(table: Path, port: int, listening_only: bool) -> set[str]:
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return set()
    inodes = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and (not listening_only or fields[3] == "0A"):
            inodes.add(fields[9])
    return inodes
