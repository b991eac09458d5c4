"""`UserspaceDataPlane`: ESP (plain, or in UDP 4500) <-> a TUN device, in Python.

    client --ESP/UDP 4500--> NatTSocket drain --esp_received--> SPI -> InboundSa -> os.write(TUN)
    client --ESP (IP 50)---> raw socket drain (add_reader) --^
    client <--ESP/UDP 4500-- sock.sendmsg (UDP GSO) <- OutboundSa <- destination address <- TUN drain
    client <--ESP (IP 50)--- raw sock.sendto --^                                              (add_reader)

Each pair carries ESP the way its spec says: in UDP (RFC 3948) when the
IKE SA found a NAT, plain otherwise (RFC 4303), and `update()` moves it
between the two. Plain ESP goes through one raw IPPROTO_ESP socket per
served address: a kernel without ESP has no handler for protocol 50 and
leaves it to that socket; a kernel with ESP (and no state for the SPI)
drops its own copy, and the raw socket still gets one.

Installing an SA pair routes the client's address (the remote selectors)
through the TUN device; removing the last pair for it removes the route.
An address inside the address pools needs no route of its own: each pool's
range is routed to the TUN device once (`route_pools`, at start and on
reload), so a pair's install is dict insertions, and a packet to a pool
address no client holds is dropped at the TUN device (no SA for it).
Both per-packet paths are plain callbacks on the event loop's selector, not
the asyncio datagram endpoint (it reads one datagram per loop pass). ESP in
UDP leaves in UDP GSO batches (esp.userspace.gso): one send per run of
equal-size datagrams to one pair within a drain.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Callable, Sequence

from ..dataplane import DataPlaneError, Expiry, ExpiryCallback, LaneCallback, MappingCallback, SaCounters
from ..spec import ChildSaSpec
from .gso import GsoBatch, gso_supported
from .lifetime import Lifetime, Limits
from .routes import RouteTable
from .sa import STAGE_TAIL, InboundSa, OutboundSa, address_matcher
from .suites import STAGE_HEAD, check_algorithms, deferred_opener, deferred_sealer
from .tun import TunDevice

log = logging.getLogger("esp.userspace")

DRAIN_BATCH = 256  # TUN packets per wake-up before yielding to other work (~2 ms of work at most)
TUN_READ_MAX = 65535 + 40  # an IPv4 packet never exceeds 65535, an IPv6 one (no jumbogram) 40 more
_u32 = struct.Struct(">I").unpack_from
TICK_SECONDS = 1.0  # time lifetimes and last-used are checked this often
DROP_LOG_SECONDS = 10.0
# A TUN device removed under us (`ip link del`) is recreated: first at once,
# then after 1, 2, 4 ... up to TUN_RETRY_MAX seconds while that fails.
TUN_RETRY_MAX = 30.0
TUN_REPORT_SECONDS = 60.0  # a device that stays gone is reported this often
MAPPING_REPORT_SECONDS = 1.0  # ESP from one new source is reported this often at most
RAW_DRAIN_BATCH = 64  # plain ESP packets per wake-up, as ikev2d/udp.py drains port 4500
RAW_RECEIVE_BUFFER = 1 << 20  # as port 4500's: absorbs bursts; the kernel caps it at rmem_max
Address = tuple[str, int]


def open_raw_esp(address: str) -> socket.socket:
    """A raw IPPROTO_ESP socket bound to `address` (needs CAP_NET_RAW): it
    receives plain ESP sent there (IPv4: IP header included; IPv6: from the
    ESP header on, raw(7)/ipv6(7)) and sends plain ESP from there (the
    kernel writes the IP header)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET  # an IPv6 outer address: AF_INET6
    sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ESP)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RAW_RECEIVE_BUFFER)
        sock.bind((address, 0))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(eq=False, slots=True)
class _Pair:
    spec: ChildSaSpec
    inbound: InboundSa
    outbound: OutboundSa
    lifetime: Lifetime
    sock: socket.socket  # the UDP 4500 socket, or the raw ESP socket for plain ESP
    peer: Address  # where ESP goes (port 0: plain ESP): moved by update() when the IKE SA moves
    reported: Address | None = None  # a new source already reported, and when
    reported_at: float = 0.0
    last_used: float | None = None
    quiet_until: float = 0.0  # drop warnings are rate-limited per pair
    drops_logged: tuple[int, int, int] = (0, 0, 0)
    seen: tuple[int, int] = (0, 0)
    routes: tuple[IPv4Network | IPv6Network, ...] = field(default=())
    gso: bool = False  # ESP in UDP on a socket that takes UDP_SEGMENT: sent in batches (esp.userspace.gso)


class UserspaceDataPlane:
    name = "userspace"
    spi_lanes = 1
    reuse_port = False
    # the transport asks for UDP GRO on the port-4500 socket (ikev2d.udp): a run of one peer's ESP
    # in one read (the worker plane does not: its group's steering program sees only a run's first datagram)
    udp_gro = True

    def __init__(self, tun_name: str = "ikev2d0", mtu: int = 1400, replay_window: int = 64,
                 lifetime_packets: int = 0, soft_fraction: float = 0.9,
                 device: Callable[[str, int], TunDevice] = TunDevice,
                 routes: Callable[[], RouteTable] = RouteTable,
                 raw_socket: Callable[[str], socket.socket] = open_raw_esp) -> None:
        """`device`, `routes` and `raw_socket` make the TUN device, the route
        table and the plain-ESP sockets (tests pass stand-ins that need no root)."""
        self.tun_name = tun_name
        self.mtu = mtu
        self.replay_window = replay_window
        self.lifetime_packets = lifetime_packets
        self.soft_fraction = soft_fraction
        self._make_device = device
        self._make_routes = routes
        self._make_raw = raw_socket
        self.tun: TunDevice | None = None
        self._fd = -1  # the TUN device's, kept here for the per-packet path
        self._routes: RouteTable | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._on_expiry: ExpiryCallback | None = None
        self._on_mapping: MappingCallback | None = None
        self._socks: dict[str, socket.socket] = {}
        self._raw: dict[str, socket.socket] = {}  # plain ESP, by served address
        self._gso_socks: set[socket.socket] = set()  # the UDP sockets that take UDP_SEGMENT
        self._batch = GsoBatch()
        self._raw_error = ""  # why a served address has no raw socket, when one has not
        self._pairs: dict[int, _Pair] = {}  # by spi_in
        self._by_spi: dict[bytes, _Pair] = {}  # raw SPI field -> pair
        self._by_dst: dict[int, _Pair] = {}  # client /32 (as an integer) -> newest pair (rekeys overlap)
        self._by_net: list[tuple[int, int, _Pair]] = []  # wider remote selectors, longest first
        self._route_refs: dict[IPv4Network | IPv6Network, int] = {}  # pairs naming each client network
        # the address pools' ranges routed to the TUN device (route_pools):
        # a client network inside one has no route of its own
        self._pool_routes: list[IPv4Network | IPv6Network] = []
        self._covering: list[tuple[int, int, int]] = []  # (version, network, netmask) of each
        # client /32 or /128 -> the pairs naming it, oldest first: a remove
        # finds the pair left for its client without a scan of every pair
        self._holders: dict[IPv4Network | IPv6Network, list[_Pair]] = {}
        # IPv6 inside the tunnel (dual stack): by the 16 address bytes, and wider networks
        self._by_dst6: dict[bytes, _Pair] = {}
        self._by_net6: list[tuple[int, int, _Pair]] = []
        # The TUN reader's one buffer: each packet is read (os.readv, no
        # allocation) to where the sealer wants it, after STAGE_HEAD bytes of
        # headroom and with room for the ESP trailer behind it.
        self._stage = memoryview(bytearray(STAGE_HEAD + TUN_READ_MAX + STAGE_TAIL))
        self._tun_iov = [self._stage[STAGE_HEAD:STAGE_HEAD + TUN_READ_MAX]]
        # drops that belong to no SA
        self.unknown_spi = 0
        self.no_sa_for_destination = 0
        self.send_errors = 0
        self.tun_write_errors = 0
        self.tun_losses = 0  # times the TUN device went away under us
        self._tun_lost: tuple[float, str] | None = None  # since when, and why, while it is gone
        self._tun_retry = 0.0
        self._tun_retry_handle: asyncio.TimerHandle | None = None
        self._tun_reported = 0.0

    # -- DataPlane -------------------------------------------------------------

    def attach(self, nat_t_socket: socket.socket, on_expiry: ExpiryCallback,
               on_mapping: MappingCallback | None = None) -> None:
        """May be called once per served address; the TUN device is shared."""
        address = nat_t_socket.getsockname()[0]
        self._socks[address] = nat_t_socket
        if gso_supported(nat_t_socket):
            self._gso_socks.add(nat_t_socket)
        self._on_expiry = on_expiry
        self._on_mapping = on_mapping
        if self.tun is None:
            self._loop = asyncio.get_running_loop()
            try:
                self.tun = self._make_device(self.tun_name, self.mtu)
                self._routes = self._make_routes()
            except OSError as exc:
                self.close()
                raise DataPlaneError(f"cannot open TUN device {self.tun_name}: {exc}") from exc
            self._fd = self.tun.fd
            self._loop.add_reader(self._fd, self._tun_readable)
            self._tick_handle = self._loop.call_later(TICK_SECONDS, self._tick)
            if self._pool_routes:  # named before the device existed
                pools, self._pool_routes, self._covering = self._pool_routes, [], []
                self.route_pools(pools)
            log.info("userspace data plane on TUN %s (MTU %d, replay window %d)", self.tun.name, self.mtu,
                     self.replay_window)
        if address not in self._raw:
            self._attach_raw(address)

    def _attach_raw(self, address: str) -> None:
        # Without it ESP in UDP still works: clients behind NAT are served,
        # and a pair that would need plain ESP is refused saying why.
        assert self._loop is not None
        try:
            raw = self._make_raw(address)
        except OSError as exc:
            self._raw_error = f"no raw ESP socket on {address}: {exc.strerror or exc}"
            log.warning("%s: plain ESP (clients not behind NAT) cannot be carried, ESP in UDP can", self._raw_error)
            return
        self._raw[address] = raw
        self._loop.add_reader(raw.fileno(), self._raw_readable, raw)
        log.info("userspace data plane: plain ESP (IP protocol 50) on %s, ESP in UDP on port %d", address,
                 self._socks[address].getsockname()[1])

    def _sock_for(self, spec: ChildSaSpec) -> socket.socket:
        """The socket a pair sends from: the UDP 4500 one, or the raw one for plain ESP."""
        socks = self._socks if spec.encap_remote_port is not None else self._raw
        sock = socks.get(spec.local_address) or next(iter(socks.values()), None)
        if sock is None:
            raise DataPlaneError(f"this Child SA needs plain ESP (no NAT, no UDP encapsulation) and there is "
                                 f"{self._raw_error or 'no raw ESP socket'}")
        return sock

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        pass  # one lane, never down

    def install(self, spec: ChildSaSpec) -> None:
        try:
            self._install(spec)
        except DataPlaneError as exc:
            log.error("Child SA 0x%08x of %s not installed: %s", spec.spi_in, spec.ike_sa_id, exc)
            raise

    def _install(self, spec: ChildSaSpec) -> None:
        if self._tun_lost is not None:
            raise DataPlaneError(f"TUN device {self.tun_name} is gone ({self._tun_lost[1]}) and not "
                                 "recreated yet: no traffic could flow")
        if self.tun is None or self._routes is None:
            raise DataPlaneError("data plane not attached")
        if spec.spi_in in self._pairs:
            raise DataPlaneError(f"SPI 0x{spec.spi_in:08x} is already installed")
        sock = self._sock_for(spec)
        alg = spec.algorithms
        try:
            check_algorithms(alg)
            for name, key, size in (("inbound cipher", spec.encr_key_in, alg.encr_key_size),
                                    ("outbound cipher", spec.encr_key_out, alg.encr_key_size),
                                    ("inbound integrity", spec.integ_key_in, alg.integ_key_size),
                                    ("outbound integrity", spec.integ_key_out, alg.integ_key_size)):
                if len(key) != size:
                    raise DataPlaneError(f"{name} key is {len(key)} bytes, expected {size}")
            # the cipher and HMAC contexts are made on each direction's first packet
            sealer = deferred_sealer(alg, spec.encr_key_out, spec.integ_key_out)
            opener = deferred_opener(alg, spec.encr_key_in, spec.integ_key_in)
        except DataPlaneError:
            raise
        except Exception as exc:  # UnsupportedTransform, or a key the cipher refuses
            raise DataPlaneError(f"unsupported ESP transform: {exc}") from None
        now = time.monotonic()
        limits = Limits(seconds=spec.lifetime_seconds, bytes=spec.lifetime_kilobytes * 1024,
                        packets=self.lifetime_packets, soft_fraction=self.soft_fraction)
        lifetime = Lifetime(spec.spi_in, limits, now, self._expired)
        inbound = InboundSa(spec.spi_in, opener, alg.esn, self.replay_window, lifetime,
                            address_matcher(spec.remote_selectors), address_matcher(spec.remote_selectors, 6))
        outbound = OutboundSa(spec.spi_out, sealer, alg.esn, lifetime, address_matcher(spec.local_selectors),
                              address_matcher(spec.local_selectors, 6))
        pair = _Pair(spec, inbound, outbound, lifetime, sock, _peer(spec))
        pair.gso = self._gso_for(pair)
        self._add_routes(pair)  # the only step that can fail after this point: it undoes itself
        self._pairs[spec.spi_in] = pair
        self._by_spi[spec.spi_in.to_bytes(4, "big")] = pair
        self._hold(pair)
        for net in spec.remote_selectors:
            if net.version == 6:
                if net.prefixlen == 128:
                    self._by_dst6[net.network_address.packed] = pair
                else:
                    self._by_net6.append((int(net.network_address), int(net.netmask), pair))
            elif net.prefixlen == 32:
                self._by_dst[int(net.network_address)] = pair
            else:
                self._by_net.append((int(net.network_address), int(net.netmask), pair))
        self._by_net.sort(key=lambda e: -bin(e[1]).count("1"))
        self._by_net6.sort(key=lambda e: -bin(e[1]).count("1"))
        log.info("Child SA 0x%08x/0x%08x of %s installed: %s via %s, %s", spec.spi_in, spec.spi_out,
                 spec.ike_sa_id, ", ".join(map(str, spec.remote_selectors)), self.tun.name, _describe(pair.peer))

    def remove(self, spec: ChildSaSpec) -> None:
        pair = self._pairs.pop(spec.spi_in, None)
        if pair is None:
            return
        self._by_spi.pop(spec.spi_in.to_bytes(4, "big"), None)
        for net in pair.spec.remote_selectors:
            if net.version == 6:
                self._forget6(pair, net)
                continue
            key = int(net.network_address)
            if net.prefixlen != 32 or self._by_dst.get(key) is not pair:
                continue
            # a pair rekeyed for the same client keeps carrying its traffic
            others = self._others(pair, net)
            if others:
                self._by_dst[key] = others[-1]
            else:
                del self._by_dst[key]
        self._by_net = [e for e in self._by_net if e[2] is not pair]
        self._by_net6 = [e for e in self._by_net6 if e[2] is not pair]
        self._unhold(pair)
        self._drop_routes(pair)
        i, o = pair.inbound, pair.outbound
        log.info("Child SA 0x%08x/0x%08x of %s removed: in %d packets (%d bytes), out %d packets (%d bytes); "
                 "dropped: replay %d, integrity %d, other %d", spec.spi_in, spec.spi_out, spec.ike_sa_id,
                 i.packets, i.bytes, o.packets, o.bytes, i.replay_drops, i.integrity_failures, i.drops + o.drops)

    def _forget6(self, pair: _Pair, net: IPv4Network | IPv6Network) -> None:
        key = net.network_address.packed
        if net.prefixlen != 128 or self._by_dst6.get(key) is not pair:
            return
        others = self._others(pair, net)
        if others:
            self._by_dst6[key] = others[-1]  # a rekeyed pair for the same client carries on
        else:
            del self._by_dst6[key]

    def _hold(self, pair: _Pair) -> None:
        for net in pair.spec.remote_selectors:
            if net.prefixlen == net.max_prefixlen:
                held = self._holders.setdefault(net, [])
                if pair not in held:
                    held.append(pair)

    def _unhold(self, pair: _Pair) -> None:
        for net in pair.spec.remote_selectors:
            held = self._holders.get(net)
            if held is not None and pair in held:
                held.remove(pair)
                if not held:
                    del self._holders[net]

    def _others(self, pair: _Pair, net: IPv4Network | IPv6Network) -> list[_Pair]:
        """The installed pairs other than `pair` that name `net`, oldest first."""
        return [q for q in self._holders.get(net, ()) if q is not pair and q.spec.spi_in in self._pairs
                and net in q.spec.remote_selectors]

    def update(self, old: ChildSaSpec, new: ChildSaSpec) -> None:
        pair = self._pairs.get(old.spi_in)
        if pair is None:
            raise DataPlaneError(f"Child SA 0x{old.spi_in:08x} is not installed")
        sock = self._sock_for(new)  # first: a pair that cannot move stays as it was
        before = pair.peer
        moved = new.remote_selectors != pair.spec.remote_selectors
        if moved:
            self._unhold(pair)
        pair.spec = new
        if moved:
            self._hold(pair)
        pair.peer = _peer(new)
        pair.reported = None
        pair.sock = sock
        pair.gso = self._gso_for(pair)
        log.info("Child SA 0x%08x/0x%08x of %s: now %s (was %s)", new.spi_in, new.spi_out, new.ike_sa_id,
                 _describe(pair.peer), _describe(before))

    def _gso_for(self, pair: _Pair) -> bool:
        return pair.peer[1] != 0 and pair.sock in self._gso_socks

    def counters_of(self, spi_ins: Sequence[int]) -> dict[int, SaCounters]:
        return {spi: c for spi in spi_ins if (c := self.counters(spi)) is not None}

    def counters(self, spi_in: int) -> SaCounters | None:
        pair = self._pairs.get(spi_in)
        if pair is None:
            return None
        i, o = pair.inbound, pair.outbound
        return SaCounters(
            packets_in=i.packets, bytes_in=i.bytes, packets_out=o.packets, bytes_out=o.bytes,
            replay_drops=i.replay_drops, integrity_failures=i.integrity_failures,
            other_drops=i.drops + o.drops, seq_out=o.packets, seq_in_highest=i.window.top,
            added_at=pair.lifetime.added_at, last_used=pair.last_used,
        )

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        pair = self._by_spi.get(datagram[:4])
        if pair is None:
            self.unknown_spi += 1
            return
        inbound = pair.inbound
        window = inbound.window
        top = window.top
        inner = inbound.open_view(datagram)
        if inner is None:
            if time.monotonic() >= pair.quiet_until:
                self._log_drop(pair, datagram, remote)
            return
        if remote != pair.peer and window.top > top:
            self._peer_moved(pair, remote)
        try:
            os.write(self._fd, inner)
        except OSError:
            self.tun_write_errors += 1

    def close(self) -> None:
        for pair in list(self._pairs.values()):
            self.remove(pair.spec)
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        for raw in self._raw.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(raw.fileno())
            raw.close()
        self._raw.clear()
        if self._tun_retry_handle is not None:
            self._tun_retry_handle.cancel()
            self._tun_retry_handle = None
        if self.tun is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self.tun.fd)
            self.tun.close()
            self.tun = None
            self._fd = -1
        if self._routes is not None:
            self._routes.close()
            self._routes = None

    def _raw_readable(self, sock: socket.socket) -> None:
        # Plain ESP: the raw socket hands over the IPv4 header (its length in
        # IHL, options included) before the ESP header; fragments arrive
        # reassembled. The source port is 0, as pairs without UDP keep it.
        # An IPv6 raw socket hands over the ESP header itself (no IPv6 header,
        # extension headers processed) and a four-field address.
        recvfrom = sock.recvfrom
        esp_received = self.esp_received
        ipv6 = sock.family == socket.AF_INET6
        for _ in range(RAW_DRAIN_BATCH):
            try:
                packet, remote = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: it said its piece
                continue
            if ipv6:
                esp_received(packet, (remote[0], 0))
            else:
                esp_received(packet[(packet[0] & 0x0F) << 2:], remote)

    # -- the outbound path -------------------------------------------------------

    def _tun_readable(self) -> None:
        # The per-packet path: one readv per packet; ESP in UDP leaves in
        # batches of equal-size datagrams per pair (one sendmsg with
        # UDP_SEGMENT each), plain ESP in one sendto per packet.
        try:
            self._drain_tun()
        finally:  # a batch never waits for the next wake-up
            lost = self._batch.flush()
            if lost:
                self.send_errors += lost

    def _drain_tun(self) -> None:
        fd = self._fd
        readv = os.readv
        iov = self._tun_iov
        stage = self._stage
        by_dst = self._by_dst
        add = self._batch.add
        for _ in range(DRAIN_BATCH):
            try:
                n = readv(fd, iov)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EBADFD: the device was deleted; its fd polls readable forever
                self._tun_gone(exc)
                return
            if n < 20:
                self.no_sa_for_destination += 1  # not an IPv4 header: nothing can route it
                continue
            if stage[STAGE_HEAD] >> 4 == 6:
                pair = self._lookup6(n)
            else:
                pair = by_dst.get(_u32(stage, STAGE_HEAD + 16)[0])
            if pair is None:
                pair = self._lookup_net()
                if pair is None:
                    self.no_sa_for_destination += 1
                    continue
            data = pair.outbound.seal_staged(stage, n)
            if data is None:
                continue
            if pair.gso:
                lost = add(pair, data)
                if lost:
                    self.send_errors += lost
                continue
            try:
                pair.sock.sendto(data, pair.peer)
            except OSError:  # full send buffer, or the peer's ICMP error reported here
                self.send_errors += 1

    def _lookup6(self, n: int) -> _Pair | None:
        """The pair for an IPv6 packet's destination (dual stack)."""
        if n < 40:
            return None
        start = STAGE_HEAD + 24
        dst = bytes(self._stage[start:start + 16])
        pair = self._by_dst6.get(dst)
        if pair is None:
            value = int.from_bytes(dst, "big")
            pair = next((p for net, mask, p in self._by_net6 if value & mask == net), None)
        return pair  # None: _lookup_net finds none either (not IPv4) and counts the drop

    def _lookup_net(self) -> _Pair | None:
        stage = self._stage
        if stage[STAGE_HEAD] >> 4 != 4:
            return None
        dst = _u32(stage, STAGE_HEAD + 16)[0]
        for net, mask, pair in self._by_net:
            if dst & mask == net:
                return pair
        return None

    # -- a TUN device removed under us -------------------------------------------
    #
    # The sessions' keys, counters and peers live here, not in the device: the
    # device is only the door to the kernel's routing, and it took the routes
    # through it when it went. Recreating both restores every session's traffic
    # with no re-authentication, which is what an operator who removed it by
    # mistake (or a script that cleaned interfaces) expects; ending every
    # session instead would turn one slip into an outage for all users. While
    # it cannot be recreated, new Child SAs are refused with the reason, and
    # the attempts go on with back-off.

    def _tun_gone(self, exc: OSError) -> None:
        assert self.tun is not None and self._loop is not None
        self._loop.remove_reader(self._fd)  # first: a dead fd would wake the loop forever
        self.tun.close()
        self.tun = None
        self._fd = -1  # ESP from clients meanwhile fails its write and is counted
        self.tun_losses += 1
        why = exc.strerror or str(exc)
        self._tun_lost = (time.monotonic(), why)
        self._tun_retry = 0.0
        self._tun_reported = time.monotonic()
        log.error("TUN device %s lost (%s): the traffic of %d Child SAs stops; recreating it and its routes to "
                  "%d networks, new Child SAs refused until then", self.tun_name, why, len(self._pairs),
                  len(self._routed()))
        self._tun_retry_handle = self._loop.call_later(0, self._revive)

    def _revive(self) -> None:
        self._tun_retry_handle = None
        if self._tun_lost is None or self._routes is None or self._loop is None:
            return
        since, why = self._tun_lost
        try:
            tun = self._make_device(self.tun_name, self.mtu)
        except OSError as exc:
            self._revive_later(f"cannot create it: {exc.strerror or exc}")
            return
        routed = self._routed()
        try:
            for net in routed:
                self._routes.replace(net, tun.index)
        except OSError as exc:
            tun.close()  # and the routes already put through it with it
            self._revive_later(f"cannot route {net} through it: {exc.strerror or exc}")
            return
        self.tun, self._fd, self._tun_lost = tun, tun.fd, None
        self._loop.add_reader(self._fd, self._tun_readable)
        log.warning("TUN device %s recreated after %.1f s with its routes to %s; the %d Child SAs carry traffic "
                    "again", tun.name, time.monotonic() - since, ", ".join(map(str, routed)) or "none",
                    len(self._pairs))

    def _revive_later(self, why: str) -> None:
        assert self._loop is not None and self._tun_lost is not None
        self._tun_retry = min(max(1.0, self._tun_retry * 2), TUN_RETRY_MAX)
        now = time.monotonic()
        if now - self._tun_reported >= TUN_REPORT_SECONDS or self._tun_retry == 1.0:
            self._tun_reported = now
            log.error("TUN device %s still gone after %.0f s: %s; trying again in %.0f s, new Child SAs refused",
                      self.tun_name, now - self._tun_lost[0], why, self._tun_retry)
        self._tun_retry_handle = self._loop.call_later(self._tun_retry, self._revive)

    # -- housekeeping -------------------------------------------------------------

    def _peer_moved(self, pair: _Pair, remote: Address) -> None:
        # Authentic and newest, yet the source address is not protected: a copy
        # sent on from elsewhere looks the same. So ESP never moves the pair;
        # the IKE side checks the path and, if the client answers from there,
        # moves the SA with update() (ikev2d/tasks/peer_address.py).
        # Again at most once a second while it goes on, as the kernel plane
        # reports: the IKE side skips a check while another exchange runs.
        # Only ESP in UDP to a pair in UDP is a NAT mapping to report (the
        # kernel reports XFRM_MSG_MAPPING for encapsulated states only): plain
        # ESP has no port to check, and one path of a pair switching between
        # the two (MOBIKE) is not a new mapping.
        if remote[1] == 0 or pair.peer[1] == 0:
            return
        now = time.monotonic()
        if pair.reported == remote and now - pair.reported_at < MAPPING_REPORT_SECONDS:
            return
        if pair.reported != remote:
            log.info("Child SA 0x%08x: ESP from %s:%d, not %s:%d: asking the IKE side to check", pair.spec.spi_in,
                     *remote, *pair.peer)
        pair.reported, pair.reported_at = remote, now
        if self._on_mapping is not None:
            self._on_mapping(pair.spec.spi_in, remote)

    def _log_drop(self, pair: _Pair, datagram: bytes, remote: Address) -> None:
        """One warning per pair at most every DROP_LOG_SECONDS, worded like
        FTD's 402119/402120, with the totals so far."""
        i = pair.inbound
        now = (i.replay_drops, i.integrity_failures, i.drops)
        before, pair.drops_logged = pair.drops_logged, now
        if now[0] > before[0]:
            what = "failed anti-replay checking"
        elif now[1] > before[1]:
            what = "failed authentication"
        else:
            what = "was malformed or outside the SA's selectors"
        pair.quiet_until = time.monotonic() + DROP_LOG_SECONDS
        seq = int.from_bytes(datagram[4:8], "big") if len(datagram) >= 8 else 0
        log.warning("IPSEC: Received an ESP packet (SPI= 0x%08X, sequence number= 0x%X) from %s (user= %s) "
                    "that %s; dropped so far: replay %d, integrity %d, other %d", pair.spec.spi_in, seq,
                    _describe_source(remote),
                    pair.spec.username or "?", what, *now)

    def _expired(self, expiry: Expiry) -> None:
        log.info("Child SA 0x%08x reached its %s %s lifetime", expiry.spi_in, "hard" if expiry.hard else "soft",
                 expiry.reason)
        if self._on_expiry is not None:
            self._on_expiry(expiry)

    def _tick(self) -> None:
        now = time.monotonic()
        for pair in list(self._pairs.values()):
            moved = (pair.inbound.packets, pair.outbound.packets)
            if moved != pair.seen:
                pair.seen = moved
                pair.last_used = now
            pair.lifetime.check_time(now)
        if self._loop is not None:
            self._tick_handle = self._loop.call_later(TICK_SECONDS, self._tick)

    # -- routes ----------------------------------------------------------------------

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        """Route the address pools' ranges (`blocks`, each a network inside
        a pool) through the TUN device, and no longer those routed before
        and not in `blocks` (at start and on each reload). A client network
        a block no longer covers gets its own route back first; one a new
        block covers loses it. A block the kernel already has a route for
        (another's) is left to it: its clients keep routes of their own."""
        wanted = list(dict.fromkeys(blocks))
        if self._routes is None or self.tun is None:
            # not attached yet, or the device is gone with every route through
            # it: attach() and the device's revival route these
            self._pool_routes = wanted
            self._covering = [(net.version, int(net.network_address), int(net.netmask)) for net in wanted]
            return
        old_pools, old_covering = self._pool_routes, self._covering
        kept = [net for net in old_pools if net in wanted]
        for net in wanted:
            if net in old_pools:
                continue
            try:
                self._routes.add(net, self.tun.index)
            except OSError as exc:
                log.warning("address pool range %s not routed through %s as a whole (%s): its clients are "
                            "routed one by one", net, self.tun.name, exc.strerror or exc)
                continue
            kept.append(net)
        self._pool_routes = kept
        self._covering = [(net.version, int(net.network_address), int(net.netmask)) for net in kept]
        for net in self._route_refs:
            was, now = _covered(net, old_covering), self._covered(net)
            try:
                if was and not now:
                    self._routes.replace(net, self.tun.index)
                elif now and not was:
                    self._routes.delete(net, self.tun.index)
            except OSError as exc:
                log.warning("cannot move the route to %s: %s", net, exc)
        for net in old_pools:
            if net not in kept:
                try:
                    self._routes.delete(net, self.tun.index)
                except OSError as exc:
                    log.warning("cannot remove the route to %s: %s", net, exc)

    def _covered(self, net: IPv4Network | IPv6Network) -> bool:
        return bool(self._covering) and _covered(net, self._covering)

    def _routed(self) -> list[IPv4Network | IPv6Network]:
        """Every network routed through the TUN device: the pools', then the clients' outside them."""
        return self._pool_routes + [net for net in self._route_refs if not self._covered(net)]

    def _add_routes(self, pair: _Pair) -> None:
        assert self._routes is not None and self.tun is not None
        added: list[IPv4Network | IPv6Network] = []
        try:
            for net in pair.spec.remote_selectors:
                if self._route_refs.get(net, 0) == 0 and not self._covered(net):
                    self._routes.replace(net, self.tun.index)
                self._route_refs[net] = self._route_refs.get(net, 0) + 1
                added.append(net)
        except OSError as exc:
            pair.routes = tuple(added)
            self._drop_routes(pair)
            raise DataPlaneError(f"cannot route {net} through {self.tun.name}: {exc}") from None
        pair.routes = tuple(added)

    def _drop_routes(self, pair: _Pair) -> None:
        for net in pair.routes:
            refs = self._route_refs.get(net, 0) - 1
            if refs > 0:
                self._route_refs[net] = refs
                continue
            self._route_refs.pop(net, None)
            if self._routes is not None and self.tun is not None and not self._covered(net):
                try:
                    self._routes.delete(net, self.tun.index)
                except OSError as exc:
                    log.warning("cannot remove the route to %s: %s", net, exc)
        pair.routes = ()


def _covered(net: IPv4Network | IPv6Network, covering: list[tuple[int, int, int]]) -> bool:
    """Whether `net` lies inside one of the `covering` (version, network, netmask) ranges."""
    version, first = net.version, int(net.network_address)
    last = first | int(net.hostmask)
    return any(v == version and first & mask == base and last & mask == base for v, base, mask in covering)


def _peer(spec: ChildSaSpec) -> Address:
    """Where a pair's ESP goes: port 0 stands for plain ESP (a raw socket ignores it)."""
    return (spec.remote_address, spec.encap_remote_port or 0)


def _describe(peer: Address) -> str:
    return f"ESP in UDP to {peer[0]}:{peer[1]}" if peer[1] else f"plain ESP to {peer[0]}"


def _describe_source(remote: Address) -> str:
    return f"{remote[0]}:{remote[1]}" if remote[1] else f"{remote[0]} (plain ESP)"
