"""What `show logging` reports of the pipeline: each destination's level
and counts, and the internal buffer's lines (plain values, for the control
socket)."""

from __future__ import annotations

from typing import Any

from ..conf import Config
from .catalogue import SEVERITY_NAMES
from .destinations import FileDestination, StreamDestination, TcpDestination, UdpDestination
from .framing import FACILITY_LOCAL4
from .pipeline import SyslogPipeline


def _interface(config: Config, host: str, port: int, protocol: str) -> str:
    for server in config.logging.syslog_servers:
        if (str(server.host), server.port, server.protocol) == (host, port, protocol):
            if server.interface:
                return server.interface
    # no interface named: the first access interface, as running-config says
    return config.remote_access_vpn.access_interfaces[0].interface


def status(pipeline: SyslogPipeline, config: Config) -> dict[str, Any]:
    level = SEVERITY_NAMES[pipeline.level]
    console = next((d for d in pipeline.destinations
                    if type(d) is StreamDestination), None)  # a FileDestination is a StreamDestination too
    files = [d for d in pipeline.destinations if isinstance(d, FileDestination)]
    hosts = []
    for d in pipeline.destinations:
        if isinstance(d, (UdpDestination, TcpDestination)):
            protocol = "udp" if isinstance(d, UdpDestination) else "tcp"
            hosts.append({"interface": _interface(config, d.host, d.port, protocol), "host": d.host,
                          "protocol": protocol, "port": d.port, "logged": d.sent, "dropped": d.dropped})
    buffer = pipeline.buffer
    return {
        "enabled": True,
        "facility": FACILITY_LOCAL4,
        "timestamp": True,  # every local line and syslog message carries its time
        "device_id": config.device.hostname,  # every line names the host
        "console": None if console is None else {"level": level, "logged": console.sent,
                                                 "dropped": console.dropped},
        "buffer": None if buffer.level is None else {"level": SEVERITY_NAMES[buffer.level], "logged": buffer.logged,
                                                     "size": buffer.size},
        "trap": None if not hosts else {"level": level, "facility": FACILITY_LOCAL4,
                                        "logged": pipeline.published, "hosts": hosts},
        "files": [{"path": str(f.path), "level": level, "logged": f.sent, "dropped": f.dropped} for f in files],
        "filtered": pipeline.filtered,
        "lines": list(buffer.lines),
    }
