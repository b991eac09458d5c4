"""`ikev2d load`'s network side over loopback UDP against the responder
core (wrapped in a small asyncio server), and its statistics."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import cast

import pytest

from ikev2d import cli
from ikev2d.commands.load import parse_sources, parse_target
from ikev2d.load.runner import LoadOptions, run_load
from ikev2d.load.session import ClientProfile
from ikev2d.load.stats import LoadStats, percentile

from responder_harness import Harness

PROFILE = ClientProfile(username="alice", password="Lab-Passw0rd-1")


class CoreServer(asyncio.DatagramProtocol):
    """The responder core on a loopback socket; `drop_first` datagrams are
    lost (to make the client retransmit)."""

    def __init__(self, harness: Harness, drop_first: int = 0) -> None:
        self.harness = harness
        self.drop_first = drop_first
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        if self.received <= self.drop_first:
            return
        for answer in self.harness.sender(addr)(data):
            self.transport.sendto(answer, addr)


def load(harness: Harness, drop_first: int = 0, **options) -> LoadStats:
    async def main() -> LoadStats:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: CoreServer(harness, drop_first),
                                                           local_addr=("127.0.0.1", 0))
        try:
            remote = transport.get_extra_info("sockname")[:2]
            return await run_load(LoadOptions(remote=remote, sources=["127.0.0.1"], timeout=0.5, **options), PROFILE)
        finally:
            transport.close()
    return asyncio.run(main())


def test_connects_holds_and_deletes_sessions_on_one_socket(harness: Harness) -> None:
    seen: list[int] = []
    stats = load(harness, sessions=3, concurrency=2, hold=0.1,
                 on_established=lambda s: seen.append(len(harness.responder.sas)))
    assert stats.attempted == 3
    assert stats.established == 3 and stats.deleted == 3
    assert not stats.errors
    assert seen == [3]  # all held at once on the responder
    assert not harness.responder.sas  # and all deleted
    report = stats.as_dict()
    assert report["latency_ms"]["total"]["p50"] > 0
    assert json.loads(json.dumps(report))["established"] == 3
    assert "IKE_SA_INIT" in stats.text()


def test_sessions_the_responder_deletes_while_held_are_counted(harness: Harness) -> None:
    # one user, 12 clients: the group policy's simultaneous_logins (3) keeps the newest
    stats = load(harness, sessions=12, concurrency=4)
    assert stats.established == 12
    assert stats.deleted == 3
    assert stats.errors == {"deleted by the responder": 9}


def test_a_lost_request_is_retransmitted(harness: Harness) -> None:
    stats = load(harness, drop_first=1, sessions=1)
    assert stats.retransmits == 1
    assert stats.established == 1


def test_errors_are_counted_by_notify(harness: Harness) -> None:
    global PROFILE
    saved, PROFILE = PROFILE, ClientProfile(username="alice", password="wrong")
    try:
        stats = load(harness, sessions=3)
    finally:
        PROFILE = saved
    assert stats.established == 0
    assert stats.errors == {"AUTHENTICATION_FAILED": 3}
    assert "AUTHENTICATION_FAILED" in stats.text()


def test_nobody_answering_is_a_timeout(harness: Harness) -> None:
    stats = load(harness, drop_first=100, sessions=2, retries=1)
    assert stats.errors == {"timeout": 2}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([], 50) == 0.0


def test_stats_per_phase_and_connects_per_second() -> None:
    stats = LoadStats()
    stats.connected(10.0, 10.010, 10.050)
    stats.connected(10.5, 10.520, 11.000)
    stats.failed("NO_PROPOSAL_CHOSEN")
    stats.failed("NO_PROPOSAL_CHOSEN")
    stats.failed("timeout")
    assert stats.percentiles()["IKE_SA_INIT"]["p50"] == pytest.approx(10.0)
    assert stats.percentiles()["IKE_SA_INIT"]["p100"] == pytest.approx(20.0)
    assert stats.percentiles()["IKE_AUTH"]["p100"] == pytest.approx(480.0)
    assert stats.percentiles()["total"]["p50"] == pytest.approx(50.0)
    assert stats.connects_per_second == pytest.approx(2.0)
    assert stats.as_dict()["errors"] == {"NO_PROPOSAL_CHOSEN": 2, "timeout": 1}
    assert stats.as_dict()["failed"] == 3


def test_sources_and_target_parse() -> None:
    assert parse_sources(["198.18.0.100-198.18.0.102", "198.18.0.7"]) == [
        "198.18.0.100", "198.18.0.101", "198.18.0.102", "198.18.0.7"]
    assert parse_sources([]) == ["0.0.0.0"]
    with pytest.raises(ValueError):
        parse_sources(["198.18.0.9-198.18.0.1"])
    assert parse_target("198.18.0.1") == ("198.18.0.1", 500)
    assert parse_target("198.18.0.1:4500") == ("198.18.0.1", 4500)


class ThreadedCoreServer:
    """The responder core behind a plain UDP socket in a thread (the
    command runs its own event loop)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            for answer in self.harness.sender(addr)(data):
                self.sock.sendto(answer, addr)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("as_json", [True, False])
def test_the_command_reports_and_exits_0_when_all_connected(harness: Harness, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    server = ThreadedCoreServer(harness)
    monkeypatch.setenv("IKEV2D_LOAD_PASSWORD", "Lab-Passw0rd-1")
    try:
        code = cli.main(["load", f"127.0.0.1:{server.port}", "-n", "3", "--source", "127.0.0.1", "-q"]
                        + (["--json"] if as_json else []))
    finally:
        server.close()
    out = capsys.readouterr().out
    assert code == 0, out
    if as_json:
        assert json.loads(out)["established"] == 3
    else:
        assert "3 established, 0 failed, 3 deleted" in out


def test_the_command_exits_1_on_errors_and_2_without_a_password(
        harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IKEV2D_LOAD_PASSWORD", raising=False)
    assert cli.main(["load", "127.0.0.1"]) == 2
    server = ThreadedCoreServer(harness)
    try:
        code = cli.main(["load", f"127.0.0.1:{server.port}", "-n", "2", "--password", "wrong", "--json", "-q"])
    finally:
        server.close()
    assert code == 1
    assert json.loads(capsys.readouterr().out)["errors"] == {"AUTHENTICATION_FAILED": 2}


def test_workers_share_the_clients_and_their_stats_merge(harness: Harness, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadedCoreServer(harness)
    monkeypatch.setenv("IKEV2D_LOAD_PASSWORD", "Lab-Passw0rd-1")
    try:
        code = cli.main(["load", f"127.0.0.1:{server.port}", "-n", "3", "--workers", "2", "--json", "-q"])
    finally:
        server.close()
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert (report["attempted"], report["established"], report["deleted"]) == (3, 3, 3)
    assert report["cpu_ms_per_connect"] > 0


def test_merged_stats_add_up() -> None:
    one, two = LoadStats(attempted=2, cpu_seconds=0.5), LoadStats(attempted=1, retransmits=4)
    one.connected(1.0, 1.1, 1.2)
    two.connected(0.5, 0.6, 2.5)
    two.failed("timeout")
    one.merge(two)
    assert (one.attempted, one.established, one.retransmits) == (3, 2, 4)
    assert one.errors == {"timeout": 1}
    assert sorted(one.latencies["total"]) == pytest.approx([0.2, 2.0])
    assert one.connects_per_second == pytest.approx(2 / 2.0)
