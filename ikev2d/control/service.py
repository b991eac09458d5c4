"""What the control socket does for a running daemon: snapshots for `show`
(streamed, ikev2d/control/snapshot_stream.py), the running configuration,
`vpn-sessiondb logoff` and `reload`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from ..effects import Effect
from ..keylog import esp_rows, ike_rows
from ..trace.hub import Filter, Listener, TraceHub
from ..trace.record import FACILITIES, MAX_LEVEL, address
from ..sa import IkeSa
from ..sa_types import State
from ..show.names import session_index
from ..show import ca_certificates, ip_local_pool, ipv6_local_pool
from ..show.running_config import render_config
from ..syslog import SyslogPipeline
from ..syslog.status import status as logging_status
from . import collect, snapshot_stream
from .ike_stats import IkeStats
from .protocol import ControlError, error
from .server import Answer, ControlServer, LiveStream
from .stats import SessionStats

if TYPE_CHECKING:
    from ..reload import ReloadReport

log = logging.getLogger("ikev2d.control")

# why the session ended, for the logs: the 113019 reason for an
# administrator's logoff in the ASA syslog guide (ikev2d.syslog maps it)
LOGOFF_REASON = "Administrator Reset"
# `clear crypto ikev2 sa`: the same reason in 113019 (unconfirmed for an
# FTD; docs/ftd-behaviour.md, "show commands")
CLEAR_REASON = "Administrator Reset"
SAMPLE_INTERVAL = 1.0


class ManagedDaemon(collect.DaemonView, Protocol):
    @property
    def syslog(self) -> SyslogPipeline: ...

    def perform(self, effects: list[Effect]) -> None: ...

    @property
    def trace_hub(self) -> TraceHub | None: ...

    def reload(self) -> ReloadReport: ...


class ControlService:
    def __init__(self, daemon: ManagedDaemon, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.daemon = daemon
        self.stats = SessionStats()
        self.ike_stats = IkeStats()
        daemon.syslog.observers.append(self.ike_stats.observe)
        self.clock = clock
        self.wall = wall

    def close(self) -> None:
        """Stop counting (the daemon's pipeline outlives this service)."""
        observers = self.daemon.syslog.observers
        if self.ike_stats.observe in observers:
            observers.remove(self.ike_stats.observe)

    def handle(self, request: dict[str, Any]) -> Answer:
        op = request.get("op")
        if op == "show":
            with_sessions = request.get("sessions", True)
            if not isinstance(with_sessions, bool):
                return error("show: sessions must be true or false")
            return self._show(with_sessions)
        if op == "running-config":
            return {"ok": True, "text": render_config(self.daemon.config)}
        if op == "logoff":
            return self._logoff(request)
        if op == "clear-ikev2-sa":
            return self._clear_ikev2_sa(request)
        if op == "pool":
            pool = self.daemon.responder.settings.pools.get(request.get("name"))  # type: ignore[arg-type]
            if pool is None:
                return error(f"ERROR: Pool {request.get('name')} does not exist")
            return {"ok": True, "pool": ip_local_pool.snapshot(pool)}
        if op == "keys":
            return self._keys()
        if op == "debug":
            return self._debug(request)
        if op == "ladder":
            return self._ladder(request)
        if op == "pool6":
            pool6 = self.daemon.responder.settings.pools6.get(request.get("name"))  # type: ignore[arg-type]
            if pool6 is None:
                return error(f"ERROR: Pool {request.get('name')} does not exist")
            return {"ok": True, "pool": ipv6_local_pool.snapshot(pool6)}
        if op == "ca-certificates":
            settings = self.daemon.responder.settings
            held = ca_certificates.snapshot(settings, self.daemon.config, settings.wall_clock())
            return {"ok": True, "ca-certificates": held}
        if op == "ikev2-stats":
            return {"ok": True, "ikev2-stats": self.ike_stats.values(self.daemon.responder)}
        if op == "logging":
            return {"ok": True, "logging": logging_status(self.daemon.syslog, self.daemon.config)}
        if op == "reload":  # a short answer: one line per change
            return self.daemon.reload().as_answer()
        return error(f"unknown request {op!r}")

    def _show(self, with_sessions: bool) -> Iterator[dict[str, Any]]:
        # the SA list is taken now, each session read when its turn comes
        now_mono, now_wall = self.clock(), self.wall()
        head = collect.head(self.daemon, self.stats, now_wall)
        sas = collect.shown(self.daemon.responder) if with_sessions else []
        return snapshot_stream.answer(head, collect.sessions(self.daemon, sas, now_mono, now_wall))

    def sample(self) -> None:
        self.stats.observe(collect.presence(self.daemon.responder))

    def _debug(self, request: dict[str, Any]) -> Answer:
        """`ikev2d debug crypto ikev2 protocol|platform LEVEL`: a live trace."""
        hub = self.daemon.trace_hub
        if hub is None:
            return error("debug: the daemon is not serving yet")
        levels = {}
        for facility in FACILITIES:
            level = request.get(facility, 0)
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= MAX_LEVEL:
                return error(f"debug: {facility} level must be 0-{MAX_LEVEL}")
            levels[facility] = level
        if not any(levels.values()):
            return error("debug: give a protocol or platform level of 1 or more")
        peer, user = request.get("peer"), request.get("user")
        if peer is not None:
            try:
                peer = str(ipaddress.ip_address(str(peer)))
            except ValueError:
                return error(f"debug: {peer!r} is not an IP address")
        if user is not None and not isinstance(user, str):
            return error("debug: user must be a name")
        listener = Listener(levels, Filter(peer, user))
        return LiveStream({"ok": True, "debug": {**levels, "peer": peer, "user": user}},
                          lambda gone: hub.stream(listener, gone))

    def _ladder(self, request: dict[str, Any]) -> dict[str, Any]:
        """`show session USER --ladder`: each live session of the user (or
        the one with that vpn-sessiondb index), with its messages."""
        user, index = request.get("user"), request.get("index")
        if not isinstance(user, str) and not isinstance(index, int):
            return error("ladder: give a user name or a session index")
        sessions = []
        for sa in self.daemon.responder.sas.values():
            if sa.successor is not None or sa.state is State.DELETED:
                continue  # a rekeyed SA's story goes on in its successor
            if (isinstance(user, str) and sa.username == user) or \
                    (isinstance(index, int) and session_index(sa.unique_id) == index):
                sessions.append({"user": sa.username, "index": session_index(sa.unique_id),
                                 "client": address(sa.remote), "server": address(sa.local),
                                 "steps": [step.as_json() for step in sa.history]})
        transport = getattr(self.daemon, "transport", None)
        return {"ok": True, "sessions": sessions, "nat_t_port": getattr(transport, "nat_t_port", 4500)}

    def _keys(self) -> dict[str, Any]:
        """`ikev2d keys`: Wireshark's tables for every live SA. The socket
        is root's alone (0600); each export is logged, without a key."""
        live = [sa for sa in self.daemon.responder.sas.values() if sa.state is not State.DELETED]
        ike = [row for sa in live for row in ike_rows(sa.wireshark_keys())]
        esp = [row for sa in live for child in sa.children for row in esp_rows(child.spec)]
        log.warning("exported the keys of %d IKE SA(s) and %d Child SA(s) to a control client",
                    len(live), sum(len(sa.children) for sa in live))
        return {"ok": True, "ikev2_decryption_table": ike, "esp_sa": esp}

    def _logoff(self, request: dict[str, Any]) -> dict[str, Any]:
        chosen = _logoff_filter(request)
        if chosen is None:
            return error("logoff needs all, a user name, a session index, an IP address or a tunnel group")

        return {"ok": True, "count": self._end(chosen, LOGOFF_REASON)}

    def _clear_ikev2_sa(self, request: dict[str, Any]) -> dict[str, Any]:
        """`clear crypto ikev2 sa [local A] [remote A]`: every IKE SA up (or
        those with that local / remote address) deleted as a logoff is. An SA
        still negotiating has no keys to send a Delete with: it is left to
        finish or time out."""
        local, remote = request.get("local"), request.get("remote")
        for value in (local, remote):
            if value is not None and (not isinstance(value, str) or not value):
                return error("clear-ikev2-sa: local and remote are addresses")
        count = self._end(lambda sa: (local is None or sa.local[0] == local)
                          and (remote is None or sa.remote[0] == remote), CLEAR_REASON)
        return {"ok": True, "count": count}

    def _end(self, chosen: Callable[[IkeSa], bool], reason: str) -> int:
        responder = self.daemon.responder
        going = [sa for sa in responder.sas.values() if sa.state is State.ESTABLISHED and chosen(sa)]
        if going:
            self.sample()  # count the sessions before they go: once, not once each (O(n) a sample)
        now = self.clock()
        for sa in going:
            self.daemon.perform(responder.delete_ike_sa(sa, reason, now))
        return len(going)


def _logoff_filter(request: dict[str, Any]) -> Callable[[IkeSa], bool] | None:
    """Which sessions `vpn-sessiondb logoff` means: all, name USER, index N,
    ipaddress A (the assigned address or the public one: *our choice*, the
    ASA guide says "the IP address that you specify"), tunnel-group NAME."""
    name, index, address, group = (request.get(k) for k in ("name", "index", "ipaddress", "tunnel_group"))
    if request.get("all") is True:
        return lambda sa: True
    if isinstance(name, str) and name:
        return lambda sa: sa.username == name
    if isinstance(index, int) and not isinstance(index, bool):
        return lambda sa: session_index(sa.unique_id) == index
    if isinstance(address, str) and address:
        wanted = _canonical(address)
        return lambda sa: wanted in _addresses_of(sa)
    if isinstance(group, str) and group:
        return lambda sa: sa.profile is not None and sa.profile.name == group
    return None


class Control:
    """The control socket of one daemon: the server, the service behind it,
    and the sampler that keeps vpn-sessiondb's cumulative counts."""

    def __init__(self, daemon: ManagedDaemon, path: str) -> None:
        self.service = ControlService(daemon)
        self.server = ControlServer(path, self.service.handle)
        self._sampler: asyncio.Task | None = None

    async def start(self) -> None:
        await self.server.start()
        self._sampler = asyncio.create_task(self._sample(), name="control-sampler")

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        await self.server.stop()
        self.service.close()

    async def _sample(self) -> None:
        while True:
            self.service.sample()
            await asyncio.sleep(SAMPLE_INTERVAL)


async def start_control(daemon: ManagedDaemon, path: str) -> Control | None:
    """The control socket, or None (said in the log) when it cannot be had,
    e.g. another daemon serves that path: IKE goes on being served."""
    control = Control(daemon, path)
    try:
        await control.start()
    except (ControlError, OSError) as exc:
        control.service.close()
        log.error("control socket: %s; `ikev2d show` cannot reach this daemon", exc)
        return None
    return control



def _addresses_of(sa: IkeSa) -> set[str]:
    """A session's addresses as text: the assigned ones (IPv4, and IPv6 for
    a dual-stack client) and the public one."""
    held = [str(sa.lease[1])] if sa.lease is not None else []
    if sa.lease6 is not None:
        held.append(str(sa.lease6[1]))
    return {*held, sa.remote[0]}


def _canonical(address: str) -> str:
    """An address as `str(ip_address)` writes it (IPv6 compressed, lower
    case), so that 2001:2:0:1:0:0:0:100 finds 2001:2:0:1::100."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return address
