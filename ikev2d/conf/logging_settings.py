"""The `logging:` section: FMC Platform Settings > Syslog, as far as VPN goes.

The VPN logging level filters FTD syslog messages; console, file and
syslog servers are where they go.
"""

from __future__ import annotations

import os.path
from pathlib import Path
from typing import Mapping

import yaml

from . import defaults, nodes, schema
from .context import Context
from .model import DebugTrace, Logging, SyslogFormat, SyslogProtocol, SyslogServer
from .nodes import Fields, Problem

LOGGING_KEYS = schema.keys("logging")
SERVER_KEYS = schema.keys("logging.syslog_servers[]")
TRACE_KEYS = schema.keys("logging.debug_trace")
TRACE_FORMATS: Mapping[str, str] = {"json": "json", "text": "text"}

# `logging buffered` takes every severity; the VPN logging level 3 and up
BUFFER_LEVELS: Mapping[str, int] = {
    "emergencies": 0,
    "alerts": 1,
    "critical": 2,
    "errors": 3,
    "warnings": 4,
    "notifications": 5,
    "informational": 6,
    "debugging": 7,
}
LOGGING_LEVELS: Mapping[str, int] = {
    "errors": 3,
    "warnings": 4,
    "notifications": 5,
    "informational": 6,
    "debugging": 7,
}
PROTOCOLS: Mapping[str, SyslogProtocol] = {"udp": "udp", "tcp": "tcp"}
FORMATS: Mapping[str, SyslogFormat] = {"rfc5424": "rfc5424", "rfc3164": "rfc3164"}
DEFAULT_PORTS: Mapping[SyslogProtocol, int] = {
    "udp": defaults.SYSLOG_UDP_PORT,
    "tcp": defaults.SYSLOG_TCP_PORT,
}
MAX_SYSLOG_SERVERS = 16  # ASA: up to 16 `logging host` entries
BUFFER_SIZES = (4096, 52428800)  # ASA `logging buffer-size` range


def read_logging(ctx: Context, node: yaml.Node | None) -> Logging:
    if node is None:
        return Logging(defaults.VPN_LOGGING_LEVEL)
    fields = Fields(node, "logging", LOGGING_KEYS)
    level_node = fields.optional("vpn_logging_level")
    level = defaults.VPN_LOGGING_LEVEL if level_node is None else _level(level_node)
    console_node = fields.optional("console")
    console = (
        defaults.LOGGING_CONSOLE if console_node is None else nodes.boolean(console_node, "console")
    )
    file_node = fields.optional("file")
    file = None if file_node is None else _path(ctx, file_node, "file")
    keys_node = fields.optional("wireshark_keys")
    wireshark_keys = None if keys_node is None else _path(ctx, keys_node, "wireshark_keys")
    servers_node = fields.optional("syslog_servers")
    entries = nodes.items(servers_node, "syslog_servers")
    if len(entries) > MAX_SYSLOG_SERVERS and servers_node is not None:
        raise Problem.at(servers_node, f"syslog_servers lists {len(entries)}; at most 16")
    servers = nodes.each_unique(
        entries,
        lambda entry: _server(ctx, entry),
        key=lambda server: (server.host, server.port, server.protocol),
        what=lambda server: f"syslog server {server.protocol}/{server.host}:{server.port}",
    )
    trace_node = fields.optional("debug_trace")
    trace = None if trace_node is None else _debug_trace(ctx, trace_node)
    buffered_node = fields.optional("buffered")
    buffered = None if buffered_node is None else _buffer_level(buffered_node)
    buffer_size = fields.optional_integer("buffer_size", defaults.LOGGING_BUFFER_SIZE, *BUFFER_SIZES)
    return Logging(level, console, file, servers, wireshark_keys, debug_trace=trace, buffered=buffered,
                   buffer_size=buffer_size)


def _debug_trace(ctx: Context, node: yaml.Node) -> DebugTrace:
    fields = Fields(node, "debug_trace", TRACE_KEYS)
    file = _path(ctx, fields.required("file"), "file")
    protocol = fields.optional_integer("protocol", 127, 0, 255)
    platform = fields.optional_integer("platform", 127, 0, 255)
    format_node = fields.optional("format")
    form = "json" if format_node is None else nodes.choice(format_node, "format", TRACE_FORMATS)
    return DebugTrace(file, protocol, platform, form)


def _buffer_level(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) and (
        node.tag == nodes.INT_TAG or str(node.value).strip().isdecimal()
    ):
        return nodes.integer(node, "buffered", 0, 7)
    return nodes.choice(node, "buffered", BUFFER_LEVELS)


def _level(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) and (
        node.tag == nodes.INT_TAG or str(node.value).strip().isdecimal()
    ):
        return nodes.integer(node, "vpn_logging_level", 3, 7)
    return nodes.choice(node, "vpn_logging_level", LOGGING_LEVELS)


def _path(ctx: Context, node: yaml.Node, what: str) -> Path:
    value = Path(nodes.text(node, what).strip())
    return Path(os.path.normpath(ctx.folder / value))


def _server(ctx: Context, node: yaml.Node) -> SyslogServer:
    fields = Fields(node, "syslog server", SERVER_KEYS)
    host = nodes.host(fields.required("host"))
    fields.what = f"syslog server {host}"
    protocol_node = fields.optional("protocol")
    protocol: SyslogProtocol = (
        defaults.SYSLOG_PROTOCOL
        if protocol_node is None
        else nodes.choice(protocol_node, "protocol", PROTOCOLS)
    )
    port = fields.optional_integer("port", DEFAULT_PORTS[protocol], 1, 65535)
    format_node = fields.optional("format")
    framing: SyslogFormat = (
        defaults.SYSLOG_FORMAT
        if format_node is None
        else nodes.choice(format_node, "format", FORMATS)
    )
    interface = ctx.interfaces.resolve_optional(fields.optional("interface"), "interface")
    return SyslogServer(host, port, protocol, framing, interface)
