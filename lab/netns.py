"""Network namespaces for the lab: a gateway and N clients on one bridge.

Layout (all addresses from 198.18.0.0/15, RFC 2544)::

    gateway ns  <prefix>-gw   br0 198.18.0.1/24, lo 198.19.0.1/32 ("inside")
    client ns   <prefix>-c1   eth0 198.18.0.2/24  (veth, peer "v1" on br0)
    client ns   <prefix>-c2   eth0 198.18.0.3/24  ...

With ``ipv6=True`` the outside also gets IPv6 addresses from 2001:2::/48
(RFC 5180, the IPv6 benchmarking prefix): br0 2001:2::1/64, clients
2001:2::2/64, 2001:2::3/64 ..., with duplicate address detection off (no
tentative-address wait) and IPv6 enabled in each namespace.

The veth pairs are created directly inside their namespaces, so nothing ever
appears in the root namespace and parallel runs cannot collide on interface
names.  Every namespace name starts with a per-run prefix
(``ikv-<pid>-<n>``) so leftovers of a dead run can be found and removed by
:func:`cleanup_stale`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

NAME_PREFIX = "ikv-"
GATEWAY_ADDR = "198.18.0.1"
OUTSIDE_NET = ipaddress.ip_network("198.18.0.0/24")
INSIDE_ADDR = "198.19.0.1"
GATEWAY_ADDR6 = "2001:2::1"
OUTSIDE_NET6 = ipaddress.ip_network("2001:2::/64")
_LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))


class NetnsError(RuntimeError):
    """An `ip` command failed."""


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def check_lab_address(addr: str) -> str:
    """Refuse any address outside 198.18.0.0/15 and 2001:2::/48: the lab talks to nothing else."""
    ip = ipaddress.ip_interface(addr).ip
    if not any(ip.version == net.version and ip in net for net in _LAB_NETS):
        raise ValueError(f"{addr} is not a lab address (198.18.0.0/15, 2001:2::/48)")
    return addr


def list_namespaces() -> list[str]:
    out = _ip("netns", "list")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_pids(name: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def kill_pid(pid: int, timeout: float = 3.0) -> None:
    """SIGTERM one process, then SIGKILL if it is still there after `timeout`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        _reap(pid)
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def stop_process(proc: "subprocess.Popen[bytes]", timeout: float = 3.0) -> int | None:
    """Stop a child we started, by its PID: SIGTERM, then SIGKILL; its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclass
class Namespace:
    """One network namespace, created on construction by :meth:`create`."""

    name: str

    @classmethod
    def create(cls, name: str) -> "Namespace":
        if not name.startswith(NAME_PREFIX):
            raise ValueError(f"lab namespace names start with {NAME_PREFIX!r}: {name}")
        _ip("netns", "add", name)
        ns = cls(name)
        ns.ip("link", "set", "lo", "up")
        return ns

    def ip(self, *args: str) -> str:
        return _ip("-n", self.name, *args)

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """The argv that runs `cmd` inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self,
        cmd: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
        )
        if check and proc.returncode != 0:
            raise NetnsError(
                f"in {self.name}: {' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def add_address(self, dev: str, cidr: str) -> None:
        check_lab_address(cidr)
        # nodad: an IPv6 address is usable at once, not tentative for a second
        self.ip("addr", "add", cidr, "dev", dev, *(("nodad",) if ":" in cidr else ()))

    def enable_ipv6(self) -> None:
        """IPv6 on, duplicate address detection off (a fresh namespace may
        inherit disable_ipv6=1 from a host that turned it off)."""
        for key in ("all.disable_ipv6=0", "default.disable_ipv6=0", "all.accept_dad=0", "default.accept_dad=0"):
            self.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{key}"])

    def udp_listening(self, port: int) -> bool:
        out = self.run(["ss", "-Huln"], check=False).stdout
        return any(re.search(rf":{port}\s", line + " ") for line in out.splitlines())

    def pids(self) -> list[int]:
        return namespace_pids(self.name)

    def delete(self) -> None:
        """Kill what still runs inside (by PID), then remove the namespace."""
        for pid in self.pids():
            kill_pid(pid)
        if self.name in list_namespaces():
            _ip("netns", "del", self.name)


@dataclass
class Topology:
    """A gateway namespace and `n_clients` client namespaces on one bridge."""

    prefix: str
    n_clients: int = 1
    gateway: Namespace = field(init=False)
    clients: list[Namespace] = field(init=False, default_factory=list)
    client_addrs: list[str] = field(init=False, default_factory=list)
    gateway_addr: str = GATEWAY_ADDR
    inside_addr: str = INSIDE_ADDR
    ipv6: bool = False  # IPv6 outer addresses as well (2001:2::/64)
    gateway_addr6: str = GATEWAY_ADDR6
    client_addrs6: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if not self.prefix.startswith(NAME_PREFIX):
            raise ValueError(f"prefix must start with {NAME_PREFIX!r}")
        if not 1 <= self.n_clients <= 200:
            raise ValueError("1..200 clients")

    def create(self) -> "Topology":
        try:
            self._build()
        except BaseException:
            self.destroy()
            raise
        return self

    def _build(self) -> None:
        gw = Namespace.create(f"{self.prefix}-gw")
        self.gateway = gw
        if self.ipv6:
            gw.enable_ipv6()
        gw.ip("link", "add", "br0", "type", "bridge")
        gw.add_address("br0", f"{self.gateway_addr}/{OUTSIDE_NET.prefixlen}")
        if self.ipv6:
            gw.add_address("br0", f"{self.gateway_addr6}/{OUTSIDE_NET6.prefixlen}")
        gw.add_address("lo", f"{self.inside_addr}/32")
        gw.ip("link", "set", "br0", "up")
        hosts = OUTSIDE_NET.hosts()
        next(hosts)  # .1 is the gateway
        hosts6 = OUTSIDE_NET6.hosts()
        next(hosts6)  # ::1 is the gateway
        for i in range(1, self.n_clients + 1):
            addr = str(next(hosts))
            ns = Namespace.create(f"{self.prefix}-c{i}")
            self.clients.append(ns)
            if self.ipv6:
                ns.enable_ipv6()
            port = f"v{i}"
            gw.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
            gw.ip("link", "set", port, "master", "br0")
            gw.ip("link", "set", port, "up")
            ns.add_address("eth0", f"{addr}/{OUTSIDE_NET.prefixlen}")
            if self.ipv6:
                addr6 = str(next(hosts6))
                ns.add_address("eth0", f"{addr6}/{OUTSIDE_NET6.prefixlen}")
                self.client_addrs6.append(addr6)
            ns.ip("link", "set", "eth0", "up")
            self.client_addrs.append(addr)

    def namespaces(self) -> list[Namespace]:
        out: list[Namespace] = list(self.clients)
        if hasattr(self, "gateway"):
            out.append(self.gateway)
        return out

    def destroy(self) -> None:
        errors: list[str] = []
        for ns in self.namespaces():
            try:
                ns.delete()
            except NetnsError as exc:
                errors.append(str(exc))
        self.clients = []
        if errors:
            raise NetnsError("; ".join(errors))

    def __enter__(self) -> "Topology":
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def run_prefix(tag: str = "") -> str:
    """A per-run namespace prefix: ``ikv-<pid>`` or ``ikv-<pid>-<tag>``."""
    base = f"{NAME_PREFIX}{os.getpid()}"
    return f"{base}-{tag}" if tag else base


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale() -> list[str]:
    """Remove lab namespaces left by runs whose owning process is gone.

    A namespace ``ikv-<pid>-...`` belongs to process <pid>; while that
    process lives its namespaces are left alone.  Processes still running in
    a stale namespace are killed by PID first.
    """
    removed: list[str] = []
    for name in list_namespaces():
        m = re.match(rf"{re.escape(NAME_PREFIX)}(\d+)-", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        Namespace(name).delete()
        removed.append(name)
    return removed
