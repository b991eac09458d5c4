"""Fixtures for interop tests: a namespace topology, the lab PKI, ikev2d or
strongSwan's reference responder in the gateway namespace, strongSwan
clients in the client namespaces, and FreeRADIUS and rsyslogd where a test
puts them.

Everything a fixture starts it stops in its teardown (also when the test
fails or times out).  Namespaces are named ``ikv-<pid>-t<n>-...``;
leftovers from dead runs are removed once per session.  When a test fails,
the logs of every daemon it used are attached to the report.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from lab.capture import Capture
from lab.freeradius import FreeRadius
from lab.ikev2d import REPO, Ikev2d, Ikev2dKnobs, lab_config, load_default_config
from lab.netns import Namespace, Topology, cleanup_stale, run_prefix
from lab.pki import LabPki, make_lab_pki
from lab.rsyslog import Rsyslog
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig, ResponderConfig

N_CLIENTS = 4
_counter = itertools.count(1)
F = TypeVar("F")


class _Stoppable(Protocol):
    def stop(self) -> object: ...


def _until_teardown(start: F, started: Sequence[_Stoppable]) -> Iterator[F]:
    """A factory fixture's body: yield its `start`, and at teardown stop
    what it started, the last first."""
    try:
        yield start
    finally:
        for daemon in reversed(started):
            daemon.stop()


@dataclass
class LabLogs:
    """Log sources of the current test, attached to its report on failure."""

    sources: list[tuple[str, Callable[[], str]]] = field(default_factory=list)

    def add(self, name: str, read: Callable[[], str]) -> None:
        self.sources.append((name, read))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    logs = getattr(item, "funcargs", {}).get("lab_logs")
    if not isinstance(logs, LabLogs):
        return
    for name, read in logs.sources:
        try:
            text = read()
        except Exception as exc:  # a report must never fail
            text = f"(unreadable: {exc})"
        lines = text.splitlines()
        if len(lines) > 400:
            text = "\n".join(["... (first lines cut)"] + lines[-400:])
        rep.sections.append((f"log: {name}", text))


@pytest.fixture(scope="session")
def lab_session() -> None:
    """Remove namespaces (and their processes) left by dead earlier runs."""
    cleanup_stale()


@pytest.fixture
def lab_logs() -> LabLogs:
    return LabLogs()


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def topology(lab_session: None) -> Iterator[Topology]:
    topo = Topology(run_prefix(f"t{next(_counter)}"), N_CLIENTS).create()
    try:
        yield topo
    finally:
        topo.destroy()


StartIkev2d = Callable[..., Ikev2d]


@pytest.fixture
def ikev2d_server(
    topology: Topology, lab_pki: LabPki, tmp_path: Path, lab_logs: LabLogs
) -> Iterator[StartIkev2d]:
    """Factory: ``ikev2d_server(dh_groups=[15], fragment_size=576,
    key_type="ecdsa-p256", ...)`` starts ikev2d in the gateway namespace
    (knobs of :class:`Ikev2dKnobs`); positional arguments are more `run`
    options, e.g. ``ikev2d_server("--dataplane", "userspace")``."""
    started: list[Ikev2d] = []

    def start(*args: str, **knobs: Any) -> Ikev2d:
        folder = tmp_path / f"ikev2d{len(started)}"
        cfg = lab_config(lab_pki, store=folder / "pki-store", knobs=Ikev2dKnobs(**knobs))
        server = Ikev2d(topology.gateway, folder, cfg, extra_args=args)
        started.append(server)
        lab_logs.add(f"ikev2d {folder}", server.log)
        return server.start()

    yield from _until_teardown(start, started)


StartCharon = Callable[..., Charon]


@pytest.fixture
def reference_responder(
    topology: Topology, lab_pki: LabPki, tmp_path: Path, lab_logs: LabLogs
) -> Iterator[StartCharon]:
    """Factory: strongSwan's own responder in the gateway namespace.
    ``reference_responder(fragment_size=576, key_type="ecdsa-p384", proposals=...)``;
    ``cookie_threshold=1`` makes it ask for COOKIEs once one IKE SA is half-open."""
    started: list[Charon] = []

    def start(fragment_size: int = 1280, key_type: str | None = None, cookie_threshold: int | None = None,
              **conf: Any) -> Charon:
        charon = Charon(topology.gateway, tmp_path / f"responder{len(started)}", fragment_size=fragment_size,
                        cookie_threshold=cookie_threshold)
        started.append(charon)
        lab_logs.add(f"reference responder {charon.folder}", charon.log)
        charon.start()
        server = lab_pki.server_identity(key_type)
        charon.load(
            ResponderConfig(
                server_cert=server.cert,
                server_key=server.key,
                local_addr=topology.gateway_addr,
                **conf,
            )
        )
        return charon

    yield from _until_teardown(start, started)


@pytest.fixture
def client(topology: Topology, lab_pki: LabPki, tmp_path: Path, lab_logs: LabLogs) -> Iterator[StartCharon]:
    """Factory: ``client(0, eap="eap-md5", password=..., fragment_size=576,
    signature_authentication=False)`` starts a strongSwan client in client
    namespace `index` and loads its connection ``ftd-ra`` (trusting the lab
    CA).  ``signature_authentication=False`` is charon's own switch: no
    SIGNATURE_HASH_ALGORITHMS notify (RFC 7427) in IKE_SA_INIT."""
    started: list[Charon] = []

    def start(
        index: int = 0, fragment_size: int = 1280, signature_authentication: bool = True, **conf: Any
    ) -> Charon:
        ns = topology.clients[index]
        charon = Charon(
            ns,
            tmp_path / f"client{index}-{len(started)}",
            fragment_size=fragment_size,
            signature_authentication=signature_authentication,
        )
        started.append(charon)
        lab_logs.add(f"client {index} {charon.folder}", charon.log)
        charon.start()
        # local_addr may be widened (a subnet a MOBIKE client roams in)
        conf.setdefault("local_addr", topology.client_addrs[index])
        conf.setdefault("remote_addr", topology.gateway_addr)  # the gateway's IPv6 address, over IPv6
        charon.load(ClientConfig(ca_cert=lab_pki.ca_cert, **conf))
        return charon

    yield from _until_teardown(start, started)


@pytest.fixture
def gateway_capture(topology: Topology, tmp_path: Path) -> Iterator[Callable[[], Capture]]:
    """Factory: tcpdump on the gateway's bridge; stopped at teardown if still running."""
    started: list[Capture] = []

    def start() -> Capture:
        cap = Capture(topology.gateway, tmp_path / f"gateway{len(started)}.pcap")
        started.append(cap)
        return cap.start()

    try:
        yield start
    finally:
        for cap in started:
            if cap.proc is not None:
                cap.stop()


StartFreeRadius = Callable[..., FreeRadius]


@pytest.fixture
def freeradius_server(topology: Topology, tmp_path: Path, lab_logs: LabLogs) -> Iterator[StartFreeRadius]:
    """Factory: ``freeradius_server(secret=..., users={"alice": ...})``
    starts FreeRADIUS in the gateway namespace (on 127.0.0.1 and every
    address it has), stopped at teardown."""
    started: list[FreeRadius] = []

    def start(**settings: Any) -> FreeRadius:
        server = FreeRadius(topology.gateway, tmp_path / f"freeradius{len(started) or ''}", **settings)
        started.append(server)
        lab_logs.add("freeradius", server.log)
        return server.start()

    yield from _until_teardown(start, started)


StartRsyslog = Callable[..., Rsyslog]


@pytest.fixture
def rsyslog_server(tmp_path: Path, lab_logs: LabLogs) -> Iterator[StartRsyslog]:
    """Factory: ``rsyslog_server(ns, address, udp_port=514, tcp_port=None)``
    starts rsyslogd in `ns` (see lab/rsyslog.py), stopped at teardown."""
    started: list[Rsyslog] = []

    def start(ns: Namespace, address: str, udp_port: int = 514, tcp_port: int | None = None) -> Rsyslog:
        server = Rsyslog(ns, tmp_path / f"rsyslog{len(started) or ''}", address, udp_port, tcp_port)
        started.append(server)
        lab_logs.add("rsyslog received", server.text)
        return server.start()

    yield from _until_teardown(start, started)


# -- config/radius.yaml's lab: its inside RADIUS and syslog servers ----------------

RADIUS_CONFIG = REPO / "config" / "radius.yaml"
RADIUS_SERVER, SYSLOG_SERVER = "198.19.0.12", "198.19.0.10"  # config/radius.yaml's first server, syslog
RADIUS_SECRET = "Lab-Radius-Secret"  # config/radius.yaml's


@pytest.fixture
def inside_hosts(topology: Topology) -> None:
    """config/radius.yaml's inside servers as addresses of the gateway
    namespace (its inside is a loopback address there too)."""
    for address in (RADIUS_SERVER, SYSLOG_SERVER):
        topology.gateway.add_address("lo", f"{address}/32")


@pytest.fixture
def rsyslog(inside_hosts: None, topology: Topology, rsyslog_server: StartRsyslog) -> Rsyslog:
    """rsyslogd on config/radius.yaml's syslog server address, UDP 514."""
    return rsyslog_server(topology.gateway, SYSLOG_SERVER, 514)


@pytest.fixture
def radius_ikev2d(topology: Topology, lab_pki: LabPki, tmp_path: Path, lab_logs: LabLogs, freeradius: FreeRadius,
                  rsyslog: Rsyslog) -> Iterator[Ikev2d]:
    """ikev2d on config/radius.yaml as it is (RADIUS group ISE for
    authentication and accounting, the UDP syslog server), informational,
    with the lab PKI's identity certificate. The test module provides the
    `freeradius` fixture (its users)."""
    folder = tmp_path / "ikev2d"
    cfg = lab_config(lab_pki, store=folder / "pki-store", knobs=Ikev2dKnobs(logging_level="informational"),
                     base=load_default_config(RADIUS_CONFIG))
    server = Ikev2d(topology.gateway, folder, cfg)
    lab_logs.add("ikev2d", server.log)
    try:
        yield server.start()
    finally:
        server.stop()
