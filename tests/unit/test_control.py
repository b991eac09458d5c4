"""The control socket: its protocol and permissions on a temporary socket,
and `show` / `vpn-sessiondb logoff` end to end against a responder with a
real IKEv2 session (lab.initiator in process), behind a stand-in daemon."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Coroutine

import pytest

from esp.dataplane import RecordingDataPlane
from ikev2d.commands import clear, show, vpn_sessiondb
from ikev2d.conf import Config
from ikev2d.control.client import request, stream
from ikev2d.control.protocol import ControlError
from ikev2d.control.server import ControlServer
from ikev2d.control.service import CLEAR_REASON, LOGOFF_REASON, start_control
from ikev2d.control.snapshot_stream import SnapshotReader
from ikev2d.core import Responder
from ikev2d.daemon import Listener
from ikev2d.effects import Effect, Emit, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.iana import DhId
from lab.initiator import IkeFailure
from ikev2d.settings import build_settings
from ikev2d.show.snapshot import Snapshot
from ikev2d.syslog import SyslogPipeline
from responder_harness import Harness, make_config


class LoopThread:
    """An event loop in a thread, as the daemon's; tests talk to it with the
    blocking client from the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # pytest's tmp_path is too long for a Unix socket path on some runs
    folder = Path(tempfile.mkdtemp(prefix="ikv-ctl-test-"))
    yield folder
    for p in sorted(folder.rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() else p.rmdir()
    folder.rmdir()


def echo(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") == "boom":
        raise ValueError("kaput")
    return {"ok": True, "echo": request}


def test_round_trip_permissions_and_errors(loop: LoopThread, sock_dir: Path) -> None:
    path = str(sock_dir / "run" / "control.sock")
    server = ControlServer(path, echo)
    loop.run(server.start())
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sock_dir / "run").st_mode) == 0o700
        assert request(path, {"op": "snapshot", "x": [1, 2]}) == {"ok": True, "echo": {"op": "snapshot", "x": [1, 2]}}
        with pytest.raises(ControlError, match="internal error: kaput"):
            request(path, {"op": "boom"})
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(path)
            raw.sendall(b"not json\n")
            assert b'"ok":false' in raw.recv(1000)
        assert request(path, {"op": "again"})["ok"]  # still serving
    finally:
        loop.run(server.stop())
    assert not os.path.exists(path)
    with pytest.raises(ControlError, match="does not exist"):
        request(path, {"op": "snapshot"})


def test_another_users_request_is_refused(loop: LoopThread, sock_dir: Path) -> None:
    """The 0600 mode keeps others out; behind it, the peer's credentials are
    checked too: with the mode opened up, uid 65534 is still refused."""
    os.chmod(sock_dir, 0o755)
    path = str(sock_dir / "control.sock")
    server = ControlServer(path, echo)
    loop.run(server.start())
    try:
        os.chmod(path, 0o666)
        client = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                  "s.sendall(b'{\"op\":\"snapshot\"}\\n'); print(s.recv(1000).decode())")
        out = subprocess.run(["python3", "-c", client, path], capture_output=True, text=True, timeout=10,
                             user=65534, group=65534)
        assert out.stdout.strip() == '{"ok":false,"error":"permission denied"}', out.stderr
    finally:
        loop.run(server.stop())


def test_stale_socket_is_replaced_live_one_and_files_are_not(loop: LoopThread, sock_dir: Path) -> None:
    path = str(sock_dir / "control.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # a socket file nobody listens on: a dead daemon's
    first = ControlServer(path, echo)
    loop.run(first.start())
    try:
        with pytest.raises(ControlError, match="another ikev2d"):
            loop.run(ControlServer(path, echo).start())
        assert request(path, {"op": "x"})["ok"], "the live server was disturbed"
    finally:
        loop.run(first.stop())
    plain = sock_dir / "file"
    plain.write_text("keep me")
    with pytest.raises(ControlError, match="not a socket"):
        loop.run(ControlServer(str(plain), echo).start())
    assert plain.read_text() == "keep me"
    with pytest.raises(ControlError, match="longer than"):
        ControlServer("/tmp/" + "x" * 120, echo)


# -- a daemon with one real session ------------------------------------------


@dataclass
class StandInDaemon:
    """What the control service needs of ikev2d.daemon.Daemon."""

    config: Config
    responder: Responder
    dataplane: RecordingDataPlane = field(default_factory=RecordingDataPlane)
    listeners: list[Listener] = field(default_factory=list)
    performed: list[Effect] = field(default_factory=list)
    syslog: SyslogPipeline = field(default_factory=SyslogPipeline)

    def perform(self, effects: list[Effect]) -> None:
        self.performed += effects
        for effect in effects:
            if isinstance(effect, RemoveChildSa):
                self.dataplane.remove(effect.spec)


@pytest.fixture
def live(tmp_path: Path, loop: LoopThread, sock_dir: Path) -> Iterator[tuple[Harness, StandInDaemon, str]]:
    config = make_config(tmp_path)
    harness = Harness(Responder(build_settings(config)))
    daemon = StandInDaemon(config, harness.responder,
                           listeners=[Listener("IKE", "198.18.0.1", 500, 1), Listener("NAT-T", "198.18.0.1", 4500, 2)])
    path = str(sock_dir / "control.sock")
    control = loop.run(start_control(daemon, path))
    assert control is not None
    yield harness, daemon, path
    loop.run(control.stop())


def connect(harness: Harness, daemon: StandInDaemon, n: int = 2, **options: Any) -> Any:
    client = harness.client(n, **options)
    harness.now = time.monotonic()  # the service reads the same clock
    result = client.connect()
    for effect in harness.effects:
        if isinstance(effect, InstallChildSa):
            daemon.dataplane.install(effect.spec)
    return client, result


def snapshot_of(path: str) -> Snapshot:
    with contextlib.closing(stream(path, {"op": "show"})) as lines:
        return SnapshotReader(lines).whole()


def cli(path: str, *words: str, as_json: bool = False) -> argparse.Namespace:
    return argparse.Namespace(words=list(words), control=path, json=as_json, noconfirm=False)


def test_snapshot_of_a_live_session(live: tuple[Harness, StandInDaemon, str]) -> None:
    harness, daemon, path = live
    _, result = connect(harness, daemon)
    snap = snapshot_of(path)
    (s,) = snap.sessions
    assert (s.username, s.state, s.assigned_ip) == ("alice", "ESTABLISHED", str(result.address))
    assert (s.tunnel_group, s.group_policy, s.interface) == ("CCIElab", "GP-CCIElab", "outside")
    assert (s.remote_address, s.local_address) == ("198.18.0.2", "198.18.0.1")
    (c,) = s.children
    assert (c.spi_in, c.spi_out) == (result.esp_spi_out, result.esp_spi_in)
    assert (s.remote_id, s.local_id, s.ike_lifetime_seconds) == ("alice", "vpn.example.test", 86400)
    assert snap.totals.generic_ikev2.active == 1 and snap.hostname == "FTDv-1"
    assert [entry.protocol for entry in snap.listeners] == ["IKE", "NAT-T"]


def test_show_commands_print_the_session(live: tuple[Harness, StandInDaemon, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    _, result = connect(harness, daemon)
    assert show.run(cli(path, "crypto", "ikev2", "sa")) == 0
    out = capsys.readouterr().out
    assert f"ESP spi in/out: 0x{result.esp_spi_out:x}/0x{result.esp_spi_in:x}" in out
    assert "Encr: AES-CBC, keysize: 256, Hash: SHA512, DH Grp:15, Auth sign: RSA, Auth verify: EAP" in out
    assert show.run(cli(path, "vpn-sessiondb", "ra-ikev2-ipsec", as_json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sessions"][0]["username"] == "alice"
    assert data["sessions"][0]["assigned_ip"] == str(result.address)
    assert show.run(cli(path, "asp", "table", "socket")) == 0
    assert capsys.readouterr().out == "\nProtocol  Socket      State      Local Address      Foreign Address\n"
    assert show.run(cli(path, "crypto", "i", "sa")) == 64  # a usage error (EX_USAGE), not check-config's "not compliant"
    assert "Ambiguous" in capsys.readouterr().err


def test_logoff_sends_delete_and_frees_the_address(live: tuple[Harness, StandInDaemon, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    alice, result = connect(harness, daemon)
    assert vpn_sessiondb.run(cli(path, "logoff", "name", "alice", "noconfirm")) == 0
    assert capsys.readouterr().out == 'INFO: Number of sessions with name "alice" logged off : 1\n'
    deleted = [e.event for e in daemon.performed if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [d.reason for d in deleted] == [LOGOFF_REASON]
    requests = [e.data for e in daemon.performed if isinstance(e, SendDatagram)]
    assert len(requests) == 1
    answer = alice.answer(requests[0])  # the client gets the Delete and answers it
    assert alice.deleted_by_peer
    harness.sender(alice.o.local)(answer[0])
    assert not harness.responder.sas and not daemon.dataplane.sas
    assert show.run(cli(path, "crypto", "ikev2", "sa")) == 0
    assert capsys.readouterr().out == "There are no IKEv2 SAs\n"
    # the summary remembers the session; the pool hands its address out again
    assert show.run(cli(path, "vpn-sessiondb", "summary")) == 0
    assert "Generic IKEv2 Remote Access  :      0 :          1 :           1" in capsys.readouterr().out
    _, again = connect(harness, daemon, 3)
    assert again.address == result.address == IPv4Address("198.19.0.200")


def test_logoff_of_nobody_and_by_index(live: tuple[Harness, StandInDaemon, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    connect(harness, daemon)
    assert vpn_sessiondb.run(cli(path, "logoff", "name", "mallory")) == 1
    assert capsys.readouterr().out == 'INFO: Number of sessions with name "mallory" logged off : 0\n'
    assert not daemon.performed
    assert vpn_sessiondb.run(cli(path, "logoff", "index", "1")) == 0
    assert capsys.readouterr().out == 'INFO: Number of sessions with index "1" logged off : 1\n'
    with pytest.raises(ControlError, match="a user name, a session index"):
        request(path, {"op": "logoff"})


@pytest.mark.parametrize(("words", "printed"), [
    (("logoff", "all"), "INFO: Number of sessions logged off : 2\n"),
    (("logoff", "tunnel-group", "CCIElab", "noconfirm"), 'INFO: Number of sessions with tunnel-group "CCIElab" logged off : 2\n'),
])
def test_logoff_all_and_by_tunnel_group(live: tuple[Harness, StandInDaemon, str], capsys: pytest.CaptureFixture[str],
                                        words: tuple[str, ...], printed: str) -> None:
    harness, daemon, path = live
    connect(harness, daemon, 2)
    connect(harness, daemon, 3)
    assert vpn_sessiondb.run(cli(path, *words)) == 0
    assert capsys.readouterr().out == printed
    assert vpn_sessiondb.run(cli(path, "logoff", "tunnel-group", "NoSuchProfile")) == 1


def test_logoff_by_ip_address_assigned_or_public(live: tuple[Harness, StandInDaemon, str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    _, first = connect(harness, daemon, 2)
    connect(harness, daemon, 3)
    assert vpn_sessiondb.run(cli(path, "logoff", "ipaddress", str(first.address))) == 0
    assert capsys.readouterr().out == f'INFO: Number of sessions with IP address "{first.address}" logged off : 1\n'
    assert vpn_sessiondb.run(cli(path, "logoff", "ipaddress", "198.18.0.3")) == 0  # the other's public address
    capsys.readouterr()
    assert vpn_sessiondb.run(cli(path, "logoff", "ipaddress", "not-an-address")) == 64
    assert "Invalid IP address" in capsys.readouterr().err


def test_clear_crypto_ikev2_sa_deletes_every_sa_or_those_of_an_address(
        live: tuple[Harness, StandInDaemon, str], capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    connect(harness, daemon, 2)
    connect(harness, daemon, 3)
    assert clear.run(cli(path, "crypto", "ikev2", "sa", "remote", "198.18.0.9")) == 0
    assert capsys.readouterr().out == "" and not daemon.performed  # nobody there: silent, as the ASA
    assert clear.run(cli(path, "cry", "ikev2", "sa", "remote", "198.18.0.3", as_json=True)) == 0
    assert json.loads(capsys.readouterr().out) == {"remote": "198.18.0.3", "cleared": 1}
    deleted = [e.event for e in daemon.performed if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [(d.remote[0], d.reason) for d in deleted] == [("198.18.0.3", CLEAR_REASON)]
    daemon.performed.clear()
    assert clear.run(cli(path, "crypto", "ikev2", "sa", "local", "198.18.0.1")) == 0
    deleted = [e.event for e in daemon.performed if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [d.remote[0] for d in deleted] == ["198.18.0.2"]
    assert len([e for e in daemon.performed if isinstance(e, SendDatagram)]) == 1  # the Delete to the client


@pytest.mark.parametrize("words", [("crypto", "ikev2"), ("crypto", "ikev2", "sa", "remote"),
                                   ("crypto", "ikev2", "sa", "peer", "198.18.0.2"),
                                   ("crypto", "ikev2", "sa", "remote", "nowhere")])
def test_clear_usage_errors(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert clear.run(cli("/nonexistent", *words)) == 64
    assert capsys.readouterr().err


def test_detail_listing_and_its_filter(live: tuple[Harness, StandInDaemon, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    connect(harness, daemon, 2)
    assert show.run(cli(path, "vpn-sessiondb", "detail", "ra-ikev2-ipsec", "filter", "name", "alice")) == 0
    out = capsys.readouterr().out
    assert out.startswith("Session Type: Generic Remote-Access IKEv2 IPsec Detailed\n") and "Username     : alice" in out
    assert show.run(cli(path, "vpn-sessiondb", "detail", "ra-ikev2-ipsec", "filter", "name", "bob")) == 0
    assert capsys.readouterr().out == "INFO: There are presently no active sessions\n"
    assert show.run(cli(path, "crypto", "ikev2", "sa", "filter", "name", "alice")) == 64  # no filter there
    assert "Invalid input" in capsys.readouterr().err


def test_running_config_and_unknown_requests(live: tuple[Harness, StandInDaemon, str]) -> None:
    _, _, path = live
    answer = request(path, {"op": "running-config"})
    assert "text" in answer
    with pytest.raises(ControlError, match="unknown request"):
        request(path, {"op": "frobnicate"})


def test_a_second_daemon_on_the_same_path_serves_without_control(
        live: tuple[Harness, StandInDaemon, str], loop: LoopThread, caplog: pytest.LogCaptureFixture) -> None:
    harness, daemon, path = live
    assert loop.run(start_control(daemon, path)) is None
    assert "another ikev2d" in caplog.text
    assert snapshot_of(path).hostname == "FTDv-1"



def _feed(harness: Harness, daemon: StandInDaemon) -> None:
    """The core's events to the daemon's pipeline, as the transport does."""
    for effect in harness.effects:
        if isinstance(effect, Emit):
            daemon.syslog.emit(effect.event)
    harness.effects.clear()


def test_ikev2_stats_count_requests_refusals_and_sas(live: tuple[Harness, StandInDaemon, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    connect(harness, daemon, 2)
    wrong = harness.client(3, dh_groups=(DhId.MODP_2048,))  # no IKEv2 policy has group 14
    with pytest.raises(IkeFailure):
        wrong.connect()
    _feed(harness, daemon)
    assert show.run(cli(path, "crypto", "ikev2", "stats")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "                          Crypto IKEv2 SA Statistics"
    assert "Total incoming IKEv2 SA Count:    1        active:        1        negotiating: 0" in lines
    assert "Total outgoing IKEv2 SA Count:    0        active:        0        negotiating: 0" in lines
    assert "Incoming IKEv2 Requests: 2        accepted:      1        rejected:    1" in lines
    assert "Rejected IKEv2 Requests: 0        rsrc low:      0        SA limit:    0" in lines
    assert "Incoming IKEV2 Cookie Challenged Requests: 0" in lines
    assert show.run(cli(path, "cry", "ikev2", "stat", as_json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["incoming_requests"] == {"total": 2, "accepted": 1, "rejected": 1}
    assert data["max_in_negotiation"] == harness.responder.settings.max_half_open


def test_show_logging_through_the_control_socket(live: tuple[Harness, StandInDaemon, str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    harness, daemon, path = live
    daemon.syslog.buffer.configure("FTDv-1", 6, 4096)
    connect(harness, daemon, 2)
    _feed(harness, daemon)
    assert show.run(cli(path, "logging")) == 0
    out = capsys.readouterr().out
    logged = int(re.search(r"Buffer logging: level informational, (\d+) messages logged", out)[1])
    assert logged == len(daemon.syslog.buffer.lines) > 5 and "%FTD-5-750006:" in out


def test_a_lasting_answer_streams_until_its_client_leaves_and_ends_cleanly_at_stop(
        loop: LoopThread, sock_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`ikev2d debug`'s kind of answer: records as they come; a client that
    closes ends its stream; a daemon that stops ends the others without an
    error logged (they used to be cancelled mid-wait, and asyncio logged it)."""
    from ikev2d.control.client import stream
    from ikev2d.control.server import LiveStream

    ended: list[str] = []

    async def records(gone: "asyncio.Future[Any]"):
        try:
            n = 0
            while not gone.done():
                n += 1
                yield {"n": n}
                await asyncio.sleep(0.01)
        finally:
            ended.append("ended")

    def lasting(request: dict[str, Any]) -> Any:
        return LiveStream({"ok": True}, records)

    path = str(sock_dir / "control.sock")
    server = ControlServer(path, lasting)
    loop.run(server.start())
    try:
        lines = stream(path, {"op": "debug"})
        assert next(lines) == {"ok": True}
        assert [next(lines)["n"] for _ in range(3)] == [1, 2, 3]
        lines.close()  # the client leaves
        deadline = time.monotonic() + 5
        while not ended and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ended == ["ended"]
        staying = stream(path, {"op": "debug"})
        assert next(staying) == {"ok": True} and next(staying)["n"] == 1
    finally:
        with caplog.at_level(logging.ERROR):
            loop.run(server.stop())
    assert ended == ["ended", "ended"] and not caplog.records
    rest = list(staying)  # the client reads to a clean end, not an error line or a reset
    assert all("n" in r for r in rest)
