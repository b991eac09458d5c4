"""`objects.radius_server_groups`: FMC RADIUS Server Groups (ASA `aaa-server`).

A connection profile names one for authentication (instead of LOCAL) and
may name one for accounting; both references are checked in sections.py.
"""

from __future__ import annotations

import yaml

from . import defaults, nodes, schema
from .context import Context
from .model import LOCAL_SERVER_GROUP, RadiusServer, RadiusServerGroup
from .nodes import Fields, Problem, named_fields

GROUP_KEYS = schema.keys("objects.radius_server_groups[]")
SERVER_KEYS = schema.keys("objects.radius_server_groups[].servers[]")
MAX_SERVERS = 16  # ASA: up to 16 servers per aaa-server group
TIMEOUT_RANGE = (1, 300)  # FMC RADIUS server timeout, seconds
RETRIES_RANGE = (0, 10)
MAX_SECRET_LENGTH = 127  # FMC's limit for the RADIUS key


def read_radius_group(ctx: Context, node: yaml.Node) -> None:
    fields, name_node, name = named_fields(node, "RADIUS server group", GROUP_KEYS)
    if name.upper() == LOCAL_SERVER_GROUP:
        raise Problem.at(name_node, "LOCAL is the local user database; name the group otherwise")
    servers_node = fields.required("servers")
    entries = nodes.items(servers_node, "servers")
    if not entries:
        raise Problem.at(servers_node, f"RADIUS server group '{name}' lists no servers")
    if len(entries) > MAX_SERVERS:
        raise Problem.at(servers_node, f"RADIUS server group '{name}' lists {len(entries)}"
                         f" servers; at most {MAX_SERVERS}")
    servers = nodes.each_unique(
        entries,
        lambda entry: _server(ctx, entry),
        key=lambda server: (server.host, server.authentication_port),
        what=lambda server: f"RADIUS server {server.host}:{server.authentication_port}",
    )
    ctx.radius_groups.add(name_node, name, RadiusServerGroup(name, servers))


def _server(ctx: Context, node: yaml.Node) -> RadiusServer:
    fields = Fields(node, "RADIUS server", SERVER_KEYS)
    host = nodes.host(fields.required("host"))
    fields.what = f"RADIUS server {host}"
    # The secret is never echoed: nodes.text's messages do not quote values.
    secret_node = fields.required("secret")
    secret = nodes.text(secret_node, "secret")
    if len(secret) > MAX_SECRET_LENGTH:
        raise Problem.at(secret_node, f"secret is longer than {MAX_SECRET_LENGTH} characters")
    interface = ctx.interfaces.resolve_optional(fields.optional("interface"), "interface")
    return RadiusServer(
        host,
        fields.optional_integer("authentication_port", defaults.RADIUS_AUTHENTICATION_PORT, 1, 65535),
        fields.optional_integer("accounting_port", defaults.RADIUS_ACCOUNTING_PORT, 1, 65535),
        secret=secret,
        timeout_seconds=fields.optional_integer(
            "timeout_seconds", defaults.RADIUS_TIMEOUT_SECONDS, *TIMEOUT_RANGE
        ),
        retries=fields.optional_integer("retries", defaults.RADIUS_RETRIES, *RETRIES_RANGE),
        interface=interface,
    )
