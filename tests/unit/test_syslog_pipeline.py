"""The pipeline: the VPN logging level, byte counts for 113019, events the
FTD has no message for, and a pipeline built from a configuration."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from esp.dataplane import SaCounters
from ikev2d import events as ev
from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.destinations import FileDestination, StreamDestination, TcpDestination, UdpDestination
from ikev2d.syslog.pipeline import SyslogPipeline
from ikev2d.syslog.setup import pipeline_from_config

FTD, PEER = ("198.18.0.1", 4500), ("198.18.0.2", 4500)
NAME = "aa_i bb_r"
WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


class Collect:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        self.records.append(record)

    async def aclose(self) -> None:
        pass


def pipeline(level: int) -> tuple[SyslogPipeline, Collect]:
    sink = Collect()
    return SyslogPipeline(level, [sink], clock=lambda: WHEN), sink


def connection_events() -> list[ev.Event]:
    vip = IPv4Address("198.19.0.200")
    return [
        ev.IkeInitReceived(NAME, FTD, PEER),  # 750002 (5)
        ev.AuthSucceeded(NAME, FTD, PEER, "alice", "EAP_MD5", "GP", "TG"),  # 113012..113039 (6)
        ev.NegotiationAborted(NAME, FTD, PEER, "alice", "x"),  # 750003 (4)
        ev.IkeSaDeleted(NAME, FTD, PEER, "alice", "User Requested", 5.0),  # 750007 (5), 113019 (4)
        ev.SessionStarted(NAME, FTD, PEER, "alice", 0x6000, vip, "GP"),  # 109201 (5)
    ]


@pytest.mark.parametrize(("level", "ids"), [
    (3, []),  # errors, the FTD default: none of the VPN messages here
    (4, [750003, 113019]),
    (5, [750002, 750003, 750007, 113019, 109201]),
    (6, [750002, 113012, 113009, 113008, 734001, 113039, 750003, 750007, 113019, 109201]),
    # debugging: the session's local-host entry (609001) after 109201
    (7, [750002, 113012, 113009, 113008, 734001, 113039, 750003, 750007, 113019, 109201, 609001]),
])
def test_logging_level_filters_by_severity(level: int, ids: list[int]) -> None:
    p, sink = pipeline(level)
    for e in connection_events():
        p.emit(e)
    assert [r.id for r in sink.records] == ids
    assert p.filtered == 11 - len(ids)


def test_bytes_of_removed_child_sas_reach_113019() -> None:
    p, sink = pipeline(4)
    p.child_removed(NAME, SaCounters(bytes_in=100, bytes_out=2000))
    p.child_removed(NAME, SaCounters(bytes_in=5, bytes_out=7))  # a second Child SA of the session
    p.child_removed("other_i other_r", SaCounters(bytes_in=999, bytes_out=999))
    p.emit(ev.IkeSaDeleted(NAME, FTD, PEER, "alice", "User Requested", 5.0, group_policy="GP"))
    [line] = [r.text for r in sink.records if r.id == 113019]
    assert "Bytes xmt: 2007, Bytes rcv: 105," in line
    # counted once: a later session with the same name starts from zero
    p.emit(ev.IkeSaDeleted(NAME, FTD, PEER, "alice", "User Requested", 5.0, group_policy="GP"))
    assert "Bytes xmt: 0, Bytes rcv: 0," in sink.records[-1].text


def test_bytes_follow_the_session_through_ike_rekeys() -> None:
    """Child SAs keep the name of the IKE SA they were made under; an IKE
    rekey (twice here) must not lose what they carried."""
    p, sink = pipeline(4)
    second, third = "cc_i dd_r", "ee_i ff_r"
    p.child_removed(NAME, SaCounters(bytes_in=1, bytes_out=10))  # rekeyed before the IKE rekey
    p.emit(ev.IkeSaRekeyed(NAME, FTD, PEER, "alice", second, "AES-CBC-256"))
    p.emit(ev.IkeSaDeleted(NAME, FTD, PEER, "alice", "IKE SA rekeyed", 5.0))  # the old IKE SA goes
    p.child_removed(NAME, SaCounters(bytes_in=2, bytes_out=20))  # made under the first IKE SA
    p.emit(ev.IkeSaRekeyed(second, FTD, PEER, "alice", third, "AES-CBC-256"))
    p.child_removed(second, SaCounters(bytes_in=4, bytes_out=40))
    p.child_removed(third, SaCounters(bytes_in=8, bytes_out=80))
    p.emit(ev.IkeSaDeleted(third, FTD, PEER, "alice", "User Requested", 5.0))
    assert "Bytes xmt: 150, Bytes rcv: 15," in sink.records[-1].text
    assert p.traffic._successor == {} and p.traffic._bytes == {}  # nothing kept for a session gone


def test_a_data_plane_without_counters_gives_zero() -> None:
    p, sink = pipeline(4)
    p.child_removed(NAME, None)
    p.emit(ev.IkeSaDeleted(NAME, FTD, PEER, "alice", "User Requested", 5.0))
    assert "Bytes xmt: 0, Bytes rcv: 0," in sink.records[-1].text


def test_events_without_an_ftd_message_keep_their_plain_line(caplog: pytest.LogCaptureFixture) -> None:
    p, sink = pipeline(7)
    with caplog.at_level(logging.DEBUG, logger="ikev2d"):
        p.emit(ev.MessageDropped(NAME, FTD, PEER, "integrity check failed"))
    assert sink.records == []
    assert "integrity check failed" in caplog.text


def test_a_rendering_bug_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import ikev2d.syslog.pipeline as pipeline_module

    def broken(e: ev.Event) -> list[Record]:
        raise KeyError("template field")

    monkeypatch.setattr(pipeline_module, "records_for", broken)
    p, sink = pipeline(7)
    p.emit(ev.IkeInitReceived(NAME, FTD, PEER))  # must not raise into the transport
    assert "cannot render IkeInitReceived" in caplog.text


def make_config(tmp_path: Path, logging_yaml: str):
    from ikev2d.conf import load_config
    root = Path(__file__).resolve().parents[2]
    text = (root / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {tmp_path / 'pki'}")
    start = text.index("\nlogging:")
    end = text.find("\n\n", start + 1)
    text = text[:start] + "\n" + logging_yaml + (text[end:] if end != -1 else "\n")
    path = tmp_path / "ikev2d.yaml"
    path.write_text(text)
    return load_config(path)


def test_pipeline_from_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"""logging:
  vpn_logging_level: informational
  console: false
  file: {tmp_path / 'ftd.log'}
  syslog_servers:
    - host: 127.0.0.1
      port: 5514
    - host: 127.0.0.1
      protocol: tcp
      port: 5515
      format: rfc3164
""")
    p = pipeline_from_config(config)
    assert p.level == 6
    kinds = [type(d) for d in p.destinations]
    assert kinds == [FileDestination, UdpDestination, TcpDestination]
    udp, tcp = p.destinations[1], p.destinations[2]
    assert isinstance(udp, UdpDestination) and udp.address == ("127.0.0.1", 5514)
    assert isinstance(tcp, TcpDestination) and (tcp.host, tcp.port) == ("127.0.0.1", 5515)
    assert all(d.hostname == config.device.hostname for d in p.destinations)  # type: ignore[attr-defined]


def test_default_config_logs_errors_to_the_console(tmp_path: Path) -> None:
    config = make_config(tmp_path, "logging:\n  vpn_logging_level: errors\n")
    p = pipeline_from_config(config)
    assert p.level == 3
    assert [type(d) for d in p.destinations] == [StreamDestination]


@pytest.mark.parametrize("event", [
    ev.AuthFailed(NAME, FTD, PEER, "alice", "wrong password", "ISE", aaa_rejected=True),  # 113005: informational
    ev.NegotiationAborted(NAME, FTD, PEER, "alice", "No proposal chosen", "offered 3DES; configured NSA"),  # 750003
    ev.IkeInitRejected(NAME, FTD, PEER, "NO_PROPOSAL_CHOSEN", "offered 3DES; configured NSA"),
])
def test_a_failure_says_why_at_the_default_level_when_its_ftd_line_is_filtered(
        event: ev.Event, caplog: pytest.LogCaptureFixture) -> None:
    p, sink = pipeline(3)  # errors, the FTD's default
    with caplog.at_level(logging.INFO):
        p.emit(event)
    assert sink.records == []
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert ("wrong password" in line.getMessage()) or ("offered 3DES" in line.getMessage())


def test_steps_of_a_negotiation_are_not_failures(caplog: pytest.LogCaptureFixture) -> None:
    """A cookie challenge or a request for another DH group is logged as the
    FTD logs it (750004 / nothing at errors), not as a refusal."""
    p, _ = pipeline(3)
    with caplog.at_level(logging.INFO):
        p.emit(ev.IkeInitRejected(NAME, FTD, PEER, "COOKIE", "cookie challenge"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
