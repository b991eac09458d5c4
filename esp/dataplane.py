"""The one data-plane interface the IKE side talks to.

Back ends: the kernel's XFRM layer (`esp.kernel`) and a userspace ESP
implementation over a TUN device (`esp.userspace`). The IKE adapter calls
these methods; the sans-I/O core only ever emits `ChildSaSpec` values.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Callable, Protocol, Sequence

from .spec import ChildSaSpec


class DataPlaneError(Exception):
    """A back end could not do what was asked; the message says why."""


@dataclass(frozen=True)
class SaCounters:
    """Per Child SA pair, as `show crypto ipsec sa` and `ip -s xfrm state` count."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    replay_drops: int = 0
    integrity_failures: int = 0
    other_drops: int = 0
    seq_out: int = 0  # last sequence number sent (64-bit ready)
    seq_in_highest: int = 0
    added_at: float = 0.0  # time.monotonic() of install
    last_used: float | None = None


@dataclass(frozen=True)
class Expiry:
    """A lifetime ran out: soft means rekey, hard means delete (RFC 4301 §4.4.2.1)."""

    spi_in: int
    hard: bool
    reason: str  # "time" | "bytes" | "packets", or WORKER_GONE (soft: the pair is lost, a new one is needed)


WORKER_GONE = "worker"  # the data-plane worker process holding the pair died


ExpiryCallback = Callable[[Expiry], None]
# ESP of a Child SA (our inbound SPI) authenticated from a new source address
# and port: a hint for the IKE side to check, never a move by itself
MappingCallback = Callable[[int, tuple[str, int]], None]
# a lane (the worker holding spi % spi_lanes) went down (False) or is back (True)
LaneCallback = Callable[[int, bool], None]


class DataPlane(Protocol):
    name: str  # "kernel" | "userspace" | "none"
    # inbound SPIs steer by spi % spi_lanes to the process holding the pair:
    # the worker count of a plane in worker processes, 1 for the others
    spi_lanes: int
    # how the transport opens each port-4500 socket: as the first member of a
    # SO_REUSEPORT group the workers join (steering), and asking for UDP GRO
    # (a plane that reads ESP in UDP from that socket itself)
    reuse_port: bool
    udp_gro: bool

    def attach(self, nat_t_socket: socket.socket, on_expiry: ExpiryCallback,
               on_mapping: MappingCallback | None = None) -> None:
        """Called once before any install, with the bound UDP 4500 socket
        (the kernel back end sets UDP_ENCAP on it; the userspace back end
        sends ESP in UDP through it, and opens a raw socket on its address
        for plain ESP), where to report lifetime expiry and where
        ESP authenticated from a new source address is reported."""

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        """Where to say that a lane's worker died (no pair can be installed
        in it until its replacement is up) or is back, so that new inbound
        SPIs go to live lanes. A plane of one lane never calls it."""

    def install(self, spec: ChildSaSpec) -> None:
        """Install both directions (and policies/routes) or raise
        DataPlaneError with nothing left half-installed."""

    def remove(self, spec: ChildSaSpec) -> None:
        """Remove both directions; removing an absent SA is not an error."""

    def update(self, old: ChildSaSpec, new: ChildSaSpec) -> None:
        """The pair `old` (same SPIs and keys) now runs between `new`'s
        addresses and ports: the peer moved (NAT rebinding, MOBIKE). Its
        sequence numbers, replay window and counters carry on. Raises
        DataPlaneError when the pair is not installed or cannot move."""

    def counters(self, spi_in: int) -> SaCounters | None: ...

    def counters_of(self, spi_ins: Sequence[int]) -> dict[int, SaCounters]:
        """The counters of those of `spi_ins` that are installed, at once (a
        plane in worker processes asks each worker once, not once a pair)."""

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        """An ESP-in-UDP datagram (non-ESP marker absent) that reached user
        space on port 4500 (the userspace back end feeds its plain ESP here
        too, with port 0). The kernel back end never sees these."""

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        """The address pools' ranges, at start and after each reload: a plane
        that routes them to itself once routes no pool client alone (the
        userspace one); the others route per Child SA and ignore them."""

    def close(self) -> None:
        """Remove everything still installed."""


class RecordingDataPlane:
    """Keeps the negotiated SAs without carrying traffic (`--dataplane none`,
    and the tests of the IKE side)."""

    name = "none"
    spi_lanes = 1
    reuse_port = udp_gro = False

    def __init__(self) -> None:
        self.sas: dict[int, ChildSaSpec] = {}
        self.on_expiry: ExpiryCallback | None = None

    def attach(self, nat_t_socket: socket.socket, on_expiry: ExpiryCallback,
               on_mapping: MappingCallback | None = None) -> None:
        self.on_expiry = on_expiry

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        pass  # one lane, never down

    def install(self, spec: ChildSaSpec) -> None:
        self.sas[spec.spi_in] = spec

    def remove(self, spec: ChildSaSpec) -> None:
        self.sas.pop(spec.spi_in, None)

    def update(self, old: ChildSaSpec, new: ChildSaSpec) -> None:
        if old.spi_in not in self.sas:
            raise DataPlaneError(f"Child SA 0x{old.spi_in:08x} is not installed")
        self.sas[old.spi_in] = new

    def counters(self, spi_in: int) -> SaCounters | None:
        return SaCounters() if spi_in in self.sas else None

    def counters_of(self, spi_ins: Sequence[int]) -> dict[int, SaCounters]:
        return {spi: c for spi in spi_ins if (c := self.counters(spi)) is not None}

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        pass

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        pass  # nothing to route

    def close(self) -> None:
        self.sas.clear()
