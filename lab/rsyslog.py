"""A real syslog server for the tests: Debian's rsyslogd in a lab namespace.

It runs in the foreground with a configuration, pid file and spool of its
own under the test's folder, loads only the UDP and TCP inputs (never the
host's /dev/log or kernel log), and writes each message it receives as one
line of what it parsed::

    <severity>|<facility>|<hostname>|<msgid>|<raw message>

so a test sees both the FTD text and how a standard parser read the header.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.netns import Namespace, check_lab_address
from lab.process import Daemon, NotReady, read_log, spawn, wait_ready

RSYSLOGD = "/usr/sbin/rsyslogd"


class RsyslogError(RuntimeError):
    """rsyslogd did not start as expected."""


@dataclass(frozen=True)
class Received:
    severity: int
    facility: int
    hostname: str
    msgid: str
    raw: str

    @property
    def ftd(self) -> str:
        """From `%FTD-` on: the message an FTD parser reads."""
        at = self.raw.find("%FTD-")
        return self.raw[at:] if at >= 0 else ""


def parse_received(text: str) -> list[Received]:
    out = []
    for line in text.splitlines():
        severity, facility, hostname, msgid, raw = line.split("|", 4)
        out.append(Received(int(severity), int(facility), hostname, msgid, raw))
    return out


def config_text(address: str, udp_port: int, tcp_port: int | None, spool: Path, output: Path) -> str:
    tcp = (f'module(load="imtcp")\ninput(type="imtcp" address="{address}" port="{tcp_port}" ruleset="lab")\n'
           if tcp_port else "")
    return f"""# written by lab/rsyslog.py for one test
global(workDirectory="{spool}" maxMessageSize="64k")
module(load="imudp")
input(type="imudp" address="{address}" port="{udp_port}" ruleset="lab")
{tcp}template(name="lab" type="string"
         string="%syslogseverity%|%syslogfacility%|%hostname%|%msgid%|%rawmsg%\\n")
ruleset(name="lab") {{
  action(type="omfile" file="{output}" template="lab" flushOnTXEnd="on" asyncWriting="off")
}}
"""


class Rsyslog(Daemon):
    """One rsyslogd in `ns` listening on `address`, files under `folder`."""

    def __init__(self, ns: Namespace, folder: Path, address: str, udp_port: int = 514,
                 tcp_port: int | None = None) -> None:
        self.ns = ns
        self.folder = folder
        self.address = check_lab_address(address)
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / "rsyslog.conf"

    @property
    def output_path(self) -> Path:
        return self.folder / "received.log"

    @property
    def stderr_path(self) -> Path:
        return self.folder / "rsyslogd.out"

    def start(self, timeout: float = 10.0) -> "Rsyslog":
        spool = self.folder / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config_text(self.address, self.udp_port, self.tcp_port, spool, self.output_path))
        self.proc = spawn(
            self.ns.argv([RSYSLOGD, "-n", "-f", str(self.config_path), "-i", str(self.folder / "rsyslogd.pid")]),
            self.stderr_path)
        try:
            wait_ready(self.proc, lambda: self.ns.udp_listening(self.udp_port), timeout,
                       waiting_for=f"not listening on UDP {self.udp_port}")
        except NotReady as exc:
            self.stop()
            raise RsyslogError(f"rsyslogd {exc}:\n{read_log(self.stderr_path)}") from None
        return self

    def stop(self) -> int | None:
        return self._stop_process()

    def text(self) -> str:
        return read_log(self.output_path)

    def received(self) -> list[Received]:
        return parse_received(self.text())

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages received once there are `count` (or all there are at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def __enter__(self) -> "Rsyslog":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
