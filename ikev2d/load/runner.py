"""Drives many LoadSessions over the network: one asyncio UDP socket per
source address, the SAs on it told apart by our SPI (the first 8 octets
of every IKE message), retransmission by timer, starts paced by a target
rate and bounded by a concurrency."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.queues
import os
import signal
import time
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import Callable, Sequence, cast

from ikev2d.crypto.errors import CryptoError
from ikev2d.load.session import Address, ClientProfile, LoadSession, Phase
from ikev2d.load.stats import LoadStats

NON_ESP_MARKER = bytes(4)  # RFC 3948 §2.2: IKE on port 4500
SETTLED = frozenset({Phase.ESTABLISHED, Phase.FAILED, Phase.CLOSED})
GONE = frozenset({Phase.FAILED, Phase.CLOSED})


@dataclass
class LoadOptions:
    remote: Address
    sources: Sequence[str]
    sessions: int = 1
    concurrency: int = 50  # handshakes in flight at once
    rate: float = 0.0  # new sessions per second; 0: as fast as the concurrency allows
    hold: float = 0.0  # seconds to hold the established sessions before deleting them
    delete: bool = True
    timeout: float = 2.0  # before the first retransmission (then doubled)
    retries: int = 3
    source_port: int = 0
    progress: Callable[[str], None] | None = None
    # called once every session has settled, before the hold (tests look at the server then)
    on_established: Callable[[LoadStats], None] | None = None
    # set (by SIGINT/SIGTERM in the command): start no more clients, end the hold
    stop: asyncio.Event | None = None
    first_index: int = 0  # of this process's clients among all (a worker's share)
    # RFC 3948: IKE with the non-ESP marker and ESP in UDP on this port of the
    # responder (4500; tests move it)
    nat_port: int = 4500
    # ICMP echo requests through each Child SA once it is up (needs ESP in
    # UDP: the profile's fake_nat), `ping_count` of them, one at a time
    ping: IPv4Address | None = None
    ping_count: int = 1
    ping_timeout: float = 2.0


class Endpoint(asyncio.DatagramProtocol):
    """One source address's socket; IKE datagrams go to the session of their
    IKE SPI, ESP ones (from the NAT-T port without the marker) to the pinger of
    their ESP SPI."""

    def __init__(self, nat_port: int = 4500) -> None:
        self.nat_port = nat_port
        self.drivers: dict[bytes, Driver] = {}
        self.esp: dict[bytes, Callable[[bytes], None]] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("0.0.0.0", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.local = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[1] == self.nat_port:
            if not data.startswith(NON_ESP_MARKER):
                pinger = self.esp.get(data[:4]) if len(data) >= 8 else None  # (1 octet: a NAT keepalive)
                if pinger is not None:
                    pinger(data)
                return
            data = data[4:]
        driver = self.drivers.get(data[:8])
        if driver is not None and len(data) >= 28:
            driver.received(data)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable and the like: the timers will tell

    def send(self, datagrams: Sequence[bytes], remote: Address) -> None:
        assert self.transport is not None
        marker = NON_ESP_MARKER if remote[1] == self.nat_port else b""
        for d in datagrams:
            self.transport.sendto(marker + d, remote)

    def send_esp(self, packet: bytes, remote: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(packet, remote)


class Driver:
    """Carries one session's datagrams and timers; `settle` waits until its
    phase is one of those asked for."""

    def __init__(self, session: LoadSession, endpoint: Endpoint, options: LoadOptions, stats: LoadStats) -> None:
        self.session = session
        self.endpoint = endpoint
        self.options = options
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.timer: asyncio.TimerHandle | None = None
        self.tries = 0
        self.waiter: asyncio.Future[None] | None = None
        self.until: frozenset[Phase] = SETTLED

    async def settle(self, out: list[bytes], until: frozenset[Phase]) -> None:
        self.until = until
        self.waiter = self.loop.create_future()
        self._send_request(out)
        self._check()
        await self.waiter

    def received(self, data: bytes) -> None:
        out = self.session.receive(data, self.loop.time())
        if out and out is self.session.outstanding:
            self._send_request(out)
        elif out:
            self.endpoint.send(out, self.session.remote)  # our answer to a request of the responder's
        if not self.session.outstanding:
            self._cancel_timer()
        self._check()

    def _send_request(self, out: list[bytes]) -> None:
        if not out:
            return
        self.endpoint.send(out, self.session.remote)
        self.tries = 0
        self._arm()

    def _arm(self) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_later(self.options.timeout * 2 ** self.tries, self._expired)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        if not self.session.outstanding:
            return
        self.tries += 1
        if self.tries > self.options.retries:
            self.session.timed_out()
            self._check()
            return
        self.stats.retransmits += 1
        self.endpoint.send(self.session.outstanding, self.session.remote)
        self._arm()

    async def ping(self, target: IPv4Address) -> None:
        """`ping_count` echo requests to `target` through the Child SA, each
        awaiting its reply (or `ping_timeout`) before the next."""
        from ikev2d.load.ping import Pinger  # here: a run without --ping does not load the ESP code

        session, stats = self.session, self.stats
        if session.address is None:
            stats.failed("ping: no address assigned")
            return
        try:
            pinger = Pinger(session.child_sa(), session.address, target, session.spi_i[0] << 8 | session.spi_i[1])
        except (ValueError, CryptoError) as exc:  # an ESP suite the userspace data plane lacks
            stats.failed(f"ping: {exc}")
            return
        answered: dict[int, float] = {}
        waiter: asyncio.Future[None] = self.loop.create_future()
        expected = 0

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def esp_received(packet: bytes) -> None:
            seq = pinger.reply(packet)
            if seq is not None and seq not in answered:
                answered[seq] = self.loop.time()
                if seq == expected:  # (a late reply to an earlier one wakes nothing)
                    wake()

        self.endpoint.esp[pinger.spi_in] = esp_received
        try:
            for seq in range(1, self.options.ping_count + 1):
                expected = seq
                waiter = self.loop.create_future()
                timer = self.loop.call_later(self.options.ping_timeout, wake)
                sent = self.loop.time()
                self.endpoint.send_esp(pinger.request(seq), session.remote)
                stats.pings_sent += 1
                await waiter
                timer.cancel()
                if seq in answered:
                    stats.pinged(answered[seq] - sent)
                else:
                    stats.pings_lost += 1
        finally:
            stats.esp_dropped += pinger.dropped
            del self.endpoint.esp[pinger.spi_in]

    def _check(self) -> None:
        if self.waiter is not None and not self.waiter.done() and self.session.phase in self.until:
            self._cancel_timer()
            self.waiter.set_result(None)


async def run_load(options: LoadOptions, profile: ClientProfile) -> LoadStats:
    loop = asyncio.get_running_loop()
    stats = LoadStats()
    endpoints: list[Endpoint] = []
    for source in options.sources:
        _, endpoint = await loop.create_datagram_endpoint(lambda: Endpoint(options.nat_port),
                                                          local_addr=(source, options.source_port))
        endpoints.append(endpoint)
    established: list[Driver] = []
    in_flight = 0
    slots = asyncio.Semaphore(max(1, options.concurrency))
    if options.ping is not None:
        stats.latencies.setdefault("ping", [])
    cpu_start = time.process_time()

    async def connect_one(index: int) -> None:
        nonlocal in_flight
        endpoint = endpoints[index % len(endpoints)]
        released = False
        try:
            session = LoadSession(client_profile(profile, options.first_index + index), endpoint.local,
                                  options.remote, nat_port=options.nat_port)
            driver = Driver(session, endpoint, options, stats)
            endpoint.drivers[session.spi_i] = driver
            stats.attempted += 1
            in_flight += 1
            await driver.settle(session.start(loop.time()), SETTLED)
            in_flight -= 1
            stats.cookies += session.cookies
            stats.ke_retries += session.ke_retries
            stats.fragments += session.fragments_received
            if session.phase == Phase.ESTABLISHED:
                stats.connected(session.started, session.init_done, session.auth_done)
                established.append(driver)
            else:
                stats.failed(session.error or "closed by the responder")
                del endpoint.drivers[session.spi_i]
                return
            if options.ping is not None:
                slots.release()  # the handshake is done: the next client may start
                released = True
                await driver.ping(options.ping)
        finally:
            if not released:
                slots.release()

    reporter = asyncio.create_task(_report(options, stats, lambda: in_flight))
    try:
        tasks = []
        next_start = loop.time()
        stop = options.stop or asyncio.Event()
        for index in range(options.sessions):
            await slots.acquire()
            if stop.is_set():
                slots.release()
                break
            if options.rate > 0:
                delay = next_start - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_start = max(next_start, loop.time() - 1.0) + 1.0 / options.rate
            tasks.append(asyncio.create_task(connect_one(index)))
        await asyncio.gather(*tasks)
        stats.cpu_seconds = time.process_time() - cpu_start
        if options.progress is not None:
            options.progress(stats.progress(0))
        if options.on_established is not None:
            options.on_established(stats)
        if options.hold > 0 and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), options.hold)
            except asyncio.TimeoutError:
                pass
        if options.delete:
            cpu_start = time.process_time()
            await _delete_all(established, options, stats)
            stats.cpu_seconds += time.process_time() - cpu_start
    finally:
        reporter.cancel()
        for endpoint in endpoints:
            if endpoint.transport is not None:
                endpoint.transport.close()
    return stats


def client_profile(profile: ClientProfile, index: int) -> ClientProfile:
    """The profile of client `index`: a username with `{n}` is numbered from 1."""
    if "{n}" not in profile.username:
        return profile
    return replace(profile, username=profile.username.replace("{n}", str(index + 1)))


async def run_until_signalled(options: LoadOptions, profile: ClientProfile) -> LoadStats:
    """run_load, where SIGINT or SIGTERM ends the run early but cleanly: no
    new clients, the hold ends, the sessions are deleted and reported."""
    stop = options.stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run_load(options, profile)


def run_workers(options: LoadOptions, profile: ClientProfile, workers: int) -> LoadStats:
    """The run shared among `workers` processes (each its share of the
    clients, of the source addresses, of the concurrency and of the rate),
    their statistics merged. SIGINT/SIGTERM to this process reaches them."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.queues.Queue[LoadStats] = context.Queue()
    processes = []
    first = 0
    for w in range(workers):
        count = options.sessions // workers + (1 if w < options.sessions % workers else 0)
        sources = list(options.sources[w::workers]) or list(options.sources)
        share = replace(options, sessions=count, sources=sources, first_index=first, progress=None,
                        on_established=None, concurrency=max(1, -(-options.concurrency // workers)),
                        rate=options.rate / workers)
        first += count
        processes.append(context.Process(target=_worker, args=(share, profile, results), daemon=True))
    for process in processes:
        process.start()

    def forward(signum: int, frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        merged = LoadStats()
        for _ in processes:
            merged.merge(results.get())
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return merged


def _worker(options: LoadOptions, profile: ClientProfile, results: "multiprocessing.queues.Queue[LoadStats]") -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards it as SIGTERM
    stats = LoadStats()
    try:
        stats = asyncio.run(run_until_signalled(options, profile))
    except OSError as exc:
        stats.failed(f"worker: {exc.strerror or exc}")
    finally:
        results.put(stats)


async def _delete_all(drivers: list[Driver], options: LoadOptions, stats: LoadStats) -> None:
    slots = asyncio.Semaphore(max(1, options.concurrency))

    async def delete_one(driver: Driver) -> None:
        async with slots:
            session = driver.session
            if session.phase != Phase.ESTABLISHED:  # the responder deleted it while we held it
                stats.failed("deleted by the responder" if session.deleted_by_peer else session.error or "lost")
                return
            await driver.settle(session.delete(), GONE)
            if session.phase == Phase.CLOSED:
                stats.deleted += 1
            else:
                stats.failed(session.error or "delete failed")

    await asyncio.gather(*(delete_one(d) for d in drivers))


async def _report(options: LoadOptions, stats: LoadStats, in_flight: Callable[[], int]) -> None:
    if options.progress is None:
        return
    while True:
        await asyncio.sleep(0.5)
        options.progress(stats.progress(in_flight()))
