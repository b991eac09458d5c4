"""Graceful stop (sans I/O) and reload of a daemon in-process: the pieces
SIGTERM, SIGHUP and `ikev2d reload` drive (issue 7 point 4)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from ipaddress import IPv4Address, IPv4Network, IPv6Network, summarize_address_range
from pathlib import Path

import pytest

from esp.dataplane import RecordingDataPlane
from ikev2d.aaa.radius.accounting import terminate_cause
from ikev2d.aaa.radius.messages import TerminateCause
from ikev2d.commands import reload as reload_command
from ikev2d.conf import load_config
from ikev2d.control.service import ControlService
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.daemon import Daemon
from ikev2d.effects import Emit, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.settings import build_settings
from ikev2d.shutdown import STOP_REASON, end_sessions, still_deleting
from ikev2d.syslog import records_for
from lab.initiator import Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture
def config_path(tmp_path: Path, pki_dir: Path) -> Path:
    path = tmp_path / "ikev2d.yaml"
    path.write_text((ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki_dir}"))
    return path


def wire(responder: Responder, n: int, **options) -> Initiator:
    worker = CryptoWorker(responder.settings.signing_keys)
    addr = (f"198.18.0.{n}", 500)

    def send(datagram: bytes) -> list[bytes]:
        effects = settle(responder, responder.datagram_received(datagram, GATEWAY, addr, 1000.0), worker, 1000.0)
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    return Initiator(InitiatorOptions(local=addr, remote=GATEWAY, **options), send)


# -- stop -------------------------------------------------------------------------------


def test_stop_deletes_every_session_forgets_half_open_and_refuses_new_clients(config_path: Path) -> None:
    responder = Responder(build_settings(load_config(config_path)))
    alice, bob = wire(responder, 2), wire(responder, 3, username="bob", password="Lab-Passw0rd-2")
    alice.connect()
    bob.connect()
    wire(responder, 4).ike_sa_init()  # half-open
    assert len(responder.sas) == 3

    effects = end_sessions(responder, 1001.0)
    requests = [e for e in effects if isinstance(e, SendDatagram)]
    assert sorted(r.remote[0] for r in requests) == ["198.18.0.2", "198.18.0.3"]
    deleted = [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert sorted((d.username, d.reason) for d in deleted) == [("alice", STOP_REASON), ("bob", STOP_REASON)]
    assert len(responder.sas) == 2 and still_deleting(responder) == 2  # the half-open one just went
    assert end_sessions(responder, 1001.1) == []  # nothing new to end: no second Delete

    # a new client is not let in while stopping
    assert responder.datagram_received(_init_request(), GATEWAY, ("198.18.0.5", 500), 1001.2)[0].event.reason \
        == "IKE_SA_INIT while the headend is stopping"

    for client, request in zip(sorted((alice, bob), key=lambda c: c.o.local), sorted(requests, key=lambda r: r.remote)):
        answer = client.answer(request.data)
        assert client.deleted_by_peer
        responder.datagram_received(answer[0], GATEWAY, client.o.local, 1001.3)
    assert still_deleting(responder) == 0 and not responder.sas


def _init_request() -> bytes:
    captured: list[bytes] = []

    def capture(datagram: bytes) -> list[bytes]:
        captured.append(datagram)
        raise RuntimeError("captured")

    with pytest.raises(RuntimeError):
        Initiator(InitiatorOptions(local=("198.18.0.5", 500)), capture).ike_sa_init()
    return captured[0]


def test_stop_reason_in_syslog_and_accounting() -> None:
    event = IkeSaDeleted("a_i b_r", ("198.18.0.1", 4500), ("198.18.0.2", 4500), "alice", STOP_REASON, 61.0,
                         session=0x6000, group_policy="GP-CCIElab")
    lines = [r.line() for r in records_for(event)]
    assert lines[0].startswith("%FTD-5-750007:") and lines[0].endswith("SA DOWN. Reason: Administrator Reboot")
    assert lines[1].startswith("%FTD-4-113019:") and lines[1].endswith("Reason: Administrator Reboot")
    assert terminate_cause(STOP_REASON) is TerminateCause.ADMIN_REBOOT


def drain_seconds(daemon: Daemon, budget: float, hurry_after: float | None = None) -> float:
    async def drain() -> float:
        loop = asyncio.get_running_loop()
        hurry = asyncio.Event()
        if hurry_after is not None:
            loop.call_later(hurry_after, hurry.set)
        start = loop.time()
        await daemon.drain(hurry, budget)
        return loop.time() - start

    try:
        return asyncio.run(drain())
    finally:
        daemon.crypto.close()


def test_drain_with_no_session_returns_at_once(config_path: Path) -> None:
    assert drain_seconds(Daemon(load_config(config_path)), budget=5.0) < 0.5


def test_drain_waits_its_budget_for_a_silent_client_and_a_second_signal_cuts_it(
        config_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    daemon = Daemon(load_config(config_path))
    wire(daemon.responder, 2).connect()  # this client will never answer the Delete
    with caplog.at_level(logging.INFO, logger="ikev2d"):
        waited = drain_seconds(daemon, budget=0.4)
    assert 0.35 <= waited < 1.0
    assert "stopping: ending 1 session(s)" in caplog.text
    assert "stopping: 1 client(s) did not answer their Delete" in caplog.text

    daemon = Daemon(load_config(config_path))
    wire(daemon.responder, 2).connect()
    assert drain_seconds(daemon, budget=10.0, hurry_after=0.1) < 1.0


# -- reload -----------------------------------------------------------------------------


def test_reload_of_a_broken_file_keeps_the_running_configuration(config_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    daemon = Daemon(load_config(config_path))
    running = daemon.config
    text = config_path.read_text()
    config_path.write_text(text.replace("encryption: [AES-256]", "encryption: [AES-257]", 1))
    with caplog.at_level(logging.ERROR, logger="ikev2d.reload"):
        answer = ControlService(daemon).handle({"op": "reload"})
    assert answer["ok"] and not answer["applied"]
    line = text[:text.index("encryption: [AES-256]")].count("\n") + 1
    assert answer["lines"][0].startswith(f"configuration error: {config_path}:{line}: unknown encryption 'AES-257'")
    assert answer["lines"][-1] == "refused: the running configuration is kept"
    assert f"{config_path}:{line}: unknown encryption" in caplog.text
    assert daemon.config is running


def test_reload_of_a_good_file_applies_it_and_reports_each_change(config_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    daemon = Daemon(load_config(config_path))
    old_settings = daemon.settings
    assert ControlService(daemon).handle({"op": "reload"})["lines"] == [f"{config_path}: no change"]
    config_path.write_text(config_path.read_text().replace("dh_groups: [15]", "dh_groups: [15, 20]")
                           .replace("password: Lab-Passw0rd-2", "password: Secret-Of-Bob-9"))
    with caplog.at_level(logging.INFO, logger="ikev2d.reload"):
        report = daemon.reload()
    assert report.applied
    assert report.lines == ["ikev2 policy NSA: dh groups 15 -> 15 20", "local user bob: password changed",
                            f"{config_path}: 2 change(s) applied, 0 need(s) a restart, 0 session(s) ended"]
    assert daemon.settings is not old_settings and daemon.responder.settings is daemon.settings
    assert daemon.crypto.inline is not None  # same key: the signing workers were kept
    assert "reload: ikev2 policy NSA: dh groups 15 -> 15 20" in caplog.text
    assert "Secret-Of-Bob-9" not in caplog.text and "Lab-Passw0rd-2" not in caplog.text


def test_reload_command_prints_problems_like_check_config(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    answer = {"ok": True, "applied": False,
              "lines": ["configuration error: a.yaml:3: unknown encryption 'AES-257'", "a.yaml:9: second problem",
                        "refused: the running configuration is kept"]}
    monkeypatch.setattr(reload_command, "request", lambda path, message, timeout: answer)
    args = argparse.Namespace(control="/nonexistent", json=False)
    assert reload_command.run(args) == 1
    err = capsys.readouterr().err
    assert err == ("ikev2d: configuration error: a.yaml:3: unknown encryption 'AES-257'\na.yaml:9: second problem\n"
                   "ikev2d: reload refused: the running configuration is kept\n")


def test_reload_swaps_only_the_radius_groups_and_syslog_settings_that_changed(tmp_path: Path, pki_dir: Path) -> None:
    path = tmp_path / "radius.yaml"
    text = (ROOT / "config" / "radius.yaml").read_text().replace("store: ../run/pki", f"store: {pki_dir}")
    path.write_text(text)

    async def scenario() -> None:
        daemon = Daemon(load_config(path))
        radius, pipeline = daemon.radius, daemon.syslog
        ise = radius.groups["ISE"]
        destinations = list(pipeline.destinations)
        try:
            quiet = text.replace("vpn_logging_level: informational", "vpn_logging_level: errors")
            path.write_text(quiet)
            report = daemon.reload()
            assert report.lines[0] == "logging: vpn logging level 6 -> 3"
            assert daemon.radius is radius  # RADIUS untouched
            assert daemon.syslog is pipeline and pipeline.level == 3  # same pipeline, new destinations
            assert all(d not in destinations for d in pipeline.destinations)

            path.write_text(quiet.replace("timeout_seconds: 10", "timeout_seconds: 4", 1))
            report = daemon.reload()
            assert len(report.lines) == 2 and report.lines[0].startswith("aaa-server group ISE: servers [host ")
            assert "Lab-Radius-Secret" not in "\n".join(report.lines)
            assert daemon.radius is not radius and daemon.radius.groups["ISE"] is not ise
            assert len(daemon._background) == 2  # the old destinations and the old ISE client, closing
            assert daemon.transport is None and daemon.syslog is pipeline
        finally:
            await daemon.stop()
        assert not daemon._background

    asyncio.run(scenario())


def test_what_needs_a_restart_is_reported_and_stays_as_it_runs(config_path: Path) -> None:
    daemon = Daemon(load_config(config_path))
    running = daemon.config
    config_path.write_text(config_path.read_text().replace("address: 198.18.0.1 ", "address: 198.18.0.9 ")
                           .replace("enable_ssl: false", "enable_ssl: true")
                           .replace("idle_timeout_minutes: 30", "idle_timeout_minutes: 45"))
    report = daemon.reload()
    assert report.applied and report.lines == [
        "interface outside: address 198.18.0.1 -> 198.18.0.9 (needs a restart: not applied)",
        "access interface outside: enable ssl no -> yes (needs a restart: not applied)",
        "group policy GP-CCIElab: idle timeout minutes 30 -> 45",
        f"{config_path}: 1 change(s) applied, 2 need(s) a restart, 0 session(s) ended"]
    assert daemon.config.interfaces == running.interfaces
    assert daemon.config.remote_access_vpn.access_interfaces == running.remote_access_vpn.access_interfaces
    assert daemon.config.group_policy("GP-CCIElab").idle_timeout_minutes == 45
    assert daemon.ike_addresses() == ["198.18.0.1"]


class PoolRoutingPlane(RecordingDataPlane):
    """A data plane that routes pools (as the userspace one): records what it was told."""

    def __init__(self) -> None:
        super().__init__()
        self.routed: list[list[IPv4Network | IPv6Network]] = []

    def route_pools(self, blocks: list[IPv4Network | IPv6Network]) -> None:
        self.routed.append(blocks)


def test_the_data_plane_is_told_the_pools_ranges_and_again_after_a_reload_that_changes_them(
        config_path: Path) -> None:
    plane = PoolRoutingPlane()
    daemon = Daemon(load_config(config_path), dataplane=plane)
    daemon.route_pools()  # what start() does once the data plane is attached
    assert plane.routed[-1] == list(summarize_address_range(IPv4Address("198.19.0.200"), IPv4Address("198.19.0.250")))
    config_path.write_text(config_path.read_text().replace("198.19.0.200-198.19.0.250", "198.19.0.200-198.19.0.203"))
    assert daemon.reload().applied
    assert plane.routed[-1] == [IPv4Network("198.19.0.200/30")]
