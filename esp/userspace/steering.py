"""Steering inbound ESP to the data-plane worker that holds its SA.

With several data-plane worker processes, each Child SA lives in one worker
(its replay window and counters are there): worker k of N holds the inbound
SPIs with ``spi % N == k`` (``worker_of_spi``). The responder draws each new
SPI at random and moves it with ``spi_for_worker`` into the worker that
holds the fewest SAs (ikev2d.spi_lanes): random SPIs alone put two clients
in one worker half the time.
The kernel then delivers each ESP packet to the right process without any
process reading it first:

- ESP in UDP 4500: the IKE transport's socket and one socket per worker form
  one SO_REUSEPORT group, and a classic BPF program attached to the group
  (SO_ATTACH_REUSEPORT_CBPF) picks the socket. For UDP the kernel runs it with
  the UDP payload at offset 0 and takes its return value as an index into the
  group's socket array, which is in the order the sockets were bound (the
  IKE socket first: index 0, worker k: index k + 1). A value out of range
  falls back to the kernel's hash, so the program never returns one.
  IKE (the 4-byte non-ESP marker), NAT keepalives (one byte) and anything
  shorter than an ESP header go to index 0; ESP to ``1 + spi % N``.
- Caveat of the kernel's array: when a socket leaves the group, the last
  socket is moved into its slot. A worker that dies is replaced by one whose
  socket joins last (`GroupOrder` follows the array), and the group gets a
  program with the new indices (``reuseport_program(..., slots)``).

Plain ESP (protocol 50) needs no group: each worker's raw socket gets a
socket filter (SO_ATTACH_FILTER) that accepts only its own SPIs
(``raw_esp_filter``; ``raw_esp6_filter`` for IPv6, whose raw sockets see no
IP header).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import Sequence

SO_ATTACH_FILTER = 26
SO_ATTACH_REUSEPORT_CBPF = 51

# classic BPF opcodes (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x20   # A = u32 at k (network order)
_LD_W_IND = 0x40   # A = u32 at X + k
_LD_W_LEN = 0x80   # A = packet length
_LDX_B_MSH = 0xB1  # X = 4 * (byte at k & 0xf): the IPv4 header length
_ALU_ADD_K = 0x04
_ALU_MOD_K = 0x94
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_A = 0x16

Instruction = tuple[int, int, int, int]  # code, jump if true, jump if false, k

ESP_HEADER = 8  # SPI + sequence number
MAX_WORKERS = 64


def worker_of_spi(spi: int, workers: int) -> int:
    """The worker (0-based) that holds the inbound SA with this SPI."""
    return spi % workers


def spi_for_worker(candidate: int, worker: int, workers: int) -> int:
    """A 32-bit SPI near ``candidate`` (a random one) that steers to ``worker``.

    Keeps the candidate's randomness above the low bits; never returns an SPI
    in the reserved range 0-255 (RFC 4303 section 2.1).
    """
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not one of {workers}")
    masked = candidate & 0xFFFFFFFF
    spi = masked - masked % workers + worker
    if spi > 0xFFFFFFFF:
        spi -= workers
    if spi < 256:
        spi += workers * -(-(256 - spi) // workers)
    return spi


def reuseport_program(workers: int, slots: Sequence[int] | None = None) -> list[Instruction]:
    """The reuseport program: IKE and keepalives to index 0, ESP to the
    group index of worker ``spi % workers``: ``slots[k]`` for worker k, by
    default k + 1 (bind order; `GroupOrder` gives it after a restart)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"{workers} workers: 1 to {MAX_WORKERS} supported")
    if slots is not None and (len(slots) != workers or not all(0 <= slot <= workers for slot in slots)):
        raise ValueError(f"slots {list(slots)} for {workers} workers")
    head: list[tuple[int, int | None, int | None, int]] = [  # None: a jump to the IKE return, filled in below
        (_LD_W_LEN, 0, 0, 0),                    # A = UDP payload length
        (_JEQ_K, None, 0, 1),                    # keepalive (0xff) -> IKE
        (_JGE_K, 0, None, ESP_HEADER),           # shorter than ESP -> IKE
        (_LD_W_ABS, 0, 0, 0),                    # A = first 4 bytes
        (_JEQ_K, None, 0, 0),                    # non-ESP marker -> IKE
        (_ALU_MOD_K, 0, 0, workers),             # A = spi % workers
    ]
    if slots is None or list(slots) == list(range(1, workers + 1)):
        head += [(_ALU_ADD_K, 0, 0, 1), (_RET_A, 0, 0, 0)]  # the IKE socket is index 0
    else:
        for worker in range(workers - 1):
            head += [(_JEQ_K, 0, 1, worker), (_RET_K, 0, 0, slots[worker])]
        head.append((_RET_K, 0, 0, slots[-1]))
    ike = len(head)
    program: list[Instruction] = [(code, ike - i - 1 if jt is None else jt, ike - i - 1 if jf is None else jf, k)
                                  for i, (code, jt, jf, k) in enumerate(head)]
    return program + [(_RET_K, 0, 0, 0)]     # IKE


class GroupOrder:
    """The kernel's socket array of a reuseport group the daemon built: the
    IKE socket (index 0), then worker 0, 1, ... in bind order. A socket that
    leaves (its worker died) gets the last one moved into its slot
    (reuseport_detach_sock); one that joins (its replacement) goes last."""

    IKE = -1

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.members = [self.IKE, *range(workers)]

    def leave(self, worker: int) -> None:
        slot = self.members.index(worker)
        last = self.members.pop()
        if slot < len(self.members):
            self.members[slot] = last

    def join(self, worker: int) -> None:
        self.members.append(worker)

    def slots(self) -> list[int]:
        """The group index of each worker's socket, for `reuseport_program`;
        a worker not in the group (dead, not replaced yet) gets the IKE
        socket's, whose side counts its ESP as stray and drops it."""
        return [self.members.index(worker) if worker in self.members else 0 for worker in range(self.workers)]


def raw_esp_filter(worker: int, workers: int) -> list[Instruction]:
    """A socket filter for an IPv4 raw ESP socket: accept only this worker's SPIs.

    A raw IPv4 socket sees the IP header; the SPI follows it. A packet too
    short to hold an SPI is dropped (the load aborts the program with 0).
    """
    if not 0 <= worker < workers <= MAX_WORKERS:
        raise ValueError(f"worker {worker} of {workers}")
    return [
        (_LDX_B_MSH, 0, 0, 0),                   # 0: X = IPv4 header length
        (_LD_W_IND, 0, 0, 0),                    # 1: A = SPI
        (_ALU_MOD_K, 0, 0, workers),             # 2
        (_JEQ_K, 0, 1, worker),                  # 3
        (_RET_K, 0, 0, 0x40000),                 # 4: accept (the whole packet)
        (_RET_K, 0, 0, 0),                       # 5: drop
    ]


def raw_esp6_filter(worker: int, workers: int) -> list[Instruction]:
    """The same for an IPv6 raw ESP socket, which sees the packet from the
    ESP header on (no IP header): the SPI is its first word."""
    if not 0 <= worker < workers <= MAX_WORKERS:
        raise ValueError(f"worker {worker} of {workers}")
    return [
        (_LD_W_ABS, 0, 0, 0),                    # 0: A = SPI
        (_ALU_MOD_K, 0, 0, workers),             # 1
        (_JEQ_K, 0, 1, worker),                  # 2
        (_RET_K, 0, 0, 0x40000),                 # 3: accept
        (_RET_K, 0, 0, 0),                       # 4: drop
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _attach(sock: socket.socket, option: int, program: list[Instruction]) -> None:
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(program), ctypes.addressof(buffer))
    # the kernel copies the program during the call; the buffers may go after
    sock.setsockopt(socket.SOL_SOCKET, option, bytes(fprog))


def attach_reuseport_program(sock: socket.socket, workers: int, slots: Sequence[int] | None = None) -> None:
    """Attach the steering program to the reuseport group ``sock`` belongs
    to (replacing the group's program, in one step)."""
    _attach(sock, SO_ATTACH_REUSEPORT_CBPF, reuseport_program(workers, slots))


def attach_raw_esp_filter(sock: socket.socket, worker: int, workers: int) -> None:
    """Keep only this worker's ESP on a raw ESP socket (IPv4 or IPv6)."""
    program = raw_esp6_filter if sock.family == socket.AF_INET6 else raw_esp_filter
    _attach(sock, SO_ATTACH_FILTER, program(worker, workers))


def reuseport_udp_socket(address: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound into the reuseport group of ``address``:``port``.

    Bind order is group order: bind the IKE socket first, then worker 0, 1, ...
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock
