"""The adapter's side of the trace: who listens (`ikev2d debug` clients, the
configured trace file), at which levels and for which peer or user, and the
records of what the adapter itself sees (events, data-plane programming).

Each listener has a bounded queue: a listener that cannot keep up loses
records (and is told how many), never the daemon's memory or time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TextIO

from esp.spec import ChildSaSpec

from .. import events as ev
from ..effects import Effect, InstallChildSa, RemoveChildSa, UpdateChildSa
from ..log import format_event, is_failure
from .decode import name
from ..iana import EncrId, IntegId
from .record import ERRORS, EVENTS, FACILITIES, PACKETS, PLATFORM, PROTOCOL, TraceRecord, address
from .render import render
from .tracer import Tracer

log = logging.getLogger("ikev2d")

QUEUE_RECORDS = 10_000  # per listener: a burst of connects' worth


@dataclass
class Filter:
    """FTD's `debug crypto condition peer ADDRESS | username NAME`: the
    records of the IKE SAs of that peer or user. A user's SA is known from
    the first record naming them (IDi, EAP identity, the authenticated
    user); its earlier IKE_SA_INIT is not (use the peer filter for that)."""

    peer: str | None = None
    user: str | None = None
    _claimed: set[str] = field(default_factory=set)

    def accepts(self, record: TraceRecord) -> bool:
        if self.peer is not None and _host(record.peer) != self.peer:
            return False
        if self.user is None:
            return True
        if record.sa and record.sa in self._claimed:
            return True
        if record.user == self.user or self.user in _identities(record.data):
            if record.sa:
                self._claimed.add(record.sa)
            return True
        return False


class Listener:
    def __init__(self, levels: dict[str, int], where: Filter, sink: Callable[[dict[str, Any]], None] | None = None
                 ) -> None:
        self.levels = levels
        self.filter = where
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_RECORDS)
        self.sink = sink  # a file writes at once; a control client reads the queue
        self.lost = 0

    def wants(self, record: TraceRecord) -> bool:
        return 0 < record.level <= self.levels.get(record.facility, 0) and self.filter.accepts(record)

    def push(self, line: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink(line)
            return
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            self.lost += 1


class TraceHub:
    def __init__(self, tracer: Tracer, clock: Callable[[], float] = time.time) -> None:
        self.tracer = tracer
        self.clock = clock
        self.listeners: list[Listener] = []

    @property
    def active(self) -> bool:
        return bool(self.listeners)

    def add(self, listener: Listener) -> None:
        self.listeners.append(listener)
        self._relevel()

    def remove(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        self._relevel()

    def _relevel(self) -> None:
        for facility in FACILITIES:
            self.tracer.levels[facility] = max((lst.levels.get(facility, 0) for lst in self.listeners), default=0)

    # -- records in -------------------------------------------------------------

    def publish(self, records: list[TraceRecord]) -> None:
        if not records or not self.listeners:
            return
        now = self.clock()
        for record in records:
            line: dict[str, Any] | None = None
            for listener in self.listeners:
                if listener.wants(record):
                    line = line if line is not None else record.as_json(now)
                    listener.push(line)

    def effect(self, effect: Effect) -> None:
        """What the adapter is asked to do, as records: events (refusals at
        level 1, the rest at 3) and data-plane programming (platform)."""
        if not self.listeners:
            return
        match effect:
            case InstallChildSa(spec=spec):
                self.publish([_dataplane("install", spec)])
            case RemoveChildSa(spec=spec):
                self.publish([_dataplane("remove", spec)])
            case UpdateChildSa(new=spec):
                self.publish([_dataplane("update", spec)])

    def event(self, event: ev.Event) -> None:
        if not self.listeners:
            return
        failed = is_failure(event) or isinstance(event, ev.MessageDropped)
        user = getattr(event, "username", "") or ""
        self.publish([TraceRecord(PROTOCOL, ERRORS if failed else EVENTS, "event", format_event(event),
                                  event.ike_sa_id, 0, address(event.remote), address(event.local), user,
                                  {"kind": type(event).__name__, "failure": bool(failed)})])

    def platform_error(self, what: str, spec: ChildSaSpec, reason: str) -> None:
        self.publish([TraceRecord(PLATFORM, ERRORS, "dataplane", f"{what} Child SA 0x{spec.spi_in:08x} failed: "
                                  f"{reason}", spec.ike_sa_id, spec.session, _peer(spec), _local(spec),
                                  spec.username, {"action": what, "error": reason})])

    # -- records out: one control client's stream --------------------------------

    async def stream(self, listener: Listener, gone: "asyncio.Future[Any]") -> AsyncIterator[dict[str, Any]]:
        """The listener's records until `gone` (its client left)."""
        self.add(listener)
        try:
            while not gone.done():
                getter = asyncio.ensure_future(listener.queue.get())
                done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                yield getter.result()
                if listener.lost:
                    yield {"lost": listener.lost}  # the client learns it missed records
                    listener.lost = 0
        finally:
            self.remove(listener)


class TraceFile:
    """The configured trace file (`logging.debug_trace`): records appended
    as they come, JSON lines or the FTD's text. A write that fails costs
    the record and one log line, not the daemon."""

    def __init__(self, path: Path, levels: dict[str, int], form: str) -> None:
        self.path = path
        self.levels = levels
        self.form = form
        self._file: TextIO | None = path.open("a", encoding="utf-8")  # fails at start: asked for, it must work
        self.failed = False

    def write(self, line: dict[str, Any]) -> None:
        if self._file is None:
            return
        text = (json.dumps(line) + "\n" if self.form == "json"
                else "".join(f"{row}\n" for row in render(line, self.levels.get(line["facility"], 0))))
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            if not self.failed:
                log.error("debug trace file %s: %s; records are lost until it can be written",
                          self.path, exc.strerror or exc)
            self.failed = True
        else:
            self.failed = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def trace_file_listener(path: Path, levels: dict[str, int], form: str) -> tuple[Listener, TraceFile]:
    sink = TraceFile(path, levels, form)
    return Listener(levels, Filter(), sink=sink.write), sink


def _dataplane(action: str, spec: ChildSaSpec) -> TraceRecord:
    a = spec.algorithms
    cipher = f"{name(EncrId, a.encr_id)}_{a.encr_key_bits}" if a.encr_key_bits else name(EncrId, a.encr_id)
    integrity = "" if not a.integ_id else "/" + name(IntegId, a.integ_id)
    encap = (f" in UDP {spec.encap_local_port}/{spec.encap_remote_port}" if spec.encap_local_port is not None
             else " (IP protocol 50)")
    local_ts = " ".join(str(n) for n in spec.local_selectors)
    remote_ts = " ".join(str(n) for n in spec.remote_selectors)
    text = (f"{action} Child SA in 0x{spec.spi_in:08x} out 0x{spec.spi_out:08x}: ESP {cipher}{integrity}"
            f"{' ESN' if a.esn else ''}, {spec.local_address} <-> {spec.remote_address}{encap}, "
            f"{local_ts} === {remote_ts}")
    data = {"action": action, "spi_in": f"{spec.spi_in:08x}", "spi_out": f"{spec.spi_out:08x}",
            "encryption": cipher, "integrity": name(IntegId, a.integ_id), "esn": a.esn,
            "local": spec.local_address, "remote": spec.remote_address,
            "encap": [spec.encap_local_port, spec.encap_remote_port] if spec.encap_local_port is not None else None,
            "local_selectors": [str(n) for n in spec.local_selectors],
            "remote_selectors": [str(n) for n in spec.remote_selectors],
            "lifetime_seconds": spec.lifetime_seconds, "lifetime_kilobytes": spec.lifetime_kilobytes}
    return TraceRecord(PLATFORM, PACKETS, "dataplane", text, spec.ike_sa_id, spec.session, _peer(spec),
                       _local(spec), spec.username, data)


def _peer(spec: ChildSaSpec) -> str:
    return address((spec.remote_address, spec.encap_remote_port or 0))


def _local(spec: ChildSaSpec) -> str:
    return address((spec.local_address, spec.encap_local_port or 0))


def _host(peer: str) -> str:
    host = peer.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def _identities(data: dict[str, Any]) -> set[str]:
    """Identities a message names: IDi, an EAP Identity or MS-CHAPv2 Name."""
    found = set()
    for p in data.get("payloads", ()):
        for key in ("id", "identity", "name"):
            if key in p and p["type"] in ("IDi", "EAP"):
                found.add(str(p[key]))
    return found
