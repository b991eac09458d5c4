"""Read a configuration file into a `Config`, or say what is wrong and where.

Whatever the input, the only exception that leaves is ConfigError.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import defaults, nodes, schema, yaml_hints
from .context import Context
from .errors import ConfigError, ConfigIssue
from .model import Config, Device, Logging, RemoteAccessVpn
from .nodes import Fields, Problem
from .objects import read_objects
from .logging_settings import read_logging
from .sections import read_device, read_interface, read_profile, read_ra_vpn

TOP_KEYS = schema.keys("")


def load_config(path: Path) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError.single(path, 1, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError.single(path, line, "the file is not UTF-8 text") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Parse configuration text; `path` names it in errors and anchors relative paths."""
    path = Path(path)
    root = _compose(text, path)
    ctx = Context(path)
    config = ctx.attempt(lambda: _read(ctx, root))
    if ctx.issues or config is None:
        issues = ctx.issues or [(1, "the configuration could not be read")]
        raise ConfigError([ConfigIssue(str(path), line, problem) for line, problem in issues])
    return config


def _compose(text: str, path: Path) -> yaml.Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = nodes.mark_line(mark) if mark is not None else 1
        # problem/context only: str(exc) would quote the offending line,
        # which may hold a password.
        words = str(exc.problem or exc.context or "unreadable")
        if mark is not None:
            words += f" (column {mark.column + 1})"
        if exc.context and exc.problem:
            where = f" at line {nodes.mark_line(exc.context_mark)}" if exc.context_mark else ""
            words += f" ({exc.context}{where})"
        advice = yaml_hints.hint(exc.problem, exc.context)
        if advice:
            words += f"; hint: {advice}"
        raise ConfigError.single(path, line, f"invalid YAML: {words}") from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML forbids
        position = getattr(exc, "position", None)
        line = text[:position].count("\n") + 1 if isinstance(position, int) else 1
        reason = getattr(exc, "reason", None) or "unreadable text"
        raise ConfigError.single(path, line, f"invalid YAML: {reason}") from None
    except RecursionError:
        raise ConfigError.single(path, 1, "invalid YAML: nested too deeply") from None
    if root is None:
        raise ConfigError.single(path, 1, "the file is empty")
    return root


def _read(ctx: Context, root: yaml.Node) -> Config | None:
    top = Fields(root, "the configuration", TOP_KEYS)
    section = top.required
    device = ctx.attempt(lambda: read_device(ctx, top.optional("device")))
    ctx.attempt(lambda: _each_interface(ctx, section("interfaces")))
    # After the interfaces: a syslog server names the one it is reached through.
    logging = ctx.attempt(lambda: read_logging(ctx, top.optional("logging")))
    ctx.attempt(lambda: read_objects(ctx, section("objects")))
    if defaults.GROUP_POLICY not in ctx.group_policies.items:
        ctx.group_policies.items[defaults.GROUP_POLICY] = defaults.default_group_policy()
    ctx.attempt(lambda: _each_profile(ctx, section("connection_profiles")))
    ra_vpn = ctx.attempt(lambda: read_ra_vpn(ctx, section("remote_access_vpn")))
    if ctx.issues or device is None or logging is None or ra_vpn is None:
        return None
    return _assemble(ctx, device, logging, ra_vpn)


def _each_interface(ctx: Context, node: yaml.Node) -> None:
    entries = nodes.items(node, "interfaces")
    if not entries:
        raise Problem.at(node, "interfaces lists nothing")
    for index, entry in enumerate(entries):
        ctx.each([entry], ctx.interfaces, lambda n: read_interface(ctx, n, index))


def _each_profile(ctx: Context, node: yaml.Node) -> None:
    entries = nodes.items(node, "connection_profiles")
    if not entries:
        raise Problem.at(node, "connection_profiles lists nothing")
    ctx.each(entries, ctx.profiles, lambda n: read_profile(ctx, n))


def _assemble(ctx: Context, device: Device, logging: Logging, ra_vpn: RemoteAccessVpn) -> Config:
    return Config(
        source=ctx.path.absolute(),
        device=device,
        interfaces=ctx.interfaces.values(),
        remote_access_vpn=ra_vpn,
        ike_policies=ctx.ike_policies.values(),
        ipsec_proposals=ctx.ipsec_proposals.values(),
        ipv4_pools=ctx.pools.values(),
        group_policies=ctx.group_policies.values(),
        identity_certificates=ctx.certificates.values(),
        local_users=ctx.users.values(),
        connection_profiles=ctx.profiles.values(),
        logging=logging,
        radius_server_groups=ctx.radius_groups.values(),
        trusted_cas=ctx.trusted_cas.values(),
        ipv6_pools=ctx.ipv6_pools.values(),
        certificate_maps=ctx.certificate_maps.values(),
    )
