"""The asyncio adapter on real loopback sockets, two access addresses: every
answer, DPD request and Delete leaves from the address its SA lives on, and a
send error on one peer's datagram leaves the socket serving the next peer."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from ipaddress import IPv4Address
from pathlib import Path
from typing import Iterator

import pytest

from esp.dataplane import RecordingDataPlane
from ikev2d.core import Responder
from ikev2d.settings import build_settings
from ikev2d.transport import Transport
from ikev2d.workers import CryptoRunner
from lab.initiator import Initiator, InitiatorOptions

from responder_harness import make_config

ADDRESSES = ["127.0.0.1", "127.0.0.2"]


class Running:
    """A Transport serving on its own event loop thread."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.loop = asyncio.new_event_loop()
        self.transport = Transport(responder, ADDRESSES, RecordingDataPlane(),
                                   CryptoRunner(responder.settings.signing_keys, 0), ports=(0, 0))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.transport.start())

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def port(self, address: str) -> int:
        # ports were asked as 0 (any); each address binds its IKE socket first
        return next(p for (a, p) in self.transport.endpoints if a == address)

    def stop(self) -> None:
        self.call(self.transport.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def running(tmp_path: Path, pki_dir: Path) -> Iterator[Running]:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    responder = Responder(build_settings(config))
    r = Running(responder)
    try:
        yield r
    finally:
        r.stop()


class Peer:
    """A client on a real socket; records the source of everything it gets."""

    def __init__(self, gateway: tuple[str, int]) -> None:
        self.gateway = gateway
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sources: set[tuple[str, int]] = set()

    def send(self, datagram: bytes) -> list[bytes]:
        self.sock.sendto(datagram, self.gateway)
        return self.receive(first=5.0)

    def receive(self, first: float) -> list[bytes]:
        answers: list[bytes] = []
        self.sock.settimeout(first)
        try:
            while True:
                data, source = self.sock.recvfrom(65535)
                self.sources.add(source)
                answers.append(data)
                self.sock.settimeout(0.2)  # more fragments of the same answer
        except socket.timeout:
            return answers

    def initiator(self, username: str = "alice", password: str = "Lab-Passw0rd-1") -> Initiator:
        local = self.sock.getsockname()
        return Initiator(InitiatorOptions(local=local, remote=self.gateway, username=username, password=password),
                         self.send)


def test_each_address_answers_from_itself_and_dpd_and_delete_follow_the_sa(running: Running) -> None:
    running.responder.settings.dpd_interval = 1.0
    peers = [Peer((address, running.port(address))) for address in ADDRESSES]
    # two users: both peers are on 127.0.0.1, where one user's INITIAL_CONTACT
    # would end that user's other session (RFC 7296 §2.4)
    clients = [peers[0].initiator(), peers[1].initiator("bob", "Lab-Passw0rd-2")]
    results = [client.connect() for client in clients]
    assert {r.address for r in results} == {IPv4Address("198.19.0.200"), IPv4Address("198.19.0.201")}
    for peer, client in zip(peers, clients):
        # the liveness check comes from the SA's own timer, from the SA's address
        request = peer.receive(first=5.0)
        assert request, "no DPD request"
        peer.sock.sendto(client.answer(request[0])[0], peer.gateway)
    for peer in peers:
        assert peer.sources == {peer.gateway}
    # a Delete from our side (logoff) leaves from the second address too
    sa = next(s for s in running.responder.sas.values() if s.local[0] == ADDRESSES[1])
    running.loop.call_soon_threadsafe(
        lambda: running.transport.perform(running.responder.delete_ike_sa(sa, "Administrator Reset", 0.0)))
    delete = peers[1].receive(first=5.0)
    assert delete and peers[1].sources == {peers[1].gateway}
    clients[1].answer(delete[0])
    assert clients[1].deleted_by_peer


def test_a_send_error_to_one_peer_leaves_the_socket_serving(running: Running) -> None:
    """The bug this replaces: one reply that could not be sent (ENETUNREACH)
    stopped every later receive on UDP 500."""
    endpoint = running.transport.endpoints[(ADDRESSES[0], running.port(ADDRESSES[0]))]
    real = endpoint.sock
    failures = iter([OSError(errno.ENETUNREACH, "Network is unreachable")])

    class Unreachable:
        def sendto(self, data: bytes, remote: tuple[str, int]) -> int:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real.sendto(data, remote)

        def __getattr__(self, name: str):
            return getattr(real, name)

    endpoint.sock = Unreachable()  # type: ignore[assignment]
    peer = Peer((ADDRESSES[0], running.port(ADDRESSES[0])))
    lost = Peer((ADDRESSES[0], running.port(ADDRESSES[0])))
    lost.sock.sendto(_init_of(lost), lost.gateway)  # its answer is the one that fails
    assert lost.receive(first=1.0) == []
    assert peer.initiator().connect().address is not None
    assert running.transport.errors.counts[("send", "ENETUNREACH")] == 1


def _init_of(peer: Peer) -> bytes:
    sent: list[bytes] = []
    client = Initiator(InitiatorOptions(local=peer.sock.getsockname(), remote=peer.gateway),
                       lambda d: sent.append(d) or [])
    try:
        client.ike_sa_init()
    except Exception:
        pass
    return sent[0]
