"""The control socket at scale: 2,000 sessions through the real server and
client (one negotiated by lab.initiator, the rest its faithful copies,
lab/sessions.py), the answer streamed in lines of bounded size, the
daemon's memory for one answer bounded, and clients that misbehave."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ikev2d.commands import show, vpn_sessiondb
from ikev2d.control import server as server_module
from ikev2d.control.client import request, stream
from ikev2d.control.protocol import MAX_LINE, ControlError, decode, encode
from ikev2d.control.server import ControlServer
from ikev2d.control.service import ControlService, start_control
from ikev2d.control.snapshot_stream import SELECTOR_CHUNK, SnapshotReader, answer
from ikev2d.core import Responder
from ikev2d.iana import IdType
from ikev2d.settings import build_settings
from ikev2d.show import sessiondb_sessions
from lab.sessions import establish, wide_pool_config
from test_control import LoopThread, StandInDaemon, loop, sock_dir  # noqa: F401 (fixtures)
from test_show_support import child, session, snapshot

SESSIONS = 2000


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> StandInDaemon:
    """A stand-in daemon holding SESSIONS established sessions."""
    config = wide_pool_config(tmp_path_factory.mktemp("scale"))
    daemon = StandInDaemon(config, Responder(build_settings(config)))
    establish(daemon.responder, SESSIONS, daemon.dataplane, time.monotonic())
    return daemon


@pytest.fixture
def served(many: StandInDaemon, loop: LoopThread, sock_dir: Path) -> Iterator[str]:  # noqa: F811
    path = str(sock_dir / "control.sock")
    control = loop.run(start_control(many, path))
    assert control is not None
    yield path
    loop.run(control.stop())


def cli(path: str, *words: str, as_json: bool = False) -> argparse.Namespace:
    return argparse.Namespace(words=list(words), control=path, json=as_json, noconfirm=False)


def raw_answer(path: str, request_line: bytes) -> list[bytes]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(request_line)
        with sock.makefile("rb") as answer_file:
            return answer_file.readlines()


def test_every_listing_of_2000_sessions_comes_whole(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the old single-line answer this failed with `answer too large`."""
    assert show.run(cli(served, "vpn-sessiondb", "ra-ikev2-ipsec", as_json=True)) == 0
    listed = json.loads(capsys.readouterr().out)["sessions"]
    assert len(listed) == SESSIONS
    assert {s["username"] for s in listed} == {"alice"} | {f"user{i:05d}" for i in range(1, SESSIONS)}
    assert len({s["assigned_ip"] for s in listed}) == SESSIONS
    assert show.run(cli(served, "vpn-sessiondb", "ra-ikev2-ipsec")) == 0
    assert capsys.readouterr().out.count("\nUsername     : ") == SESSIONS
    assert show.run(cli(served, "crypto", "ikev2", "sa", "detail")) == 0
    assert capsys.readouterr().out.count("Status:UP-ACTIVE") == SESSIONS
    assert show.run(cli(served, "crypto", "ikev2", "sa", as_json=True)) == 0
    assert len(json.loads(capsys.readouterr().out)["ikev2_sas"]) == SESSIONS
    assert show.run(cli(served, "crypto", "ipsec", "sa")) == 0
    assert capsys.readouterr().out.count("current inbound spi") == SESSIONS
    assert show.run(cli(served, "crypto", "ipsec", "sa", as_json=True)) == 0
    assert len({sa["spi_in"] for sa in json.loads(capsys.readouterr().out)["ipsec_sas"]}) == SESSIONS
    assert show.run(cli(served, "vpn-sessiondb", "summary", as_json=True)) == 0
    rows = json.loads(capsys.readouterr().out)["vpn_session_summary"]
    assert rows == [{"label": "Generic IKEv2 Remote Access", "active": SESSIONS, "cumulative": SESSIONS,
                     "peak": SESSIONS}]


def test_the_answer_is_many_short_lines(served: str) -> None:
    lines = raw_answer(served, encode({"op": "show"}))
    total = sum(len(line) for line in lines)
    assert total > MAX_LINE  # one line would not have fitted under the cap
    assert len(lines) == 1 + 2 * SESSIONS + 1  # header, a session and its child each, end
    assert max(len(line) for line in lines) < 4096
    assert decode(lines[-1]) == {"end": SESSIONS}
    # summary and asp ask for the head alone: no session records travel
    head_only = raw_answer(served, encode({"op": "show", "sessions": False}))
    assert [sorted(decode(line)) for line in head_only] == [["ok", "snapshot"], ["end"]]


def test_one_answer_holds_one_session_not_all_of_them(many: StandInDaemon) -> None:
    """Daemon and CLI in one thread, line by line as over the socket. Once
    the header is out (its sample of who is up, and the list of SAs to
    show, are O(sessions) references), listing 2,000 sessions allocates no
    more at its peak than a few sessions' worth; the answer is ~1,000 times
    that. Holding the answer whole, as before, would exceed it at once."""
    service = ControlService(many)
    total = sum(len(encode(line)) for line in service.handle({"op": "show"}))
    lines = (decode(encode(line)) for line in service.handle({"op": "show"}))
    reader = SnapshotReader(lines)  # the header is read
    tracemalloc.start()
    try:
        printed = sum(len(piece) for piece in
                      sessiondb_sessions.text(reader.head, reader.sessions(), "ra-ikev2-ipsec"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert printed > total / 3
    assert peak < 64 * 1024 < total / 30, f"peak {peak} B for an answer of {total} B"


def test_logoff_among_2000_sessions(served: str, many: StandInDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert vpn_sessiondb.run(cli(served, "logoff", "name", "user01999", "noconfirm")) == 0
    assert time.monotonic() - started < 2.0
    assert capsys.readouterr().out == 'INFO: Number of sessions with name "user01999" logged off : 1\n'
    assert vpn_sessiondb.run(cli(served, "logoff", "name", "nobody")) == 1


def test_client_leaving_mid_answer_does_not_disturb_the_daemon(
        served: str, many: StandInDaemon, loop: LoopThread, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    troubles: list[dict[str, Any]] = []
    loop.loop.call_soon_threadsafe(loop.loop.set_exception_handler, lambda _, context: troubles.append(context))
    caplog.set_level(logging.DEBUG)
    for linger in (False, True):  # a close, and a reset (SO_LINGER 0)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(served)
            sock.sendall(encode({"op": "show"}))
            assert sock.recv(65536)  # the answer has begun
            if linger:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.5)  # the daemon writes on into a closed socket, then stops
    with contextlib.closing(stream(served, {"op": "show"})) as lines:
        assert len(SnapshotReader(lines).whole().sessions) == len(many.responder.sas)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not noisy, [r.getMessage() for r in noisy]
    assert not troubles


def test_a_client_that_stops_reading_is_dropped_and_others_are_served(
        served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "WRITE_TIMEOUT", 0.5)
    with socket.socket(socket.AF_UNIX) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(served)
        stuck.sendall(encode({"op": "show"}))
        time.sleep(0.2)  # its answer has filled the buffers and waits
        assert request(served, {"op": "logoff", "name": "nobody"}) == {"ok": True, "count": 0}
        time.sleep(1.0)
        received = b""
        while chunk := stuck.recv(1 << 20):
            received += chunk
    assert received.startswith(b'{"ok":true') and b'{"end":' not in received  # given up mid-answer


# -- the line cap ---------------------------------------------------------------


def worst_case_session() -> Any:
    """What a hostile client can put in one session: an EAP identity and an
    IDi of 65535 octets each that escape to six JSON octets apiece, and a
    Child SA with more selectors than one TS payload can carry."""
    selectors = tuple(f"10.{i >> 8 & 255}.{i & 255}.0/24" for i in range(5000))
    return session(username="\x01" * 65535, remote_id="\ufffd" * 65531,
                   children=(child(local_selectors=selectors, remote_selectors=selectors[:3]), child(spi_in=7)))


def test_the_worst_session_record_stays_under_the_line_cap() -> None:
    s = worst_case_session()
    lines = [encode(line) for line in answer(snapshot(), [s, session(unique_id=0x6001)])]
    assert max(len(line) for line in lines) < MAX_LINE
    assert len(lines) == 1 + 1 + 1 + -(-5000 // SELECTOR_CHUNK) - 1 + 1 + 1 + 1 + 1
    again = SnapshotReader(iter(decode(line) for line in lines)).whole()
    assert again.sessions == (s, session(unique_id=0x6001))


def test_identity_text_cannot_outgrow_its_share_of_the_line() -> None:
    from ikev2d.control.collect import identity_text
    for body in (bytes([IdType.ID_FQDN, 0, 0, 0]) + b"\xff" * 65531,
                 bytes([IdType.ID_KEY_ID, 0, 0, 0]) + b"\x01" * 65531,
                 bytes([IdType.ID_DER_ASN1_DN, 0, 0, 0]) + b"\x00" * 65531):
        assert len(json.dumps(identity_text(body))) <= 6 * 65535


def test_a_record_over_the_cap_ends_the_answer_with_its_reason(loop: LoopThread, sock_dir: Path,  # noqa: F811
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    def huge(_: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {"ok": True, "snapshot": {"hostname": "h", "taken_epoch": 0.0, "vpn_capacity": 1}}
        yield {"session": {"username": "x" * MAX_LINE}}
        yield {"end": 1}

    path = str(sock_dir / "c.sock")
    server = ControlServer(path, huge)
    loop.run(server.start())
    try:
        with pytest.raises(ControlError, match="exceeds the 1048576-octet line limit"):
            with contextlib.closing(stream(path, {"op": "show"})) as lines:
                list(SnapshotReader(lines).sessions())
        assert request(path, {"op": "show"})["ok"]  # still serving
    finally:
        loop.run(server.stop())


# -- a daemon that answers badly: a clear error, never a traceback --------------


class RawServer:
    """Answers any request with fixed bytes, then closes."""

    def __init__(self, path: str, reply: bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen()
        self.reply = reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(1000)
            conn.sendall(self.reply)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


HEAD = encode({"ok": True, "snapshot": {"hostname": "h", "taken_epoch": 0.0, "vpn_capacity": 1}})


@pytest.mark.parametrize(("reply", "message"), [
    (b"", "closed the connection without answering"),
    (b"<html>\n", "not JSON"),
    (HEAD, "cut short"),
    (HEAD + encode({"session": {"username": 3}}) + encode({"end": 1}), "username: int, not str"),
    (HEAD + encode({"session": {"username": "a"}}) + encode({"end": 1}), "missing"),
    (HEAD + encode({"end": 4}), "announced 4 sessions, 0 came"),
    (HEAD + encode({"child": {}}), "unexpected line"),
    (HEAD + b'{"session": ' + b" " * (MAX_LINE + 10), f"longer than {MAX_LINE}"),
    (HEAD + b'{"end": 0', "mid-line"),
    (encode({"ok": True, "snapshot": {"hostname": 7}}), "hostname: int, not str"),
    (encode({"ok": True}), "no snapshot header"),
    (HEAD + encode({"ok": False, "error": "disk on fire"}), "disk on fire"),
])
def test_a_bad_answer_is_a_clear_error(sock_dir: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                       reply: bytes, message: str) -> None:
    path = str(sock_dir / "raw.sock")
    server = RawServer(path, reply)
    try:
        assert show.run(cli(path, "crypto", "ikev2", "sa")) == 1
    finally:
        server.close()
    err = capsys.readouterr().err
    assert err.startswith("ikev2d: control socket: ") and message in err, err
    assert "Traceback" not in err
