"""The pipeline a configuration asks for (its `logging:` section)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..conf import Config
from .destinations import Destination, FileDestination, StreamDestination, TcpDestination, UdpDestination
from .buffer import DEFAULT_SIZE, LogBuffer
from .pipeline import ERRORS, SyslogPipeline

log = logging.getLogger("ikev2d.syslog")


def pipeline_from_config(config: Config) -> SyslogPipeline:
    settings = config.logging
    hostname = config.device.hostname
    destinations: list[Destination] = []
    if getattr(settings, "console", True):
        destinations.append(StreamDestination(hostname))
    path = getattr(settings, "file", None)
    if path is not None:
        destinations.append(FileDestination(hostname, Path(path)))
    for server in getattr(settings, "syslog_servers", ()):
        kind = UdpDestination if server.protocol == "udp" else TcpDestination
        try:
            destinations.append(kind(hostname, str(server.host), server.port, server.format))
        except OSError as exc:  # a name that does not resolve: log it, serve anyway
            log.error("syslog server %s:%d left out: %s", server.host, server.port, exc)
    buffer = LogBuffer(hostname, getattr(settings, "buffered", None), getattr(settings, "buffer_size", DEFAULT_SIZE))
    interfaces = {str(i.address): i.name for i in config.interfaces}
    return SyslogPipeline(getattr(settings, "vpn_logging_level", ERRORS), destinations, buffer=buffer,
                          interfaces=interfaces)
