"""lab.vicicalls against a fake charon on a Unix socket (no root, no daemon).

The fake speaks VICI with the ``vici`` package's own Packet/Message
encoders, and misbehaves on purpose: it refuses, streams without ever
answering, or stays silent.  The real charon paths are covered by every
interop test; these pin the parts a live charon rarely shows: a refused
streamed command keeps its events, and a call past its deadline ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vici.protocol import Message as WireMessage  # type: ignore[import-untyped]
from vici.protocol import Packet, Transport

from lab import vicicalls

pytestmark = pytest.mark.timeout(20)

# What the fake does once a command request arrives.
Behaviour = Callable[[Transport, threading.Event], None]


def _event(name: str, body: dict[str, Any]) -> bytes:
    raw = name.encode()
    body_bytes: bytes = WireMessage.serialize(body)
    return bytes([Packet.EVENT, len(raw)]) + raw + body_bytes


def _response(body: dict[str, Any]) -> bytes:
    body_bytes: bytes = WireMessage.serialize(body)
    return bytes([Packet.CMD_RESPONSE]) + body_bytes


def _serve(conn: socket.socket, behaviour: Behaviour, stop: threading.Event) -> None:
    transport = Transport(conn)
    try:
        while not stop.is_set():
            packet = Packet.parse(transport.receive())
            if packet.response_type in (Packet.EVENT_REGISTER, Packet.EVENT_UNREGISTER):
                transport.send(bytes([Packet.EVENT_CONFIRM]))
            elif packet.response_type == Packet.CMD_REQUEST:
                behaviour(transport, stop)
    except OSError:
        pass  # the client went away
    finally:
        conn.close()


@pytest.fixture
def fake_charon(tmp_path: Path) -> Iterator[Callable[[Behaviour], Path]]:
    stop = threading.Event()
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(behaviour: Behaviour) -> Path:
        path = tmp_path / f"fake{len(servers)}.vici"
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(4)
        srv.settimeout(0.2)
        servers.append(srv)

        def accept_loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except (TimeoutError, OSError):
                    continue
                conn.settimeout(None)
                t = threading.Thread(target=_serve, args=(conn, behaviour, stop), daemon=True)
                threads.append(t)
                t.start()

        t = threading.Thread(target=accept_loop, daemon=True)
        threads.append(t)
        t.start()
        return path

    try:
        yield start
    finally:
        stop.set()
        for srv in servers:
            srv.close()
        for t in threads:
            t.join(timeout=2)


def refuses(transport: Transport, stop: threading.Event) -> None:
    transport.send(_event("control-log", {"group": "IKE", "level": "1", "msg": "initiating IKE_SA ftd-ra[1]"}))
    transport.send(_event("control-log", {"group": "IKE", "level": "1", "msg": "giving up after 2 retransmits"}))
    transport.send(_response({"success": "no", "errmsg": "establishing CHILD_SA 'ftd-ra' failed"}))


def lists_one_sa(transport: Transport, stop: threading.Event) -> None:
    sa = {"ftd-ra": {"state": "ESTABLISHED", "local-vips": ["198.19.0.200"],
                     "child-sas": {"ftd-ra-1": {"state": "INSTALLED"}}}}
    transport.send(_event("list-sa", sa))
    transport.send(_response({}))


def streams_forever(transport: Transport, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        transport.send(_event("control-log", {"msg": f"retransmit {n} of request with message ID 0"}))
        time.sleep(0.05)


def silent(transport: Transport, stop: threading.Event) -> None:
    stop.wait()


def test_refused_streamed_command_keeps_its_log_and_errmsg(fake_charon: Callable[[Behaviour], Path]) -> None:
    path = fake_charon(refuses)
    out = vicicalls.streamed(path, "initiate", lambda s: s.initiate({"child": "ftd-ra"}), deadline=5)
    assert out.ok is False
    assert out.errmsg == "establishing CHILD_SA 'ftd-ra' failed"
    assert [e["msg"] for e in out.events] == ["initiating IKE_SA ftd-ra[1]", "giving up after 2 retransmits"]


def test_streamed_events_come_back_as_str(fake_charon: Callable[[Behaviour], Path]) -> None:
    path = fake_charon(lists_one_sa)
    out = vicicalls.streamed(path, "list-sas", lambda s: s.list_sas(), deadline=5)
    assert out.ok and out.errmsg == ""
    assert out.events == [
        {"ftd-ra": {"state": "ESTABLISHED", "local-vips": ["198.19.0.200"],
                    "child-sas": {"ftd-ra-1": {"state": "INSTALLED"}}}}
    ]


def test_command_that_streams_but_never_answers_ends_at_its_deadline(
    fake_charon: Callable[[Behaviour], Path],
) -> None:
    """A per-packet socket timeout never fires here (a packet arrives every
    50 ms); only a deadline for the whole call ends it."""
    path = fake_charon(streams_forever)
    began = time.monotonic()
    with pytest.raises(vicicalls.ViciTimeout) as caught:
        vicicalls.streamed(path, "initiate", lambda s: s.initiate({"child": "ftd-ra"}), deadline=0.6)
    elapsed = time.monotonic() - began
    assert 0.5 <= elapsed < 2.0, elapsed
    assert caught.value.events, "the events before the deadline are kept"
    assert caught.value.events[0]["msg"] == "retransmit 1 of request with message ID 0"


@pytest.mark.parametrize("command", ["initiate", "version"])
def test_silent_daemon_ends_at_the_deadline(fake_charon: Callable[[Behaviour], Path], command: str) -> None:
    path = fake_charon(silent)
    began = time.monotonic()
    with pytest.raises(vicicalls.ViciTimeout):
        if command == "initiate":
            vicicalls.streamed(path, command, lambda s: s.initiate({"child": "ftd-ra"}), deadline=0.5)
        else:
            vicicalls.request(path, command, deadline=0.5)
    assert time.monotonic() - began < 2.0


def test_no_socket_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        vicicalls.request(tmp_path / "missing.vici", "version")


@pytest.mark.interop
def test_real_charon_initiate_toward_nobody_is_cut_at_the_deadline(client: Callable[..., Any]) -> None:
    """No responder in the gateway namespace: charon would retransmit for
    ~4 s and wait 30 s; the call is cut after 1.5 s, and the daemon still
    answers on a new connection (its IKE SA still CONNECTING)."""
    alice = client(0)
    began = time.monotonic()
    with pytest.raises(vicicalls.ViciTimeout) as caught:
        alice.initiate(timeout=30, deadline=1.5)
    assert time.monotonic() - began < 3.0
    assert any("initiating IKE_SA ftd-ra" in str(e.get("msg")) for e in caught.value.events), caught.value.events
    sas = alice.list_sas()
    assert [sa.state for sa in sas] == ["CONNECTING"], sas
    assert alice.terminate().ok
    assert alice.wait_for_sas(0) == []
