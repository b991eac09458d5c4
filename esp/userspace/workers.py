"""`WorkerDataPlane`: the userspace data plane spread over N worker processes.

cryptography holds the GIL while it seals and opens (bench/esp_gil.py), so a
second core needs a second process. Each Child SA pair lives in worker
``spi_in % N`` (esp.userspace.worker; the responder picks each new inbound
SPI in the worker holding the fewest pairs, `spi_lanes`): inbound, the kernel steers its ESP
there (the port-4500 reuseport group's program, esp.userspace.steering; the
IKE transport's socket is the group's index 0 and keeps IKE and keepalives);
outbound, that worker routes the client's address to its own TUN device with
a route *replace*, so a rekeyed pair in another worker takes the client's
traffic over (newest pair wins, as in one process), and the old pair's route
removal names its own device and leaves the new one alone. Address pools are
not routed as a whole (each client gets its route).

The daemon keeps the `DataPlane` interface: requests go to the pair's worker
and are answered in order (raising DataPlaneError as the one-process plane
does); expiry and new-source reports come back on a second channel, read on
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

from ..dataplane import DataPlaneError, ExpiryCallback, MappingCallback, SaCounters
from ..spec import ChildSaSpec
from .steering import MAX_WORKERS, attach_reuseport_program, worker_of_spi

log = logging.getLogger("esp.userspace")
REPLY_SECONDS = 10.0  # a worker that does not answer a request in this time is reported broken


class _Worker:
    def __init__(self, index: int, workers: int, tun: str, mtu: int, replay_window: int) -> None:
        control, self._control_child = socket.socketpair()
        events, self._events_child = socket.socketpair()
        self.control = Connection(control.detach())
        self.events = Connection(events.detach())
        fds = (self._control_child.fileno(), self._events_child.fileno())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "esp.userspace.worker", "--control-fd", str(fds[0]), "--events-fd", str(fds[1]),
             "--index", str(index), "--workers", str(workers), "--tun", tun, "--mtu", str(mtu),
             "--replay-window", str(replay_window),
             "--log-level", logging.getLevelName(logging.getLogger().getEffectiveLevel())],
            pass_fds=fds)
        self._control_child.close()
        self._events_child.close()
        self.index, self.tun = index, tun
        self.call("wait")  # its "ready"

    def call(self, op: str, *args: Any) -> Any:
        try:
            if op != "wait":
                self.control.send((op, *args))
            if not self.control.poll(REPLY_SECONDS):
                raise DataPlaneError(f"data-plane worker {self.index} did not answer {op!r}")
            status, result = self.control.recv()
        except (EOFError, OSError) as exc:
            raise DataPlaneError(f"data-plane worker {self.index} is gone ({exc or 'closed'})") from None
        if status == "error":
            raise DataPlaneError(str(result))
        return result

    def stop(self) -> None:
        try:
            self.control.send(("close",))
            self.control.poll(REPLY_SECONDS)
        except OSError:
            pass
        try:
            self.proc.wait(REPLY_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.control.close()
        self.events.close()


class WorkerDataPlane:
    name = "userspace"
    reuse_port = True  # the transport founds a reuseport group on each 4500 socket

    def __init__(self, workers: int, tun_name: str = "ikev2d0", mtu: int = 1400, replay_window: int = 64) -> None:
        if not 2 <= workers <= MAX_WORKERS:
            raise DataPlaneError(f"--dataplane-workers {workers}: 2 to {MAX_WORKERS} (1 is the one-process plane)")
        self.count = workers
        self.spi_lanes = workers  # the responder places each new inbound SPI in the emptiest worker (spi % N)
        self.tun_name, self.mtu, self.replay_window = tun_name, mtu, replay_window
        self._workers: list[_Worker] = []
        self._owner: dict[int, _Worker] = {}  # spi_in -> the worker holding the pair
        self._on_expiry: ExpiryCallback | None = None
        self._on_mapping: MappingCallback | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stray_esp = 0  # ESP that reached the IKE socket (before the program was attached)

    def attach(self, nat_t_socket: socket.socket, on_expiry: ExpiryCallback,
               on_mapping: MappingCallback | None = None) -> None:
        self._on_expiry, self._on_mapping = on_expiry, on_mapping
        if not self._workers:
            self._loop = asyncio.get_running_loop()
            try:
                for k in range(self.count):  # one at a time: each one's sockets join the groups in index order
                    worker = _Worker(k, self.count, f"{self.tun_name}w{k}", self.mtu, self.replay_window)
                    self._workers.append(worker)
                    self._loop.add_reader(worker.events.fileno(), self._event, worker)
            except (OSError, DataPlaneError) as exc:
                self.close()
                raise DataPlaneError(f"cannot start the data-plane workers: {exc}") from exc
            log.info("userspace data plane in %d worker processes (TUN %sw0..w%d)", self.count, self.tun_name,
                     self.count - 1)
        address, port = nat_t_socket.getsockname()[:2]
        for worker in self._workers:  # bind order is group order: worker k is index k + 1
            worker.call("listen", address, port)
        try:
            attach_reuseport_program(nat_t_socket, self.count)
        except OSError as exc:
            raise DataPlaneError(f"cannot steer ESP on {address} port {port} to the workers: {exc}") from exc

    def _event(self, worker: _Worker) -> None:
        try:
            kind, *args = worker.events.recv()
        except (EOFError, OSError):
            assert self._loop is not None
            self._loop.remove_reader(worker.events.fileno())
            log.error("data-plane worker %d (pid %d) is gone: its SAs carry no traffic", worker.index,
                      worker.proc.pid)
            return
        if kind == "expiry" and self._on_expiry is not None:
            self._on_expiry(args[0])
        elif kind == "mapping" and self._on_mapping is not None:
            self._on_mapping(args[0], args[1])

    def _worker_for(self, spi_in: int) -> _Worker:
        if not self._workers:
            raise DataPlaneError("the data-plane workers are not started")
        return self._workers[worker_of_spi(spi_in, self.count)]  # where the kernel steers its ESP

    def install(self, spec: ChildSaSpec) -> None:
        worker = self._worker_for(spec.spi_in)
        worker.call("install", spec)
        self._owner[spec.spi_in] = worker

    def remove(self, spec: ChildSaSpec) -> None:
        worker = self._owner.pop(spec.spi_in, None)
        if worker is not None:
            worker.call("remove", spec)

    def update(self, old: ChildSaSpec, new: ChildSaSpec) -> None:
        worker = self._owner.get(old.spi_in)
        if worker is None:
            raise DataPlaneError(f"Child SA 0x{old.spi_in:08x} is not installed")
        worker.call("update", old, new)
        self._owner[new.spi_in] = worker

    def counters(self, spi_in: int) -> SaCounters | None:
        worker = self._owner.get(spi_in)
        if worker is None:
            return None
        result: list[SaCounters | None] = worker.call("counters", [spi_in])
        return result[0]

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        self.stray_esp += 1  # only before the group's program is attached; the peer retransmits nothing: lost

    def close(self) -> None:
        for worker in self._workers:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(worker.events.fileno())
                except (OSError, ValueError):
                    pass
            worker.stop()
        self._workers.clear()
        self._owner.clear()
