"""The internal log buffer (`logging buffered`, `logging buffer-size`), its
configuration keys, and `show logging` over it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ikev2d import events as ev
from ikev2d.conf.errors import ConfigError
from ikev2d.running_config import render_running_config
from ikev2d.show import logging as show_logging
from ikev2d.syslog.buffer import LogBuffer
from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.pipeline import SyslogPipeline
from ikev2d.syslog.setup import pipeline_from_config
from ikev2d.syslog.status import status
from responder_harness import make_config

WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
FTD, PEER = ("198.18.0.1", 4500), ("198.18.0.2", 4500)
LEVELS = "vpn_logging_level: errors          # errors(3) | warnings(4) | notifications(5) | informational(6) | debugging(7)"


class Collect:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        self.records.append(record)
        self.sent += 1

    async def aclose(self) -> None:
        pass


def test_the_buffer_keeps_the_newest_lines_within_its_size() -> None:
    buffer = LogBuffer("FTDv-1", level=7, size=4096)
    record = Record(750002, 5, "x" * 100)
    for _ in range(100):
        buffer.send(record, WHEN)
    assert buffer.logged == 100
    line = "May 01 2024 12:00:00 FTDv-1 : %FTD-5-750002: " + "x" * 100
    assert list(buffer.lines) == [line] * (4096 // (len(line) + 1))
    assert buffer.used <= 4096
    buffer.configure("FTDv-1", 7, 8192)  # a reload keeps the lines
    assert len(buffer.lines) == 4096 // (len(line) + 1)


def test_the_buffer_has_a_level_of_its_own() -> None:
    sink = Collect()
    pipeline = SyslogPipeline(3, [sink], clock=lambda: WHEN, buffer=LogBuffer("FTDv-1", level=5))
    pipeline.emit(ev.IkeInitReceived("a b", FTD, PEER))  # 750002, severity 5
    pipeline.emit(ev.IkeSaDeleted("a b", FTD, PEER, "alice", "User Requested", 5.0))  # 750007 (5), 113019 (4)
    pipeline.emit(ev.AuthSucceeded("a b", FTD, PEER, "alice", "EAP_MD5", "GP", "TG"))  # severity 6: nowhere
    assert sink.records == []  # errors only for the console and servers
    assert [line.split("%FTD-")[1][:8] for line in pipeline.buffer.lines] == ["5-750002", "5-750007", "4-113019"]
    assert pipeline.buffer.logged == 3 and pipeline.published == 0 and pipeline.filtered == 5


def test_an_unconfigured_buffer_takes_nothing() -> None:
    pipeline = SyslogPipeline(7, [], clock=lambda: WHEN)
    pipeline.emit(ev.IkeInitReceived("a b", FTD, PEER))
    assert not pipeline.buffer.lines and pipeline.published == 1


def test_config_keys_and_running_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{LEVELS: LEVELS + "\n  buffered: debugging\n  buffer_size: 1048576"})
    assert (config.logging.buffered, config.logging.buffer_size) == (7, 1048576)
    pipeline = pipeline_from_config(config)
    assert (pipeline.buffer.level, pipeline.buffer.size, pipeline.buffer.hostname) == (7, 1048576, "FTDv-1")
    lines = render_running_config(config).splitlines()
    assert "logging buffered debugging" in lines and "logging buffer-size 1048576" in lines
    numeric = make_config(tmp_path, **{LEVELS: LEVELS + "\n  buffered: 0"})
    assert (numeric.logging.buffered, numeric.logging.buffer_size) == (0, 4096)
    default = make_config(tmp_path)
    assert (default.logging.buffered, default.logging.buffer_size) == (None, 4096)
    assert not any(line.startswith("logging buffer") for line in render_running_config(default).splitlines())


@pytest.mark.parametrize("extra", ["buffered: loud", "buffered: 8", "buffer_size: 100", "buffer_size: 52428801"])
def test_bad_buffer_keys_are_refused(tmp_path: Path, extra: str) -> None:
    with pytest.raises(ConfigError):
        make_config(tmp_path, **{LEVELS: LEVELS + "\n  " + extra})


def test_show_logging_header_and_buffer(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{LEVELS: LEVELS + "\n  buffered: informational"})
    pipeline = pipeline_from_config(config)
    pipeline.clock = lambda: WHEN
    pipeline.emit(ev.IkeSaDeleted("a b", FTD, PEER, "alice", "User Requested", 5.0))
    values = status(pipeline, config)
    text = show_logging.render(values).splitlines()
    assert text[:8] == [
        "Syslog logging: enabled",
        "    Facility: 20",
        "    Timestamp logging: enabled",
        "    Standby logging: disabled",
        "    Debug-trace logging: disabled",
        # 113019 (warnings) is above the errors level of the console
        "    Console logging: level errors, 0 messages logged",
        "    Monitor logging: disabled",
        "    Buffer logging: level informational, 2 messages logged",
    ]
    assert "    Trap logging: disabled" in text
    assert '    Device ID: hostname "FTDv-1"' in text
    assert text[-2].endswith("%FTD-5-750007: Local:198.18.0.1:4500 Remote:198.18.0.2:4500 Username:alice "
                             "IKEv2 SA DOWN. Reason: User Requested")
    assert "%FTD-4-113019: Group = , Username = alice" in text[-1]


def test_show_logging_lists_syslog_servers_with_their_counts() -> None:
    values = {"enabled": True, "facility": 20, "timestamp": True, "device_id": "FTDv-1",
              "console": None, "buffer": None, "files": [], "filtered": 0, "lines": [],
              "trap": {"level": "informational", "facility": 20, "logged": 12, "hosts": [
                  {"interface": "outside", "host": "198.18.0.10", "protocol": "udp", "port": 514,
                   "logged": 12, "dropped": 0},
                  {"interface": "inside", "host": "198.18.0.11", "protocol": "tcp", "port": 1470,
                   "logged": 10, "dropped": 2}]}}
    text = show_logging.render(values).splitlines()
    assert "    Console logging: disabled" in text and "    Buffer logging: disabled" in text
    at = text.index("    Trap logging: level informational, facility 20, 12 messages logged")
    assert text[at + 1:at + 3] == [
        "        Logging to outside 198.18.0.10, 12 messages logged, 0 dropped",
        "        Logging to inside 198.18.0.11 tcp/1470, 10 messages logged, 2 dropped",
    ]
