"""Helpers for the tests that run inside user-mode Linux (guest_*.py):
two network namespaces joined by a veth pair, one KernelDataPlane in each,
mirrored Child SA specs, and readers of `ip xfrm` output.

Layout (198.18.0.0/15 only)::

    ns A "gateway"  veth 198.18.0.1/24   lo 198.19.0.1/32 (protected net 198.19.0.0/24)
    ns B "client"   veth 198.18.0.2/24   lo 198.19.0.200/32 (its virtual address)

And for the tests of ikev2d itself (guest_end_to_end.py, guest_rekey.py):
`ra_lab()`, ikev2d with ``--dataplane kernel`` and a strongSwan client with
the kernel's ESP, each in its namespace of a lab/netns.py Topology.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Callable

from esp.dataplane import Expiry
from esp.kernel import KernelDataPlane, LifetimeRule, default_lifetime
from esp.spec import ChildSaSpec, EspAlgorithms
from esp.xfrm.netns import in_netns
from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Topology, run_prefix
from lab.pki import LabPki
from lab.process import poll_until
from lab.strongswan import Charon

OUTER_A, OUTER_B = "198.18.0.1", "198.18.0.2"
INNER_A, INNER_B = "198.19.0.1", "198.19.0.200"
PROTECTED = IPv4Network("198.19.0.0/24")
VIRTUAL = IPv4Network("198.19.0.200/32")

CBC = EspAlgorithms(encr_id=12, encr_key_bits=256, integ_id=14, encr_key_size=32, integ_key_size=64, icv_size=16)
GCM = EspAlgorithms(encr_id=20, encr_key_bits=256, integ_id=0, encr_key_size=36, integ_key_size=0, icv_size=16)
SUITES = {"cbc-hmac-sha512": CBC, "gcm16": GCM}


def in_uml() -> bool:
    return os.environ.get("IKEV2D_IN_UML") == "1"


def sh(*argv: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def ip(ns: str, *args: str, check: bool = True) -> str:
    return sh("ip", "-n", ns, *args, check=check).stdout


def nsexec(ns: str, *argv: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


@dataclass
class Side:
    ns: str
    outer: str
    inner: str
    dp: KernelDataPlane | None = None
    nat_t: socket.socket | None = None
    expiries: list[Expiry] = field(default_factory=list)
    mappings: list[tuple[int, tuple[str, int]]] = field(default_factory=list)  # (spi_in, new source)

    def data_plane(self, lifetime: LifetimeRule = default_lifetime, replay_window: int = 32) -> KernelDataPlane:
        """A KernelDataPlane whose netlink sockets live in this namespace."""
        self.dp = in_netns(self.ns, lambda: KernelDataPlane(lifetime=lifetime, replay_window=replay_window))
        return self.dp

    def attach(self, port: int = 4500) -> None:
        """Bind UDP `port` here and attach it (UDP_ENCAP on it, the listener
        of expire and mapping events, which land in expiries and mappings)."""
        assert self.dp is not None

        def bind() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.outer, port))
            return s

        self.nat_t = in_netns(self.ns, bind)
        self.dp.attach(self.nat_t, self.expiries.append, lambda spi_in, source: self.mappings.append((spi_in, source)))

    def udp_socket(self, address: str, port: int = 0) -> socket.socket:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3.0)
            s.bind((address, port))
            return s

        return in_netns(self.ns, make)

    def xfrm_state(self) -> str:
        return ip(self.ns, "-s", "xfrm", "state")

    def xfrm_policy(self) -> str:
        return ip(self.ns, "xfrm", "policy")

    def close(self) -> None:
        if self.dp is not None:
            self.dp.close()
            self.dp = None
        if self.nat_t is not None:
            self.nat_t.close()
            self.nat_t = None


@dataclass
class Pair:
    a: Side
    b: Side

    def sides(self) -> tuple[Side, Side]:
        return self.a, self.b


def make_pair(tag: str) -> Pair:
    """Two namespaces joined by a veth pair; delete with destroy_pair()."""
    prefix = f"ikv-{os.getpid()}-{tag}"
    a, b = Side(f"{prefix}-a", OUTER_A, INNER_A), Side(f"{prefix}-b", OUTER_B, INNER_B)
    for side in (a, b):
        sh("ip", "netns", "add", side.ns)
        ip(side.ns, "link", "set", "lo", "up")
        ip(side.ns, "addr", "add", f"{side.inner}/32", "dev", "lo")
    ip(a.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.ns)
    for side in (a, b):
        ip(side.ns, "addr", "add", f"{side.outer}/24", "dev", "eth0")
        ip(side.ns, "link", "set", "eth0", "up")
    return Pair(a, b)


def destroy_pair(pair: Pair) -> None:
    for side in pair.sides():
        side.close()
        sh("ip", "netns", "del", side.ns, check=False)


def mirrored_specs(algorithms: EspAlgorithms, encap: bool, lifetime_seconds: int = 3600,
                   lifetime_kilobytes: int = 0) -> tuple[ChildSaSpec, ChildSaSpec]:
    """A's spec (gateway) and B's (client): B's inbound is A's outbound."""
    spi_a, spi_b = 0x1000 + secrets.randbelow(0xF000), 0x20000 + secrets.randbelow(0xF000)
    k = {name: secrets.token_bytes(size) for name, size in (
        ("ea", algorithms.encr_key_size), ("ia", algorithms.integ_key_size),
        ("eb", algorithms.encr_key_size), ("ib", algorithms.integ_key_size))}
    spec_a = ChildSaSpec(
        ike_sa_id="guest", spi_in=spi_a, spi_out=spi_b, algorithms=algorithms,
        encr_key_in=k["ea"], integ_key_in=k["ia"], encr_key_out=k["eb"], integ_key_out=k["ib"],
        local_address=OUTER_A, remote_address=OUTER_B,
        encap_local_port=4500 if encap else None, encap_remote_port=4500 if encap else None,
        local_selectors=(PROTECTED,), remote_selectors=(VIRTUAL,),
        lifetime_seconds=lifetime_seconds, lifetime_kilobytes=lifetime_kilobytes, username="alice",
    )
    spec_b = replace(
        spec_a, spi_in=spi_b, spi_out=spi_a,
        encr_key_in=k["eb"], integ_key_in=k["ib"], encr_key_out=k["ea"], integ_key_out=k["ia"],
        local_address=OUTER_B, remote_address=OUTER_A,
        local_selectors=(VIRTUAL,), remote_selectors=(PROTECTED,),
    )
    return spec_a, spec_b


def ping(src: Side, dst_address: str, count: int = 3, check: bool = True,
         size: int = 56) -> subprocess.CompletedProcess[str]:
    return nsexec(src.ns, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2", "-s", str(size),
                  "-I", src.inner, dst_address, check=check)


def udp_round_trip(client: Side, server: Side, payload: bytes, port: int = 7777) -> bytes:
    """Send `payload` from client's inner address to server's, echo it back."""
    srv = server.udp_socket(server.inner, port)
    cli = client.udp_socket(client.inner)
    try:
        cli.sendto(payload, (server.inner, port))
        data, peer = srv.recvfrom(65535)
        srv.sendto(data, peer)
        echoed, _ = cli.recvfrom(65535)
        return echoed
    finally:
        srv.close()
        cli.close()


def guest_tmpfs() -> Path:
    """The guest's own tmpfs ($UML_TMPFS, under the host's work directory)
    by a short name: a unix socket's path (charon's VICI socket in a daemon
    folder there) must stay under 108 bytes, and pytest-xdist puts the work
    directory one folder deeper (popen-gwN/), past that. The link lives on
    the guest's private /dev/shm, so the host sees nothing of it (not on
    /run, which charon replaces with a folder of its own)."""
    link = Path("/dev/shm/uml-tmpfs")
    if not link.is_symlink():
        link.symlink_to(os.environ["UML_TMPFS"])
    return link


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.05) -> bool:
    """lab.process.poll_until with the short steps the guests' quick checks want."""
    return poll_until(predicate, timeout, step)


# -- reading `ip xfrm` ---------------------------------------------------------


@dataclass(frozen=True)
class IpState:
    """One block of `ip -s xfrm state`, as iproute2 decodes it."""

    src: str
    dst: str
    spi: int
    reqid: int
    mode: str
    text: str = field(repr=False)  # it holds the keys

    def line(self, word: str) -> str | None:
        for line in self.text.splitlines():
            if line.strip().startswith(word):
                return line.strip()
        return None

    @property
    def packets(self) -> int:
        m = re.search(r"(\d+)\(bytes\), (\d+)\(packets\)", self.text)
        return int(m.group(2)) if m else -1

    @property
    def bytes(self) -> int:
        m = re.search(r"(\d+)\(bytes\), (\d+)\(packets\)", self.text)
        return int(m.group(1)) if m else -1


def parse_ip_states(text: str) -> list[IpState]:
    blocks = re.split(r"^(?=src )", text, flags=re.MULTILINE)
    out = []
    for block in blocks:
        head = re.match(r"src (\S+) dst (\S+)\s+proto esp spi 0x([0-9a-f]+)(?:\(\d+\))? reqid (\d+)(?:\(0x[0-9a-f]+\))? mode (\w+)", block)
        if head:
            out.append(IpState(head.group(1), head.group(2), int(head.group(3), 16), int(head.group(4)),
                               head.group(5), block))
    return out


def parse_ip_policies(text: str) -> list[str]:
    """`ip xfrm policy` blocks, one string each (first line: selector, then dir)."""
    return [b.strip() for b in re.split(r"^(?=src )", text, flags=re.MULTILINE) if b.strip()]


# -- ikev2d and a strongSwan client, both on the kernel's ESP ------------------

_lab_tags = itertools.count(1)


@dataclass
class GuestLab:
    """ikev2d in `topology.gateway` and one client in `topology.clients[0]`."""

    topology: Topology
    gateway: Ikev2d

    @property
    def gw_ns(self) -> str:
        return self.topology.gateway.name

    @property
    def client_ns(self) -> str:
        return self.topology.clients[0].name

    def client_tail(self) -> tuple[str, str]:
        """The client's name and the tail of its log."""
        raise NotImplementedError

    def context(self) -> str:
        """Log tails for an assertion message (keys never reach these logs)."""
        name, tail = self.client_tail()
        return f"\n--- ikev2d log (tail)\n{self.gateway.tail(60)}\n--- {name} log (tail)\n{tail}"


@dataclass
class RaLab(GuestLab):
    """ikev2d (--dataplane kernel by default) and a strongSwan client with
    kernel-netlink."""

    client: Charon

    def client_tail(self) -> tuple[str, str]:
        return "client charon", "\n".join(self.client.log().splitlines()[-60:])


@contextmanager
def ra_lab(pki: LabPki, name: str, edit: Callable[[dict[str, Any]], None] | None = None,
           dataplane: str = "kernel", ipv6: bool = False, extra_args: Sequence[str] = ()) -> Iterator[RaLab]:
    """Start both daemons in fresh namespaces; stop them, keep their logs
    under $UML_WORKDIR/<name>-<n>-logs and remove the namespaces after.
    `dataplane` is ikev2d's --dataplane (the client always uses the kernel's ESP);
    `ipv6` gives the outside IPv6 addresses too (lab.netns.Topology);
    `extra_args` go to `ikev2d run` as well."""
    tag = next(_lab_tags)
    # daemon folders on the guest's tmpfs: unix sockets and charon's private
    # /run do not belong on the hostfs root; logs are copied out afterwards
    run = guest_tmpfs() / f"{name}-{tag}"
    run.mkdir(parents=True)
    topology = Topology(run_prefix(f"{name[0]}{tag}"), 1, ipv6=ipv6).create()
    cfg = lab_config(pki, store=run / "pki-store", knobs=Ikev2dKnobs(edit=edit))
    gateway = Ikev2d(topology.gateway, run / "ikev2d", cfg,
                     extra_args=["--dataplane", dataplane, "--crypto-workers", "0", *extra_args])
    client = Charon(topology.clients[0], run / "client", kernel_esp=True)
    try:
        gateway.start(timeout=30)
        client.start(timeout=30)
        yield RaLab(topology, gateway, client)
    finally:
        client.stop()
        gateway.stop()
        keep = Path(os.environ.get("UML_WORKDIR", "/tmp")) / f"{name}-{tag}-logs"
        keep.mkdir(parents=True, exist_ok=True)
        for path in (gateway.log_path, client.log_path):
            if path.exists():
                shutil.copy(path, keep / f"{path.parent.name}-{path.name}")
        topology.destroy()
        shutil.rmtree(run, ignore_errors=True)
