"""The kernel back end: Child SAs as XFRM states and policies (esp/xfrm/).

`probe_kernel_esp()` says whether this kernel can carry ESP at all (the
machines this project is developed on cannot: kernel-esp.md), and
`KernelDataPlane` implements `esp.dataplane.DataPlane` on NETLINK_XFRM.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Callable, Sequence, TypeVar

from .dataplane import DataPlaneError, Expiry, ExpiryCallback, LaneCallback, MappingCallback, SaCounters
from .spec import ChildSaSpec
from .xfrm import consts as c
from .xfrm.algorithms import KernelAlg, UnsupportedAlgorithm, kernel_algs
from .xfrm.events import SaEvent, SaEvents
from .xfrm.flush import flush_owned
from .xfrm.messages import RESPONSE_CLASSES
from .xfrm.model import Encap, ExpireEvent, Lifetime, MappingEvent, Network, PolicyParams, SaParams, SaState, Selector, Template
from .xfrm.netlink import NetlinkChannel, NetlinkError
from .xfrm.netns import in_fresh_netns
from .xfrm.policy import add_policy, delete_policy
from .xfrm.route import Route, add_route, delete_route, open_route_channel, route_toward
from .xfrm.sa import add_sa, delete_sa, get_sa

log = logging.getLogger("esp.kernel")
T = TypeVar("T")

# The kernel sends XFRM_MSG_MAPPING for every packet from the new source
# until the SA moves: the IKE side hears of one source at most this often
# (again after a while, as its check may have been refused while busy).
MAPPING_REPORT_SECONDS = 1.0

# What an errno from NETLINK_XFRM means for us (kernel-esp.md for the first two).
ERRNO_MEANING = {
    errno.EPROTONOSUPPORT: "the kernel has no ESP",
    errno.ENOSYS: "the kernel lacks the algorithm",
    errno.EEXIST: "an SA or policy with the same identity is already installed",
    errno.EPERM: "not permitted (XFRM needs CAP_NET_ADMIN)",
    errno.EINVAL: "the kernel rejected the parameters",
    errno.ENOENT: "no such entry",
    errno.ESRCH: "no such SA",
    errno.ENETUNREACH: "no route toward the peer",
    errno.ENOMEM: "the kernel is out of memory",
}


def describe(exc: OSError) -> str:
    """'ENAME: meaning' for an errno-carrying error (its extended ack appended)."""
    code = exc.errno or 0
    name = errno.errorcode.get(code, str(code))
    meaning = ERRNO_MEANING.get(code, os.strerror(code))
    detail = getattr(exc, "detail", "")
    return f"{name}: {meaning}" + (f" ({detail})" if detail else "")


# -- the probe ------------------------------------------------------------------

_PROBE_SPI = 0x0000_0100  # lowest non-reserved SPI; the probe namespace holds nothing else
_PROBE_SRC, _PROBE_DST = "192.0.2.1", "192.0.2.2"  # TEST-NET-1, in case no new namespace


def _probe_states() -> list[tuple[str, SaParams]]:
    cbc = kernel_algs(12, 14, bytes(32), bytes(64))  # AES-256-CBC + HMAC-SHA-512/256
    gcm = kernel_algs(20, 0, bytes(36), b"")  # AES-256-GCM-16, key + salt
    return [
        ("cbc(aes)+hmac(sha512)", SaParams(_PROBE_SRC, _PROBE_DST, _PROBE_SPI, 1, tuple(cbc))),
        ("rfc4106(gcm(aes)) in UDP", SaParams(_PROBE_SRC, _PROBE_DST, _PROBE_SPI + 1, 1, tuple(gcm),
                                              encap=Encap(4500, 4500))),
    ]


def probe_kernel_esp() -> tuple[bool, str]:
    """Whether the kernel accepts the ESP states ikev2d needs, and why not.

    Adds and deletes throw-away states in a fresh network namespace, so
    nothing of the host's can be disturbed (if no namespace can be made, in
    ours with TEST-NET-1 addresses and SPIs nobody allocates)."""
    try:
        nl = in_fresh_netns(lambda: NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES))
    except OSError:
        try:
            nl = NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES)
        except OSError as exc:
            return False, f"{describe(exc)}: cannot open a NETLINK_XFRM socket"
    with nl:
        for what, params in _probe_states():
            try:
                add_sa(nl, params)
            except NetlinkError as exc:
                if exc.errno == errno.EPROTONOSUPPORT:
                    return False, "EPROTONOSUPPORT: the kernel has no ESP"
                if exc.errno == errno.ENOSYS:
                    return False, f"ENOSYS: the kernel's ESP has no {what.split(' ')[0]}"
                return False, f"{describe(exc)} (adding a test ESP state with {what})"
            try:
                delete_sa(nl, params.dst, params.spi, params.src)
            except NetlinkError as exc:
                log.warning("probe: cannot delete its test state: %s", describe(exc))
    return True, "the kernel accepts ESP states (cbc(aes)+hmac(sha512), rfc4106(gcm(aes)), UDP encapsulation)"


# -- lifetimes --------------------------------------------------------------------


def default_lifetime(spec: ChildSaSpec) -> Lifetime:
    """Hard limits as negotiated; soft at 90 % so a rekey can start in time.
    0 seconds or 0 kilobytes means no limit of that kind."""
    hard_s = max(spec.lifetime_seconds, 0)
    soft_s = max(hard_s * 9 // 10, 1) if hard_s else 0
    hard_b = spec.lifetime_kilobytes * 1024 if spec.lifetime_kilobytes > 0 else c.XFRM_INF
    soft_b = hard_b * 9 // 10 if hard_b != c.XFRM_INF else c.XFRM_INF
    return Lifetime(soft_bytes=soft_b, hard_bytes=hard_b, soft_add_seconds=soft_s, hard_add_seconds=hard_s)


LifetimeRule = Callable[[ChildSaSpec], Lifetime]


# -- the data plane ---------------------------------------------------------------

PolicyKey = tuple[Selector, int]
_instances = itertools.count()
TrafficKey = tuple[str, str, tuple[Network, ...], tuple[Network, ...]]


@dataclass
class _Installed:
    """What one install() put into the kernel, to be taken out again."""

    spec: ChildSaSpec
    reqid: int
    sas: list[tuple[str, int, str]] = field(default_factory=list)  # (dst, spi, src)
    policies: list[PolicyKey] = field(default_factory=list)
    routes: list[Network] = field(default_factory=list)
    added_at: float = 0.0


@dataclass
class _Shared:
    """A policy or route several SA pairs (a rekey's old and new) rely on."""

    refs: int
    route: Route | None = None
    templates: tuple[Template, ...] = ()  # a policy's, as last put into the kernel
    owned: bool = True  # False: it was there before us, so we never delete it


class KernelDataPlane:
    """`DataPlane` on the kernel's XFRM: tunnel-mode ESP states, in/out/fwd
    policies, a route to the client's virtual address, UDP_ENCAP on 4500."""

    name = "kernel"
    spi_lanes = 1
    reuse_port = udp_gro = False  # the kernel decapsulates ESP in UDP on the socket (UDP_ENCAP)

    def __init__(self, *, lifetime: LifetimeRule = default_lifetime, replay_window: int = 32,
                 priority: int = 0x100000, routes: bool = True) -> None:
        self.lifetime = lifetime
        self.replay_window = replay_window
        self.priority = priority
        self.routes = routes
        # every socket is opened here, so all of them belong to the network
        # namespace of the caller (tests make one data plane per namespace)
        self._nl = self._open(lambda: NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES))
        self._rt = self._open(open_route_channel, self._nl) if routes else None
        expire = self._open(lambda: SaEvents(c.XFRMGRP_EXPIRE), self._nl, self._rt)
        mapping = self._open(lambda: SaEvents(c.XFRMGRP_MAPPING), self._nl, self._rt, expire.channel)
        self._events: list[SaEvents] = [expire, mapping]
        # reqids of this data plane: pid and instance in the upper half, so
        # neither two daemons nor two data planes of one process share any
        owner = ((os.getpid() << 4) | (next(_instances) & 0xF)) & 0x3FFF
        self._reqid_base = 0x40000000 | (owner << 16)
        self._reqid_next = itertools.count(1)
        self._reqids: dict[TrafficKey, tuple[int, int]] = {}  # -> (reqid, users)
        self._installed: dict[int, _Installed] = {}
        self._by_sa: dict[tuple[str, int], int] = {}  # (dst, spi) -> spi_in
        self._policies: dict[PolicyKey, _Shared] = {}
        self._routes: dict[Network, _Shared] = {}
        self._lock = threading.RLock()
        self._on_expiry: ExpiryCallback | None = None
        self._on_mapping: MappingCallback | None = None
        self._events_loop: asyncio.AbstractEventLoop | None = None
        self._events_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reported: set[tuple[int, bool]] = set()
        self._mapping_reported: dict[int, tuple[tuple[str, int], float]] = {}  # spi_in -> (source, when)
        # an SA the kernel deleted at its hard limit, as its expire message
        # last showed it: its counts still belong to the session (113019)
        self._hard_expired: dict[tuple[str, int], SaState] = {}
        self._closed = False

    @staticmethod
    def _open(make: Callable[[], T], *opened: NetlinkChannel | None) -> T:
        """Open one socket; on failure close those already open and say why."""
        try:
            return make()
        except OSError as exc:
            for channel in opened:
                if channel is not None:
                    channel.close()
            raise DataPlaneError(f"cannot open netlink: {describe(exc)}") from exc

    # -- attach and expiry ----------------------------------------------------------

    def attach(self, nat_t_socket: socket.socket, on_expiry: ExpiryCallback,
               on_mapping: MappingCallback | None = None) -> None:
        """ESP in UDP on `nat_t_socket` goes to the kernel from now on; IKE
        (behind the non-ESP marker) still reaches the socket's reader."""
        try:
            nat_t_socket.setsockopt(socket.IPPROTO_UDP, c.UDP_ENCAP, c.UDP_ENCAP_ESPINUDP)
        except OSError as exc:
            raise DataPlaneError(f"cannot set UDP_ENCAP_ESPINUDP on the 4500 socket: {describe(exc)}") from exc
        self._on_expiry = on_expiry
        self._on_mapping = on_mapping
        self.start_expiry_listener()

    def start_expiry_listener(self) -> None:
        """Listen for XFRM_MSG_EXPIRE and XFRM_MSG_MAPPING: on the running
        asyncio loop if there is one (callbacks then run on it), otherwise
        on a thread."""
        if not self._events or self._events_loop is not None or self._events_thread is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            for sub in self._events:
                loop.add_reader(sub.fileno(), self._events_readable, sub)
            self._events_loop = loop
        else:
            self._events_thread = threading.Thread(target=self._events_worker, name="xfrm-events", daemon=True)
            self._events_thread.start()

    def _events_worker(self) -> None:
        subs = {sub.fileno(): sub for sub in self._events}
        while not self._stop.is_set():
            readable, _, _ = select.select(list(subs), [], [], 0.2)
            for fd in readable:
                self._events_readable(subs[fd])

    def _events_readable(self, sub: SaEvents) -> None:
        if self._closed:
            return
        try:
            events = sub.drain()
        except OSError as exc:
            log.error("reading XFRM notifications failed: %s", describe(exc))
            return
        for event in events:
            self._dispatch(event)

    def _dispatch(self, event: SaEvent) -> None:
        if isinstance(event, ExpireEvent):
            self._expired(event)
        else:
            self._mapped(event)

    def _expired(self, event: ExpireEvent) -> None:
        with self._lock:
            spi_in = self._by_sa.get((event.state.dst, event.state.spi))
            if spi_in is None:
                return  # not ours
            if event.hard:
                self._hard_expired[(event.state.dst, event.state.spi)] = event.state
            if (spi_in, event.hard) in self._reported:
                return  # the pair's other SA already said it
            self._reported.add((spi_in, event.hard))
        expiry = Expiry(spi_in=spi_in, hard=event.hard, reason=event.reason)
        log.info("Child SA 0x%08x: %s %s lifetime reached", spi_in, "hard" if expiry.hard else "soft", expiry.reason)
        if self._on_expiry is not None:
            self._on_expiry(expiry)

    def _mapped(self, event: MappingEvent) -> None:
        """Authentic ESP of one of our inbound SAs from a new source: a hint
        for the IKE side (as the userspace data plane gives), never a move."""
        now = time.monotonic()
        with self._lock:
            if self._by_sa.get((event.dst, event.spi)) != event.spi:
                return  # not ours, or not an inbound SA
            last = self._mapping_reported.get(event.spi)
            if last is not None and last[0] == event.new and now - last[1] < MAPPING_REPORT_SECONDS:
                return
            first = last is None or last[0] != event.new
            self._mapping_reported[event.spi] = (event.new, now)
        if first:
            log.info("Child SA 0x%08x: the kernel saw ESP from %s:%d, not %s:%d: asking the IKE side to check",
                     event.spi, *event.new, *event.old)
        if self._on_mapping is not None:
            self._on_mapping(event.spi, event.new)

    # -- install / remove -------------------------------------------------------------

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        pass  # one lane, never down

    def install(self, spec: ChildSaSpec) -> None:
        with self._lock:
            if spec.spi_in in self._installed:
                raise DataPlaneError(f"Child SA 0x{spec.spi_in:08x} is already installed")
            try:
                algs_in = tuple(kernel_algs(spec.algorithms.encr_id, spec.algorithms.integ_id,
                                            spec.encr_key_in, spec.integ_key_in))
                algs_out = tuple(kernel_algs(spec.algorithms.encr_id, spec.algorithms.integ_id,
                                             spec.encr_key_out, spec.integ_key_out))
            except UnsupportedAlgorithm as exc:
                raise DataPlaneError(f"Child SA 0x{spec.spi_in:08x}: {exc}") from exc
            record = _Installed(spec, self._take_reqid(spec), added_at=time.monotonic())
            try:
                self._add_states(record, algs_in, algs_out)
                self._add_policies(record)
                if self.routes:
                    self._add_routes(record)
            except (OSError, ValueError) as exc:
                problems = self._undo(record)
                why = describe(exc) if isinstance(exc, OSError) else str(exc)
                msg = f"cannot install Child SA 0x{spec.spi_in:08x}/0x{spec.spi_out:08x}: {why}"
                if problems:
                    msg += "; and undoing it failed: " + "; ".join(problems)
                raise DataPlaneError(msg) from exc
            self._installed[spec.spi_in] = record
        log.info("kernel: Child SA 0x%08x/0x%08x installed for %s (%s, reqid %d%s)", spec.spi_in, spec.spi_out,
                 ",".join(map(str, spec.remote_selectors)), "/".join(a.name for a in algs_in), record.reqid,
                 ", ESP in UDP" if spec.encap_local_port else "")

    def _take_reqid(self, spec: ChildSaSpec) -> int:
        """One reqid per traffic (endpoints and selectors), shared by rekeyed SAs."""
        key: TrafficKey = (spec.local_address, spec.remote_address, spec.local_selectors, spec.remote_selectors)
        reqid, users = self._reqids.get(key, (0, 0))
        if not reqid:
            reqid = self._reqid_base + next(self._reqid_next)
        self._reqids[key] = (reqid, users + 1)
        return reqid

    def _drop_reqid(self, spec: ChildSaSpec) -> None:
        key: TrafficKey = (spec.local_address, spec.remote_address, spec.local_selectors, spec.remote_selectors)
        reqid, users = self._reqids.get(key, (0, 0))
        if users <= 1:
            self._reqids.pop(key, None)
        else:
            self._reqids[key] = (reqid, users - 1)

    def _add_states(self, r: _Installed, algs_in: tuple[KernelAlg, ...], algs_out: tuple[KernelAlg, ...],
                    replay: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)) -> None:
        s = r.spec
        local_port, remote_port = s.encap_local_port, s.encap_remote_port
        encap_in, encap_out = ((Encap(remote_port, local_port), Encap(local_port, remote_port))
                               if local_port is not None and remote_port is not None else (None, None))
        lifetime = self.lifetime(s)
        inbound = SaParams(src=s.remote_address, dst=s.local_address, spi=s.spi_in, reqid=r.reqid, algs=algs_in,
                           encap=encap_in, lifetime=lifetime, replay_window=self.replay_window, esn=s.algorithms.esn,
                           replay=replay[0])
        outbound = SaParams(src=s.local_address, dst=s.remote_address, spi=s.spi_out, reqid=r.reqid, algs=algs_out,
                            encap=encap_out, lifetime=lifetime, replay_window=self.replay_window, esn=s.algorithms.esn,
                            replay=replay[1])
        for params in (inbound, outbound):
            add_sa(self._nl, params)
            r.sas.append((params.dst, params.spi, params.src))
            self._by_sa[(params.dst, params.spi)] = s.spi_in

    def _add_policies(self, r: _Installed) -> None:
        s = r.spec
        out_tmpl = (Template(src=s.local_address, dst=s.remote_address, reqid=r.reqid),)
        in_tmpl = (Template(src=s.remote_address, dst=s.local_address, reqid=r.reqid),)
        for local in s.local_selectors:
            for remote in s.remote_selectors:
                if local.version != remote.version:
                    continue  # dual stack: a policy's selector has one family (the SA carries both)
                wanted = [
                    PolicyParams(Selector(local, remote), c.XFRM_POLICY_OUT, out_tmpl, self.priority),
                    PolicyParams(Selector(remote, local), c.XFRM_POLICY_IN, in_tmpl, self.priority),
                    PolicyParams(Selector(remote, local), c.XFRM_POLICY_FWD, in_tmpl, self.priority),
                ]
                for p in wanted:
                    key: PolicyKey = (p.selector, p.direction)
                    shared = self._policies.get(key)
                    if shared is None:
                        add_policy(self._nl, p)
                        self._policies[key] = _Shared(refs=1, templates=p.templates)
                    else:
                        if shared.templates != p.templates:  # the peer moved: the newest pair's endpoints
                            add_policy(self._nl, p, update=True)
                            shared.templates = p.templates
                        shared.refs += 1
                    r.policies.append(key)

    def _add_routes(self, r: _Installed) -> None:
        assert self._rt is not None
        s = r.spec
        for remote in s.remote_selectors:
            shared = self._routes.get(remote)
            if shared is None:
                route = route_toward(self._rt, remote, s.remote_address, s.local_selectors)
                owned = add_route(self._rt, route)
                self._routes[remote] = _Shared(refs=1, route=route, owned=owned)
            else:
                shared.refs += 1
            r.routes.append(remote)

    def _undo(self, r: _Installed) -> list[str]:
        """Take out everything `r` added; the problems met (it goes on past them)."""
        problems: list[str] = []
        for dst, spi, src in reversed(r.sas):
            try:
                delete_sa(self._nl, dst, spi, src)
            except OSError as exc:
                problems.append(f"SA 0x{spi:08x} to {dst}: {describe(exc)}")
            self._by_sa.pop((dst, spi), None)
            self._hard_expired.pop((dst, spi), None)
        r.sas.clear()
        for key in reversed(r.policies):
            shared = self._policies[key]
            shared.refs -= 1
            if shared.refs == 0:
                del self._policies[key]
                try:
                    delete_policy(self._nl, *key)
                except OSError as exc:
                    problems.append(f"policy {key[0].src}->{key[0].dst} dir {key[1]}: {describe(exc)}")
        r.policies.clear()
        for net in reversed(r.routes):
            shared = self._routes[net]
            shared.refs -= 1
            if shared.refs == 0:
                del self._routes[net]
                if shared.owned and shared.route is not None and self._rt is not None:
                    try:
                        delete_route(self._rt, shared.route)
                    except OSError as exc:
                        problems.append(f"route to {net}: {describe(exc)}")
        r.routes.clear()
        self._drop_reqid(r.spec)
        return problems

    def remove(self, spec: ChildSaSpec) -> None:
        with self._lock:
            record = self._installed.pop(spec.spi_in, None)
            if record is None:
                return
            problems = self._undo(record)
            self._reported.discard((spec.spi_in, False))
            self._reported.discard((spec.spi_in, True))
            self._mapping_reported.pop(spec.spi_in, None)
        if problems:
            raise DataPlaneError(f"removing Child SA 0x{spec.spi_in:08x}: " + "; ".join(problems))
        log.info("kernel: Child SA 0x%08x/0x%08x removed", spec.spi_in, spec.spi_out)

    # -- the peer moved ----------------------------------------------------------------

    def update(self, old: ChildSaSpec, new: ChildSaSpec) -> None:
        """Only the NAT port changed: UPDSA rewrites both states' encapsulation
        in place (same SA ids). Addresses changed, or ESP in UDP came or went:
        the ids change (the outbound SA is keyed by its destination), so each
        state is read, deleted and added at the new addresses with its
        sequence numbers, and the policies get the new tunnel endpoints."""
        with self._lock:
            record = self._installed.get(old.spi_in)
            if record is None:
                raise DataPlaneError(f"Child SA 0x{old.spi_in:08x} is not installed")
            algs_in, algs_out = self._algs(new)
            same_ids = (old.local_address, old.remote_address) == (new.local_address, new.remote_address)
            try:
                if same_ids and old.encap_remote_port is not None and new.encap_remote_port is not None:
                    self._reencap(record, new, algs_in, algs_out)
                    how = "encapsulation updated in place"
                else:
                    self._readd(record, new, algs_in, algs_out)
                    how = "states re-added"
            except OSError as exc:
                raise DataPlaneError(f"cannot move Child SA 0x{old.spi_in:08x} to {new.remote_address}: "
                                     f"{describe(exc)}") from exc
            self._mapping_reported.pop(old.spi_in, None)
        log.info("kernel: Child SA 0x%08x/0x%08x now to %s:%s (%s)", new.spi_in, new.spi_out, new.remote_address,
                 new.encap_remote_port if new.encap_remote_port is not None else "ESP", how)

    def _algs(self, spec: ChildSaSpec) -> tuple[tuple[KernelAlg, ...], tuple[KernelAlg, ...]]:
        try:
            return (tuple(kernel_algs(spec.algorithms.encr_id, spec.algorithms.integ_id, spec.encr_key_in,
                                      spec.integ_key_in)),
                    tuple(kernel_algs(spec.algorithms.encr_id, spec.algorithms.integ_id, spec.encr_key_out,
                                      spec.integ_key_out)))
        except UnsupportedAlgorithm as exc:
            raise DataPlaneError(f"Child SA 0x{spec.spi_in:08x}: {exc}") from exc

    def _reencap(self, r: _Installed, new: ChildSaSpec, algs_in: tuple[KernelAlg, ...],
                 algs_out: tuple[KernelAlg, ...]) -> None:
        assert new.encap_local_port is not None and new.encap_remote_port is not None
        lifetime = self.lifetime(new)
        for src, dst, spi, algs, encap in (
                (new.remote_address, new.local_address, new.spi_in, algs_in,
                 Encap(new.encap_remote_port, new.encap_local_port)),
                (new.local_address, new.remote_address, new.spi_out, algs_out,
                 Encap(new.encap_local_port, new.encap_remote_port))):
            add_sa(self._nl, SaParams(src=src, dst=dst, spi=spi, reqid=r.reqid, algs=algs, encap=encap,
                                      lifetime=lifetime, replay_window=self.replay_window,
                                      esn=new.algorithms.esn), update=True)
        r.spec = new

    def _readd(self, r: _Installed, new: ChildSaSpec, algs_in: tuple[KernelAlg, ...],
               algs_out: tuple[KernelAlg, ...]) -> None:
        old = r.spec
        inbound = get_sa(self._nl, old.local_address, old.spi_in, old.remote_address)
        outbound = get_sa(self._nl, old.remote_address, old.spi_out, old.local_address)
        replay = ((inbound.current.oseq, inbound.current.seq) if inbound else None,
                  (outbound.current.oseq, outbound.current.seq) if outbound else None)
        for dst, spi, src in r.sas:
            delete_sa(self._nl, dst, spi, src)
            self._by_sa.pop((dst, spi), None)
        r.sas.clear()
        self._drop_reqid(old)
        r.spec, r.reqid = new, self._take_reqid(new)
        self._add_states(r, algs_in, algs_out, replay)
        # the policies stay (the traffic is the same); their templates name
        # the new endpoints and reqid: shared ones are updated in place
        keys, r.policies = r.policies, []
        for key in keys:
            self._policies[key].refs -= 1
        self._add_policies(r)

    # -- counters -------------------------------------------------------------------

    def counters_of(self, spi_ins: Sequence[int]) -> dict[int, SaCounters]:
        return {spi: c for spi in spi_ins if (c := self.counters(spi)) is not None}

    def counters(self, spi_in: int) -> SaCounters | None:
        with self._lock:
            record = self._installed.get(spi_in)
            if record is None:
                return None
            s = record.spec
            try:
                inbound = get_sa(self._nl, s.local_address, s.spi_in, s.remote_address)
                outbound = get_sa(self._nl, s.remote_address, s.spi_out, s.local_address)
            except OSError as exc:
                raise DataPlaneError(f"reading Child SA 0x{spi_in:08x}: {describe(exc)}") from exc
            # the kernel deletes an SA at its hard limit: its last counts
            # came with the expire message
            inbound = inbound or self._hard_expired.get((s.local_address, s.spi_in))
            outbound = outbound or self._hard_expired.get((s.remote_address, s.spi_out))
        return _counters(record, inbound, outbound)

    def esp_received(self, datagram: bytes, remote: tuple[str, int]) -> None:
        # With UDP_ENCAP set the kernel takes ESP; one seen here had no SA there.
        log.debug("ESP from %s:%d reached user space: no kernel SA for it", *remote)

    # -- shutdown ---------------------------------------------------------------------

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        pass  # the kernel's policies and routes are per Child SA

    def close(self) -> None:
        """Remove all we installed (and sweep by reqid for anything missed)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            reqids = {r.reqid for r in self._installed.values()} | {v[0] for v in self._reqids.values()}
            problems: list[str] = []
            for spi_in in list(self._installed):
                problems += self._undo(self._installed.pop(spi_in))
            try:
                flush_owned(self._nl, reqids)
            except OSError as exc:
                problems.append(f"sweep: {describe(exc)}")
        self._stop.set()
        if self._events_loop is not None:
            for sub in self._events:
                try:
                    self._events_loop.remove_reader(sub.fileno())
                except (RuntimeError, ValueError):  # the loop is already closed
                    pass
        if self._events_thread is not None:
            self._events_thread.join(timeout=2)
        for sub in self._events:
            sub.close()
        self._events = []
        self._nl.close()
        if self._rt is not None:
            self._rt.close()
        if problems:
            log.error("kernel data plane: leftovers at close: %s", "; ".join(problems))

    def installed(self) -> list[int]:
        """spi_in of every SA pair installed now."""
        with self._lock:
            return list(self._installed)


def _counters(record: _Installed, inbound: SaState | None, outbound: SaState | None) -> SaCounters:
    cur_in = inbound.current if inbound else None
    cur_out = outbound.current if outbound else None
    used = max((x.use_time for x in (cur_in, cur_out) if x is not None), default=0)
    # the kernel keeps wall-clock seconds; SaCounters wants time.monotonic()
    last_used = time.monotonic() - max(time.time() - used, 0.0) if used else None
    return SaCounters(
        packets_in=cur_in.packets if cur_in else 0,
        bytes_in=cur_in.bytes if cur_in else 0,
        packets_out=cur_out.packets if cur_out else 0,
        bytes_out=cur_out.bytes if cur_out else 0,
        replay_drops=cur_in.replay if cur_in else 0,
        integrity_failures=cur_in.integrity_failed if cur_in else 0,
        seq_out=cur_out.oseq if cur_out else 0,
        seq_in_highest=cur_in.seq if cur_in else 0,
        added_at=record.added_at,
        last_used=last_used,
    )
