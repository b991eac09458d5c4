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
not routed to a device as a whole (each client gets its route); each pool's
range gets a blackhole route, under the clients' longer ones.

The daemon keeps the `DataPlane` interface: requests go to the pair's worker
and are answered in order (raising DataPlaneError as the one-process plane
does); expiry and new-source reports come back on a second channel, read on
the event loop. A worker that dies is replaced at its index (its TUN device,
its SPIs); the groups' steering programs follow the sockets' new order, and
the pairs it held, whose keys and sequence numbers died with it, are
reported for a rekey (and ended if that does not happen).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from ipaddress import IPv4Network, IPv6Network
from multiprocessing.connection import Connection
from typing import Any, Sequence

from ..dataplane import WORKER_GONE, DataPlaneError, Expiry, ExpiryCallback, LaneCallback, MappingCallback, SaCounters
from ..spec import ChildSaSpec
from .routes import RouteTable
from .steering import MAX_WORKERS, GroupOrder, attach_reuseport_program, worker_of_spi

log = logging.getLogger("esp.userspace")
# A request (install, remove, counters) takes a worker milliseconds, and the
# daemon's event loop waits for the answer: one that does not come in this
# time means a hung worker, which is killed (and so replaced, its pairs
# rekeyed) rather than allowed to stall every peer's IKE on each request.
REPLY_SECONDS = 2.0
START_SECONDS = 10.0  # a new worker's "ready": a Python start with its imports
# a pair lost with its worker is rekeyed at once; one still there this much
# later (the client refused the rekey) is ended: never a tunnel carrying nothing
LOST_PAIR_GRACE = 30.0
RESTART_RETRY, RESTART_RETRY_MAX = 1.0, 60.0  # seconds before a worker that could not start is tried again


class _Worker:
    def __init__(self, index: int, workers: int, tun: str, mtu: int, replay_window: int, wait: bool = True) -> None:
        """Start worker `index`; `wait`: block until it is ready (the first
        workers, before the daemon serves), else the caller awaits `started`."""
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
        if wait:
            self.call("wait")  # its "ready"

    def started(self) -> None:
        """Its answer to the start, once its control channel is readable;
        raises DataPlaneError if it could not start (it exits: EOF)."""
        try:
            status, result = self.control.recv()
        except (EOFError, OSError):
            self.reap()
            raise DataPlaneError(f"it exited while starting (exit status {self.proc.returncode})") from None
        if status == "error":
            raise DataPlaneError(str(result))

    def call(self, op: str, *args: Any) -> Any:
        try:
            if op != "wait":
                self.control.send((op, *args))
            if not self.control.poll(START_SECONDS if op == "wait" else REPLY_SECONDS):
                self.proc.kill()  # hung: its events channel ends, and the plane replaces it
                raise DataPlaneError(f"data-plane worker {self.index} did not answer {op!r}: killed")
            status, result = self.control.recv()
        except (EOFError, OSError) as exc:
            raise DataPlaneError(f"data-plane worker {self.index} is gone ({exc or 'closed'})") from None
        if status == "error":
            raise DataPlaneError(str(result))
        return result

    def reap(self) -> int | None:
        """Its exit status once it has exited (then its sockets are closed
        and have left their groups); None if it is still running."""
        try:
            return self.proc.wait(REPLY_SECONDS)
        except subprocess.TimeoutExpired:
            return None

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
    # the kernel would coalesce before the steering program picks a socket,
    # which sees a run's first datagram only: no GRO
    udp_gro = False

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
        self._on_lane: LaneCallback | None = None
        self._down: set[int] = set()  # indexes whose worker died and whose replacement is not up yet
        self._starting: dict[int, tuple[_Worker, asyncio.TimerHandle]] = {}  # replacements not ready yet
        self._loop: asyncio.AbstractEventLoop | None = None
        # each served address's port-4500 group: the daemon's socket in it and its array's order
        self._groups: dict[tuple[str, int], tuple[socket.socket, GroupOrder]] = {}
        self.restarts = 0
        self._routes: RouteTable | None = None  # the pools' blackhole routes (route_pools)
        self._blackholes: list[IPv4Network | IPv6Network] = []
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
        self._groups[(address, port)] = (nat_t_socket, GroupOrder(self.count))

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        self._on_lane = on_lane

    def _lane(self, index: int, up: bool) -> None:
        if up:
            self._down.discard(index)
        else:
            self._down.add(index)
        if self._on_lane is not None:
            self._on_lane(index, up)

    def _event(self, worker: _Worker) -> None:
        try:
            kind, *args = worker.events.recv()
        except (EOFError, OSError):
            self._replace(worker)
            return
        if kind == "log":  # the worker's record, through the daemon's own handlers
            level, name, text = args
            logging.getLogger(name).log(level, "data-plane worker %d: %s", worker.index, text)
        elif kind == "expiry" and self._on_expiry is not None:
            self._on_expiry(args[0])
        elif kind == "mapping" and self._on_mapping is not None:
            self._on_mapping(args[0], args[1])

    def _replace(self, dead: _Worker) -> None:
        """A worker died (its events channel ended): its pairs' keys, replay
        windows and sequence numbers died with it. A new worker takes its
        index (its TUN device, its SPIs); the groups' programs follow the
        sockets' new order; each lost pair is reported for a rekey, so its
        client gets a new pair in a live worker instead of a tunnel that
        carries nothing (and ended if that rekey does not happen). The new
        worker starts in the background (a Python process's imports, a few
        hundred ms, while the event loop serves on); until it is up, its lane
        takes no new pair (the responder is told: `watch_lanes`), so those
        rekeys land in live workers."""
        assert self._loop is not None
        self._loop.remove_reader(dead.events.fileno())
        status = dead.reap()  # exited: its sockets have left their groups
        lost = [spi for spi, owner in self._owner.items() if owner is dead]
        for spi in lost:
            del self._owner[spi]
        log.error("data-plane worker %d (pid %d) died (%s) holding %d Child SA pair(s): starting another, "
                  "rekeying them", dead.index, dead.proc.pid,
                  "still running" if status is None else f"exit status {status}", len(lost))
        if status is None:
            dead.proc.kill()
            dead.reap()
        for _sock, order in self._groups.values():
            order.leave(dead.index)
        self._steer()  # the others' ESP to them again; the dead one's to the IKE socket, which drops it
        dead.control.close()
        dead.events.close()
        self._lane(dead.index, up=False)
        self._start(dead.index, dead.tun, RESTART_RETRY)
        for spi in lost:
            self._report(Expiry(spi, hard=False, reason=WORKER_GONE))
            self._loop.call_later(LOST_PAIR_GRACE, self._report, Expiry(spi, hard=True, reason=WORKER_GONE))

    def _start(self, index: int, tun: str, retry: float) -> None:
        """A new worker at `index`, started without holding the event loop:
        `_started` takes it into every group once it says it is ready."""
        assert self._loop is not None
        if not self._workers:
            return  # closed meanwhile
        self.restarts += 1
        try:
            fresh = _Worker(index, self.count, tun, self.mtu, self.replay_window, wait=False)
        except (OSError, DataPlaneError) as exc:
            self._start_failed(index, tun, retry, str(exc))
            return
        deadline = self._loop.call_later(START_SECONDS, self._not_started, fresh, retry)
        self._starting[index] = (fresh, deadline)
        self._loop.add_reader(fresh.control.fileno(), self._started, fresh, retry)

    def _started(self, fresh: _Worker, retry: float) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fresh.control.fileno())
        _fresh, deadline = self._starting.pop(fresh.index)
        deadline.cancel()
        try:
            fresh.started()
        except DataPlaneError as exc:
            fresh.stop()
            self._start_failed(fresh.index, fresh.tun, retry, str(exc))
            return
        self._serve(fresh)

    def _not_started(self, fresh: _Worker, retry: float) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fresh.control.fileno())
        self._starting.pop(fresh.index, None)
        fresh.proc.kill()
        fresh.stop()
        self._start_failed(fresh.index, fresh.tun, retry, f"not ready in {START_SECONDS:g} s: killed")

    def _start_failed(self, index: int, tun: str, retry: float, why: str) -> None:
        """Tried again later, each time twice as late; its lane takes no new pair meanwhile."""
        assert self._loop is not None
        log.error("cannot start data-plane worker %d again: %s; trying again in %g s (new Child SAs go to the "
                  "other workers meanwhile)", index, why, retry)
        self._loop.call_later(retry, self._start, index, tun, min(2 * retry, RESTART_RETRY_MAX))

    def _serve(self, fresh: _Worker) -> None:
        """A ready replacement: into every group, steered to, its lane open again."""
        assert self._loop is not None
        index = fresh.index
        self._workers[index] = fresh
        self._loop.add_reader(fresh.events.fileno(), self._event, fresh)
        for (address, port), (_sock, order) in self._groups.items():
            try:
                fresh.call("listen", address, port)
            except DataPlaneError as exc:
                log.error("data-plane worker %d cannot serve %s port %d again: %s", index, address, port, exc)
                continue
            order.join(index)
        self._steer()
        self._lane(index, up=True)
        log.info("data-plane worker %d is back (pid %d)", index, fresh.proc.pid)

    def _steer(self) -> None:
        """Each group's program for its sockets' order now."""
        for (address, port), (sock, order) in self._groups.items():
            try:
                attach_reuseport_program(sock, self.count, order.slots())
            except OSError as exc:
                log.error("cannot steer ESP on %s port %d to the workers again: %s", address, port, exc)

    def _report(self, expiry: Expiry) -> None:
        if self._on_expiry is not None:  # a pair rekeyed or deleted meanwhile is no longer the IKE side's
            self._on_expiry(expiry)

    def _worker_for(self, spi_in: int) -> _Worker:
        if not self._workers:
            raise DataPlaneError("the data-plane workers are not started")
        index = worker_of_spi(spi_in, self.count)  # where the kernel steers its ESP
        if index in self._down:
            raise DataPlaneError(f"data-plane worker {index} is down and its replacement not up yet: "
                                 f"no Child SA 0x{spi_in:08x} in it")
        return self._workers[index]

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
        return self.counters_of([spi_in]).get(spi_in)

    def counters_of(self, spi_ins: Sequence[int]) -> dict[int, SaCounters]:
        asked: dict[_Worker, list[int]] = {}
        for spi in spi_ins:
            worker = self._owner.get(spi)
            if worker is not None:
                asked.setdefault(worker, []).append(spi)
        counted: dict[int, SaCounters] = {}
        for worker, spis in asked.items():  # one request to each worker holding some
            answers: list[SaCounters | None] = worker.call("counters", spis)
            counted.update((spi, c) for spi, c in zip(spis, answers) if c is not None)
        return counted

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        self.stray_esp += 1  # before the group's program is attached, or a dead worker's until it is back: lost

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        """A pool's clients are spread over the workers' TUN devices, each
        routed on its own; the pool's range gets a blackhole route, so that
        traffic to a pool address no pair holds (none yet, or its worker
        just died with its device and routes) is dropped here, as the
        one-process plane drops it at its TUN device, instead of following
        the default route out in the clear."""
        wanted = list(dict.fromkeys(blocks))
        if self._routes is None:
            self._routes = RouteTable()
        for net in self._blackholes:
            if net not in wanted:
                try:
                    self._routes.delete(net, None)
                except OSError as exc:
                    log.warning("cannot remove the blackhole route to %s: %s", net, exc)
        kept = [net for net in self._blackholes if net in wanted]
        for net in wanted:
            if net in kept:
                continue
            try:
                self._routes.add_blackhole(net)
            except OSError as exc:
                log.warning("address pool range %s: no blackhole route (%s): traffic to its unheld addresses "
                            "follows the other routes", net, exc.strerror or exc)
                continue
            kept.append(net)
        self._blackholes = kept

    def close(self) -> None:
        for fresh, deadline in list(self._starting.values()):
            deadline.cancel()
            if self._loop is not None:
                self._loop.remove_reader(fresh.control.fileno())
            fresh.proc.kill()
            fresh.stop()
        self._starting.clear()
        for worker in self._workers:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(worker.events.fileno())
                except (OSError, ValueError):
                    pass
            worker.stop()
        self._workers.clear()
        self._owner.clear()
        if self._routes is not None:
            self.route_pools([])
            self._routes.close()
            self._routes = None
